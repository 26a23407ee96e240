//! The KRPC wire format of the Mainline DHT: bencoded messages over UDP (BEP 5), with
//! the IPv6 (BEP 32), scrape (BEP 33), node-id (BEP 42), read-only (BEP 43),
//! data-storage (BEP 44) and infohash-sampling (BEP 51) extensions.
//!
//! Entry points: [`decode`] reads a datagram into a [`Message`] that borrows from it,
//! without allocating; [`Message::encode`] appends a message to a reused buffer;
//! [`query_tid`] finds the transaction id of a query [`decode`] rejected, so that the
//! answerer can reply with [`error_code::PROTOCOL`].
//!
//! ```
//! use dipsea::wire::{decode, MessageKind, QueryMethod};
//!
//! let datagram = b"d1:ad2:id20:abcdefghij01234567896:target20:mnopqrstuvwxyz123456e\
//!                  1:q9:find_node1:t2:aa1:y1:qe";
//! let msg = decode(datagram).expect("a find_node query");
//! let MessageKind::Query(query) = msg.kind else { panic!("not a query") };
//! assert!(matches!(query.method, QueryMethod::FindNode { .. }));
//!
//! let mut out = Vec::new();
//! msg.encode(&mut out);
//! assert_eq!(&out[..], &datagram[..]);
//! ```
//!
//! Layers: [`bencode`] (the strict zero-copy reader and the writers), `compact` (compact
//! node and endpoint encodings: [`CompactNodes`], [`CompactPeers`]) and `krpc` (the
//! typed messages). Be strict in what you send and tolerant in what you accept: the
//! decoder accepts unknown keys, keys out of order, transaction ids of any length, a
//! partial `r` beside `e`; it rejects anything structurally wrong or of the wrong size.

pub mod bencode;
mod bloom;
mod compact;
mod krpc;
pub mod push;
mod sample;
pub mod subscribe;

pub use bloom::{BloomFilter, BLOOM_LEN};
pub use compact::{
    read_compact_addr, read_compact_node, write_compact_addr, write_compact_node,
    write_compact_nodes, AddrFamily, CompactNodes, CompactNodesIter, CompactPeers,
    CompactPeersIter, COMPACT_ADDR_V4_LEN, COMPACT_ADDR_V6_LEN, COMPACT_NODE_V4_LEN,
    COMPACT_NODE_V6_LEN,
};
pub use krpc::{
    decode, query_tid, KrpcError, Message, MessageKind, PutArgs, Query, QueryMethod, Response,
    Want, MAX_TOKEN_LEN, PUBLIC_KEY_LEN, SIGNATURE_LEN,
};
pub use sample::{write_samples, Samples};

/// KRPC error codes, sent as the first item of `e`.
pub mod error_code {
    /// Generic error (BEP 5).
    pub const GENERIC: i64 = 201;
    /// Server error (BEP 5): the answerer failed, not the query.
    pub const SERVER: i64 = 202;
    /// Protocol error (BEP 5): malformed packet, invalid arguments or bad token.
    /// A `put` with `k` or `sig` but no `seq` gets this too (BEP 44).
    pub const PROTOCOL: i64 = 203;
    /// Method unknown (BEP 5).
    pub const METHOD_UNKNOWN: i64 = 204;
    /// Message (the `v` of a `put`) too big: over 1000 bytes bencoded (BEP 44).
    pub const MESSAGE_TOO_BIG: i64 = 205;
    /// Invalid signature of a mutable `put` (BEP 44).
    pub const INVALID_SIGNATURE: i64 = 206;
    /// Salt too big: over 64 bytes (BEP 44).
    pub const SALT_TOO_BIG: i64 = 207;
    /// Compare-and-swap mismatch: `cas` differs from the stored sequence number (BEP 44).
    pub const CAS_MISMATCH: i64 = 301;
    /// Sequence number older than the stored one (BEP 44).
    pub const SEQ_TOO_OLD: i64 = 302;
}

