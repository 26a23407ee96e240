//! `dipsea listen`: subscribe to a mutable item and print each new version as one
//! line (or, with `--infohash`, to an info-hash's peers and print each new peer),
//! until Ctrl-C, `--count` lines or `--for` seconds.

use std::io::Write;
use std::time::Duration;

use std::net::SocketAddr;

use dipsea::keypair::to_hex;
use dipsea::{Id, MutableValue, NodeHandle};

use crate::client::{op_failure, with_node};
use crate::{Failure, ListenArgs, Outcome};

/// Prints `$show(item)` for each item `$sub.next()` yields, until `$count` lines,
/// `$for_secs`, Ctrl-C or the end of the stream (a macro: the two subscriptions'
/// `next` borrow them, which a closure could not return).
macro_rules! print_each {
    ($sub:ident, $count:expr, $for_secs:expr, $show:expr) => {{
        let (count, for_secs): (Option<u64>, Option<Duration>) = ($count, $for_secs);
        let stop = async {
            match for_secs {
                Some(secs) => tokio::time::sleep(secs).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(stop);
        let mut printed = 0u64;
        while count.is_none_or(|n| printed < n) {
            tokio::select! {
                item = $sub.next() => {
                    let Some(item) = item else { break };
                    print_line(&$show(item))?;
                    printed += 1;
                }
                _ = &mut stop => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        Ok(())
    }};
}

/// Runs `dipsea listen`.
pub fn run(args: ListenArgs) -> Outcome {
    let salt = args.salt.clone().map(String::into_bytes);
    let subscribe_limit = Duration::from_secs(args.client.timeout);
    let (count, for_secs) = (args.count, args.for_secs);
    let (pubkey, infohash) = (args.pubkey, args.infohash);
    with_node(&args.client, false, |node| async move {
        if let Some(info_hash) = infohash {
            return listen_peers(&node, info_hash, subscribe_limit, count, for_secs).await;
        }
        let Some(public_key) = pubkey else {
            return Err(Failure::usage("give --pubkey or --infohash"));
        };
        let subscribing = node.subscribe(public_key, salt.as_deref());
        let mut sub = tokio::time::timeout(subscribe_limit, subscribing)
            .await
            .map_err(|_| Failure::failed("timed out subscribing; raise --timeout"))?
            .map_err(|e| op_failure("listen", e))?;
        eprintln!(
            "listening to {} (target {})",
            to_hex(&public_key),
            sub.target()
        );
        print_each!(sub, count, for_secs, |v: MutableValue| line(&v))
    })
}

/// `dipsea listen --infohash`: each new peer of `info_hash` as `peer IP:PORT`.
async fn listen_peers(
    node: &NodeHandle,
    info_hash: Id,
    limit: Duration,
    count: Option<u64>,
    for_secs: Option<Duration>,
) -> Outcome {
    let mut sub = tokio::time::timeout(limit, node.subscribe_peers(info_hash))
        .await
        .map_err(|_| Failure::failed("timed out subscribing; raise --timeout"))?
        .map_err(|e| op_failure("listen", e))?;
    eprintln!("listening to the peers of {info_hash}");
    print_each!(sub, count, for_secs, |p: SocketAddr| peer_line(&p))
}

/// One peer as printed: `peer IP:PORT`.
pub fn peer_line(peer: &SocketAddr) -> String {
    format!("peer {peer}")
}

/// One version as printed: `seq N: VALUE` (the value as UTF-8, invalid bytes
/// replaced, line breaks escaped so that each version is one line).
pub fn line(value: &MutableValue) -> String {
    let text = String::from_utf8_lossy(&value.value)
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r");
    format!("seq {}: {text}", value.seq)
}

fn print_line(line: &str) -> Outcome {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::failed(format!("cannot write to stdout: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_one_line() {
        let value = MutableValue {
            value: b"a\nb\\c".to_vec(),
            v: b"5:a\nb\\c".to_vec(),
            seq: 3,
            signature: [0; 64],
            public_key: [1; 32],
            salt: Vec::new(),
        };
        assert_eq!(line(&value), "seq 3: a\\nb\\\\c");
        let peer: SocketAddr = "10.0.0.1:6881".parse().expect("addr");
        assert_eq!(peer_line(&peer), "peer 10.0.0.1:6881");
    }
}
