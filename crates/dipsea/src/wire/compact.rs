//! Compact endpoint and node encodings (BEP 5, BEP 32) and borrowed views of the lists
//! of them that replies carry.
//!
//! Entry points: [`CompactNodes`] (the `nodes`/`nodes6` strings of a reply),
//! [`CompactPeers`] (the `values` list of a `get_peers` reply), and the single-item
//! helpers [`write_compact_node`]/[`read_compact_node`] and
//! [`write_compact_addr`]/[`read_compact_addr`], which routing-table persistence uses
//! too. All readers borrow from the datagram; all writers append to a caller's buffer.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::bencode::{write_bytes, Reader};
use super::DecodeError;
use crate::id::{Id, NodeInfo, ID_LEN};

/// Length of a compact IPv4 endpoint: 4-byte address, 2-byte port, big-endian (BEP 5).
pub const COMPACT_ADDR_V4_LEN: usize = 6;
/// Length of a compact IPv6 endpoint: 16-byte address, 2-byte port, big-endian (BEP 32).
pub const COMPACT_ADDR_V6_LEN: usize = 18;
/// Length of a compact IPv4 node info: 20-byte id then a compact endpoint (BEP 5).
pub const COMPACT_NODE_V4_LEN: usize = ID_LEN + COMPACT_ADDR_V4_LEN;
/// Length of a compact IPv6 node info: 20-byte id then a compact endpoint (BEP 32).
pub const COMPACT_NODE_V6_LEN: usize = ID_LEN + COMPACT_ADDR_V6_LEN;

/// The address family of a compact node list: BEP 5 `nodes` hold IPv4 entries, BEP 32
/// `nodes6` hold IPv6 ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddrFamily {
    /// IPv4: 26-byte node entries, 6-byte endpoints.
    V4,
    /// IPv6: 38-byte node entries, 18-byte endpoints.
    V6,
}

impl AddrFamily {
    /// The family of `addr`.
    pub fn of(addr: &SocketAddr) -> AddrFamily {
        match addr {
            SocketAddr::V4(_) => AddrFamily::V4,
            SocketAddr::V6(_) => AddrFamily::V6,
        }
    }

    /// Length of one compact node info of this family (26 or 38).
    pub const fn node_len(self) -> usize {
        match self {
            AddrFamily::V4 => COMPACT_NODE_V4_LEN,
            AddrFamily::V6 => COMPACT_NODE_V6_LEN,
        }
    }
}