/// Why a datagram is not a valid KRPC message.
///
/// The first group is bencode structure, the second KRPC content. Whatever the variant,
/// drop the datagram; if [`query_tid`] finds a query's transaction id, answer it with
/// [`error_code::PROTOCOL`] first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The datagram exceeds [`bencode::MAX_MESSAGE_LEN`]; it was not parsed.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    TooLong {
        /// Length of the datagram.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Lists and dicts nest deeper than [`bencode::MAX_DEPTH`].
    #[error("nesting deeper than {max} levels at byte {pos}")]
    TooDeep {
        /// Offset of the container that went too deep.
        pos: usize,
        /// The limit.
        max: usize,
    },
    /// The input ends inside a value.
    #[error("unexpected end of input at byte {pos}")]
    Truncated {
        /// Offset where more input was needed.
        pos: usize,
    },
    /// A byte that cannot start or continue a value there.
    #[error("unexpected byte {byte:#04x} at byte {pos}")]
    UnexpectedByte {
        /// Offset of the byte.
        pos: usize,
        /// The byte.
        byte: u8,
    },
    /// An integer that is empty, has a leading zero, is `-0`, holds a non-digit, or
    /// does not fit an `i64`.
    #[error("invalid or non-canonical integer at byte {pos}")]
    BadInteger {
        /// Offset of the integer's `i`.
        pos: usize,
    },
    /// A string length with a leading zero, a non-digit before `:`, or that runs past
    /// the end of the input.
    #[error("invalid string length at byte {pos}")]
    BadLength {
        /// Offset of the length.
        pos: usize,
    },
    /// Bytes after the end of the message.
    #[error("trailing bytes after the message at byte {pos}")]
    TrailingBytes {
        /// Offset of the first extra byte.
        pos: usize,
    },
    /// A dict key that is not a byte string.
    #[error("dict key is not a byte string at byte {pos}")]
    KeyNotString {
        /// Offset of the key.
        pos: usize,
    },
    /// A key that appears twice in one dict.
    #[error("duplicate dict key at byte {pos}")]
    DuplicateKey {
        /// Offset of the second occurrence.
        pos: usize,
    },
    /// Keys out of sorted order in dicts too large to check for duplicates without
    /// allocating (see [`bencode::MAX_TRACKED_KEYS`]); sorted dicts have no such limit.
    #[error("too many unsorted dict keys to check for duplicates at byte {pos}")]
    UnsortedKeys {
        /// Offset of the key that could not be checked.
        pos: usize,
    },
    /// A key the message needs is absent (e.g. `t`, `y`, `a`, `id`, `target`).
    #[error("missing key {0:?}")]
    MissingKey(&'static str),
    /// A known key holds a value of the wrong bencode type.
    #[error("{key:?} should be {expected}")]
    WrongType {
        /// The key (or `"message"` for the datagram itself).
        key: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// `y` is none of `q`, `r`, `e`.
    #[error("unknown message type")]
    UnknownMessageType,
    /// A node id, `target` or `info_hash` that is not 20 bytes.
    #[error("{key:?} should be 20 bytes, got {len}")]
    BadIdLength {
        /// The key.
        key: &'static str,
        /// Its length.
        len: usize,
    },
    /// A fixed-size field of the wrong size: `k` (32 bytes) or `sig` (64) of BEP 44,
    /// `BFsd` or `BFpe` (256) of BEP 33.
    #[error("{key:?} should be {expected} bytes, got {len}")]
    BadSize {
        /// The key.
        key: &'static str,
        /// The size it must have.
        expected: usize,
        /// Its length.
        len: usize,
    },
    /// A token that is empty or longer than [`MAX_TOKEN_LEN`].
    #[error("token should be 1 to 64 bytes, got {0}")]
    BadTokenLength(usize),
    /// `nodes`, `nodes6` or `samples` whose length is not a multiple of the entry
    /// size (26 bytes for IPv4 nodes, 38 for IPv6, 20 for samples).
    #[error("{key:?} of {len} bytes is not a whole number of {entry}-byte entries")]
    BadNodesLength {
        /// The key.
        key: &'static str,
        /// Its length.
        len: usize,
        /// The entry size of its family.
        entry: usize,
    },
    /// A compact endpoint (`ip`, or an item of `values`) that is neither 6 (IPv4) nor
    /// 18 (IPv6) bytes.
    #[error("{key:?} endpoint should be 6 or 18 bytes, got {len}")]
    BadAddressLength {
        /// The key.
        key: &'static str,
        /// Its length.
        len: usize,
    },
    /// An `announce_peer` port outside 0..=65535.
    #[error("port {0} out of range")]
    BadPort(i64),
    /// A mutable `put` (one with `k` or `sig`) that lacks `k`, `sig` or `seq` (BEP 44);
    /// answer [`error_code::PROTOCOL`].
    #[error("mutable put without {missing:?}")]
    IncompleteMutablePut {
        /// The key it lacks.
        missing: &'static str,
    },
}

#[cfg(test)]
mod tests;
