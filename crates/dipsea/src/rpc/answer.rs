//! The query answerer: one pure function from shared state and a decoded query to
//! the encoded reply. It reads the routing table and writes the store, both
//! lock-sharded, so any number of threads may answer at once.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};

use super::sampling::{SampleLimiter, MAX_SAMPLES, SAMPLE_INTERVAL};
use super::token::Tokens;
use crate::id::{Id, NodeInfo};
use crate::keypair::mutable_target;
use crate::routing::{RoutingTable, K};
use crate::store::{MutableItem, Store, StoreError};
use crate::time::Time;
use crate::wire::{
    error_code, write_compact_nodes, write_samples, CompactNodes, CompactPeers, KrpcError, Message,
    MessageKind, PutArgs, Query, QueryMethod, Response, Samples,
};

/// Most peers returned for one `get_peers`; fewer when more would not fit in
/// [`MAX_REPLY_LEN`] with the rest of the reply (50 IPv6 peers take 1,050 bytes).
pub const MAX_PEERS_PER_REPLY: usize = 50;

/// Longest `get_peers` reply: 1,452 bytes, the UDP payload of a 1,500-byte IPv6
/// packet (less 40 bytes of IPv6 header and 8 of UDP), so the answer crosses an
/// ordinary Ethernet path unfragmented. The peers are cut to fit: with IPv6 peers,
/// both node families and the BEP 33 bloom filters, the rest of the reply leaves
/// room for about 20.
pub const MAX_REPLY_LEN: usize = 1_452;

/// How a query was answered, for the node's counters: every refusal has a reason an
/// operator can watch in `stats()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answered {
    /// A response.
    Response,
    /// A KRPC error, for this reason.
    Refused(Refusal),
}

/// Why a query got a KRPC error instead of a response: each reason has its own
/// counter in the node's stats, and its own KRPC error code ([`Refusal::krpc_code`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `announce_peer` or `put` without a valid write token for the asker's IP (203).
    BadToken,
    /// The store is full, or the asker's share of it is (202).
    Quota,
    /// A `sample_infohashes` from a source that had one less than
    /// [`SAMPLE_INTERVAL`] ago (202).
    SampleTooSoon,
    /// A mutable `put` whose signature does not verify under its key (206).
    BadSignature,
    /// A mutable `put` older than the stored version: a lower sequence number, or
    /// the same with another value (302).
    SeqTooOld,
    /// A mutable `put` whose `cas` is not the stored sequence number (301).
    CasMismatch,
    /// A mutable `put` with a salt over [`MAX_SALT_LEN`](crate::store::MAX_SALT_LEN)
    /// bytes (207).
    SaltTooBig,
    /// A `put` (immutable or mutable) with a value over
    /// [`MAX_VALUE_LEN`](crate::store::MAX_VALUE_LEN) bytes (205).
    ValueTooBig,
    /// A mutable `put` whose `target` is not SHA-1(key + salt) (203).
    TargetMismatch,
    /// A query of an unknown method without a `target` (204).
    UnknownMethod,
    /// Anything else the arguments make impossible (203): an announce for port 0, a
    /// mutable put without `seq` or `sig`.
    BadArguments,
}

impl Refusal {
    /// The KRPC error code a query refused for this reason is answered with.
    pub fn krpc_code(self) -> i64 {
        match self {
            Refusal::Quota | Refusal::SampleTooSoon => error_code::SERVER,
            Refusal::BadToken | Refusal::TargetMismatch | Refusal::BadArguments => {
                error_code::PROTOCOL
            }
            Refusal::BadSignature => error_code::INVALID_SIGNATURE,
            Refusal::SeqTooOld => error_code::SEQ_TOO_OLD,
            Refusal::CasMismatch => error_code::CAS_MISMATCH,
            Refusal::SaltTooBig => error_code::SALT_TOO_BIG,
            Refusal::ValueTooBig => error_code::MESSAGE_TOO_BIG,
            Refusal::UnknownMethod => error_code::METHOD_UNKNOWN,
        }
    }
}

impl From<&StoreError> for Refusal {
    fn from(e: &StoreError) -> Refusal {
        match e {
            StoreError::HashMismatch => Refusal::TargetMismatch,
            StoreError::TooBig { .. } => Refusal::ValueTooBig,
            StoreError::SaltTooBig { .. } => Refusal::SaltTooBig,
            StoreError::CasMismatch { .. } => Refusal::CasMismatch,
            StoreError::SeqTooOld { .. } => Refusal::SeqTooOld,
            StoreError::QuotaExceeded | StoreError::IpQuotaExceeded => Refusal::Quota,
        }
    }
}

/// The shared state a reply is computed from.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// Our node id, sent in every reply.
    pub own_id: Id,
    /// Where `nodes` come from.
    pub routing: &'a RoutingTable,
    /// The IPv6 table of a dual-stack node (BEP 32); `routing` then holds IPv4.
    pub routing6: Option<&'a RoutingTable>,
    /// Where items and peers are read and written.
    pub store: &'a Store,
    /// Write tokens: handed out by `get_peers`/`get`, checked by `announce_peer`/`put`.
    pub tokens: &'a Tokens,
    /// Our client version for the `v` key.
    pub version: &'a [u8],
    /// Who had a `sample_infohashes` answer lately (BEP 51).
    pub samples: &'a SampleLimiter,
    /// The asker is a member of this node's one-hop network, at the address it is
    /// listed with: its `put` needs no write token (owners hand items to each other
    /// without fetching one). False on a Kademlia node.
    pub member_writer: bool,
}

