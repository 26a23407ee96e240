//! A member's signed join, carried beside its entry in member list pages so that a
//! receiver believes the entry as it would the member's own join broadcast.
//!
//! Without it, a page was trusted as its sender was: one member could list members
//! that never joined (ids an accept policy would refuse) or move a member to its own
//! address. With it, an entry is taken only when its member signed a join for that
//! very id and address, and the accept policy allows the signer.
//!
//! Format: [`PROOF_LEN`] bytes per member, the join broadcast's origin key (32), its
//! sequence number (8, big-endian) and its signature (64). The rest of what the
//! signature covers is rebuilt by the receiver: the range is the whole keyspace and
//! the payload the join event of the entry's id and address.

use std::net::SocketAddr;

use super::event::{member_id, MemberEvent};
use crate::id::Id;
use crate::push::{Broadcast, KeyRange, SigningKey};

/// Bytes of one proof on the wire.
pub const PROOF_LEN: usize = 32 + 8 + 64;

/// A member's signed join: the key, sequence number and signature of a join
/// broadcast, whose payload and range follow from the member's id and address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JoinProof {
    /// The member's ed25519 public key; its SHA-1 is the member id.
    pub origin: [u8; 32],
    /// The broadcast's sequence number.
    pub seq: i64,
    /// The signature over the join of the member's id and address.
    pub sig: [u8; 64],
}

impl JoinProof {
    /// The proof of `key`'s join at `addr`, as broadcast number `seq`.
    pub fn sign(key: &SigningKey, seq: i64, addr: SocketAddr) -> JoinProof {
        let id = member_id(&key.verifying_key().to_bytes());
        let payload = MemberEvent::Join { id, addr }.encode();
        // A join event is a few dozen bytes: far below the payload bound.
        let b = Broadcast::sign(key, seq, KeyRange::ALL, &payload)
            .expect("a join event fits a broadcast");
        JoinProof::of(&b)
    }

    /// The proof a join broadcast carries (whether it is one is for the caller).
    pub fn of(b: &Broadcast) -> JoinProof {
        JoinProof {
            origin: b.origin,
            seq: b.seq,
            sig: b.sig,
        }
    }

    /// Whether this proves that member `id` joined at `addr`: `id` is the key's
    /// SHA-1 and the signature covers that join.
    pub fn proves(&self, id: &Id, addr: SocketAddr) -> bool {
        if member_id(&self.origin) != *id {
            return false;
        }
        Broadcast {
            origin: self.origin,
            seq: self.seq,
            range: KeyRange::ALL,
            payload: MemberEvent::Join { id: *id, addr }.encode(),
            sig: self.sig,
        }
        .verify()
    }

    /// Appends the wire bytes.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.origin);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.sig);
    }

    /// The proofs in `bytes`, one per [`PROOF_LEN`] bytes; `None` unless its length
    /// is a multiple of it.
    pub fn read_all(bytes: &[u8]) -> Option<Vec<JoinProof>> {
        if !bytes.len().is_multiple_of(PROOF_LEN) {
            return None;
        }
        let proofs = bytes
            .chunks_exact(PROOF_LEN)
            .map(|c| {
                let (origin, rest) = c.split_at(32);
                let (seq, sig) = rest.split_at(8);
                JoinProof {
                    origin: origin.try_into().expect("32 bytes"),
                    seq: i64::from_be_bytes(seq.try_into().expect("8 bytes")),
                    sig: sig.try_into().expect("64 bytes"),
                }
            })
            .collect();
        Some(proofs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn a_proof_holds_for_its_id_and_address_only() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let id = member_id(&key.verifying_key().to_bytes());
        let proof = JoinProof::sign(&key, 7, addr(1));
        assert!(proof.proves(&id, addr(1)));
        assert!(!proof.proves(&id, addr(2)), "another address");
        assert!(!proof.proves(&Id::sha1(b"other"), addr(1)), "another id");
        let mut forged = proof;
        forged.seq = 8;
        assert!(!forged.proves(&id, addr(1)), "another sequence number");
    }

    #[test]
    fn proofs_round_trip_and_a_partial_record_is_refused() {
        let proofs: Vec<JoinProof> = (1..4u8)
            .map(|i| JoinProof::sign(&SigningKey::from_bytes(&[i; 32]), i64::from(i), addr(1)))
            .collect();
        let mut bytes = Vec::new();
        for p in &proofs {
            p.write(&mut bytes);
        }
        assert_eq!(bytes.len(), 3 * PROOF_LEN);
        assert_eq!(JoinProof::read_all(&bytes), Some(proofs));
        assert_eq!(JoinProof::read_all(&bytes[1..]), None);
        assert_eq!(JoinProof::read_all(&[]), Some(Vec::new()));
    }
}