/// Appends the compact form of `addr`: 6 bytes for IPv4, 18 for IPv6 (IPv6 flow info
/// and scope id are not part of the format and are dropped).
pub fn write_compact_addr(addr: &SocketAddr, out: &mut Vec<u8>) {
    match addr.ip() {
        IpAddr::V4(ip) => out.extend_from_slice(&ip.octets()),
        IpAddr::V6(ip) => out.extend_from_slice(&ip.octets()),
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Reads a compact endpoint: 6 bytes are IPv4, 18 bytes IPv6, any other length `None`.
pub fn read_compact_addr(bytes: &[u8]) -> Option<SocketAddr> {
    match bytes.len() {
        COMPACT_ADDR_V4_LEN => {
            let ip: [u8; 4] = bytes.get(..4)?.try_into().ok()?;
            let port: [u8; 2] = bytes.get(4..)?.try_into().ok()?;
            Some(SocketAddr::new(
                Ipv4Addr::from(ip).into(),
                u16::from_be_bytes(port),
            ))
        }
        COMPACT_ADDR_V6_LEN => {
            let ip: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
            let port: [u8; 2] = bytes.get(16..)?.try_into().ok()?;
            Some(SocketAddr::new(
                Ipv6Addr::from(ip).into(),
                u16::from_be_bytes(port),
            ))
        }
        _ => None,
    }
}

/// Appends the compact node info of `node`: its id then its endpoint, 26 bytes for
/// IPv4 and 38 for IPv6.
pub fn write_compact_node(node: &NodeInfo, out: &mut Vec<u8>) {
    out.extend_from_slice(node.id.as_bytes());
    write_compact_addr(&node.addr, out);
}

/// Reads one compact node info: 26 bytes are IPv4, 38 bytes IPv6, any other length
/// `None`.
pub fn read_compact_node(bytes: &[u8]) -> Option<NodeInfo> {
    let id = Id::from_slice(bytes.get(..ID_LEN)?).ok()?;
    let addr = read_compact_addr(bytes.get(ID_LEN..)?)?;
    Some(NodeInfo::new(id, addr))
}

/// Appends each node of `nodes` to the buffer of its family, IPv4 ones to `v4_out` and
/// IPv6 ones to `v6_out`, so an answerer can fill `nodes` and `nodes6` from one
/// routing-table query into reused buffers. Wrap the buffers with
/// [`CompactNodes::v4`] and [`CompactNodes::v6`].
pub fn write_compact_nodes(nodes: &[NodeInfo], v4_out: &mut Vec<u8>, v6_out: &mut Vec<u8>) {
    for node in nodes {
        match node.addr {
            SocketAddr::V4(_) => write_compact_node(node, v4_out),
            SocketAddr::V6(_) => write_compact_node(node, v6_out),
        }
    }
}

/// A borrowed list of compact node infos of one family: the value of `nodes` (IPv4,
/// 26 bytes each) or `nodes6` (IPv6, 38 bytes each) in a reply.
///
/// Decoding only checks the length; [`iter`](Self::iter) reads entries on the fly.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct CompactNodes<'a> {
    bytes: &'a [u8],
    family: AddrFamily,
}

impl<'a> CompactNodes<'a> {
    /// Wraps concatenated node infos of `family`; fails with
    /// [`DecodeError::BadNodesLength`] unless the length is a multiple of the entry size.
    pub fn from_bytes(bytes: &'a [u8], family: AddrFamily) -> Result<Self, DecodeError> {
        if !bytes.len().is_multiple_of(family.node_len()) {
            return Err(DecodeError::BadNodesLength {
                key: match family {
                    AddrFamily::V4 => "nodes",
                    AddrFamily::V6 => "nodes6",
                },
                len: bytes.len(),
                entry: family.node_len(),
            });
        }
        Ok(CompactNodes { bytes, family })
    }

    /// Wraps concatenated 26-byte IPv4 node infos (a `nodes` value).
    pub fn v4(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::from_bytes(bytes, AddrFamily::V4)
    }

    /// Wraps concatenated 38-byte IPv6 node infos (a `nodes6` value).
    pub fn v6(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::from_bytes(bytes, AddrFamily::V6)
    }

    /// The family of every entry.
    pub fn family(&self) -> AddrFamily {
        self.family
    }

    /// The raw concatenated entries, as sent on the wire.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.family.node_len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The nodes, in wire order.
    pub fn iter(&self) -> CompactNodesIter<'a> {
        CompactNodesIter {
            chunks: self.bytes.chunks_exact(self.family.node_len()),
        }
    }
}

impl fmt::Debug for CompactNodes<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for CompactNodes<'a> {
    type Item = NodeInfo;
    type IntoIter = CompactNodesIter<'a>;
    fn into_iter(self) -> CompactNodesIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &CompactNodes<'a> {
    type Item = NodeInfo;
    type IntoIter = CompactNodesIter<'a>;
    fn into_iter(self) -> CompactNodesIter<'a> {
        self.iter()
    }
}

/// Iterator over the nodes of a [`CompactNodes`].
#[derive(Debug, Clone)]
pub struct CompactNodesIter<'a> {
    chunks: std::slice::ChunksExact<'a, u8>,
}

impl Iterator for CompactNodesIter<'_> {
    type Item = NodeInfo;

    fn next(&mut self) -> Option<NodeInfo> {
        // Every chunk has the family's exact length, so read_compact_node succeeds.
        self.chunks.by_ref().find_map(read_compact_node)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.chunks.size_hint()
    }
}

impl ExactSizeIterator for CompactNodesIter<'_> {}

/// The peers of a `get_peers` reply: the `values` list of 6-byte (IPv4) and 18-byte
/// (IPv6) compact endpoints (BEP 5, BEP 32).
///
/// Decoded, it borrows the raw list from the datagram (checked once at decode time);
/// built for sending, it borrows a slice of addresses ([`CompactPeers::from_addrs`]).
/// Two values are equal when they list the same endpoints in the same order, whichever
/// way they were made.
#[derive(Clone, Copy)]
pub struct CompactPeers<'a>(PeersRepr<'a>);