/// Answers `query` (decoded from `msg`, received from `from`) and appends the encoded
/// reply to `out`: a response, or a KRPC error (203 bad token or arguments, 204
/// unknown method, 205–207, 301, 302 from BEP 44, 202 store full or `from`'s IP over
/// its share of it). What a `put` or `announce_peer` stores is charged to `from`'s IP
/// (see [`crate::store`]).
///
/// Locking: the routing buckets visited by `closest`, and one store shard for a
/// write; never two at once.
pub fn answer(
    ctx: &Context<'_>,
    from: SocketAddr,
    msg: &Message<'_>,
    query: &Query<'_>,
    now: Time,
    out: &mut Vec<u8>,
) -> Answered {
    SCRATCH.with(|scratch| match scratch.try_borrow_mut() {
        Ok(mut scratch) => answer_in(&mut scratch, ctx, from, msg, query, now, out),
        // Only if an answer were computed inside another on this thread.
        Err(_) => answer_in(&mut Scratch::default(), ctx, from, msg, query, now, out),
    })
}

/// The buffers one answer is assembled in before it is encoded. Kept per thread and
/// reused, so that answering a query allocates nothing once warm: a busy node
/// answers tens of thousands of queries a second, and each fresh buffer was several
/// allocations (a node list grows 26 bytes at a time).
#[derive(Default)]
struct Scratch {
    closest: Vec<NodeInfo>,
    v4: Vec<u8>,
    v6: Vec<u8>,
    peers: Vec<SocketAddr>,
    samples: Vec<Id>,
    sample_bytes: Vec<u8>,
}

