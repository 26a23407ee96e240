//! The hash of the shard tables: a keyed multiply-and-fold, seeded per store. Its small
//! functions are `#[inline]`: they run inside every table lookup, which is compiled in
//! other modules.

use std::hash::{BuildHasher, Hasher};

/// The hash of the shard tables: a keyed multiply-and-fold over the whole key, seeded
/// per store (foldhash and aHash mix the same way).
///
/// SipHash, the std default, over the 21-byte key cost about a fifth of a get. Item
/// targets are SHA-1 outputs, uniform already, but info-hashes are chosen freely by
/// whoever announces them; so every byte of the id is hashed, under a random seed, and
/// a flood of announces cannot pile up on one bucket by sharing a prefix.
#[derive(Clone, Copy, Debug)]
pub(super) struct KeyState {
    seed: u64,
    multiplier: u64,
}

impl KeyState {
    pub(super) fn random() -> KeyState {
        KeyState {
            seed: rand::random(),
            // Odd, with both halves dense in bits.
            multiplier: rand::random::<u64>() | 0x8000_0001_0000_0001,
        }
    }
}

impl BuildHasher for KeyState {
    type Hasher = KeyHasher;

    #[inline]
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher {
            state: self.seed,
            multiplier: self.multiplier,
        }
    }
}

/// See [`KeyState`].
pub(super) struct KeyHasher {
    state: u64,
    multiplier: u64,
}

impl Hasher for KeyHasher {
    fn write(&mut self, bytes: &[u8]) {
        // Only `Key` is hashed, through `write_u64`; this keeps the hasher general.
        for chunk in bytes.chunks(8) {
            self.write_u64(le_u64(chunk));
        }
    }

    #[inline]
    fn write_u64(&mut self, word: u64) {
        self.state = fold_multiply(self.state ^ word, self.multiplier);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // One more round: a difference in the high bits of the last word reaches the
        // low bits, which pick the bucket, only through it.
        fold_multiply(self.state, self.multiplier)
    }
}

/// The 128-bit product of `a` and `b`, its halves xor-ed.
#[inline]
fn fold_multiply(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

/// Up to 8 bytes as a little-endian integer.
#[inline]
pub(super) fn le_u64(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = bytes.len().min(8);
    word[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(word)
}
