//! BEP 44 mutable items from the client side: what `put_mutable` and `get_mutable`
//! keep while their lookup runs ([`MutableSearch`]).
//!
//! Both operations walk towards `SHA-1(public key ‖ salt)` with `get` queries. Every
//! answer that carries the item is verified (key, salt, signature) before it counts;
//! the search keeps the highest sequence number among verified answers, and sends it
//! as `seq` in later queries so nodes with nothing newer answer without the value.
//! Each distinct version is checked at most once per lookup: copies of the best one
//! are compared, not verified again, and versions older than the best are dropped
//! unchecked (they cannot change the result).
//!
//! A get stops once [`MUTABLE_GET_QUORUM`] nodes agree on the highest version and no
//! node closer to the target than the second of them is still unasked (see
//! [`MutableSearch::settled`]); a put runs its lookup to the end (it needs the k
//! closest nodes' tokens), signs the value with one more than the highest sequence
//! number seen (or the caller's), and stores it on those nodes.

use crate::id::Id;
use crate::keypair::PUBLIC_KEY_LEN;
use crate::lookup::Lookup;
use crate::rpc::signature::SignatureCache;
use crate::store::MutableItem;
use crate::wire::Response;

/// How many nodes must report the same highest version before a mutable get may
/// stop: two, and only once no candidate closer to the target than the second of
/// them is left unasked. The version the closest nodes that answered hold, confirmed
/// by a second one, is what a full lookup would most likely end with too; the nodes
/// asked after a put's k closest are exactly the ones a get reaches first. (Four,
/// in any order, cost a mutable get about twice the datagrams of an immutable one.)
/// A node that answers short (only `seq`, because the `seq` we sent is not older
/// than its own) agrees too.
pub(super) const MUTABLE_GET_QUORUM: usize = 2;

/// What a mutable lookup has found so far.
#[derive(Clone, Debug)]
pub(in crate::node) struct MutableSearch {
    k: [u8; PUBLIC_KEY_LEN],
    salt: Box<[u8]>,
    /// Only versions newer than this are wanted (`get_mutable`'s `min_seq` minus one).
    older_than_wanted: Option<i64>,
    best: Option<MutableItem>,
    /// The nodes that reported `best`'s sequence number (with the value, or short),
    /// each once.
    agree: Vec<Id>,
}

impl MutableSearch {
    /// A search for the item of public key `k` with `salt`, wanting `min_seq` or newer.
    pub(super) fn new(k: [u8; PUBLIC_KEY_LEN], salt: &[u8], min_seq: Option<i64>) -> Self {
        MutableSearch {
            k,
            salt: salt.into(),
            older_than_wanted: min_seq.map(|s| s.saturating_sub(1)),
            best: None,
            agree: Vec::new(),
        }
    }

    /// The `seq` to send in the next `get`: the best version found so far, or the
    /// newest one the caller does not want.
    pub(super) fn query_seq(&self) -> Option<i64> {
        match &self.best {
            Some(item) => Some(item.seq),
            None => self.older_than_wanted,
        }
    }

    /// Takes the highest verified version found, if any, and at least `min_seq`.
    pub(super) fn take_best(&mut self) -> Option<MutableItem> {
        let wanted = self.older_than_wanted;
        self.best
            .take()
            .filter(|item| !matches!(wanted, Some(older) if item.seq <= older))
    }

    /// Whether a get may stop: [`MUTABLE_GET_QUORUM`] nodes agree on the best
    /// version and `lookup` has no unasked candidate closer to the target than the
    /// farthest of the closest [`MUTABLE_GET_QUORUM`] of them.
    pub(super) fn settled(&self, lookup: &Lookup) -> bool {
        if self.best.is_none() || self.agree.len() < MUTABLE_GET_QUORUM {
            return false;
        }
        // The closest MUTABLE_GET_QUORUM distances, nearest first.
        let target = lookup.target();
        let mut closest = [Id::MAX.distance(&Id::ZERO); MUTABLE_GET_QUORUM];
        for id in &self.agree {
            let d = id.distance(&target);
            if let Some(at) = closest.iter().position(|c| d < *c) {
                closest[at..].rotate_right(1);
                closest[at] = d;
            }
        }
        !lookup.unasked_closer_than(&closest[MUTABLE_GET_QUORUM - 1])
    }