impl Scratch {
    /// Drops at least `excess` encoded bytes: peers from the end first (a compact
    /// peer is a string `6:` + 6 bytes or `18:` + 18), then the farthest IPv6 nodes
    /// (38 bytes each), then the farthest IPv4 nodes (26 bytes each). The answer
    /// stays useful: the item or the closest peers and nodes are what is kept.
    fn shed(&mut self, excess: usize) {
        let mut freed = 0;
        while freed < excess {
            let Some(peer) = self.peers.pop() else {
                break;
            };
            freed += if peer.is_ipv4() { 8 } else { 21 };
        }
        for (nodes, size) in [(&mut self.v6, 38), (&mut self.v4, 26)] {
            while freed < excess && nodes.len() >= size {
                nodes.truncate(nodes.len() - size);
                freed += size;
            }
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// One query being answered: what every method's answer needs.
struct Asked<'a, 'q> {
    ctx: &'a Context<'a>,
    from: SocketAddr,
    msg: &'a Message<'q>,
    query: &'a Query<'q>,
    now: Time,
}

fn answer_in(
    scratch: &mut Scratch,
    ctx: &Context<'_>,
    from: SocketAddr,
    msg: &Message<'_>,
    query: &Query<'_>,
    now: Time,
    out: &mut Vec<u8>,
) -> Answered {
    let q = Asked {
        ctx,
        from,
        msg,
        query,
        now,
    };
    scratch.v4.clear();
    scratch.v6.clear();
    scratch.peers.clear();
    match &query.method {
        QueryMethod::Ping => q.respond(q.response(), scratch, out),
        QueryMethod::FindNode { target }
        | QueryMethod::Unknown {
            target: Some(target),
            ..
        } => {
            // PROTOCOL.md: an unknown method with a target is answered like find_node.
            find_node(&q, scratch, target, out)
        }
        QueryMethod::Unknown { target: None, .. } => {
            q.refuse(Refusal::UnknownMethod, "method unknown", out)
        }
        QueryMethod::GetPeers { info_hash, scrape } => {
            get_peers(&q, scratch, info_hash, *scrape, out)
        }
        QueryMethod::SampleInfohashes { target } => sample_infohashes(&q, scratch, target, out),
        QueryMethod::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
            seed,
        } => {
            let peer = Announced {
                port: *port,
                implied_port: *implied_port,
                seed: *seed,
            };
            announce_peer(&q, info_hash, peer, token, scratch, out)
        }
        QueryMethod::Get { target, seq } => get(&q, scratch, target, *seq, out),
        QueryMethod::Put(args) => put(&q, args, scratch, out),
    }
}

/// `find_node`: the closest nodes to `target`.
fn find_node(q: &Asked<'_, '_>, scratch: &mut Scratch, target: &Id, out: &mut Vec<u8>) -> Answered {
    q.closest_nodes(target, scratch);
    q.respond(q.response(), scratch, out)
}

/// `get_peers`: the closest nodes, the peers stored for `info_hash` and a write
/// token for the asker's IP; with `scrape` (BEP 33), also the bloom filters of the
/// seeds' and the other peers' IPs, when any peer is stored.
fn get_peers(
    q: &Asked<'_, '_>,
    scratch: &mut Scratch,
    info_hash: &Id,
    scrape: bool,
    out: &mut Vec<u8>,
) -> Answered {
    q.closest_nodes(info_hash, scratch);
    q.ctx
        .store
        .get_peers(info_hash, MAX_PEERS_PER_REPLY, q.now, &mut scratch.peers);
    let token = q.ctx.tokens.token(q.from.ip());
    let filters = if scrape {
        q.ctx.store.scrape(info_hash, q.now)
    } else {
        None
    };
    let response = Response {
        token: Some(token.as_ref()),
        bf_seeds: filters.as_ref().map(|(seeds, _)| seeds.as_bytes()),
        bf_peers: filters.as_ref().map(|(_, peers)| peers.as_bytes()),
        ..q.response()
    };
    q.respond_within(response, scratch, out)
}

/// `sample_infohashes` (BEP 51): the closest nodes to `target`, a random sample of
/// the stored info-hashes (as many as [`MAX_SAMPLES`]), their total `num` and the
/// `interval` before the asker may ask again; refused (202) when it asks sooner.
fn sample_infohashes(
    q: &Asked<'_, '_>,
    scratch: &mut Scratch,
    target: &Id,
    out: &mut Vec<u8>,
) -> Answered {
    if !q.ctx.samples.admit(q.from.ip(), q.now) {
        return q.refuse(
            Refusal::SampleTooSoon,
            "sample_infohashes asked again before the interval",
            out,
        );
    }
    q.closest_nodes(target, scratch);
    // Which info-hashes: random for each answer, from our id, the asker and the
    // time, so that a seeded simulation repeats and askers see different samples.
    let mut seed = [0u8; 32];
    let mut material = Vec::with_capacity(64);
    material.extend_from_slice(q.ctx.own_id.as_bytes());
    material.extend_from_slice(q.from.to_string().as_bytes());
    material.extend_from_slice(&q.now.as_millis().to_le_bytes());
    seed[..20].copy_from_slice(Id::sha1(&material).as_bytes());
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_seed(seed);
    scratch.samples.clear();
    let num = q
        .ctx
        .store
        .sample_info_hashes(MAX_SAMPLES, &mut rng, &mut scratch.samples);
    scratch.sample_bytes.clear();
    write_samples(&scratch.samples, &mut scratch.sample_bytes);
    let response = Response {
        interval: Some(SAMPLE_INTERVAL.as_secs() as i64),
        num: Some(num as i64),
        samples: Samples::from_bytes(&scratch.sample_bytes).ok(),
        ..q.response()
    };
    q.respond(response, scratch, out)
}

/// What an `announce_peer` says of the peer besides its info-hash.
struct Announced {
    port: u16,
    implied_port: bool,
    seed: bool,
}

/// `announce_peer`: stores the asker as a peer of `info_hash`, given a valid token.
fn announce_peer(
    q: &Asked<'_, '_>,
    info_hash: &Id,
    announced: Announced,
    token: &[u8],
    scratch: &Scratch,
    out: &mut Vec<u8>,
) -> Answered {
    if !q.ctx.tokens.validate(q.from.ip(), token) {
        return q.bad_token(out);
    }
    let port = if announced.implied_port {
        q.from.port()
    } else {
        announced.port
    };
    if port == 0 {
        return q.refuse(Refusal::BadArguments, "port 0 is not a peer port", out);
    }
    let peer = SocketAddr::new(q.from.ip(), port);
    let stored = q
        .ctx
        .store
        .announce(*info_hash, peer, announced.seed, q.now);
    if let Err(e) = stored {
        return q.refuse(Refusal::from(&e), &e.to_string(), out);
    }
    q.respond(q.response(), scratch, out)
}

/// `get` (BEP 44): the closest nodes, a write token, and the item if held here.
fn get(
    q: &Asked<'_, '_>,
    scratch: &mut Scratch,
    target: &Id,
    seq: Option<i64>,
    out: &mut Vec<u8>,
) -> Answered {
    q.closest_nodes(target, scratch);
    let token = q.ctx.tokens.token(q.from.ip());
    let mut response = Response {
        token: Some(token.as_ref()),
        ..q.response()
    };
    let item_v;
    let mutable;
    if let Some(v) = q.ctx.store.get_immutable(target, q.now) {
        item_v = v;
        response.v = Some(&item_v);
    } else if let Some(item) = q.ctx.store.get_mutable(target, q.now) {
        mutable = item;
        response.seq = Some(mutable.seq);
        // BEP 44: a requester that already has this seq or newer needs only seq.
        if seq.is_none_or(|s| s < mutable.seq) {
            response.k = Some(&mutable.k);
            response.sig = Some(&mutable.sig);
            response.v = Some(&mutable.v);
        }
    }
    // A 1,000-byte value with k nodes of each family does not fit a datagram.
    q.respond_within(response, scratch, out)
}

/// `put` (BEP 44): stores the item, given a valid token or from a one-hop member
/// (see [`store_put`]).
fn put(q: &Asked<'_, '_>, args: &PutArgs<'_>, scratch: &Scratch, out: &mut Vec<u8>) -> Answered {
    if !q.ctx.member_writer && !q.ctx.tokens.validate(q.from.ip(), args.token) {
        return q.bad_token(out);
    }
    if let Err((reason, message)) = store_put(q.ctx, q.from.ip(), args, q.now) {
        return q.refuse(reason, &message, out);
    }
    q.respond(q.response(), scratch, out)
}

impl Asked<'_, '_> {
    /// An empty response carrying our id.
    fn response(&self) -> Response<'static> {
        Response {
            id: self.ctx.own_id,
            ..Response::default()
        }
    }

    /// Encodes a reply of this kind to the query.
    fn reply(&self, kind: MessageKind<'_>, out: &mut Vec<u8>) {
        Message {
            tid: self.msg.tid,
            version: Some(self.ctx.version),
            // BEP 42: tell the querier the address we see, so it learns its own.
            ip: Some(self.from),
            read_only: false,
            network: None,
            kind,
        }
        .encode(out)
    }

    /// Encodes `response` with the nodes and peers gathered in `scratch`.
    fn respond<'r>(
        &self,
        mut response: Response<'r>,
        scratch: &'r Scratch,
        out: &mut Vec<u8>,
    ) -> Answered {
        if !scratch.v4.is_empty() {
            response.nodes = CompactNodes::v4(&scratch.v4).ok();
        }
        if !scratch.v6.is_empty() {
            response.nodes6 = CompactNodes::v6(&scratch.v6).ok();
        }
        if !scratch.peers.is_empty() {
            response.values = Some(CompactPeers::from_addrs(&scratch.peers));
        }
        self.reply(MessageKind::Response(response), out);
        Answered::Response
    }

