//! 160-bit identifiers for nodes and keys, and the XOR metric between them.
//!
//! Entry point: [`Id`]. A node id is random (or BEP 42-derived, [`bep42`]); the key of a value is
//! the SHA-1 of what it names ([`Id::sha1`]). Kademlia measures how close two ids are
//! by their XOR ([`Id::distance`]), read as a big-endian 160-bit integer.

pub mod bep42;

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use sha1::{Digest, Sha1};

/// Length of an [`Id`] in bytes (160 bits, the size of a SHA-1 digest).
pub const ID_LEN: usize = 20;

/// Number of bits in an [`Id`].
pub const ID_BITS: usize = ID_LEN * 8;

/// A 160-bit identifier: a node id, an info-hash, or the key of a stored item.
///
/// Ordered and compared as a big-endian integer. `Copy`, 20 bytes, no heap.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id([u8; ID_LEN]);

/// The XOR of two [`Id`]s: how far apart they are in the Kademlia metric.
///
/// Totally ordered as a big-endian integer, so the smallest distance is the closest.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Distance([u8; ID_LEN]);

/// Why a string or byte slice is not an [`Id`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The hex string does not have 40 digits; pass exactly 40 hex digits.
    #[error("an id is 40 hex digits, got {0} characters")]
    HexLength(usize),
    /// A character is not a hex digit; only 0-9, a-f and A-F are allowed.
    #[error("invalid hex digit {ch:?} at position {pos}")]
    HexDigit {
        /// Byte offset of the offending character.
        pos: usize,
        /// The character found there.
        ch: char,
    },
    /// A byte slice does not have 20 bytes; pass exactly 20 bytes.
    #[error("an id is 20 bytes, got {0}")]
    ByteLength(usize),
}

impl Id {
    /// The all-zero id.
    pub const ZERO: Id = Id([0; ID_LEN]);
    /// The all-ones id, the largest.
    pub const MAX: Id = Id([0xff; ID_LEN]);

    /// Wraps 20 raw bytes.
    pub const fn from_bytes(bytes: [u8; ID_LEN]) -> Id {
        Id(bytes)
    }

    /// Reads an id from a slice that must be exactly 20 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Id, IdError> {
        <[u8; ID_LEN]>::try_from(bytes)
            .map(Id)
            .map_err(|_| IdError::ByteLength(bytes.len()))
    }

    /// The raw bytes, big-endian.
    pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// The SHA-1 digest of `data`: the content address of `data`.
    pub fn sha1(data: &[u8]) -> Id {
        Id(Sha1::digest(data).into())
    }

    /// The SHA-1 digest of several byte strings hashed one after the other.
    pub fn sha1_concat(parts: &[&[u8]]) -> Id {
        let mut hasher = Sha1::new();
        for part in parts {
            hasher.update(part);
        }
        Id(hasher.finalize().into())
    }

    /// A uniformly random id from the thread-local generator.
    pub fn random() -> Id {
        Id::random_with(&mut rand::thread_rng())
    }

    /// A uniformly random id from `rng` (seeded generators give reproducible ids).
    pub fn random_with<R: Rng + ?Sized>(rng: &mut R) -> Id {
        let mut bytes = [0u8; ID_LEN];
        rng.fill(&mut bytes[..]);
        Id(bytes)
    }

    /// A random id that shares exactly `prefix_len` leading bits with `self`
    /// (and differs in the next one), i.e. one that falls in bucket `prefix_len`
    /// of a routing table owned by `self`. `prefix_len` of 160 or more gives `self`.
    pub fn random_in_bucket<R: Rng + ?Sized>(&self, prefix_len: usize, rng: &mut R) -> Id {
        if prefix_len >= ID_BITS {
            return *self;
        }
        let random = Id::random_with(rng);
        let mut out = [0u8; ID_LEN];
        for (i, byte) in out.iter_mut().enumerate() {
            let bit0 = i * 8;
            // Bits before `prefix_len` come from self, the bit at `prefix_len` is
            // flipped, the rest are random.
            let keep = prefix_mask(prefix_len.saturating_sub(bit0));
            *byte = (self.0[i] & keep) | (random.0[i] & !keep);
            if (bit0..bit0 + 8).contains(&prefix_len) {
                let flip = 0x80u8 >> (prefix_len - bit0);
                *byte = (*byte & !flip) | (!self.0[i] & flip);
            }
        }
        Id(out)
    }

    /// The XOR distance from `self` to `other`.
    #[inline]
    pub fn distance(&self, other: &Id) -> Distance {
        let mut out = [0u8; ID_LEN];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = self.0[i] ^ other.0[i];
        }
        Distance(out)
    }

    /// How many leading bits `self` and `other` share (160 when equal).
    ///
    /// This is the k-bucket index of `other` in a routing table owned by `self`.
    #[inline]
    pub fn common_prefix_len(&self, other: &Id) -> usize {
        self.distance(other).leading_zeros()
    }

    /// The bit at position `index` (0 is the most significant), or `false` past the end.
    pub fn bit(&self, index: usize) -> bool {
        index < ID_BITS && self.0[index / 8] & (0x80 >> (index % 8)) != 0
    }
}

/// A node as others know it: its id and the UDP endpoint it answers on.
///
/// This is what BEP 5 calls "compact node info" once encoded (26 bytes for IPv4,
/// 38 for IPv6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct NodeInfo {
    /// The node's id.
    pub id: Id,
    /// Where it answers.
    pub addr: std::net::SocketAddr,
}