    /// Reads one answer to a `get`: a verified version newer than the best replaces
    /// it, one equal to it (or a short answer with its `seq`) adds an agreeing node.
    /// Anything unverified (wrong key, bad signature) and any version older than the
    /// best is ignored. Returns whether the answer was a new best or a confirmation.
    /// Signatures are checked through the node's `signatures`: a version this node
    /// verified lately (in an earlier get of the same item) is not checked again.
    pub(super) fn on_response(&mut self, r: &Response<'_>, signatures: &SignatureCache) -> bool {
        let Some(seq) = r.seq else {
            return false;
        };
        let best_seq = self.best.as_ref().map(|b| b.seq);
        match (r.k, r.sig, r.v) {
            (Some(k), Some(sig), Some(v)) => {
                if *k != self.k || best_seq.is_some_and(|best| seq < best) {
                    return false;
                }
                // Another copy of the best version was verified already: one check
                // per version, not one per node that sends it.
                let copy_of_best = self
                    .best
                    .as_ref()
                    .is_some_and(|b| b.seq == seq && b.sig == *sig && *b.v == *v);
                if copy_of_best {
                    self.agree_with(r.id);
                    return true;
                }
                if !signatures.verify(k, &self.salt, seq, v, sig) {
                    return false;
                }
                if best_seq == Some(seq) {
                    // Another valid item under the same seq (a writer that signed
                    // two): the first one found stays, and this node agrees on seq.
                    self.agree_with(r.id);
                } else {
                    self.best = Some(MutableItem {
                        k: *k,
                        salt: self.salt.clone(),
                        seq,
                        sig: *sig,
                        v: v.into(),
                    });
                    self.agree.clear();
                    self.agree.push(r.id);
                }
                true
            }
            // A short answer: the node holds `seq`, no newer than what we sent.
            (None, None, None) if best_seq == Some(seq) => {
                self.agree_with(r.id);
                true
            }
            _ => false,
        }
    }

    /// Counts node `id` as holding the best version.
    fn agree_with(&mut self, id: Id) {
        if !self.agree.contains(&id) {
            self.agree.push(id);
        }
    }

    /// The sequence number a put without an explicit one stores: one more than the
    /// highest verified version found, or 1.
    pub(super) fn next_seq(&self) -> i64 {
        self.best
            .as_ref()
            .map_or(1, |item| item.seq.saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::NodeInfo;
    use crate::keypair::Keypair;
    use crate::lookup::LookupConfig;
    use crate::rpc::signature::thread_checks;
    use crate::wire::bencode::encode_bytes;

    fn answer<'a>(k: &'a [u8; 32], sig: &'a [u8; 64], seq: i64, v: &'a [u8]) -> Response<'a> {
        Response {
            k: Some(k),
            sig: Some(sig),
            seq: Some(seq),
            v: Some(v),
            ..Response::new(Id::random())
        }
    }

    /// A short answer (only `seq`) from `id`.
    fn short<'a>(id: Id, seq: i64) -> Response<'a> {
        Response {
            seq: Some(seq),
            ..Response::new(id)
        }
    }

    /// The id at XOR distance `d` from `target`.
    fn at(target: Id, d: u8) -> Id {
        let mut bytes = *target.as_bytes();
        bytes[19] ^= d;
        Id::from_bytes(bytes)
    }

    #[test]
    fn keeps_the_highest_verified_version() {
        let keypair = Keypair::random();
        let k = keypair.public_key();
        let salt = b"s";
        let mut search = MutableSearch::new(k, salt, None);
        assert_eq!((search.query_seq(), search.next_seq()), (None, 1));

        let v1 = encode_bytes(b"one");
        let sig1 = keypair.sign(salt, 1, &v1);
        let v2 = encode_bytes(b"two");
        let sig2 = keypair.sign(salt, 2, &v2);
        assert!(search.on_response(&answer(&k, &sig1, 1, &v1), &SignatureCache::new()));
        assert!(search.on_response(&answer(&k, &sig2, 2, &v2), &SignatureCache::new()));
        let before = thread_checks();
        assert!(
            !search.on_response(&answer(&k, &sig1, 1, &v1), &SignatureCache::new()),
            "older than the best: dropped"
        );
        assert_eq!(thread_checks(), before, "and not checked");
        assert_eq!((search.query_seq(), search.next_seq()), (Some(2), 3));

        // Forged: a higher seq under a signature that does not cover it, another
        // salt, another key. None counts.
        assert!(!search.on_response(&answer(&k, &sig2, 9, &v2), &SignatureCache::new()));
        let other = Keypair::random();
        let ko = other.public_key();
        let sigo = other.sign(salt, 9, &v2);
        assert!(!search.on_response(&answer(&ko, &sigo, 9, &v2), &SignatureCache::new()));
        let sig_salt = keypair.sign(b"other", 9, &v2);
        assert!(!search.on_response(&answer(&k, &sig_salt, 9, &v2), &SignatureCache::new()));
        assert_eq!(search.query_seq(), Some(2));
        assert!(
            !search.on_response(&short(Id::random(), 1), &SignatureCache::new()),
            "stale short"
        );
        let item = search.take_best().expect("best");
        assert_eq!((item.seq, &item.v[..], item.sig), (2, &v2[..], sig2));
        assert_eq!(&item.salt[..], salt);
    }

