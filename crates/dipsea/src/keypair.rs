//! The ed25519 identity of a BEP 44 mutable item's writer.
//!
//! A mutable item lives at `SHA-1(public key ‖ salt)` ([`mutable_target`]) and is
//! signed over its salt, sequence number and value (see [`crate::rpc::signature`]).
//! [`Keypair`] is the writer's key: make one with [`Keypair::random`] or
//! [`Keypair::from_seed`], keep it with [`Keypair::save`] and [`Keypair::load`]
//! (`keypair/file.rs`: the only file I/O of this module).
//!
//! ```
//! use dipsea::keypair::{mutable_target, Keypair};
//!
//! let keypair = Keypair::from_seed(&[7; 32]);
//! let sig = keypair.sign(b"salt", 1, b"5:hello");
//! assert!(dipsea::rpc::signature::verify(&keypair.public_key(), b"salt", 1, b"5:hello", &sig));
//! assert_eq!(keypair.target(b"salt"), mutable_target(&keypair.public_key(), b"salt"));
//! ```

mod file;

use std::fmt;

use ed25519_dalek::{Signer, SigningKey};
use rand::RngCore;

use crate::id::Id;
use crate::rpc::signature::signed_bytes;

/// Length of a keypair's seed (the ed25519 secret key), in bytes.
pub const SEED_LEN: usize = 32;
/// Length of a public key, in bytes (`k` in BEP 44).
pub const PUBLIC_KEY_LEN: usize = crate::wire::PUBLIC_KEY_LEN;
/// Length of a signature, in bytes (`sig` in BEP 44).
pub const SIGNATURE_LEN: usize = crate::wire::SIGNATURE_LEN;

/// An ed25519 keypair (RFC 8032) that signs BEP 44 mutable items.
///
/// Its 32-byte seed is the whole secret: anyone who has it can publish under its
/// public key. `Debug` prints only the public key; equality compares in constant time.
#[derive(Clone, PartialEq, Eq)]
pub struct Keypair {
    signing: SigningKey,
}

impl Keypair {
    /// A new keypair from the operating system's random source.
    pub fn random() -> Keypair {
        let mut seed = [0u8; SEED_LEN];
        rand::rngs::OsRng.fill_bytes(&mut seed);
        Keypair::from_seed(&seed)
    }

    /// The keypair whose secret is `seed`: the same seed always gives the same keys.
    pub fn from_seed(seed: &[u8; SEED_LEN]) -> Keypair {
        Keypair {
            signing: SigningKey::from_bytes(seed),
        }
    }

    /// The secret seed; keep it private (see [`Keypair::save`]).
    pub fn seed(&self) -> [u8; SEED_LEN] {
        self.signing.to_bytes()
    }

    /// The public key (`k` in BEP 44): who published an item, and half its address.
    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.signing.verifying_key().to_bytes()
    }

    /// Where this key's item with `salt` lives: `SHA-1(public key ‖ salt)`.
    pub fn target(&self, salt: &[u8]) -> Id {
        mutable_target(&self.public_key(), salt)
    }

    /// The BEP 44 signature of a mutable item: salt, sequence number `seq` and `v`, the
    /// value as one complete bencoded value (as sent in `v`).
    pub fn sign(&self, salt: &[u8], seq: i64, v: &[u8]) -> [u8; SIGNATURE_LEN] {
        let mut message = Vec::with_capacity(v.len() + salt.len() + 32);
        signed_bytes(salt, seq, v, &mut message);
        self.signing.sign(&message).to_bytes()
    }
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair(public_key: {})", to_hex(&self.public_key()))
    }
}

/// The target (key) of the mutable item of public key `k` with `salt`:
/// `SHA-1(k ‖ salt)`, the salt left out when empty (BEP 44).
pub fn mutable_target(k: &[u8; PUBLIC_KEY_LEN], salt: &[u8]) -> Id {
    Id::sha1_concat(&[k, salt])
}

