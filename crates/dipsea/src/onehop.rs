//! The one-hop overlay on UDP: every member keeps the full member list, and a
//! request goes straight to the r owners a [`keyspace`](crate::keyspace) partitioner
//! names among them (one round trip), instead of walking Kademlia's O(log N) hops.
//!
//! This module holds the overlay's pure parts; the node's glue (its hooks in
//! dispatch, timers and operations) is `node/onehop.rs`:
//!
//! - [`Members`]: the member table (id → address, last answer, failures), fed
//!   incrementally to a partitioner, with an order-free digest of the set for
//!   anti-entropy and tombstones for members removed lately;
//! - [`MemberEvent`]: a join or a departure, the payload of a signed broadcast
//!   ([`crate::push`]); a join is accepted only when its id is SHA-1 of the key that
//!   signed it, so a member id is bound to its key;
//! - [`OneHopConfig`] and [`Overlay`]: the choice made at node creation.
//!
//! Wire (dipsea extensions, only between members of one private network):
//! `dipsea_digest` (`target` is the asker's 20-byte digest; the answer's `token` is
//! the responder's and `num` its member count; each side whose digest differs pulls
//! the other's list: push-pull) and `dipsea_members` (`target`, when present,
//! is a cursor: the answer lists, in `nodes` and `nodes6`, up to [`PAGE`] members
//! whose ids follow it in id order, in `proofs` each one's signed join
//! ([`JoinProof`]), and `num` the member count). A receiver takes a listed member
//! only with a proof its accept policy allows, as it would the member's own join.

mod event;
mod members;
mod proof;

use std::time::Duration;

pub use event::{member_id, MemberEvent, Signer, EVENT_MAGIC};
pub use members::{range_cursor, range_of, Member, Members, RANGES};
pub use proof::{JoinProof, PROOF_LEN};

use crate::error::Error;
use crate::keyspace::Scheme;

/// The method of the digest query (anti-entropy).
pub const DIGEST_METHOD: &[u8] = b"dipsea_digest";

/// The method of the member list query (join and anti-entropy), paged.
pub const MEMBERS_METHOD: &[u8] = b"dipsea_members";

/// Members per `dipsea_members` answer: 9 compact entries and their proofs. A full
/// answer is 1,286 bytes over IPv4 and 1,408 over IPv6, so that with its IP and UDP
/// headers it fits a 1,500-byte path (10 would take 1,551 bytes over IPv6).
pub const PAGE: usize = 9;

/// Which overlay a node runs: chosen at creation, never changed.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Overlay {
    /// Kademlia over the Mainline KRPC protocol: O(log N) hops (the default, and the
    /// only overlay of the public network).
    #[default]
    Kademlia,
    /// The one-hop overlay: full membership, requests straight to the owners. Needs
    /// a private network ([`crate::NodeConfig::network`]).
    OneHop(OneHopConfig),
}

impl Overlay {
    /// The overlay called `name`: `kademlia`, or `one-hop` (also `onehop`) with the
    /// default [`OneHopConfig`]. What the bindings and the CLI take.
    ///
    /// Errors: [`Error::BadInput`] for any other name.
    pub fn from_name(name: &str) -> Result<Overlay, Error> {
        match name {
            "kademlia" => Ok(Overlay::Kademlia),
            "one-hop" | "onehop" => Ok(Overlay::OneHop(OneHopConfig::default())),
            other => Err(Error::BadInput(format!(
                "unknown overlay {other:?}: expected kademlia or one-hop"
            ))),
        }
    }

    /// The one-hop settings, to change the partitioner or the replicas.
    ///
    /// Errors: [`Error::BadInput`] on [`Overlay::Kademlia`], which has neither.
    pub fn one_hop_mut(&mut self) -> Result<&mut OneHopConfig, Error> {
        match self {
            Overlay::OneHop(config) => Ok(config),
            Overlay::Kademlia => Err(Error::BadInput(
                "partitioner and replicas are one-hop settings: choose the one-hop overlay first"
                    .into(),
            )),
        }
    }

