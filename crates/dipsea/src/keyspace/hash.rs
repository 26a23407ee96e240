//! The fixed hash that places members and keys: every process computes the same
//! owners, so it takes no per-process seed.
//!
//! Ids are 160 bits; the partitioners work on 64-bit digests of them ([`digest`]),
//! computed once per member when it joins and once per key per lookup. Two inputs are
//! combined by a folded 64x64→128-bit multiply followed by SplitMix64's finaliser
//! ([`combine`]), the mixing of wyhash and foldhash: nonlinear in both inputs, so
//! (member, key) pairs with equal XOR differences do not get equal scores, as they
//! would with `mix(member ^ key)`. It costs about two nanoseconds, which matters
//! because rendezvous hashing scores every member on every lookup.
//!
//! It is not a cryptographic hash, and need not be: anyone may compute the owners of
//! any key anyway, so a keyed hash would hide nothing from a peer of the same cluster.

use crate::id::{Id, ID_LEN};

/// Constants from wyhash's secret (odd, dense in bits).
const K0: u64 = 0xa076_1d64_78bd_642f;
const K1: u64 = 0xe703_7ed1_a0b4_28db;
const K2: u64 = 0x8ebc_6af0_9c88_c6e3;

/// SplitMix64's finaliser: a bijective, well-avalanched mix of one word.
#[inline]
pub(crate) fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Folded multiply: the high and low halves of the 128-bit product, XORed.
#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// One well-mixed word from two: the hash of a (member, key) pair, or of a
/// (member, virtual node index) pair.
#[inline]
pub(crate) fn combine(a: u64, b: u64) -> u64 {
    mix(fold_mul(a ^ K0, b ^ K1))
}

/// The 64-bit digest of an id: all 20 bytes count, so ids that share a long prefix
/// (small integers, say) still spread over the whole range.
pub(crate) fn digest(id: &Id) -> u64 {
    let b = id.as_bytes();
    let w0 = word(&b[..8]);
    let w1 = word(&b[8..16]);
    let w2 = word(&b[16..ID_LEN]);
    combine(combine(w0, w1), w2 ^ K2)
}

/// Up to 8 bytes as a big-endian integer.
fn word(bytes: &[u8]) -> u64 {
    let mut out = [0u8; 8];
    let n = bytes.len().min(8);
    out[..n].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(out)
}

/// A uniform number in the open interval (0, 1) from the top 52 bits of `h`: never
/// 0 nor 1, so its logarithm is finite and negative. (With 53 bits the largest value,
/// (2^53 - 0.5) / 2^53, would round to 1.)
#[inline]
pub(crate) fn unit(h: u64) -> f64 {
    ((h >> 12) as f64 + 0.5) / (1u64 << 52) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_depends_on_every_byte() {
        let base = Id::ZERO;
        let d0 = digest(&base);
        for i in 0..ID_LEN {
            let mut bytes = [0u8; ID_LEN];
            bytes[i] = 1;
            assert_ne!(digest(&Id::from_bytes(bytes)), d0, "byte {i} ignored");
        }
    }

    #[test]
    fn unit_stays_inside_the_open_interval() {
        for h in [0, 1, u64::MAX, u64::MAX - 1, 1 << 63] {
            let u = unit(h);
            assert!(u > 0.0 && u < 1.0, "{h} gave {u}");
            assert!(u.ln().is_finite());
        }
    }

    #[test]
    fn digests_of_small_integers_fill_the_top_bits() {
        // Ids 0..4096 share 148 leading zero bits; their digests must not.
        let mut top = [0usize; 16];
        for i in 0u32..4096 {
            let mut bytes = [0u8; ID_LEN];
            bytes[16..].copy_from_slice(&i.to_be_bytes());
            top[(digest(&Id::from_bytes(bytes)) >> 60) as usize] += 1;
        }
        // 256 expected in each sixteenth; a fair hash stays well inside 2x.
        assert!(top.iter().all(|&n| (128..512).contains(&n)), "{top:?}");
    }
}