    /// [`Asked::respond`], then, if the reply is over [`MAX_REPLY_LEN`], sheds the
    /// least needed parts (see [`Scratch::shed`]) and encodes it again.
    fn respond_within<'r>(
        &self,
        response: Response<'r>,
        scratch: &'r mut Scratch,
        out: &mut Vec<u8>,
    ) -> Answered {
        let start = out.len();
        let answered = self.respond(response, scratch, out);
        let excess = (out.len() - start).saturating_sub(MAX_REPLY_LEN);
        if excess == 0 {
            return answered;
        }
        scratch.shed(excess);
        out.truncate(start);
        self.respond(response, scratch, out)
    }

    /// Encodes the KRPC error of `reason` with `message`.
    fn refuse(&self, reason: Refusal, message: &str, out: &mut Vec<u8>) -> Answered {
        self.reply(
            MessageKind::Error(KrpcError {
                code: reason.krpc_code(),
                message: message.as_bytes(),
            }),
            out,
        );
        Answered::Refused(reason)
    }

    /// Encodes the 203 error for a missing or wrong write token.
    fn bad_token(&self, out: &mut Vec<u8>) -> Answered {
        self.refuse(Refusal::BadToken, "bad token", out)
    }

    /// Writes the closest nodes to `target` into `scratch`, in the address families
    /// the asker wants (by default its own).
    fn closest_nodes(&self, target: &Id, scratch: &mut Scratch) {
        let Scratch {
            closest, v4, v6, ..
        } = scratch;
        let want = &self.query.want;
        let (want_v4, want_v6) = if want.n4 || want.n6 {
            (want.n4, want.n6)
        } else {
            (self.from.is_ipv4(), self.from.is_ipv6())
        };
        // A dual-stack node has a table per family (BEP 32): k of each wanted one.
        let tables: [(&RoutingTable, bool); 2] = match self.ctx.routing6 {
            Some(routing6) => [(self.ctx.routing, want_v4), (routing6, want_v6)],
            None => [(self.ctx.routing, true), (self.ctx.routing, false)],
        };
        for (table, wanted) in tables {
            if !wanted {
                continue;
            }
            // One more than k, then the asker out: it knows itself, and an answer
            // naming it would hide from it the k-th closest node it does not know
            // (a loopback lookup missed its 8th node this way).
            table.closest(target, K + 1, closest);
            closest.retain(|n: &NodeInfo| n.addr != self.from);
            closest.truncate(K);
            write_compact_nodes(closest, v4, v6);
        }
        if !want_v4 {
            v4.clear();
        }
        if !want_v6 {
            v6.clear();
        }
    }
}

/// Stores the item of a `put` from the source IP `from` (charged with it, see
/// [`Store::put_immutable_from`]), checking what BEP 44 requires; on refusal, the KRPC
/// error code and message.
fn store_put(
    ctx: &Context<'_>,
    from: IpAddr,
    args: &PutArgs<'_>,
    now: Time,
) -> Result<(), (Refusal, String)> {
    if args.v.len() > crate::store::MAX_VALUE_LEN {
        return Err((Refusal::ValueTooBig, "message too big".into()));
    }
    let refused = |e: StoreError| (Refusal::from(&e), e.to_string());
    let Some(k) = args.k else {
        // Immutable: the key is the hash of the value as received; a `target` the
        // sender may add is ignored (PROTOCOL.md).
        return ctx
            .store
            .put_immutable_from(from, Id::sha1(args.v), args.v, now)
            .map_err(refused);
    };
    store_mutable(ctx, from, k, args, now)
}