    /// `name` (see [`Overlay::from_name`]) with a partitioner by name (`xor`, `ring`,
    /// `ring:64`, `rendezvous`) and a replica count, each when given.
    ///
    /// Errors: [`Error::BadInput`] for an unknown name or partitioner, or a
    /// partitioner or replicas given with Kademlia.
    pub fn with_settings(
        name: &str,
        partitioner: Option<&str>,
        replicas: Option<usize>,
    ) -> Result<Overlay, Error> {
        let mut overlay = Overlay::from_name(name)?;
        if let Some(partitioner) = partitioner {
            overlay.one_hop_mut()?.partitioner = partitioner.parse::<Scheme>()?;
        }
        if let Some(replicas) = replicas {
            overlay.one_hop_mut()?.replicas = replicas;
        }
        Ok(overlay)
    }
}

/// Settings of a one-hop node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OneHopConfig {
    /// How the owners of a key are chosen among the members. Default rendezvous.
    pub partitioner: Scheme,
    /// Owners of each key (r): a put goes to all of them at once, a get asks all of
    /// them at once. Default 3; with fewer members, every member owns every key.
    pub replicas: usize,
    /// A member is pinged every this long, in turn (one ping per interval): a dead
    /// member is found within about `members × probe_interval × suspect_after`, or
    /// sooner by requests it misses. Default 1 s.
    pub probe_interval: Duration,
    /// Every this long, the member set's digest is compared with a random member's,
    /// and on a difference its list is pulled. Default 10 s.
    pub anti_entropy_interval: Duration,
    /// Missed answers (each after its retries) after which a member is removed and
    /// its departure announced. Default 3. A member wrongly announced gone (it was
    /// only slow) hears of it and announces its join again.
    pub suspect_after: u32,
    /// How long a removed member is not taken back from another member's list
    /// (its signed join is always taken). Default 60 s.
    pub tombstone: Duration,
}

impl Default for OneHopConfig {
    fn default() -> Self {
        OneHopConfig {
            partitioner: Scheme::Rendezvous,
            replicas: 3,
            probe_interval: Duration::from_secs(1),
            anti_entropy_interval: Duration::from_secs(10),
            suspect_after: 3,
            tombstone: Duration::from_secs(60),
        }
    }
}

impl OneHopConfig {
    /// Checks the settings: replicas at least 1, a partitioner that builds, timers
    /// above zero, `suspect_after` at least 1.
    ///
    /// Errors: [`Error::BadInput`] naming the setting.
    pub fn validate(&self) -> Result<(), Error> {
        if self.replicas == 0 {
            return Err(Error::BadInput(
                "one-hop replicas must be at least 1".into(),
            ));
        }
        self.partitioner.build()?;
        if self.probe_interval.is_zero() || self.anti_entropy_interval.is_zero() {
            return Err(Error::BadInput(
                "one-hop probe and anti-entropy intervals must be above zero".into(),
            ));
        }
        if self.suspect_after == 0 {
            return Err(Error::BadInput(
                "one-hop suspect_after must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlays_by_name() {
        assert_eq!(Overlay::from_name("kademlia").ok(), Some(Overlay::Kademlia));
        let o = Overlay::with_settings("one-hop", Some("ring:64"), Some(5)).expect("one-hop");
        let Overlay::OneHop(c) = o else {
            panic!("one-hop expected")
        };
        assert_eq!(
            (c.partitioner, c.replicas),
            (Scheme::Ring { vnodes: 64 }, 5)
        );
        assert!(Overlay::from_name("chord").is_err());
        assert!(Overlay::with_settings("kademlia", Some("xor"), None).is_err());
        assert!(Overlay::with_settings("one-hop", Some("maglev"), None).is_err());
    }
}