#[derive(Clone, Copy)]
enum PeersRepr<'a> {
    /// The inside of a validated bencoded list (between `l` and `e`): only 6- and
    /// 18-byte strings, `len` of them.
    Encoded { body: &'a [u8], len: usize },
    /// Addresses to be encoded.
    Addrs(&'a [SocketAddr]),
}

impl<'a> CompactPeers<'a> {
    /// Peers to send.
    pub fn from_addrs(addrs: &'a [SocketAddr]) -> Self {
        CompactPeers(PeersRepr::Addrs(addrs))
    }

    /// Reads a raw bencoded list (`l6:......e`) whose items must all be 6- or 18-byte
    /// strings; fails with [`DecodeError::BadAddressLength`] or
    /// [`DecodeError::WrongType`] on another item, or with a bencode error.
    pub fn from_bencoded_list(raw: &'a [u8]) -> Result<Self, DecodeError> {
        let mut reader = Reader::new(raw);
        let peers = read_peers(&mut reader, 1)?;
        reader.finish()?;
        peers
    }

    /// Number of peers.
    pub fn len(&self) -> usize {
        match self.0 {
            PeersRepr::Encoded { len, .. } => len,
            PeersRepr::Addrs(addrs) => addrs.len(),
        }
    }

    /// Whether there are no peers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The peers, in wire order.
    pub fn iter(&self) -> CompactPeersIter<'a> {
        CompactPeersIter(match self.0 {
            PeersRepr::Encoded { body, len } => IterRepr::Encoded { body, left: len },
            PeersRepr::Addrs(addrs) => IterRepr::Addrs(addrs.iter()),
        })
    }

    /// Appends the bencoded list (`l6:...e`).
    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        out.push(b'l');
        match self.0 {
            // The body is canonical bencode already: copy it.
            PeersRepr::Encoded { body, .. } => out.extend_from_slice(body),
            PeersRepr::Addrs(addrs) => {
                for addr in addrs {
                    // One copy per item: prefix, address and port assembled in place.
                    match addr {
                        SocketAddr::V4(a) => {
                            let mut item = [0u8; 2 + COMPACT_ADDR_V4_LEN];
                            item[..2].copy_from_slice(b"6:");
                            item[2..6].copy_from_slice(&a.ip().octets());
                            item[6..].copy_from_slice(&a.port().to_be_bytes());
                            out.extend_from_slice(&item);
                        }
                        SocketAddr::V6(a) => {
                            let mut item = [0u8; 3 + COMPACT_ADDR_V6_LEN];
                            item[..3].copy_from_slice(b"18:");
                            item[3..19].copy_from_slice(&a.ip().octets());
                            item[19..].copy_from_slice(&a.port().to_be_bytes());
                            out.extend_from_slice(&item);
                        }
                    }
                }
            }
        }
        out.push(b'e');
    }
}

/// Reads a `values` list at nesting `depth` in one pass. The outer error is a bencode
/// error (the message is malformed whatever it is); the inner one says that the list is
/// well-formed but is not a list of compact endpoints (which only matters in a reply).
pub(crate) fn read_peers<'a>(
    reader: &mut Reader<'a>,
    depth: usize,
) -> Result<Result<CompactPeers<'a>, DecodeError>, DecodeError> {
    if !reader.at_list() {
        reader.skip_value(depth)?;
        return Ok(Err(not_a_peer_list()));
    }
    reader.begin_list(depth)?;
    let body_start = reader.pos();
    let mut len = 0usize;
    let mut bad = None;
    let mut body_end = body_start;
    while reader.list_has_next()? {
        if reader.at_bytes() {
            let item = reader.read_bytes()?;
            if item.len() == COMPACT_ADDR_V4_LEN || item.len() == COMPACT_ADDR_V6_LEN {
                len += 1;
            } else {
                bad.get_or_insert(DecodeError::BadAddressLength {
                    key: "values",
                    len: item.len(),
                });
            }
        } else {
            reader.skip_value(depth + 1)?;
            bad.get_or_insert(not_a_peer_list());
        }
        body_end = reader.pos();
    }
    Ok(match bad {
        Some(e) => Err(e),
        None => Ok(CompactPeers(PeersRepr::Encoded {
            body: reader.slice(body_start, body_end),
            len,
        })),
    })
}

fn not_a_peer_list() -> DecodeError {
    DecodeError::WrongType {
        key: "values",
        expected: "a list of byte strings",
    }
}

impl PartialEq for CompactPeers<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for CompactPeers<'_> {}

impl fmt::Debug for CompactPeers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> From<&'a [SocketAddr]> for CompactPeers<'a> {
    fn from(addrs: &'a [SocketAddr]) -> Self {
        CompactPeers::from_addrs(addrs)
    }
}

impl<'a> IntoIterator for CompactPeers<'a> {
    type Item = SocketAddr;
    type IntoIter = CompactPeersIter<'a>;
    fn into_iter(self) -> CompactPeersIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &CompactPeers<'a> {
    type Item = SocketAddr;
    type IntoIter = CompactPeersIter<'a>;
    fn into_iter(self) -> CompactPeersIter<'a> {
        self.iter()
    }
}

/// Iterator over the endpoints of a [`CompactPeers`].
#[derive(Debug, Clone)]
pub struct CompactPeersIter<'a>(IterRepr<'a>);

