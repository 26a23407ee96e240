//! The node's external address, learned by majority vote (BEP 42).
//!
//! Entry point: [`Node::external_ip`]. Nodes that answer our queries put the address
//! they see us at in the `ip` key of their answer. Any one of them may lie (or sit
//! behind a strange NAT), so the node counts what distinct responders report and
//! believes an address only once enough of them agree ([`MIN_VOTES`], a majority of
//! the round). Only answers that matched one of our in-flight queries vote: a
//! spoofed datagram must guess a transaction id first. Each address family has its
//! own vote: a dual-stack node (BEP 32) is told an IPv4 address over IPv4 and an
//! IPv6 one over IPv6, and in one shared vote neither would ever be a majority.
//!
//! Everything is bounded: a round holds at most [`ROUND_VOTES`] voters and
//! [`MAX_CANDIDATES`] distinct addresses, then starts afresh. A node that never
//! hears a public address (a LAN, loopback, or the simulator's `127.x` network)
//! allocates nothing.
//!
//! The node's id is never changed while it runs: when the believed address is one
//! the id does not conform to, the node says so ([`Event::ExternalIp`],
//! [`NodeStats::id_conforms`](super::NodeStats::id_conforms)) and the driver logs a
//! warning; a restart with `NodeBuilder::id_for_ip` fixes it.

use std::cmp::Reverse;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use parking_lot::Mutex;

use super::output::{Event, Output};
use super::Node;
use crate::id::bep42;

/// Votes an address needs before it is believed: 10, from 10 distinct responders.
///
/// One answer proves nothing: whoever we query can put any address in `ip`. Ten
/// distinct responders, each one a node we chose to query, make a lie expensive
/// (the liar needs ten nodes among those we happen to ask, and a majority of the
/// round), while an honest network gets there during the first bootstrap, which
/// asks dozens of nodes.
pub const MIN_VOTES: u32 = 10;

/// Votes in one round: 50. Each responder address votes at most once per round;
/// when the round is full, the counts and the voter list are cleared. This bounds
/// the vote's memory, keeps one chatty responder from voting twice, and lets a node
/// whose address changed learn the new one within a round or two.
pub const ROUND_VOTES: usize = 50;

/// Distinct reported addresses counted at once in a round: 8. A vote for a ninth
/// evicts the candidate with the fewest votes (the latest of equals), so a flood of
/// made-up addresses churns one slot and leaves the leaders alone.
pub const MAX_CANDIDATES: usize = 8;

/// One round of votes and the address believed so far.
#[derive(Debug, Default)]
struct Tally {
    external: Option<IpAddr>,
    /// Reported addresses and their votes this round, oldest first.
    candidates: Vec<(IpAddr, u32)>,
    /// Responder addresses that voted this round.
    voters: Vec<IpAddr>,
}

impl Tally {
    /// Counts `voter`'s report of `reported`; returns the believed address if it
    /// changed. The first address is believed as soon as it has [`MIN_VOTES`] and
    /// more than half of the round's votes; a believed address is replaced only at
    /// the end of a round in which another one has that much.
    fn vote(&mut self, voter: IpAddr, reported: IpAddr) -> Option<IpAddr> {
        if self.voters.contains(&voter) {
            return None;
        }
        self.voters.push(voter);
        match self.candidates.iter_mut().find(|(a, _)| *a == reported) {
            Some((_, votes)) => *votes += 1,
            None => {
                if self.candidates.len() >= MAX_CANDIDATES {
                    let weakest = self
                        .candidates
                        .iter()
                        .enumerate()
                        .min_by_key(|(i, (_, votes))| (*votes, Reverse(*i)))
                        .map(|(i, _)| i);
                    if let Some(i) = weakest {
                        self.candidates.remove(i);
                    }
                }
                self.candidates.push((reported, 1));
            }
        }
        let round_over = self.voters.len() >= ROUND_VOTES;
        let changed = if self.external.is_none() || round_over {
            self.leader().filter(|ip| self.external != Some(*ip))
        } else {
            None
        };
        if changed.is_some() {
            self.external = changed;
        }
        if round_over {
            self.voters.clear();
            self.candidates.clear();
        }
        changed
    }

    /// The address with at least [`MIN_VOTES`] and a strict majority of the round.
    fn leader(&self) -> Option<IpAddr> {
        let total = u32::try_from(self.voters.len()).unwrap_or(u32::MAX);
        self.candidates
            .iter()
            .find(|(_, votes)| *votes >= MIN_VOTES && votes.saturating_mul(2) > total)
            .map(|(ip, _)| *ip)
    }
}

/// The votes as the node holds them, one per address family (IPv4, IPv6): nothing
/// on the heap until a public address of that family is reported.
#[derive(Debug, Default)]
pub(super) struct ExternalIp {
    tallies: [Mutex<Option<Box<Tally>>>; 2],
}