/// The mutable half of [`store_put`]: the BEP 44 checks (salt size, target, the
/// signature unless this very version is stored already), then the store's own
/// (sequence number, CAS, quotas).
fn store_mutable(
    ctx: &Context<'_>,
    from: IpAddr,
    k: &[u8; 32],
    args: &PutArgs<'_>,
    now: Time,
) -> Result<(), (Refusal, String)> {
    let (Some(seq), Some(sig)) = (args.seq, args.sig) else {
        return Err((
            Refusal::BadArguments,
            "mutable put needs seq and sig".into(),
        ));
    };
    let salt = args.salt.unwrap_or_default();
    if salt.len() > crate::store::MAX_SALT_LEN {
        return Err((Refusal::SaltTooBig, "salt too big".into()));
    }
    let target = mutable_target(k, salt);
    // A `target` that is not SHA-1(k ‖ salt) is a broken or lying sender: 203.
    if args.target.is_some_and(|t| t != target) {
        return Err((
            Refusal::TargetMismatch,
            "target does not match the key and salt".into(),
        ));
    }
    // The same version again (a re-publish, a copy from another writer) was verified
    // when it was stored: one signature check per version, not per copy.
    let known = ctx.store.get_mutable(&target, now).is_some_and(|stored| {
        stored.seq == seq && stored.sig == *sig && stored.k == *k && *stored.v == *args.v
    });
    if !known && !super::signature::verify(k, salt, seq, args.v, sig) {
        return Err((Refusal::BadSignature, "invalid signature".into()));
    }
    let item = MutableItem {
        k: *k,
        salt: salt.into(),
        seq,
        sig: *sig,
        v: args.v.into(),
    };
    ctx.store
        .put_mutable_from(from, target, item, args.cas, now)
        .map_err(|e| (Refusal::from(&e), e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::RoutingConfig;
    use crate::store::StoreConfig;
    use crate::wire::{decode, BloomFilter, CompactNodes, Want};

    struct Fixture {
        routing: RoutingTable,
        /// The IPv6 table of a dual-stack answerer ([`Fixture::dual_stack`]).
        routing6: Option<RoutingTable>,
        store: Store,
        tokens: Tokens,
        samples: SampleLimiter,
        /// Whether the asker counts as a one-hop member (see [`Context::member_writer`]).
        member_writer: bool,
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture::with_store(StoreConfig::default())
        }

        fn with_store(store: StoreConfig) -> Fixture {
            let own = Id::sha1(b"answerer");
            let routing = RoutingTable::new(own, RoutingConfig::default());
            for i in 0u32..64 {
                let node = NodeInfo::new(
                    Id::sha1(&i.to_be_bytes()),
                    SocketAddr::from(([127, 0, 1, i as u8], 7000)),
                );
                let _ = routing.on_response(node, Time::ZERO);
            }
            Fixture {
                routing,
                routing6: None,
                store: Store::new(own, store),
                tokens: Tokens::new([3; 16], Time::ZERO),
                samples: SampleLimiter::new(true, true),
                member_writer: false,
            }
        }

        /// A dual-stack answerer: 64 contacts in an IPv6 table as well.
        fn dual_stack() -> Fixture {
            let mut f = Fixture::new();
            let routing6 = RoutingTable::new(Id::sha1(b"answerer"), RoutingConfig::default());
            for i in 0u16..64 {
                let ip = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 2, i);
                let node =
                    NodeInfo::new(Id::sha1(&[b'6', i as u8]), SocketAddr::new(ip.into(), 7000));
                let _ = routing6.on_response(node, Time::ZERO);
            }
            f.routing6 = Some(routing6);
            f
        }

        fn ask(&self, from: SocketAddr, method: QueryMethod<'_>) -> Vec<u8> {
            self.ask_full(from, method).0
        }

        /// The reply and how the answerer classified it.
        fn ask_full(&self, from: SocketAddr, method: QueryMethod<'_>) -> (Vec<u8>, Answered) {
            self.ask_wanting(from, method, Want::default())
        }

        /// [`Fixture::ask_full`] with a BEP 32 `want`.
        fn ask_wanting(
            &self,
            from: SocketAddr,
            method: QueryMethod<'_>,
            want: Want,
        ) -> (Vec<u8>, Answered) {
            let mut msg = Message::query(b"tt", Id::sha1(b"asker"), method);
            let MessageKind::Query(query) = &mut msg.kind else {
                unreachable!()
            };
            query.want = want;
            let MessageKind::Query(query) = &msg.kind else {
                unreachable!()
            };
            let ctx = Context {
                own_id: Id::sha1(b"answerer"),
                routing: &self.routing,
                routing6: self.routing6.as_ref(),
                store: &self.store,
                tokens: &self.tokens,
                version: b"DS\x00\x01",
                samples: &self.samples,
                member_writer: self.member_writer,
            };
            let mut out = Vec::new();
            let answered = answer(&ctx, from, &msg, query, Time::from_millis(10), &mut out);
            let code = match answered {
                Answered::Refused(reason) => Some(reason.krpc_code()),
                Answered::Response => None,
            };
            assert_eq!(error_code_of(&out), code, "{answered:?}");
            (out, answered)
        }
    }

    fn from() -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 9], 4000))
    }

    fn error_code_of(reply: &[u8]) -> Option<i64> {
        match decode(reply).expect("reply decodes").kind {
            MessageKind::Error(e) => Some(e.code),
            _ => None,
        }
    }

    #[test]
    fn find_node_returns_the_closest_and_our_view_of_the_asker() {
        let f = Fixture::new();
        let target = Id::sha1(b"target");
        let reply = f.ask(from(), QueryMethod::FindNode { target });
        let msg = decode(&reply).expect("decodes");
        assert_eq!(msg.tid, b"tt");
        assert_eq!(msg.ip, Some(from()));
        let MessageKind::Response(r) = msg.kind else {
            panic!("not a response")
        };
        let got: Vec<NodeInfo> = r.nodes.expect("nodes").iter().collect();
        assert_eq!(got, f.routing.closest_vec(&target, K));
        assert!(r.nodes6.is_none());
    }

    #[test]
    fn find_node_leaves_the_asker_out_and_still_names_k_nodes() {
        let f = Fixture::new();
        let target = Id::sha1(b"target");
        // The asker is the closest contact the answerer knows to the target.
        let closest = f.routing.closest_vec(&target, K + 1);
        let asker = closest[0].addr;
        let reply = f.ask(asker, QueryMethod::FindNode { target });
        let MessageKind::Response(r) = decode(&reply).expect("decodes").kind else {
            panic!("not a response")
        };
        let got: Vec<NodeInfo> = r.nodes.expect("nodes").iter().collect();
        assert_eq!(got, closest[1..].to_vec());
    }

    #[test]
    fn unknown_methods_get_204_unless_they_carry_a_target() {
        let f = Fixture::new();
        let reply = f.ask(
            from(),
            QueryMethod::Unknown {
                method: b"frob",
                target: None,
            },
        );
        assert_eq!(error_code_of(&reply), Some(error_code::METHOD_UNKNOWN));
        let reply = f.ask(
            from(),
            QueryMethod::Unknown {
                method: b"frob",
                target: Some(Id::ZERO),
            },
        );
        assert_eq!(error_code_of(&reply), None);
    }

    #[test]
    fn a_put_the_full_store_cannot_take_is_refused_for_quota() {
        let f = Fixture::with_store(StoreConfig {
            max_items: 1,
            ..StoreConfig::default()
        });
        let own = Id::sha1(b"answerer");
        let mut values = [b"3:one".to_vec(), b"3:two".to_vec()];
        // Store the closer one first: the farther one may not evict it.
        values.sort_by_key(|v| Id::sha1(v).distance(&own));
        let token = f.tokens.token(from().ip());
        let put = |v: &[u8]| {
            f.ask_full(
                from(),
                QueryMethod::Put(PutArgs::immutable(token.as_ref(), v)),
            )
        };
        assert_eq!(put(&values[0]).1, Answered::Response);
        let (reply, answered) = put(&values[1]);
        assert_eq!(error_code_of(&reply), Some(error_code::SERVER));
        assert_eq!(answered, Answered::Refused(Refusal::Quota));
    }

    #[test]
    fn a_one_hop_member_puts_without_a_token_and_nobody_else_does() {
        let mut f = Fixture::new();
        let put =
            |f: &Fixture| f.ask_full(from(), QueryMethod::Put(PutArgs::immutable(b"", b"3:abc")));
        let (reply, answered) = put(&f);
        assert_eq!(answered, Answered::Refused(Refusal::BadToken));
        assert_eq!(error_code_of(&reply), Some(error_code::PROTOCOL));
        f.member_writer = true;
        assert_eq!(put(&f).1, Answered::Response);
        let key = Id::sha1(b"3:abc");
        assert!(f.store.get_immutable(&key, Time::from_millis(10)).is_some());
    }

    #[test]
    fn puts_past_the_askers_share_are_refused_for_quota_and_charged_to_its_ip() {
        // The askers are loopback addresses, exempt by default.
        let f = Fixture::with_store(StoreConfig {
            max_items_per_ip: 2,
            limit_loopback: true,
            ..StoreConfig::default()
        });
        let put = |from: SocketAddr, v: &[u8]| {
            let token = f.tokens.token(from.ip());
            f.ask_full(
                from,
                QueryMethod::Put(PutArgs::immutable(token.as_ref(), v)),
            )
        };
        let other = SocketAddr::from(([127, 0, 0, 10], 4000));
        assert_eq!(put(from(), b"1:a").1, Answered::Response);
        assert_eq!(put(from(), b"1:b").1, Answered::Response);
        let (reply, answered) = put(from(), b"1:c");
        assert_eq!(error_code_of(&reply), Some(error_code::SERVER));
        assert_eq!(answered, Answered::Refused(Refusal::Quota));
        // A re-put is a refresh, not a new item; another IP has its own share.
        assert_eq!(put(from(), b"1:a").1, Answered::Response);
        assert_eq!(put(other, b"1:c").1, Answered::Response);
        assert_eq!(f.store.usage_of(from().ip()).items, 2);
        assert_eq!(f.store.usage_of(other.ip()).items, 1);
        assert_eq!(f.store.stats().refused_ip_quota, 1);
    }

    #[test]
    fn announce_needs_a_token_for_the_askers_ip() {
        let f = Fixture::new();
        let info_hash = Id::sha1(b"torrent");
        let bad = f.ask(
            from(),
            QueryMethod::AnnouncePeer {
                info_hash,
                port: 6881,
                implied_port: false,
                token: b"nope",
                seed: false,
            },
        );
        assert_eq!(error_code_of(&bad), Some(error_code::PROTOCOL));
        // A token handed to another IP does not work from this one.
        let other_ip = f
            .tokens
            .token(SocketAddr::from(([127, 0, 0, 10], 4000)).ip());
        let (spoofed, answered) = f.ask_full(
            from(),
            QueryMethod::AnnouncePeer {
                info_hash,
                port: 6881,
                implied_port: false,
                token: other_ip.as_ref(),
                seed: false,
            },
        );
        assert_eq!(error_code_of(&spoofed), Some(error_code::PROTOCOL));
        assert_eq!(answered, Answered::Refused(Refusal::BadToken));
        let mut peers = Vec::new();
        f.store
            .get_peers(&info_hash, 10, Time::from_millis(10), &mut peers);
        assert!(peers.is_empty(), "nothing stored without a valid token");

        let token = f.tokens.token(from().ip());
        let ok = f.ask(
            from(),
            QueryMethod::AnnouncePeer {
                info_hash,
                port: 0,
                implied_port: true,
                token: token.as_ref(),
                seed: false,
            },
        );
        assert_eq!(error_code_of(&ok), None);
        f.store
            .get_peers(&info_hash, 10, Time::from_millis(10), &mut peers);
        assert_eq!(peers, vec![from()], "implied_port stores the source port");
    }

    #[test]
    fn put_then_get_an_immutable_item() {
        let f = Fixture::new();
        let v = b"11:hello world";
        let target = Id::sha1(v);
        let token = f.tokens.token(from().ip());
        let put =
            |token: &[u8], v: &[u8]| f.ask(from(), QueryMethod::Put(PutArgs::immutable(token, v)));
        assert_eq!(error_code_of(&put(b"bad", v)), Some(error_code::PROTOCOL));
        let big = crate::wire::bencode::encode_bytes(&[b'x'; 1000]);
        assert_eq!(
            error_code_of(&put(token.as_ref(), &big)),
            Some(error_code::MESSAGE_TOO_BIG)
        );
        assert_eq!(error_code_of(&put(token.as_ref(), v)), None);
        let reply = f.ask(from(), QueryMethod::Get { target, seq: None });
        let MessageKind::Response(r) = decode(&reply).expect("decodes").kind else {
            panic!("not a response")
        };
        assert_eq!(r.v, Some(&v[..]));
        assert!(r.token.is_some());
    }

    #[test]
    fn mutable_put_checks_the_signature() {
        use ed25519_dalek::{Signer, SigningKey};
        let f = Fixture::new();
        let key = SigningKey::from_bytes(&[9u8; 32]);
        let k = key.verifying_key().to_bytes();
        let v = b"5:hello";
        let mut signed = Vec::new();
        super::super::signature::signed_bytes(b"", 1, v, &mut signed);
        let sig = key.sign(&signed).to_bytes();
        let token = f.tokens.token(from().ip());
        let put = |seq: i64, sig: &[u8; 64]| {
            f.ask(
                from(),
                QueryMethod::Put(PutArgs {
                    token: token.as_ref(),
                    v,
                    k: Some(&k),
                    salt: None,
                    seq: Some(seq),
                    cas: None,
                    sig: Some(sig),
                    target: None,
                }),
            )
        };
        assert_eq!(
            error_code_of(&put(2, &sig)),
            Some(error_code::INVALID_SIGNATURE)
        );
        assert_eq!(error_code_of(&put(1, &sig)), None);
        let target = Id::sha1(&k);
        let reply = f.ask(from(), QueryMethod::Get { target, seq: None });
        let MessageKind::Response(r) = decode(&reply).expect("decodes").kind else {
            panic!("not a response")
        };
        assert_eq!((r.v, r.seq, r.k), (Some(&v[..]), Some(1), Some(&k)));
        // The same version again (another copy, a re-publish) is not checked again.
        let checks = super::super::signature::thread_checks;
        let before = checks();
        assert_eq!(error_code_of(&put(1, &sig)), None);
        assert_eq!(checks(), before, "a stored version is verified once");
        assert_eq!(
            error_code_of(&put(3, &sig)),
            Some(error_code::INVALID_SIGNATURE)
        );
        assert_eq!(checks(), before + 1, "a new version is verified");
    }

    #[test]
    fn a_get_of_a_full_size_item_wanting_both_families_fits_a_datagram() {
        use ed25519_dalek::{Signer, SigningKey};
        let f = Fixture::dual_stack();
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let k = key.verifying_key().to_bytes();
        // The largest value BEP 44 allows: 1,000 bytes, bencoded.
        let mut v = b"996:".to_vec();
        v.resize(1_000, b'x');
        let mut signed = Vec::new();
        super::super::signature::signed_bytes(b"", 1, &v, &mut signed);
        let sig = key.sign(&signed).to_bytes();
        let token = f.tokens.token(from().ip());
        let args = PutArgs {
            token: token.as_ref(),
            v: &v,
            k: Some(&k),
            salt: None,
            seq: Some(1),
            cas: None,
            sig: Some(&sig),
            target: None,
        };
        assert_eq!(error_code_of(&f.ask(from(), QueryMethod::Put(args))), None);
        let both = Want { n4: true, n6: true };
        let ask = |target: Id| {
            let (reply, _) = f.ask_wanting(from(), QueryMethod::Get { target, seq: None }, both);
            let MessageKind::Response(r) = decode(&reply).expect("decodes").kind else {
                panic!("not a response")
            };
            let count = |n: Option<CompactNodes<'_>>| n.map_or(0, |n| n.iter().count());
            (
                reply.len(),
                r.v.map(<[u8]>::to_vec),
                count(r.nodes),
                count(r.nodes6),
            )
        };
        // The item is whole; the farthest IPv6 nodes made room for it.
        let (len, value, v4, v6) = ask(Id::sha1(&k));
        assert!(len <= MAX_REPLY_LEN, "{len} bytes");
        assert_eq!(value.as_deref(), Some(&v[..]));
        assert_eq!(v4, K, "every IPv4 node kept");
        assert!(v6 < K, "{v6} IPv6 nodes");
        // With no item, k nodes of each family fit.
        let (len, value, v4, v6) = ask(Id::sha1(b"absent"));
        assert!(len <= MAX_REPLY_LEN, "{len} bytes");
        assert_eq!((value, v4, v6), (None, K, K));
    }

    #[test]
    fn many_threads_answer_at_once() {
        let f = Fixture::new();
        std::thread::scope(|scope| {
            for t in 0u8..4 {
                let f = &f;
                scope.spawn(move || {
                    let from = SocketAddr::from(([127, 0, 0, 20 + t], 4000));
                    let token = f.tokens.token(from.ip());
                    for i in 0..500u32 {
                        let v = crate::wire::bencode::encode_bytes(format!("{t}/{i}").as_bytes());
                        let put = f.ask(
                            from,
                            QueryMethod::Put(PutArgs::immutable(token.as_ref(), &v)),
                        );
                        assert_eq!(error_code_of(&put), None);
                        let get = f.ask(
                            from,
                            QueryMethod::Get {
                                target: Id::sha1(&v),
                                seq: None,
                            },
                        );
                        let MessageKind::Response(r) = decode(&get).expect("decodes").kind else {
                            panic!("not a response")
                        };
                        assert_eq!(r.v, Some(&v[..]));
                    }
                });
            }
        });
        assert_eq!(f.store.stats().items, 2000);
    }

    #[test]
    fn get_peers_with_scrape_sends_seed_and_peer_filters() {
        let f = Fixture::new();
        let info_hash = Id::sha1(b"scraped");
        for i in 0..12u8 {
            let peer = SocketAddr::from(([10, 0, 0, i], 6881));
            f.store
                .announce(info_hash, peer, i < 4, Time::from_millis(1))
                .expect("stored");
        }
        let ask = |scrape: bool, info_hash: Id| {
            let reply = f.ask(from(), QueryMethod::GetPeers { info_hash, scrape });
            let MessageKind::Response(r) = decode(&reply).expect("decodes").kind else {
                panic!("not a response")
            };
            (
                r.bf_seeds.map(|b| BloomFilter::from_bytes(*b)),
                r.bf_peers.map(|b| BloomFilter::from_bytes(*b)),
                r.values.map_or(0, |v| v.iter().count()),
            )
        };
        let (seeds, peers, values) = ask(true, info_hash);
        let (seeds, peers) = (seeds.expect("BFsd"), peers.expect("BFpe"));
        assert_eq!(values, 12, "the peers are sent as well");
        let mut expected = (BloomFilter::new(), BloomFilter::new());
        for i in 0..12u8 {
            let f = if i < 4 {
                &mut expected.0
            } else {
                &mut expected.1
            };
            f.insert_ip([10, 0, 0, i].into());
        }
        assert_eq!((seeds, peers), expected);
        // Without scrape, or for an info-hash with no peers, no filters.
        assert_eq!(ask(false, info_hash).0, None);
        assert_eq!(ask(true, Id::sha1(b"unknown")).0, None);
    }

    #[test]
    fn a_get_peers_reply_with_many_ipv6_peers_is_cut_to_fit_a_datagram() {
        let f = Fixture::new();
        let info_hash = Id::sha1(b"crowded");
        for i in 0..MAX_PEERS_PER_REPLY as u16 {
            let ip = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 1, i);
            let peer = SocketAddr::new(ip.into(), 6881);
            f.store
                .announce(info_hash, peer, i % 2 == 0, Time::from_millis(1))
                .expect("stored");
        }
        let asker = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 4000));
        let values = |scrape: bool| {
            let reply = f.ask(asker, QueryMethod::GetPeers { info_hash, scrape });
            assert!(reply.len() <= MAX_REPLY_LEN, "{} bytes", reply.len());
            let MessageKind::Response(r) = decode(&reply).expect("decodes").kind else {
                panic!("not a response")
            };
            let peers: Vec<SocketAddr> = r.values.expect("values").iter().collect();
            (peers, reply.len())
        };
        // Without the filters all 50 fit (1,050 bytes of values)...
        let (plain, _) = values(false);
        assert_eq!(plain.len(), MAX_PEERS_PER_REPLY);
        assert!(plain.iter().all(|p| p.is_ipv6() && p.port() == 6881));
        // ...with them (520 bytes more) as many as fit: one more would not.
        let (scraped, len) = values(true);
        assert!(scraped.len() < MAX_PEERS_PER_REPLY, "{}", scraped.len());
        assert!(len + 21 > MAX_REPLY_LEN, "{len} bytes");
        assert!(scraped.len() >= 20, "{}", scraped.len());
        assert_eq!(scraped[..], plain[..scraped.len()]);
        // A few IPv4 peers fit as before.
        let small = Id::sha1(b"small");
        for i in 0..12u8 {
            let peer = SocketAddr::from(([10, 0, 0, i], 6881));
            f.store
                .announce(small, peer, false, Time::from_millis(1))
                .expect("stored");
        }
        let reply = f.ask(
            asker,
            QueryMethod::GetPeers {
                info_hash: small,
                scrape: true,
            },
        );
        let MessageKind::Response(r) = decode(&reply).expect("decodes").kind else {
            panic!("not a response")
        };
        assert_eq!(r.values.map_or(0, |v| v.iter().count()), 12);
    }

    #[test]
    fn sample_infohashes_returns_stored_info_hashes_then_refuses_until_the_interval() {
        let f = Fixture::new();
        let stored: Vec<Id> = (0..30u32).map(|i| Id::sha1(&i.to_be_bytes())).collect();
        for (i, info_hash) in stored.iter().enumerate() {
            let peer = SocketAddr::from(([10, 0, 1, i as u8], 6881));
            f.store
                .announce(*info_hash, peer, false, Time::from_millis(1))
                .expect("stored");
        }
        let target = Id::sha1(b"walk");
        let (reply, answered) = f.ask_full(from(), QueryMethod::SampleInfohashes { target });
        assert_eq!(answered, Answered::Response);
        let MessageKind::Response(r) = decode(&reply).expect("decodes").kind else {
            panic!("not a response")
        };
        assert_eq!(r.num, Some(30));
        assert_eq!(r.interval, Some(SAMPLE_INTERVAL.as_secs() as i64));
        let samples: Vec<Id> = r.samples.expect("samples").iter().collect();
        assert_eq!(samples.len(), MAX_SAMPLES, "as many as fit");
        let distinct: std::collections::HashSet<Id> = samples.iter().copied().collect();
        assert_eq!(distinct.len(), MAX_SAMPLES, "no repeats");
        assert!(samples.iter().all(|s| stored.contains(s)));
        assert!(r.nodes.is_some(), "nodes for walking on");
        // The same source again within the interval: 202, counted as such.
        let (reply, answered) = f.ask_full(from(), QueryMethod::SampleInfohashes { target });
        assert_eq!(error_code_of(&reply), Some(error_code::SERVER));
        assert_eq!(answered, Answered::Refused(Refusal::SampleTooSoon));
        // Another source is answered.
        let other = SocketAddr::from(([127, 0, 0, 10], 4000));
        let (_, answered) = f.ask_full(other, QueryMethod::SampleInfohashes { target });
        assert_eq!(answered, Answered::Response);
    }

    #[test]
    fn announces_with_seed_are_counted_as_seeds() {
        let f = Fixture::new();
        let info_hash = Id::sha1(b"seeded");
        let token = f.tokens.token(from().ip());
        let reply = f.ask(
            from(),
            QueryMethod::AnnouncePeer {
                info_hash,
                port: 6881,
                implied_port: false,
                token: token.as_ref(),
                seed: true,
            },
        );
        assert_eq!(error_code_of(&reply), None);
        let (seeds, peers) = f
            .store
            .scrape(&info_hash, Time::from_millis(10))
            .expect("held");
        let mut one = BloomFilter::new();
        one.insert_ip(from().ip());
        assert_eq!((seeds, peers.is_empty()), (one, true));
    }

    /// Every file of the answerer's fuzz corpus goes through the same checks as the
    /// fuzz target, so CI replays what fuzzing found.
    #[test]
    fn fuzz_corpus_replays() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/answer");
        let f = Fixture::new();
        let mut replayed = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus directory") {
            let data = std::fs::read(entry.expect("entry").path()).expect("read");
            let Ok(msg) = decode(&data) else { continue };
            let MessageKind::Query(query) = &msg.kind else {
                continue;
            };
            let ctx = Context {
                own_id: Id::sha1(b"answerer"),
                routing: &f.routing,
                routing6: None,
                store: &f.store,
                tokens: &f.tokens,
                version: b"DS\x00\x01",
                samples: &f.samples,
                member_writer: false,
            };
            let mut out = Vec::new();
            answer(&ctx, from(), &msg, query, Time::from_millis(10), &mut out);
            let reply = decode(&out).expect("the reply decodes");
            assert_eq!(reply.tid, msg.tid);
            replayed += 1;
        }
        assert!(replayed >= 10, "corpus too small: {replayed}");
    }
}
