//! Cancelling an operation, on the sans-I/O node in virtual time: once cancelled, an
//! operation sends nothing more, not even the retry of a query that timed out.
//!
//! The UDP half (dropping the caller's future cancels the operation) is
//! `an_operation_whose_caller_stops_waiting_is_cancelled` in `node_loopback.rs`; what
//! happens after the cancel is checked here, where the clock is a number the test
//! moves, so no test waits out a real query timeout.

use std::net::SocketAddr;
use std::time::Duration;

use dipsea::node::output::Output;
use dipsea::wire::{decode, MessageKind, QueryMethod};
use dipsea::{Id, Node, NodeConfig, NodeInfo, OpId, Request, Time};

/// Where the node's only contact lives; nothing ever answers from there.
fn silent() -> SocketAddr {
    "127.0.0.1:9".parse().expect("addr")
}

/// `get` queries among the datagrams of `out` (sent to the silent contact).
fn gets(out: &Output) -> usize {
    out.datagrams()
        .filter(|(to, bytes)| {
            *to == silent()
                && matches!(
                    decode(bytes).map(|m| m.kind),
                    Ok(MessageKind::Query(q)) if matches!(q.method, QueryMethod::Get { .. })
                )
        })
        .count()
}

/// Starts a `get` on a node whose only contact never answers, cancels it if `cancel`,
/// then runs the node's timers for `run_for` of virtual time. Returns the `get`
/// queries sent in all.
fn gets_sent(cancel: bool, run_for: Duration) -> usize {
    let node = Node::new(Id::random(), NodeConfig::default(), Time::ZERO);
    node.add_seeds([NodeInfo::new(Id::sha1(b"silent"), silent())]);
    let mut out = Output::new();
    let op = OpId(1);
    node.start(op, Request::Get(Id::sha1(b"key")), Time::ZERO, &mut out);
    let mut sent = gets(&out);
    if cancel {
        node.cancel(op);
        assert_eq!(node.operations_running(), 0);
    }
    let end = Time::ZERO + run_for;
    loop {
        let now = node.next_deadline();
        if now > end {
            return sent;
        }
        out.clear();
        node.tick(now, &mut out);
        sent += gets(&out);
    }
}

#[test]
fn a_cancelled_operation_sends_no_retry() {
    // Past the query's timeout and its retry's (1 s, then 2 s, before any round-trip
    // sample), in virtual time.
    let run_for = Duration::from_secs(10);
    assert_eq!(gets_sent(true, run_for), 1, "one get query, no retry");
    // The same without the cancel retries: the check above can see a retry.
    assert!(gets_sent(false, run_for) > 1, "an uncancelled get retries");
}
