//! The query answerer: one pure function from shared state and a decoded query to
//! the encoded reply. It reads the routing table and writes the store, both
//! lock-sharded, so any number of threads may answer at once.

use std::net::SocketAddr;

use super::token::Tokens;
use crate::id::{Id, NodeInfo};
use crate::routing::{RoutingTable, K};
use crate::store::{MutableItem, Store};
use crate::time::Time;
use crate::wire::{
    error_code, write_compact_nodes, CompactNodes, CompactPeers, KrpcError, Message, MessageKind,
    PutArgs, Query, QueryMethod, Response,
};

/// Most peers returned for one `get_peers`: 50 compact IPv6 peers still fit an
/// ordinary 1500-byte datagram with the rest of the reply.
pub const MAX_PEERS_PER_REPLY: usize = 50;

/// The shared state a reply is computed from.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// Our node id, sent in every reply.
    pub own_id: Id,
    /// Where `nodes` come from.
    pub routing: &'a RoutingTable,
    /// Where items and peers are read and written.
    pub store: &'a Store,
    /// Write tokens: handed out by `get_peers`/`get`, checked by `announce_peer`/`put`.
    pub tokens: &'a Tokens,
    /// Our client version for the `v` key.
    pub version: &'a [u8],
}

/// Answers `query` (decoded from `msg`, received from `from`) and appends the encoded
/// reply to `out`: a response, or a KRPC error (203 bad token or arguments, 204
/// unknown method, 205–207, 301, 302 from BEP 44, 202 store full).
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
) {
    let reply = |kind: MessageKind<'_>, out: &mut Vec<u8>| {
        Message {
            tid: msg.tid,
            version: Some(ctx.version),
            // BEP 42: tell the querier the address we see, so it learns its own.
            ip: Some(from),
            read_only: false,
            kind,
        }
        .encode(out)
    };
    let error = |code: i64, message: &str, out: &mut Vec<u8>| {
        reply(
            MessageKind::Error(KrpcError {
                code,
                message: message.as_bytes(),
            }),
            out,
        )
    };
    let mut response = Response {
        id: ctx.own_id,
        nodes: None,
        nodes6: None,
        values: None,
        token: None,
        v: None,
        k: None,
        seq: None,
        sig: None,
    };
    // Buffers the borrowed views in `response` point into.
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut peers = Vec::new();
    let token;
    let item_v;
    let mutable;
    let with_nodes = |target: &Id, v4: &mut Vec<u8>, v6: &mut Vec<u8>| {
        let mut closest = Vec::with_capacity(K);
        ctx.routing.closest(target, K, &mut closest);
        closest.retain(|n: &NodeInfo| n.addr != from);
        write_compact_nodes(&closest, v4, v6);
        let (want_v4, want_v6) = if query.want.n4 || query.want.n6 {
            (query.want.n4, query.want.n6)
        } else {
            (from.is_ipv4(), from.is_ipv6())
        };
        if !want_v4 {
            v4.clear();
        }
        if !want_v6 {
            v6.clear();
        }
    };

    match &query.method {
        QueryMethod::Ping => {}
        QueryMethod::FindNode { target }
        | QueryMethod::Unknown {
            target: Some(target),
            ..
        } => {
            // PROTOCOL.md: an unknown method with a target is answered like find_node.
            with_nodes(target, &mut v4, &mut v6);
        }
        QueryMethod::Unknown { target: None, .. } => {
            return error(error_code::METHOD_UNKNOWN, "method unknown", out);
        }
        QueryMethod::GetPeers { info_hash } => {
            with_nodes(info_hash, &mut v4, &mut v6);
            ctx.store
                .get_peers(info_hash, MAX_PEERS_PER_REPLY, now, &mut peers);
            token = ctx.tokens.token(from.ip());
            response.token = Some(token.as_ref());
        }
        QueryMethod::AnnouncePeer {
            info_hash,
            port,
            implied_port,
            token,
        } => {
            if !ctx.tokens.validate(from.ip(), token) {
                return error(error_code::PROTOCOL, "bad token", out);
            }
            let port = if *implied_port { from.port() } else { *port };
            if port == 0 {
                return error(error_code::PROTOCOL, "port 0 is not a peer port", out);
            }
            let peer = SocketAddr::new(from.ip(), port);
            if let Err(e) = ctx.store.announce_peer(*info_hash, peer, now) {
                return error(e.krpc_code(), &e.to_string(), out);
            }
        }
        QueryMethod::Get { target, seq } => {
            with_nodes(target, &mut v4, &mut v6);
            token = ctx.tokens.token(from.ip());
            response.token = Some(token.as_ref());
            if let Some(v) = ctx.store.get_immutable(target, now) {
                item_v = v;
                response.v = Some(&item_v);
            } else if let Some(item) = ctx.store.get_mutable(target, now) {
                mutable = item;
                response.seq = Some(mutable.seq);
                // BEP 44: a requester that already has this seq or newer needs only seq.
                if seq.map_or(true, |s| s < mutable.seq) {
                    response.k = Some(&mutable.k);
                    response.sig = Some(&mutable.sig);
                    response.v = Some(&mutable.v);
                }
            }
        }
        QueryMethod::Put(args) => {
            if !ctx.tokens.validate(from.ip(), args.token) {
                return error(error_code::PROTOCOL, "bad token", out);
            }
            if let Err((code, message)) = store_put(ctx, args, now) {
                return error(code, &message, out);
            }
        }
    }
    if !v4.is_empty() {
        response.nodes = CompactNodes::v4(&v4).ok();
    }
    if !v6.is_empty() {
        response.nodes6 = CompactNodes::v6(&v6).ok();
    }
    if !peers.is_empty() {
        response.values = Some(CompactPeers::from_addrs(&peers));
    }
    reply(MessageKind::Response(response), out);
}

/// Stores the item of a `put`, checking what BEP 44 requires; on refusal, the KRPC
/// error code and message.
fn store_put(ctx: &Context<'_>, args: &PutArgs<'_>, now: Time) -> Result<(), (i64, String)> {
    if args.v.len() > crate::store::MAX_VALUE_LEN {
        return Err((error_code::MESSAGE_TOO_BIG, "message too big".into()));
    }
    let refused = |e: crate::store::StoreError| (e.krpc_code(), e.to_string());
    let Some(k) = args.k else {
        // Immutable: the key is the hash of the value as received; a `target` the
        // sender may add is ignored (PROTOCOL.md).
        return ctx
            .store
            .put_immutable(Id::sha1(args.v), args.v, now)
            .map_err(refused);
    };
    let (Some(seq), Some(sig)) = (args.seq, args.sig) else {
        return Err((error_code::PROTOCOL, "mutable put needs seq and sig".into()));
    };
    let salt = args.salt.unwrap_or_default();
    if salt.len() > crate::store::MAX_SALT_LEN {
        return Err((error_code::SALT_TOO_BIG, "salt too big".into()));
    }
    if !super::signature::verify(k, salt, seq, args.v, sig) {
        return Err((error_code::INVALID_SIGNATURE, "invalid signature".into()));
    }
    let item = MutableItem {
        k: *k,
        salt: salt.into(),
        seq,
        sig: *sig,
        v: args.v.into(),
    };
    let target = item.target();
    ctx.store
        .put_mutable(target, item, args.cas, now)
        .map_err(refused)
}
