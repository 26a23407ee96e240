//! BEP 44 mutable-item signatures: ed25519 (RFC 8032) over the item's salt, sequence
//! number and value, bencoded as BEP 44 prescribes.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use ed25519_dalek::{Signature, Verifier, VerifyingKey};

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
    CHECKS.fetch_add(1, Ordering::Relaxed);
    THREAD_CHECKS.with(|n| n.set(n.get() + 1));
    let Ok(key) = VerifyingKey::from_bytes(k) else {
        return false;
    };
    let mut message = Vec::with_capacity(v.len() + salt.len() + 32);
    signed_bytes(salt, seq, v, &mut message);
    key.verify(&message, &Signature::from_bytes(sig)).is_ok()
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
}