impl ExternalIp {
    /// The vote of `ip`'s family.
    fn tally(&self, ip: IpAddr) -> &Mutex<Option<Box<Tally>>> {
        &self.tallies[usize::from(ip.is_ipv6())]
    }

    /// The address the vote of `ip`'s family believes.
    fn believed(&self, family: IpAddr) -> Option<IpAddr> {
        self.tally(family).lock().as_ref().and_then(|t| t.external)
    }

    /// Counts `voter`'s report of `reported` (both canonical) in the vote of
    /// `reported`'s family; returns the newly believed address if it changed. A vote
    /// another thread holds is skipped rather than waited for.
    fn vote(&self, voter: IpAddr, reported: IpAddr) -> Option<IpAddr> {
        let mut tally = self.tally(reported).try_lock()?;
        tally
            .get_or_insert_with(Default::default)
            .vote(voter, reported)
    }

    /// Heap bytes of the votes (by capacity).
    pub(super) fn heap_bytes(&self) -> usize {
        use std::mem::size_of;
        self.tallies
            .iter()
            .map(|tally| {
                tally.lock().as_deref().map_or(0, |t| {
                    size_of::<Tally>()
                        + t.candidates.capacity() * size_of::<(IpAddr, u32)>()
                        + t.voters.capacity() * size_of::<IpAddr>()
                })
            })
            .sum()
    }
}

impl Node {
    /// The node's public address as a majority of the nodes that answered it
    /// report it (BEP 42's `ip` key), once at least [`MIN_VOTES`] of them agree;
    /// `None` until then, and on networks where only local addresses are reported.
    /// A dual-stack node has one vote per family ([`Node::external_ips`]); this is
    /// its IPv4 address if known, else its IPv6 one.
    ///
    /// Locks: the votes' mutexes, one at a time.
    pub fn external_ip(&self) -> Option<IpAddr> {
        let (v4, v6) = self.external_ips();
        v4.map(IpAddr::V4).or(v6.map(IpAddr::V6))
    }

    /// The node's public IPv4 and IPv6 addresses, each learned by the vote of its
    /// own family (see [`Node::external_ip`]).
    ///
    /// Locks: the votes' mutexes, one at a time.
    pub fn external_ips(&self) -> (Option<Ipv4Addr>, Option<Ipv6Addr>) {
        let v4 = match self.external.believed(IpAddr::V4(Ipv4Addr::UNSPECIFIED)) {
            Some(IpAddr::V4(ip)) => Some(ip),
            _ => None,
        };
        let v6 = match self.external.believed(IpAddr::V6(Ipv6Addr::UNSPECIFIED)) {
            Some(IpAddr::V6(ip)) => Some(ip),
            _ => None,
        };
        (v4, v6)
    }

    /// Whether the node's id conforms to BEP 42 for [`Node::external_ip`]; `None`
    /// while that is unknown. A node whose id does not conform keeps it (changing
    /// a running node's id would orphan its routing table and stored items), but
    /// peers that enforce BEP 42 will not keep it in their tables: restart it with
    /// an id from [`bep42::node_id_for`].
    ///
    /// Locks: the vote's mutex.
    pub fn id_conforms(&self) -> Option<bool> {
        self.external_ip()
            .map(|ip| bep42::id_conforms(&self.id, ip))
    }

