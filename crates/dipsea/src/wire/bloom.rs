//! The BEP 33 scrape bloom filter: 2048 bits in which a node sets two bits per peer
//! IP, sent as `BFsd` (seeds) and `BFpe` (peers) in a `get_peers` answer. A client
//! unions the filters of the nodes it asked and estimates from the zero bits how many
//! distinct IPs went in, without ever learning the IPs.
//!
//! ```
//! use dipsea::wire::BloomFilter;
//!
//! let mut seeds = BloomFilter::new();
//! for i in 0..100u8 {
//!     seeds.insert_ip([10, 0, 0, i].into());
//! }
//! let estimate = seeds.estimate();
//! assert!((95.0..105.0).contains(&estimate), "{estimate}");
//! ```

use std::net::IpAddr;

use crate::id::Id;

/// Size of a BEP 33 bloom filter in bytes (`BFsd`, `BFpe`).
pub const BLOOM_LEN: usize = 256;

/// Bits in a BEP 33 bloom filter (`m`).
const BITS: usize = BLOOM_LEN * 8;

/// A BEP 33 bloom filter of peer IPs: 256 bytes, two bits per IP (k = 2), each the
/// low 11 bits of a little-endian 16-bit word of the SHA-1 of the IP's bytes (4 for
/// IPv4, 16 for IPv6).
///
/// Standard error of [`estimate`](BloomFilter::estimate): about 1% up to a few
/// hundred IPs, a few percent up to 2,000; past about 6,000 IPs the filter saturates
/// and the estimate is a floor.
#[derive(Clone, PartialEq, Eq)]
pub struct BloomFilter {
    bits: [u8; BLOOM_LEN],
}

impl Default for BloomFilter {
    fn default() -> Self {
        BloomFilter::new()
    }
}

impl std::fmt::Debug for BloomFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BloomFilter(~{:.1} entries)", self.estimate())
    }
}

impl BloomFilter {
    /// An empty filter.
    pub const fn new() -> BloomFilter {
        BloomFilter {
            bits: [0; BLOOM_LEN],
        }
    }

    /// The filter sent as `bytes` (`BFsd` or `BFpe`).
    pub const fn from_bytes(bytes: [u8; BLOOM_LEN]) -> BloomFilter {
        BloomFilter { bits: bytes }
    }

    /// The bits as sent on the wire.
    pub const fn as_bytes(&self) -> &[u8; BLOOM_LEN] {
        &self.bits
    }

    /// Adds an IP address (the port does not count: BEP 33 counts hosts).
    pub fn insert_ip(&mut self, ip: IpAddr) {
        let hash = match ip {
            IpAddr::V4(v4) => Id::sha1(&v4.octets()),
            IpAddr::V6(v6) => Id::sha1(&v6.octets()),
        };
        let h = hash.as_bytes();
        for index in [
            u16::from_le_bytes([h[0], h[1]]),
            u16::from_le_bytes([h[2], h[3]]),
        ] {
            let index = usize::from(index) % BITS;
            self.bits[index / 8] |= 1 << (index % 8);
        }
    }

    /// Adds every IP of `other` (bitwise or): how a client merges the filters of the
    /// nodes it asked.
    pub fn union(&mut self, other: &BloomFilter) {
        for (a, b) in self.bits.iter_mut().zip(other.bits.iter()) {
            *a |= b;
        }
    }

    /// Whether no IP was added.
    pub fn is_empty(&self) -> bool {
        self.bits.iter().all(|&b| b == 0)
    }

    /// How many distinct IPs went in, estimated from the zero bits `c` out of `m`:
    /// `ln(c / m) / (k · ln(1 − 1/m))` with k = 2 (BEP 33). A full filter (c = 0)
    /// counts as one zero bit, so the estimate stays finite (about 7,800).
    pub fn estimate(&self) -> f64 {
        let ones: usize = self.bits.iter().map(|b| b.count_ones() as usize).sum();
        let zeros = (BITS - ones).max(1);
        if zeros == BITS {
            return 0.0;
        }
        let m = BITS as f64;
        (zeros as f64 / m).ln() / (2.0 * (1.0 - 1.0 / m).ln())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    #[test]
    fn bep33_test_vector_estimate() {
        // BEP 33: 192.0.2.0 to 192.0.2.255 and 2001:DB8:: to 2001:DB8::3E7 (1,256
        // IPs) give an estimated size of 1224.93.
        let mut filter = BloomFilter::new();
        for i in 0..=255u8 {
            filter.insert_ip(IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)));
        }
        for i in 0..0x3e8u16 {
            filter.insert_ip(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i)));
        }
        let estimate = filter.estimate();
        assert!((estimate - 1224.93).abs() < 0.01, "{estimate}");
    }

    #[test]
    fn empty_full_and_union() {
        assert_eq!(BloomFilter::new().estimate(), 0.0);
        assert!(BloomFilter::new().is_empty());
        let full = BloomFilter::from_bytes([0xff; BLOOM_LEN]);
        assert!(full.estimate().is_finite() && full.estimate() > 7000.0);

        let (mut a, mut b) = (BloomFilter::new(), BloomFilter::new());
        for i in 0..50u8 {
            a.insert_ip([10, 0, 0, i].into());
            b.insert_ip([10, 0, 1, i].into());
        }
        // The same IP twice counts once; a port is not part of it.
        a.insert_ip([10, 0, 0, 0].into());
        let mut both = a.clone();
        both.union(&b);
        let estimate = both.estimate();
        assert!((90.0..110.0).contains(&estimate), "{estimate}");
        let mut again = both.clone();
        again.union(&a);
        assert_eq!(again, both, "union is idempotent");
        assert_eq!(BloomFilter::from_bytes(*both.as_bytes()), both);
    }
}