#[derive(Debug, Clone)]
enum IterRepr<'a> {
    Encoded { body: &'a [u8], left: usize },
    Addrs(std::slice::Iter<'a, SocketAddr>),
}

impl Iterator for CompactPeersIter<'_> {
    type Item = SocketAddr;

    fn next(&mut self) -> Option<SocketAddr> {
        match &mut self.0 {
            IterRepr::Addrs(addrs) => addrs.next().copied(),
            IterRepr::Encoded { body, left } => {
                // The body was validated: each item is "6:" or "18:" and its bytes.
                let (header, len) = match body.first()? {
                    b'6' => (2, COMPACT_ADDR_V4_LEN),
                    _ => (3, COMPACT_ADDR_V6_LEN),
                };
                let item = body.get(header..header + len)?;
                *body = body.get(header + len..)?;
                *left = left.saturating_sub(1);
                read_compact_addr(item)
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match &self.0 {
            IterRepr::Addrs(addrs) => addrs.len(),
            IterRepr::Encoded { left, .. } => *left,
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for CompactPeersIter<'_> {}

/// Appends `key` (already bencoded) then the compact node list as a byte string.
pub(crate) fn encode_nodes(out: &mut Vec<u8>, key: &[u8], nodes: &CompactNodes<'_>) {
    out.extend_from_slice(key);
    write_bytes(out, nodes.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> SocketAddr {
        s.parse().expect("addr")
    }

    #[test]
    fn addr_round_trip() {
        for addr in [
            v4("1.2.3.4:6881"),
            v4("[2001:db8::1]:65535"),
            v4("0.0.0.0:0"),
        ] {
            let mut out = Vec::new();
            write_compact_addr(&addr, &mut out);
            assert_eq!(read_compact_addr(&out), Some(addr));
        }
        assert_eq!(read_compact_addr(&[1, 2, 3]), None);
        let mut out = Vec::new();
        write_compact_addr(&v4("127.0.0.1:6881"), &mut out);
        assert_eq!(out, [127, 0, 0, 1, 0x1a, 0xe1]);
    }

    #[test]
    fn nodes_split_by_family() {
        let a = NodeInfo::new(Id::from_bytes([1; 20]), v4("10.0.0.1:1"));
        let b = NodeInfo::new(Id::from_bytes([2; 20]), v4("[::1]:2"));
        let c = NodeInfo::new(Id::from_bytes([3; 20]), v4("10.0.0.3:3"));
        let (mut n4, mut n6) = (Vec::new(), Vec::new());
        write_compact_nodes(&[a, b, c], &mut n4, &mut n6);
        assert_eq!(n4.len(), 2 * COMPACT_NODE_V4_LEN);
        assert_eq!(n6.len(), COMPACT_NODE_V6_LEN);
        let nodes = CompactNodes::v4(&n4).expect("v4");
        assert_eq!(nodes.len(), 2);
        assert_eq!(nodes.iter().collect::<Vec<_>>(), vec![a, c]);
        let nodes6 = CompactNodes::v6(&n6).expect("v6");
        assert_eq!(nodes6.iter().collect::<Vec<_>>(), vec![b]);
        assert_eq!(read_compact_node(n4.get(..26).expect("26")), Some(a));
        assert!(matches!(
            CompactNodes::v4(&n6),
            Err(DecodeError::BadNodesLength { len: 38, .. })
        ));
        assert!(CompactNodes::v6(&n4).is_err());
        assert!(CompactNodes::v4(&[]).expect("empty").is_empty());
    }

    #[test]
    fn peers_equal_by_contents() {
        let addrs = [v4("1.2.3.4:5"), v4("[::2]:3")];
        let sent = CompactPeers::from_addrs(&addrs);
        let mut raw = Vec::new();
        sent.encode(&mut raw);
        assert_eq!(&raw[..3], b"l6:");
        let got = CompactPeers::from_bencoded_list(&raw).expect("decode");
        assert_eq!(got, sent);
        assert_eq!(got.len(), 2);
        assert_eq!(got.iter().collect::<Vec<_>>(), addrs);
        let mut again = Vec::new();
        got.encode(&mut again);
        assert_eq!(again, raw);
        assert_ne!(got, CompactPeers::from_addrs(&addrs[..1]));
    }

    #[test]
    fn peers_reject_bad_items() {
        assert!(matches!(
            CompactPeers::from_bencoded_list(b"l5:abcdee"),
            Err(DecodeError::BadAddressLength { len: 5, .. })
        ));
        assert!(matches!(
            CompactPeers::from_bencoded_list(b"li1ee"),
            Err(DecodeError::WrongType { .. })
        ));
        assert!(matches!(
            CompactPeers::from_bencoded_list(b"l6:abcdef"),
            Err(DecodeError::Truncated { .. })
        ));
        assert!(CompactPeers::from_bencoded_list(b"le")
            .expect("empty")
            .is_empty());
    }
}
