//! A signed broadcast as its origin made it: what is sent and what is delivered.

use super::range::KeyRange;
use super::sign::{self, SigningKey};
use super::PushError;
use crate::wire::push::{signed_bytes, BroadcastArgs, MAX_PAYLOAD};

/// One broadcast: its origin's key and sequence number, the key range it is for, the
/// payload and the origin's signature over all of these.
///
/// ```
/// use dipsea::push::{Broadcast, KeyRange, SigningKey};
///
/// let key = SigningKey::from_bytes(&[7; 32]);
/// let b = Broadcast::sign(&key, 1, KeyRange::ALL, b"hello").expect("small enough");
/// assert!(b.verify());
/// ```
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Broadcast {
    /// The origin's ed25519 public key.
    pub origin: [u8; 32],
    /// The origin's sequence number: one per broadcast, increasing (duplicates are
    /// told apart by origin and sequence number).
    pub seq: i64,
    /// The nodes it is for: those whose ids are in the range.
    pub range: KeyRange,
    /// The message, at most [`MAX_PAYLOAD`] bytes.
    pub payload: Vec<u8>,
    /// The origin's signature over [`signed_bytes`].
    pub sig: [u8; 64],
}

impl Broadcast {
    /// Signs `payload` for the nodes of `range` as broadcast number `seq` of `key`.
    ///
    /// Fails when the payload is over [`MAX_PAYLOAD`] bytes.
    pub fn sign(
        key: &SigningKey,
        seq: i64,
        range: KeyRange,
        payload: &[u8],
    ) -> Result<Broadcast, PushError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(PushError::PayloadTooBig {
                len: payload.len(),
                max: MAX_PAYLOAD,
            });
        }
        let mut message = Vec::with_capacity(payload.len() + 64);
        signed_bytes(seq, &range.prefix(), range.bits(), payload, &mut message);
        Ok(Broadcast {
            origin: sign::public_key(key),
            seq,
            range,
            payload: payload.to_vec(),
            sig: sign::sign(key, &message),
        })
    }

    /// Whether the signature is the origin's over this sequence number, range and
    /// payload.
    pub fn verify(&self) -> bool {
        verify_parts(
            &self.origin,
            self.seq,
            &self.range,
            &self.payload,
            &self.sig,
        )
    }

    /// The wire arguments that hand this broadcast over with subtree height `height`.
    pub fn args(&self, height: u8) -> BroadcastArgs<'_> {
        BroadcastArgs {
            origin: &self.origin,
            seq: self.seq,
            prefix: self.range.prefix(),
            prefix_len: self.range.bits(),
            height,
            payload: &self.payload,
            rescue: false,
            sig: &self.sig,
        }
    }

    /// The broadcast that `args` carry, or `None` when their range is not in
    /// canonical form (bits set past the prefix length), which no honest origin sends.
    pub fn from_args(args: &BroadcastArgs<'_>) -> Option<Broadcast> {
        let range = KeyRange::new(args.prefix, usize::from(args.prefix_len)).ok()?;
        (range.prefix() == args.prefix).then(|| Broadcast {
            origin: *args.origin,
            seq: args.seq,
            range,
            payload: args.payload.to_vec(),
            sig: *args.sig,
        })
    }
}

/// Whether `sig` is `origin`'s signature of (seq, range, payload).
pub(crate) fn verify_parts(
    origin: &[u8; 32],
    seq: i64,
    range: &KeyRange,
    payload: &[u8],
    sig: &[u8; 64],
) -> bool {
    let mut message = Vec::with_capacity(payload.len() + 64);
    signed_bytes(seq, &range.prefix(), range.bits(), payload, &mut message);
    sign::verify(origin, &message, sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::Id;

    #[test]
    fn sign_verify_and_tamper() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let range = KeyRange::from_hex("3a").expect("range");
        let b = Broadcast::sign(&key, 9, range, b"payload").expect("signed");
        assert!(b.verify());
        let args = b.args(100);
        assert_eq!(args.height, 100);
        assert_eq!(Broadcast::from_args(&args), Some(b.clone()));

        let mut seq = b.clone();
        seq.seq = 10;
        assert!(!seq.verify());
        let mut payload = b.clone();
        payload.payload.push(b'!');
        assert!(!payload.verify());
        let mut wider = b.clone();
        wider.range = KeyRange::ALL;
        assert!(!wider.verify());
        let mut origin = b;
        origin.origin = [2; 32];
        assert!(!origin.verify());
    }

    #[test]
    fn payload_bound() {
        let key = SigningKey::from_bytes(&[1; 32]);
        assert!(Broadcast::sign(&key, 1, KeyRange::ALL, &[0; MAX_PAYLOAD]).is_ok());
        assert_eq!(
            Broadcast::sign(&key, 1, KeyRange::ALL, &[0; MAX_PAYLOAD + 1]),
            Err(PushError::PayloadTooBig {
                len: MAX_PAYLOAD + 1,
                max: MAX_PAYLOAD
            })
        );
    }

    #[test]
    fn non_canonical_ranges_are_not_broadcasts() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let b = Broadcast::sign(&key, 1, KeyRange::from_hex("3a").expect("range"), b"")
            .expect("signed");
        let mut args = b.args(152);
        args.prefix = Id::from_bytes([0x3a; 20]);
        assert_eq!(Broadcast::from_args(&args), None);
    }
}
