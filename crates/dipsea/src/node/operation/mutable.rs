//! BEP 44 mutable items from the client side: what `put_mutable` and `get_mutable`
//! keep while their lookup runs ([`MutableSearch`]).
//!
//! Both operations walk towards `SHA-1(public key ‖ salt)` with `get` queries. Every
//! answer that carries the item is verified (key, salt, signature) before it counts;
//! the search keeps the highest sequence number among verified answers, and sends it
//! as `seq` in later queries so nodes with nothing newer answer without the value.
//! A get stops once [`MUTABLE_GET_QUORUM`] nodes agree on the highest version; a put
//! runs its lookup to the end (it needs the k closest nodes' tokens), signs the value
//! with one more than the highest sequence number seen (or the caller's), and stores
//! it on those nodes.

use crate::keypair::PUBLIC_KEY_LEN;
use crate::rpc::signature::verify;
use crate::store::MutableItem;
use crate::wire::Response;

/// How many nodes must report the same highest version before a mutable get stops
/// early: half the replication factor k = 8 (BEP 5), so a version that reached the
/// closest nodes is confirmed by a majority of a full replica set, while a lookup
/// need not wait for the slowest of the eight. A node that answers short (only `seq`,
/// because the `seq` we sent is not older than its own) agrees too.
pub(super) const MUTABLE_GET_QUORUM: usize = 4;

/// What a mutable lookup has found so far.
#[derive(Clone, Debug)]
pub(in crate::node) struct MutableSearch {
    k: [u8; PUBLIC_KEY_LEN],
    salt: Box<[u8]>,
    /// Only versions newer than this are wanted (`get_mutable`'s `min_seq` minus one).
    older_than_wanted: Option<i64>,
    best: Option<MutableItem>,
    /// Nodes that reported `best`'s sequence number (with the value, or short).
    agree: usize,
}

impl MutableSearch {
    /// A search for the item of public key `k` with `salt`, wanting `min_seq` or newer.
    pub(super) fn new(k: [u8; PUBLIC_KEY_LEN], salt: &[u8], min_seq: Option<i64>) -> Self {
        MutableSearch {
            k,
            salt: salt.into(),
            older_than_wanted: min_seq.map(|s| s.saturating_sub(1)),
            best: None,
            agree: 0,
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

    /// Whether enough nodes agree on the best version for a get to stop.
    pub(super) fn settled(&self) -> bool {
        self.best.is_some() && self.agree >= MUTABLE_GET_QUORUM
    }

    /// Reads one answer to a `get`: a verified version newer than the best replaces
    /// it, one equal to it (or a short answer with its `seq`) adds an agreeing node.
    /// Anything unverified (wrong key, bad signature) is ignored. Returns whether the
    /// answer was a verified item or a confirmation.
    pub(super) fn on_response(&mut self, r: &Response<'_>) -> bool {
        let Some(seq) = r.seq else {
            return false;
        };
        match (r.k, r.sig, r.v) {
            (Some(k), Some(sig), Some(v)) => {
                // Another copy of the best version was verified already: one check
                // per version, not one per node that sends it.
                let copy_of_best = self
                    .best
                    .as_ref()
                    .is_some_and(|b| b.seq == seq && b.sig == *sig && *b.v == *v);
                if *k != self.k || !(copy_of_best || verify(k, &self.salt, seq, v, sig)) {
                    return false;
                }
                match &self.best {
                    Some(best) if seq < best.seq => {}
                    Some(best) if seq == best.seq => self.agree += 1,
                    _ => {
                        self.best = Some(MutableItem {
                            k: *k,
                            salt: self.salt.clone(),
                            seq,
                            sig: *sig,
                            v: v.into(),
                        });
                        self.agree = 1;
                    }
                }
                true
            }
            // A short answer: the node holds `seq`, no newer than what we sent.
            (None, None, None) => match &self.best {
                Some(best) if best.seq == seq => {
                    self.agree += 1;
                    true
                }
                _ => false,
            },
            _ => false,
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
    use crate::id::Id;
    use crate::keypair::Keypair;
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

    #[test]
    fn keeps_the_highest_verified_version_and_counts_agreement() {
        let keypair = Keypair::random();
        let k = keypair.public_key();
        let salt = b"s";
        let mut search = MutableSearch::new(k, salt, None);
        assert_eq!((search.query_seq(), search.next_seq()), (None, 1));

        let v1 = encode_bytes(b"one");
        let sig1 = keypair.sign(salt, 1, &v1);
        let v2 = encode_bytes(b"two");
        let sig2 = keypair.sign(salt, 2, &v2);
        assert!(search.on_response(&answer(&k, &sig1, 1, &v1)));
        assert!(search.on_response(&answer(&k, &sig2, 2, &v2)));
        assert!(
            search.on_response(&answer(&k, &sig1, 1, &v1)),
            "older: verified"
        );
        assert_eq!((search.query_seq(), search.next_seq()), (Some(2), 3));

        // Forged: a higher seq under a signature that does not cover it, another
        // salt, another key. None counts.
        assert!(!search.on_response(&answer(&k, &sig2, 9, &v2)));
        let other = Keypair::random();
        let ko = other.public_key();
        let sigo = other.sign(salt, 9, &v2);
        assert!(!search.on_response(&answer(&ko, &sigo, 9, &v2)));
        let sig_salt = keypair.sign(b"other", 9, &v2);
        assert!(!search.on_response(&answer(&k, &sig_salt, 9, &v2)));
        assert_eq!(search.query_seq(), Some(2));

        // Agreement: the one that set it, one full copy, then short answers.
        assert!(!search.settled());
        assert!(search.on_response(&answer(&k, &sig2, 2, &v2)));
        let short = Response {
            seq: Some(2),
            ..Response::new(Id::random())
        };
        assert!(search.on_response(&short));
        assert!(!search.settled());
        assert!(search.on_response(&short));
        assert!(search.settled());
        let stale_short = Response {
            seq: Some(1),
            ..Response::new(Id::random())
        };
        assert!(!search.on_response(&stale_short));
        let item = search.take_best().expect("best");
        assert_eq!((item.seq, &item.v[..], item.sig), (2, &v2[..], sig2));
        assert_eq!(&item.salt[..], salt);
    }

    #[test]
    fn copies_of_the_best_version_are_verified_once() {
        use crate::rpc::signature::thread_checks;
        let keypair = Keypair::random();
        let k = keypair.public_key();
        let mut search = MutableSearch::new(k, b"", None);
        let v = encode_bytes(b"value");
        let sig = keypair.sign(b"", 4, &v);
        let before = thread_checks();
        for _ in 0..5 {
            assert!(search.on_response(&answer(&k, &sig, 4, &v)));
        }
        assert_eq!(thread_checks() - before, 1, "one check for five copies");
        assert!(search.settled());
        // A copy that differs (a forged signature on the same seq) is checked, and
        // refused.
        let mut forged = sig;
        forged[0] ^= 1;
        assert!(!search.on_response(&answer(&k, &forged, 4, &v)));
        assert_eq!(thread_checks() - before, 2);
    }

    #[test]
    fn min_seq_filters_and_is_sent() {
        let keypair = Keypair::random();
        let k = keypair.public_key();
        let mut search = MutableSearch::new(k, b"", Some(5));
        assert_eq!(search.query_seq(), Some(4));
        let v = encode_bytes(b"old");
        let sig = keypair.sign(b"", 3, &v);
        assert!(search.on_response(&answer(&k, &sig, 3, &v)));
        assert_eq!(search.take_best(), None, "older than min_seq");
    }
}
