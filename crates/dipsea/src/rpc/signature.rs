//! BEP 44 mutable-item signatures: ed25519 (RFC 8032) over the item's salt, sequence
//! number and value, bencoded as BEP 44 prescribes.

use std::cell::Cell;
use std::collections::HashSet;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use parking_lot::Mutex;

use crate::id::Id;

/// The bytes a mutable item's signature covers: `4:salt<len>:<salt>` (only when the
/// salt is not empty), then `3:seqi<seq>e1:v` and the bencoded value.
pub fn signed_bytes(salt: &[u8], seq: i64, v: &[u8], out: &mut Vec<u8>) {
    if !salt.is_empty() {
        out.extend_from_slice(b"4:salt");
        out.extend_from_slice(salt.len().to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(salt);
    }
    out.extend_from_slice(b"3:seqi");
    out.extend_from_slice(seq.to_string().as_bytes());
    out.extend_from_slice(b"e1:v");
    out.extend_from_slice(v);
}

/// Signature checks [`verify`] made in this process, all nodes and threads together.
static CHECKS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// The same, on this thread only (what a test can count exactly).
    static THREAD_CHECKS: Cell<u64> = const { Cell::new(0) };
}

/// How many signatures [`verify`] has checked in this process since it started, by
/// every node and thread: what a benchmark divides by its operations to split the
/// CPU time of mutable items into signature checks and the rest. A check costs tens
/// of microseconds; counting it, one relaxed atomic add.
pub fn checks() -> u64 {
    CHECKS.load(Ordering::Relaxed)
}

/// How many signatures [`verify`] has checked on the calling thread.
pub fn thread_checks() -> u64 {
    THREAD_CHECKS.with(Cell::get)
}

/// Whether `sig` is `k`'s signature of the item (salt, seq, v). Counted in
/// [`checks`].
pub fn verify(k: &[u8; 32], salt: &[u8], seq: i64, v: &[u8], sig: &[u8; 64]) -> bool {
    verify_message(k, &message_of(salt, seq, v), sig)
}

fn message_of(salt: &[u8], seq: i64, v: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(v.len() + salt.len() + 32);
    signed_bytes(salt, seq, v, &mut message);
    message
}