impl NodeInfo {
    /// A node with this id at this address.
    pub const fn new(id: Id, addr: std::net::SocketAddr) -> NodeInfo {
        NodeInfo { id, addr }
    }
}

/// A byte mask keeping the first `bits` bits (saturating at 8).
fn prefix_mask(bits: usize) -> u8 {
    if bits >= 8 {
        0xff
    } else {
        !(0xffu8 >> bits)
    }
}

impl Distance {
    /// The raw XOR bytes, big-endian.
    pub const fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// Number of leading zero bits (160 for the zero distance).
    #[inline]
    pub fn leading_zeros(&self) -> usize {
        let hi = u128::from_be_bytes(self.0[..16].try_into().unwrap_or([0; 16]));
        if hi != 0 {
            return hi.leading_zeros() as usize;
        }
        let lo = u32::from_be_bytes(self.0[16..].try_into().unwrap_or([0; 4]));
        128 + lo.leading_zeros() as usize
    }
}

impl From<[u8; ID_LEN]> for Id {
    fn from(bytes: [u8; ID_LEN]) -> Id {
        Id(bytes)
    }
}

impl From<Id> for [u8; ID_LEN] {
    fn from(id: Id) -> [u8; ID_LEN] {
        id.0
    }
}

impl AsRef<[u8]> for Id {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl TryFrom<&[u8]> for Id {
    type Error = IdError;
    fn try_from(bytes: &[u8]) -> Result<Id, IdError> {
        Id::from_slice(bytes)
    }
}

impl fmt::Display for Id {
    /// Lowercase hex, 40 digits.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for byte in &self.0 {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({self})")
    }
}

impl fmt::Display for Distance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&Id(self.0), f)
    }
}

impl fmt::Debug for Distance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Distance({self})")
    }
}

impl FromStr for Id {
    type Err = IdError;

    /// Parses 40 hex digits, either case.
    fn from_str(s: &str) -> Result<Id, IdError> {
        let bytes = s.as_bytes();
        if bytes.len() != ID_LEN * 2 {
            return Err(IdError::HexLength(s.chars().count()));
        }
        let mut out = [0u8; ID_LEN];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = hex_value(pair[0]).ok_or_else(|| bad_digit(s, 2 * i))?;
            let lo = hex_value(pair[1]).ok_or_else(|| bad_digit(s, 2 * i + 1))?;
            out[i] = (hi << 4) | lo;
        }
        Ok(Id(out))
    }
}

pub(crate) fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn bad_digit(s: &str, pos: usize) -> IdError {
    // `pos` may fall inside a multi-byte character; report the character there.
    let ch = s
        .char_indices()
        .take_while(|(i, _)| *i <= pos)
        .last()
        .map(|(_, c)| c)
        .unwrap_or('?');
    IdError::HexDigit { pos, ch }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn arb_id() -> impl Strategy<Value = Id> {
        any::<[u8; ID_LEN]>().prop_map(Id)
    }

    #[test]
    fn sha1_of_bep44_example() {
        let id = Id::sha1(b"11:hello world");
        assert_eq!(id.to_string(), "6d33adc2b6b2c14c3036feefb7fedbca1a880527");
    }

    #[test]
    fn hex_errors_are_specific() {
        assert_eq!("abc".parse::<Id>(), Err(IdError::HexLength(3)));
        let mut s = "0".repeat(40);
        s.replace_range(7..8, "g");
        assert_eq!(s.parse::<Id>(), Err(IdError::HexDigit { pos: 7, ch: 'g' }));
        assert_eq!(Id::from_slice(&[1, 2]), Err(IdError::ByteLength(2)));
    }

    #[test]
    fn hex_accepts_upper_case() {
        let id: Id = "6D33ADC2B6B2C14C3036FEEFB7FEDBCA1A880527"
            .parse()
            .expect("hex");
        assert_eq!(id, Id::sha1(b"11:hello world"));
    }

    #[test]
    fn prefix_of_equal_ids_is_full() {
        let id = Id::random();
        assert_eq!(id.common_prefix_len(&id), ID_BITS);
        assert_eq!(Id::ZERO.common_prefix_len(&Id::MAX), 0);
    }

    proptest! {
        #[test]
        fn hex_round_trips(id in arb_id()) {
            prop_assert_eq!(id.to_string().parse::<Id>(), Ok(id));
        }

        #[test]
        fn distance_is_symmetric_and_zero_only_to_self(a in arb_id(), b in arb_id()) {
            prop_assert_eq!(a.distance(&b), b.distance(&a));
            prop_assert_eq!(a.distance(&b) == Distance::default(), a == b);
        }

        #[test]
        fn xor_metric_is_unidirectional(a in arb_id(), b in arb_id(), c in arb_id()) {
            // For a fixed a, distinct ids have distinct distances: exactly one id is at
            // each distance, which is what makes Kademlia lookups converge.
            prop_assert_eq!(a.distance(&b) == a.distance(&c), b == c);
        }

        #[test]
        fn prefix_len_matches_bits(a in arb_id(), b in arb_id()) {
            let n = a.common_prefix_len(&b);
            for i in 0..n {
                prop_assert_eq!(a.bit(i), b.bit(i));
            }
            if n < ID_BITS {
                prop_assert_ne!(a.bit(n), b.bit(n));
            }
        }

        #[test]
        fn random_in_bucket_lands_in_bucket(a in arb_id(), prefix in 0usize..ID_BITS, seed: u64) {
            let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
            let b = a.random_in_bucket(prefix, &mut rng);
            prop_assert_eq!(a.common_prefix_len(&b), prefix);
        }
    }
}