    /// Counts the `ip` key of an answer from `from` that matched one of our
    /// queries, and reports a newly believed address as [`Event::ExternalIp`].
    /// Local (exempt) addresses are not counted: they say nothing about the public
    /// one. If another thread holds the vote, this vote is skipped rather than
    /// waited for (the per-packet path never blocks on it; the simulator, single
    /// threaded, never skips).
    pub(super) fn vote_external_ip(
        &self,
        from: SocketAddr,
        reported: SocketAddr,
        out: &mut Output,
    ) {
        let reported = reported.ip().to_canonical();
        if bep42::is_exempt(reported) {
            return;
        }
        let changed = self.external.vote(from.ip().to_canonical(), reported);
        if let Some(ip) = changed {
            out.events.push(Event::ExternalIp {
                ip,
                id_conforms: bep42::id_conforms(&self.id, ip),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from([44, (n >> 16) as u8, (n >> 8) as u8, n as u8])
    }

    const ME: [u8; 4] = [203, 0, 113, 7];
    const LIE: [u8; 4] = [198, 51, 100, 9];

    #[test]
    fn an_address_is_believed_at_min_votes() {
        let mut t = Tally::default();
        let me = IpAddr::from(ME);
        for n in 0..MIN_VOTES - 1 {
            assert_eq!(t.vote(ip(n), me), None);
        }
        assert_eq!(t.external, None);
        assert_eq!(t.vote(ip(100), me), Some(me));
        assert_eq!(t.external, Some(me));
        // Later votes for it change nothing.
        assert_eq!(t.vote(ip(101), me), None);
    }

    #[test]
    fn each_family_has_its_own_vote() {
        // A dual-stack node hears its IPv4 address over IPv4 and its IPv6 one over
        // IPv6, interleaved: in one shared vote neither would be a majority.
        let votes = ExternalIp::default();
        let me4 = IpAddr::from(ME);
        let me6 = IpAddr::from([0x2001, 0xdb8, 0, 0, 0, 0, 0, 7]);
        let mut changed = Vec::new();
        for n in 0..MIN_VOTES {
            let voter6 = IpAddr::from([0x2001, 0xdb8, 1, 0, 0, 0, 0, n as u16]);
            changed.extend(votes.vote(ip(n), me4));
            changed.extend(votes.vote(voter6, me6));
        }
        assert_eq!(changed, [me4, me6]);
        assert_eq!(
            (votes.believed(me4), votes.believed(me6)),
            (Some(me4), Some(me6))
        );
        assert!(votes.heap_bytes() > 0);
    }

    #[test]
    fn a_voter_counts_once_per_round() {
        let mut t = Tally::default();
        let me = IpAddr::from(ME);
        for _ in 0..3 * MIN_VOTES {
            assert_eq!(t.vote(ip(1), me), None);
        }
        assert_eq!(t.external, None);
        assert_eq!(t.voters.len(), 1);
        assert_eq!(t.candidates, vec![(me, 1)]);
    }

    #[test]
    fn a_minority_does_not_win() {
        let mut t = Tally::default();
        let (me, lie) = (IpAddr::from(ME), IpAddr::from(LIE));
        // Liars first: ten of them, but each honest vote outweighs them in the end.
        for n in 0..9 {
            t.vote(ip(1000 + n), lie);
        }
        for n in 0..20 {
            t.vote(ip(n), me);
        }
        assert_eq!(t.external, Some(me));
        // A steady minority of liars never takes over, round after round.
        for round in 0..5u32 {
            for n in 0..ROUND_VOTES as u32 {
                let voter = ip(round * 1000 + n);
                t.vote(voter, if n % 5 < 2 { lie } else { me });
                assert_eq!(t.external, Some(me));
            }
        }
    }

    #[test]
    fn without_a_majority_nothing_is_believed() {
        let mut t = Tally::default();
        let three = [IpAddr::from(ME), IpAddr::from(LIE), ip(77)];
        // A three-way split: each address gets well past MIN_VOTES, none a majority.
        for n in 0..ROUND_VOTES as u32 * 3 {
            assert_eq!(t.vote(ip(n), three[n as usize % 3]), None);
        }
        assert_eq!(t.external, None);
    }

    #[test]
    fn a_moved_node_learns_its_new_address_at_a_round_end() {
        let mut t = Tally::default();
        let (old, new) = (IpAddr::from(ME), IpAddr::from(LIE));
        for n in 0..ROUND_VOTES as u32 {
            t.vote(ip(n), old);
        }
        assert_eq!(t.external, Some(old));
        assert!(t.voters.is_empty(), "the round ended");
        let mut changed = None;
        for n in 0..ROUND_VOTES as u32 {
            // Within the round the believed address holds...
            assert_eq!(t.external, Some(old));
            changed = changed.or(t.vote(ip(n), new));
        }
        // ...and at its end the new majority wins.
        assert_eq!(changed, Some(new));
        assert_eq!(t.external, Some(new));
    }

    #[test]
    fn a_false_first_belief_is_corrected_at_the_round_end() {
        // Ten liars who answer first win the first belief (nothing else has voted
        // yet); the honest majority of the round replaces it when the round ends.
        let mut t = Tally::default();
        let (me, lie) = (IpAddr::from(ME), IpAddr::from(LIE));
        for n in 0..MIN_VOTES {
            t.vote(ip(1000 + n), lie);
        }
        assert_eq!(t.external, Some(lie));
        let mut changed = None;
        for n in 0..ROUND_VOTES as u32 - MIN_VOTES {
            changed = changed.or(t.vote(ip(n), me));
        }
        assert_eq!(changed, Some(me));
        assert_eq!(t.external, Some(me));
    }

    #[test]
    fn the_vote_stays_bounded_under_a_flood() {
        let mut t = Tally::default();
        let me = IpAddr::from(ME);
        for n in 0..MIN_VOTES {
            t.vote(ip(n), me);
        }
        // Every other voter makes up a fresh address.
        for n in 0..10_000u32 {
            let voter = ip(100_000 + n);
            let made_up = IpAddr::from([198, 18, (n >> 8) as u8, n as u8]);
            t.vote(voter, if n % 2 == 0 { made_up } else { me });
            assert!(t.candidates.len() <= MAX_CANDIDATES);
            assert!(t.voters.len() < ROUND_VOTES);
            assert!(t.voters.capacity() <= ROUND_VOTES.next_power_of_two());
        }
        assert_eq!(t.external, Some(me));
    }
}