/// Whether `sig` is `k`'s signature of `message` (the item's signed bytes). Counted.
fn verify_message(k: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> bool {
    CHECKS.fetch_add(1, Ordering::Relaxed);
    THREAD_CHECKS.with(|n| n.set(n.get() + 1));
    let Ok(key) = VerifyingKey::from_bytes(k) else {
        return false;
    };
    key.verify(message, &Signature::from_bytes(sig)).is_ok()
}

/// Shards of a [`SignatureCache`]: each its own lock, so the receive tasks of one
/// node rarely wait on each other.
const CACHE_SHARDS: usize = 4;

/// Signatures a shard remembers per generation; a shard holds two generations, so a
/// node remembers between 1,024 and 2,048 of the signatures it checked last.
const CACHE_GENERATION: usize = 256;

/// Digests of verified items: what hashing the (already random) digest needs is a
/// few of its bytes, which the default hasher reads quickly enough.
type DigestSet = HashSet<[u8; 20], BuildHasherDefault<std::collections::hash_map::DefaultHasher>>;

#[derive(Debug, Default)]
struct Generations {
    current: DigestSet,
    previous: DigestSet,
}

/// The mutable items one node has verified lately, so that it checks each distinct
/// signature once, not once per copy or per operation: a client that polls a record
/// (a feed, a name) verifies each version once, and a subscriber told of one version
/// by several storing nodes checks it once. (A storing node does without: the
/// version it stores is what a repeated put carries, compared before any check, and
/// hashing every new put for a cache that almost never hits cost more than it saved.)
///
/// An entry is the SHA-1 of the public key, the signature and the signed bytes
/// (salt, seq, value), so a hit stands for that exact item, already found valid.
/// Two generations per shard: when the current one is full it becomes the previous
/// one and the oldest are forgotten (a cheap approximation of least recently used).
/// Nothing is allocated until the first check, so a simulated node that never sees
/// a mutable item pays only the empty cell.
#[derive(Debug, Default)]
pub struct SignatureCache {
    shards: OnceLock<Box<[Mutex<Generations>]>>,
}

impl SignatureCache {
    /// An empty cache.
    pub fn new() -> SignatureCache {
        SignatureCache::default()
    }

    /// Whether `sig` is `k`'s signature of the item (salt, seq, v), as [`verify`];
    /// an item verified here lately is not checked again (and not counted in
    /// [`checks`]).
    pub fn verify(&self, k: &[u8; 32], salt: &[u8], seq: i64, v: &[u8], sig: &[u8; 64]) -> bool {
        let message = message_of(salt, seq, v);
        let digest = *Id::sha1_concat(&[k, sig, &message]).as_bytes();
        let shard = &self.shards()[usize::from(digest[0]) % CACHE_SHARDS];
        {
            let g = shard.lock();
            if g.current.contains(&digest) || g.previous.contains(&digest) {
                return true;
            }
        }
        if !verify_message(k, &message, sig) {
            return false;
        }
        let mut g = shard.lock();
        if g.current.len() >= CACHE_GENERATION {
            g.previous = std::mem::take(&mut g.current);
        }
        g.current.insert(digest);
        true
    }

    fn shards(&self) -> &[Mutex<Generations>] {
        self.shards.get_or_init(|| {
            (0..CACHE_SHARDS)
                .map(|_| Mutex::new(Generations::default()))
                .collect()
        })
    }

    /// Heap bytes held (for the memory estimates).
    pub fn heap_bytes(&self) -> usize {
        self.shards.get().map_or(0, |shards| {
            shards
                .iter()
                .map(|s| {
                    let g = s.lock();
                    std::mem::size_of::<Mutex<Generations>>()
                        + (g.current.capacity() + g.previous.capacity()) * 21
                })
                .sum()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    #[test]
    fn bep44_test_vector_bytes() {
        // BEP 44's example: salt "foobar", seq 1, v "Hello World!".
        let mut out = Vec::new();
        signed_bytes(b"foobar", 1, b"12:Hello World!", &mut out);
        assert_eq!(out, b"4:salt6:foobar3:seqi1e1:v12:Hello World!");
    }

    #[test]
    fn verifies_own_signatures_only() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let mut msg = Vec::new();
        signed_bytes(b"", 3, b"2:hi", &mut msg);
        let sig = key.sign(&msg).to_bytes();
        let k = key.verifying_key().to_bytes();
        assert!(verify(&k, b"", 3, b"2:hi", &sig));
        assert!(!verify(&k, b"", 4, b"2:hi", &sig));
        assert!(!verify(&k, b"x", 3, b"2:hi", &sig));
        let before = thread_checks();
        assert!(!verify(&[0u8; 32], b"", 3, b"2:hi", &sig));
        assert_eq!(thread_checks(), before + 1, "a check is counted");
        assert!(checks() >= thread_checks());
    }

    #[test]
    fn a_cache_checks_each_item_once_and_never_keeps_a_forgery() {
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let k = key.verifying_key().to_bytes();
        let sign = |seq: i64, v: &[u8]| {
            let mut msg = Vec::new();
            signed_bytes(b"s", seq, v, &mut msg);
            key.sign(&msg).to_bytes()
        };
        let sig = sign(1, b"2:hi");
        let cache = SignatureCache::new();
        let before = thread_checks();
        assert!(cache.verify(&k, b"s", 1, b"2:hi", &sig));
        assert!(cache.verify(&k, b"s", 1, b"2:hi", &sig));
        assert_eq!(thread_checks() - before, 1, "the copy is not checked again");
        // The same signature over other bytes is another item: checked, refused,
        // and refused again (a failed check is not remembered as a pass).
        assert!(!cache.verify(&k, b"s", 1, b"2:ho", &sig));
        assert!(!cache.verify(&k, b"s", 2, b"2:hi", &sig));
        assert!(!cache.verify(&k, b"t", 1, b"2:hi", &sig));
        assert!(!cache.verify(&k, b"s", 1, b"2:ho", &sig));
        assert_eq!(thread_checks() - before, 5);
        // Past a generation's size per shard the oldest are forgotten, not all.
        for seq in 2..(2 + 4 * CACHE_GENERATION as i64) {
            assert!(cache.verify(&k, b"s", seq, b"2:hi", &sign(seq, b"2:hi")));
        }
        let checked = thread_checks();
        let last = 1 + 4 * CACHE_GENERATION as i64;
        assert!(cache.verify(&k, b"s", last, b"2:hi", &sign(last, b"2:hi")));
        assert_eq!(thread_checks(), checked, "a recent item is remembered");
        assert!(cache.heap_bytes() > 0);
    }
}