/// Why a string is not a key of the expected size in hex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HexError {
    /// Wrong number of digits; a public key or seed is 64 hex digits.
    #[error("expected {expected} hex digits, got {got} characters")]
    Length {
        /// Digits expected.
        expected: usize,
        /// Characters found.
        got: usize,
    },
    /// A character is not a hex digit; only 0-9, a-f and A-F are allowed.
    #[error("invalid hex digit at position {0}")]
    Digit(usize),
}

/// Reads a public key (or seed) written as 64 hex digits, either case.
pub fn public_key_from_hex(s: &str) -> Result<[u8; PUBLIC_KEY_LEN], HexError> {
    from_hex(s)
}

/// Lowercase hex of `bytes`: how the CLI prints public keys.
pub fn to_hex(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

fn from_hex<const N: usize>(s: &str) -> Result<[u8; N], HexError> {
    let digits = s.as_bytes();
    if digits.len() != 2 * N {
        return Err(HexError::Length {
            expected: 2 * N,
            got: s.chars().count(),
        });
    }
    let mut out = [0u8; N];
    for (i, pair) in digits.chunks_exact(2).enumerate() {
        let hi = crate::id::hex_value(pair[0]).ok_or(HexError::Digit(2 * i))?;
        let lo = crate::id::hex_value(pair[1]).ok_or(HexError::Digit(2 * i + 1))?;
        out[i] = (hi << 4) | lo;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::signature::verify;

    #[test]
    fn rfc8032_test_vector_1() {
        let seed =
            from_hex::<32>("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
                .expect("hex");
        let keypair = Keypair::from_seed(&seed);
        assert_eq!(
            to_hex(&keypair.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        assert_eq!(keypair.seed(), seed);
    }

    #[test]
    fn bep44_test_vectors_verify_and_give_the_targets() {
        // BEP 44's test vectors: "Hello World!", seq 1, without and with salt "foobar".
        let k =
            public_key_from_hex("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548")
                .expect("hex");
        let sig = from_hex::<64>(
            "305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff\
             1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01",
        )
        .expect("hex");
        assert!(verify(&k, b"", 1, b"12:Hello World!", &sig));
        assert_eq!(
            mutable_target(&k, b"").to_string(),
            "4a533d47ec9c7d95b1ad75f576cffc641853b750"
        );
        let salted = from_hex::<64>(
            "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d\
             df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08",
        )
        .expect("hex");
        assert!(verify(&k, b"foobar", 1, b"12:Hello World!", &salted));
        assert_eq!(
            mutable_target(&k, b"foobar").to_string(),
            "411eba73b6f087ca51a3795d9c8c938d365e32c1"
        );
    }

    #[test]
    fn signatures_verify_and_keys_differ() {
        let a = Keypair::random();
        let b = Keypair::random();
        assert_ne!(a.public_key(), b.public_key());
        let sig = a.sign(b"s", 9, b"1:x");
        assert!(verify(&a.public_key(), b"s", 9, b"1:x", &sig));
        assert!(!verify(&b.public_key(), b"s", 9, b"1:x", &sig));
        let again = Keypair::from_seed(&a.seed());
        assert_eq!(again.public_key(), a.public_key());
        assert!(!format!("{a:?}").contains(&to_hex(&a.seed())));
    }

    #[test]
    fn hex_round_trips_and_errors() {
        let k = Keypair::random().public_key();
        assert_eq!(public_key_from_hex(&to_hex(&k)), Ok(k));
        assert_eq!(
            public_key_from_hex(&to_hex(&k).to_uppercase()),
            Ok(k),
            "either case"
        );
        assert_eq!(
            public_key_from_hex("abc"),
            Err(HexError::Length {
                expected: 64,
                got: 3
            })
        );
        let mut bad = to_hex(&k);
        bad.replace_range(5..6, "g");
        assert_eq!(public_key_from_hex(&bad), Err(HexError::Digit(5)));
    }
}