    #[test]
    fn settles_when_two_agree_and_no_closer_node_is_unasked() {
        let keypair = Keypair::random();
        let k = keypair.public_key();
        let target = keypair.target(b"");
        let own = at(target, 0x80);
        let seeds = (1..=5).map(|d| NodeInfo::new(at(target, d), ([127, 0, 0, d], 6881).into()));
        let mut lookup = Lookup::new(target, own, seeds, LookupConfig::default());
        let asked: Vec<Id> = std::iter::from_fn(|| lookup.next_query(crate::time::Time::ZERO))
            .map(|n| n.id)
            .collect();
        assert_eq!(asked, [at(target, 1), at(target, 2), at(target, 3)]);

        let mut search = MutableSearch::new(k, b"", None);
        let v = encode_bytes(b"value");
        let sig = keypair.sign(b"", 7, &v);
        let full = Response {
            id: at(target, 2),
            ..answer(&k, &sig, 7, &v)
        };
        assert!(search.on_response(&full, &SignatureCache::new()));
        assert!(
            search.on_response(&full, &SignatureCache::new()),
            "the same node again"
        );
        assert!(!search.settled(&lookup), "one node is no quorum");
        // The farthest node agrees: node 4, closer, is not asked yet.
        assert!(search.on_response(&short(at(target, 5), 7), &SignatureCache::new()));
        assert!(!search.settled(&lookup));
        // Node 3 agrees: nodes 2 and 3 agree, node 1 (closer) is asked already.
        assert!(search.on_response(&short(at(target, 3), 7), &SignatureCache::new()));
        assert!(search.settled(&lookup));
        // A newer version starts the count again.
        let v8 = encode_bytes(b"newer");
        let sig8 = keypair.sign(b"", 8, &v8);
        assert!(search.on_response(
            &Response {
                id: at(target, 1),
                ..answer(&k, &sig8, 8, &v8)
            },
            &SignatureCache::new()
        ));
        assert!(!search.settled(&lookup));
        assert!(
            !search.on_response(&short(at(target, 2), 7), &SignatureCache::new()),
            "stale"
        );
        assert!(search.on_response(&short(at(target, 2), 8), &SignatureCache::new()));
        assert!(search.settled(&lookup));
    }

    #[test]
    fn copies_of_the_best_version_are_verified_once() {
        let keypair = Keypair::random();
        let k = keypair.public_key();
        let mut search = MutableSearch::new(k, b"", None);
        let v = encode_bytes(b"value");
        let sig = keypair.sign(b"", 4, &v);
        let before = thread_checks();
        for _ in 0..5 {
            assert!(search.on_response(&answer(&k, &sig, 4, &v), &SignatureCache::new()));
        }
        assert_eq!(thread_checks() - before, 1, "one check for five copies");
        assert_eq!(search.agree.len(), 5, "five nodes agree");
        // A copy that differs (a forged signature on the same seq) is checked, and
        // refused.
        let mut forged = sig;
        forged[0] ^= 1;
        assert!(!search.on_response(&answer(&k, &forged, 4, &v), &SignatureCache::new()));
        assert_eq!(thread_checks() - before, 2);
        assert_eq!(search.agree.len(), 5);
    }

    #[test]
    fn min_seq_filters_and_is_sent() {
        let keypair = Keypair::random();
        let k = keypair.public_key();
        let mut search = MutableSearch::new(k, b"", Some(5));
        assert_eq!(search.query_seq(), Some(4));
        let v = encode_bytes(b"old");
        let sig = keypair.sign(b"", 3, &v);
        assert!(search.on_response(&answer(&k, &sig, 3, &v), &SignatureCache::new()));
        assert_eq!(search.take_best(), None, "older than min_seq");
    }
}
