//! Membership events: the payload of a signed broadcast announcing a join or a
//! departure.
//!
//! Format: [`EVENT_MAGIC`] (4 bytes), the kind (`j` join, `l` leave), the member id
//! (20 bytes), then for a join its compact address (6 bytes IPv4, 18 bytes IPv6).
//! The broadcast's signature covers it all; who signed it (the broadcast's origin
//! key) decides whether it is believed (see [`MemberEvent::check`]).

use std::net::SocketAddr;

use crate::id::{Id, ID_LEN};
use crate::keypair::mutable_target;
use crate::wire::{read_compact_addr, write_compact_addr};

/// The first bytes of a membership event payload.
pub const EVENT_MAGIC: &[u8; 4] = b"DSOH";

/// A join or a departure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberEvent {
    /// `id` joined, reachable at `addr`; signed by the key whose SHA-1 is `id`.
    Join {
        /// The member.
        id: Id,
        /// Its address.
        addr: SocketAddr,
    },
    /// `id` left: announced by itself, or by a member that saw it miss answers.
    Leave {
        /// The member gone.
        id: Id,
    },
}

/// Who an event's signer is, as the receiver sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signer {
    /// The member the event is about: believed at once.
    Subject,
    /// Another member (a detector): a departure is believed after the receiver's own
    /// check.
    Member(Id),
    /// Neither: a forged event, refused.
    Stranger,
}

/// The member id bound to an ed25519 public key: SHA-1 of the key.
pub fn member_id(key: &[u8; 32]) -> Id {
    mutable_target(key, b"")
}

impl MemberEvent {
    /// The member the event is about.
    pub fn id(&self) -> Id {
        match self {
            MemberEvent::Join { id, .. } | MemberEvent::Leave { id } => *id,
        }
    }

    /// The payload bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4 + 1 + ID_LEN + 18);
        out.extend_from_slice(EVENT_MAGIC);
        match self {
            MemberEvent::Join { id, addr } => {
                out.push(b'j');
                out.extend_from_slice(id.as_bytes());
                write_compact_addr(addr, &mut out);
            }
            MemberEvent::Leave { id } => {
                out.push(b'l');
                out.extend_from_slice(id.as_bytes());
            }
        }
        out
    }

    /// Whether `payload` is a membership event (starts with [`EVENT_MAGIC`]).
    pub fn is_event(payload: &[u8]) -> bool {
        payload.starts_with(EVENT_MAGIC)
    }

    /// Reads a payload; `None` when it is not a well-formed event.
    pub fn decode(payload: &[u8]) -> Option<MemberEvent> {
        let rest = payload.strip_prefix(EVENT_MAGIC)?;
        let (&kind, rest) = rest.split_first()?;
        if rest.len() < ID_LEN {
            return None;
        }
        let (id, rest) = rest.split_at(ID_LEN);
        let id = Id::from_slice(id).ok()?;
        match (kind, rest.len()) {
            (b'j', 6 | 18) => Some(MemberEvent::Join {
                id,
                addr: read_compact_addr(rest)?,
            }),
            (b'l', 0) => Some(MemberEvent::Leave { id }),
            _ => None,
        }
    }

    /// Who signed it, given the signer's public key `origin` and whether an id is a
    /// member now.
    pub fn signer(&self, origin: &[u8; 32], is_member: impl Fn(&Id) -> bool) -> Signer {
        let signer = member_id(origin);
        if signer == self.id() {
            Signer::Subject
        } else if is_member(&signer) {
            Signer::Member(signer)
        } else {
            Signer::Stranger
        }
    }

    /// Whether a receiver should act on this event: a join only from its subject; a
    /// departure from its subject or from a member (then checked first).
    pub fn check(&self, origin: &[u8; 32], is_member: impl Fn(&Id) -> bool) -> Option<Signer> {
        match (self, self.signer(origin, is_member)) {
            (_, Signer::Stranger) | (MemberEvent::Join { .. }, Signer::Member(_)) => None,
            (_, signer) => Some(signer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_and_junk_is_refused() {
        let id = Id::sha1(b"m");
        let addr: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        for e in [MemberEvent::Join { id, addr }, MemberEvent::Leave { id }] {
            assert_eq!(MemberEvent::decode(&e.encode()), Some(e));
        }
        let six: SocketAddr = "[::1]:9".parse().expect("addr");
        let e = MemberEvent::Join { id, addr: six };
        assert_eq!(MemberEvent::decode(&e.encode()), Some(e));
        let mut bad = MemberEvent::Leave { id }.encode();
        bad.push(0);
        assert_eq!(MemberEvent::decode(&bad), None);
        assert_eq!(MemberEvent::decode(b"DSOHj123"), None);
        assert_eq!(MemberEvent::decode(b"hello"), None);
    }

    #[test]
    fn a_join_is_believed_only_from_its_own_key() {
        let key = [7u8; 32];
        let id = member_id(&key);
        let addr: SocketAddr = "127.0.0.1:4000".parse().expect("addr");
        let join = MemberEvent::Join { id, addr };
        assert_eq!(join.check(&key, |_| true), Some(Signer::Subject));
        // Another member's key, or a stranger's, cannot announce a join for `id`.
        assert_eq!(join.check(&[8u8; 32], |_| true), None);
        assert_eq!(join.check(&[8u8; 32], |_| false), None);
        let leave = MemberEvent::Leave { id };
        let other = member_id(&[8u8; 32]);
        assert_eq!(
            leave.check(&[8u8; 32], |m| *m == other),
            Some(Signer::Member(other))
        );
        assert_eq!(leave.check(&[8u8; 32], |_| false), None);
    }
}
