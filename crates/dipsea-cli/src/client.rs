//! The one-shot commands `put`, `get`, `announce` and `peers`.
//!
//! Each is a short-lived node: it binds a free port, joins through `--bootstrap` (by
//! default the public DHT's routers), runs one operation, prints the result and
//! shuts down. It runs read-only (BEP 43), so the
//! nodes it talks to do not keep it in their routing tables after it has gone.

use std::future::Future;
use std::io::{Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use dipsea::keypair::{to_hex, Keypair};
use dipsea::MutablePut;
use dipsea::{Error, NodeBuilder, NodeHandle, OpError};

use crate::{runtime, AnnounceArgs, ClientArgs, Failure, GetArgs, Outcome, PeersArgs, PutArgs};

/// Runs `dipsea put`.
pub fn put(args: PutArgs) -> Outcome {
    let value = match (&args.value, &args.file) {
        (_, Some(path)) => read_value(path)?,
        (Some(text), None) => text.clone().into_bytes(),
        (None, None) => return Err(Failure::usage("give a VALUE or --file PATH")),
    };
    if let Some(path) = &args.key_file {
        return put_mutable(&args, path, value);
    }
    let result = with_client(&args.client, |node| async move {
        node.put(&value).await.map_err(|e| op_failure("put", e))
    })?;
    write_stdout(format!("{}\n", result.key).as_bytes())?;
    eprintln!(
        "stored on {} node{}",
        result.stored,
        if result.stored == 1 { "" } else { "s" }
    );
    if result.stored == 0 {
        return Err(Failure::failed("no node stored the value"));
    }
    Ok(())
}

/// `dipsea put --key-file`: a mutable item; prints the public key and the seq.
fn put_mutable(args: &PutArgs, path: &std::path::Path, value: Vec<u8>) -> Outcome {
    let keypair = Keypair::load(path).map_err(|e| {
        Failure::failed(format!(
            "cannot read the key file {}: {e}; make one with `dipsea keygen FILE`",
            path.display()
        ))
    })?;
    let options = MutablePut {
        salt: args.salt.clone().unwrap_or_default().into_bytes(),
        seq: args.seq,
        cas: args.cas,
    };
    let stored = with_client(&args.client, |node| async move {
        node.put_mutable(&keypair, &value, options)
            .await
            .map(|stored| (keypair.public_key(), stored))
            .map_err(|e| op_failure("put", e))
    })?;
    let (public_key, stored) = stored;
    write_stdout(format!("{} {}\n", to_hex(&public_key), stored.seq).as_bytes())?;
    eprintln!(
        "seq {} stored on {} node{}",
        stored.seq,
        stored.stored,
        if stored.stored == 1 { "" } else { "s" }
    );
    Ok(())
}

/// `dipsea get --pubkey`: the newest verified version of a mutable item.
fn get_mutable(args: &GetArgs, public_key: [u8; 32]) -> Outcome {
    let salt = args.salt.clone().unwrap_or_default().into_bytes();
    let min_seq = args.min_seq;
    let item = with_client(&args.client, |node| async move {
        node.get_mutable(&public_key, &salt, min_seq)
            .await
            .map_err(|e| op_failure("get", e))
    })?;
    match item {
        Some(item) => {
            eprintln!("seq {}", item.seq);
            write_stdout(&item.value)
        }
        None => Err(Failure::failed(format!(
            "not found: no node has a mutable item of {}",
            to_hex(&public_key)
        ))),
    }
}

/// Runs `dipsea get`.
pub fn get(args: GetArgs) -> Outcome {
    if let Some(public_key) = args.pubkey {
        return get_mutable(&args, public_key);
    }
    let Some(key) = args.key else {
        return Err(Failure::usage("give a KEY or --pubkey HEX"));
    };
    let value = with_client(&args.client, |node| async move {
        node.get(key).await.map_err(|e| op_failure("get", e))
    })?;
    match value {
        Some(bytes) => write_stdout(&bytes),
        None => Err(Failure::failed(format!(
            "not found: no node has a value with key {key}"
        ))),
    }
}

/// Runs `dipsea announce`.
pub fn announce(args: AnnounceArgs) -> Outcome {
    let (info_hash, port, seed) = (args.info_hash, args.port, args.seed);
    let stored = with_client(&args.client, |node| async move {
        node.announce_as(info_hash, port, seed)
            .await
            .map_err(|e| op_failure("announce", e))
    })?;
    write_stdout(
        format!(
            "announced {info_hash} to {stored} node{}\n",
            if stored == 1 { "" } else { "s" }
        )
        .as_bytes(),
    )?;
    if stored == 0 {
        return Err(Failure::failed("no node accepted the announce"));
    }
    Ok(())
}

/// Runs `dipsea peers`.
pub fn peers(args: PeersArgs) -> Outcome {
    let info_hash = args.info_hash;
    let peers = with_client(&args.client, |node| async move {
        node.get_peers(info_hash)
            .await
            .map_err(|e| op_failure("peers", e))
    })?;
    if peers.is_empty() {
        return Err(Failure::failed(format!(
            "not found: no peers announced for {info_hash}"
        )));
    }
    let mut text = String::new();
    for peer in peers {
        text.push_str(&format!("{peer}\n"));
    }
    write_stdout(text.as_bytes())
}

/// Reads a value from a file, or stdin for `-`.
fn read_value(path: &std::path::Path) -> Result<Vec<u8>, Failure> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| Failure::failed(format!("cannot read stdin: {e}")))?;
        return Ok(buf);
    }
    std::fs::read(path).map_err(|e| {
        Failure::failed(format!(
            "cannot read {}: {e}; check the path given to --file",
            path.display()
        ))
    })
}

