//! The ed25519 seam of push: signing and verifying broadcasts.
//!
//! The only file of `push` that names the ed25519 library, so that the key type can
//! become the crate's own keypair type without touching the rest.

use ed25519_dalek::{Signature, Signer, VerifyingKey};

/// An origin's ed25519 secret key (RFC 8032), the one a broadcast is signed with.
pub use ed25519_dalek::SigningKey;

/// The 32-byte public key of `key`.
pub(crate) fn public_key(key: &SigningKey) -> [u8; 32] {
    key.verifying_key().to_bytes()
}

/// The signature of `message` by `key`.
pub(crate) fn sign(key: &SigningKey, message: &[u8]) -> [u8; 64] {
    key.sign(message).to_bytes()
}

/// Whether `sig` is a valid signature of `message` by the public key `origin`. A key
/// that is not a point of the curve verifies nothing.
pub(crate) fn verify(origin: &[u8; 32], message: &[u8], sig: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(origin) else {
        return false;
    };
    key.verify_strict(message, &Signature::from_bytes(sig))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_for_their_key_and_message_only() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let sig = sign(&key, b"m");
        assert!(verify(&public_key(&key), b"m", &sig));
        assert!(!verify(&public_key(&key), b"n", &sig));
        let other = SigningKey::from_bytes(&[6; 32]);
        assert!(!verify(&public_key(&other), b"m", &sig));
        assert!(!verify(&[0xff; 32], b"m", &sig));
    }
}