/// Writes bytes to stdout; a closed pipe is a failure, not a panic.
fn write_stdout(bytes: &[u8]) -> Outcome {
    let mut out = std::io::stdout().lock();
    out.write_all(bytes)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::failed(format!("cannot write to stdout: {e}")))
}

/// Starts a client node, joins, runs `op`, shuts the node down; all within the
/// `--timeout`.
pub(crate) fn with_client<T, F, Fut>(args: &ClientArgs, op: F) -> Result<T, Failure>
where
    F: FnOnce(NodeHandle) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    with_node(args, true, op)
}

/// [`with_client`] with the choice of a read-only node (BEP 43: it answers no
/// queries) or a listener, which answers queries, as a subscriber must to receive
/// notifications, and whose `op` is not bounded by `--timeout` (only the join is).
pub(crate) fn with_node<T, F, Fut>(args: &ClientArgs, read_only: bool, op: F) -> Result<T, Failure>
where
    F: FnOnce(NodeHandle) -> Fut,
    Fut: Future<Output = Result<T, Failure>>,
{
    let bind = match args.bind {
        Some(addr) => addr,
        None => default_bind(&args.bootstrap),
    };
    let rt = runtime()?;
    let limit = Duration::from_secs(args.timeout);
    let builder = NodeBuilder::new()
        .bind(bind.to_string())
        .bootstrap(args.bootstrap.iter().cloned())
        .read_only(read_only);
    let builder = crate::with_network(builder, args.network.as_deref())?;
    let result = rt.block_on(async {
        let node = builder.spawn().await.map_err(|e| match e {
            Error::BadInput(msg) => Failure::usage(format!("{msg}; check --bootstrap")),
            e if args.bootstrap.is_empty() => join_failure(args, e),
            e => Failure::failed(format!("cannot start a client node on {bind}: {e}")),
        })?;
        tracing::debug!(addr = %node.local_addr(), id = %node.id(), "client node started");
        let join = async {
            let table = node.bootstrap().await.map_err(|e| join_failure(args, e))?;
            tracing::debug!(table, "joined");
            if table == 0 {
                return Err(join_failure(args, Error::Op(OpError::NoRoute)));
            }
            Ok(())
        };
        let timed_out = || {
            Failure::failed(format!(
                "timed out after {}s; check --bootstrap or raise --timeout",
                args.timeout
            ))
        };
        let result = if read_only {
            let work = async {
                join.await?;
                op(node.clone()).await
            };
            tokio::time::timeout(limit, work)
                .await
                .unwrap_or_else(|_| Err(timed_out()))
        } else {
            // A listener: `--timeout` bounds the join; `op` bounds its own waits.
            match tokio::time::timeout(limit, join).await {
                Ok(Ok(())) => op(node.clone()).await,
                Ok(Err(e)) => Err(e),
                Err(_) => Err(timed_out()),
            }
        };
        node.shutdown().await;
        result
    });
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

/// Any free port, in the family of the first bootstrap address.
fn default_bind(bootstrap: &[String]) -> SocketAddr {
    let v6 = bootstrap
        .first()
        .and_then(|name| name.to_socket_addrs().ok())
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| addr.is_ipv6());
    if v6 {
        SocketAddr::from(([0u16; 8], 0))
    } else {
        SocketAddr::from(([0u8; 4], 0))
    }
}

fn join_failure(args: &ClientArgs, e: Error) -> Failure {
    if args.bootstrap.is_empty() {
        return Failure::failed(format!(
            "cannot join the public DHT through its default routers: {e}; check the \
             connection or give --bootstrap"
        ));
    }
    Failure::failed(format!(
        "cannot join the network through {}: {e}; check that a node runs there",
        args.bootstrap.join(", ")
    ))
}

pub(crate) fn op_failure(what: &str, e: Error) -> Failure {
    match e {
        Error::BadInput(msg) | Error::Op(OpError::BadInput(msg)) => {
            Failure::usage(format!("{what}: {msg}"))
        }
        e => Failure::failed(format!("{what} failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_in_the_family_of_the_bootstrap() {
        assert!(default_bind(&["127.0.0.1:1".into()]).is_ipv4());
        assert!(default_bind(&["[::1]:1".into()]).is_ipv6());
        assert!(default_bind(&[]).is_ipv4());
    }

    #[test]
    fn bad_input_is_a_usage_error() {
        let e = op_failure("put", Error::Op(OpError::BadInput("too big".into())));
        assert!(matches!(e, Failure::Usage(m) if m == "put: too big"));
        let e = op_failure("get", Error::Op(OpError::Timeout));
        assert!(matches!(e, Failure::Failed(_)));
    }
}
