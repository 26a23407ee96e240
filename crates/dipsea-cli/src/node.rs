//! `dipsea node`: runs a node until Ctrl-C or SIGTERM, printing its address first
//! and a status line periodically, then saves its routing table and exits.

use std::io::Write;
use std::time::{Duration, Instant};

use dipsea::{NodeBuilder, NodeConfig, NodeHandle, NodeStats};

use crate::{runtime, Failure, NodeArgs, Outcome};

/// Runs `dipsea node`.
pub fn run(args: NodeArgs) -> Outcome {
    let rt = runtime()?;
    let result = rt.block_on(serve(args));
    // The node's tasks have stopped; don't wait on anything that lingers.
    rt.shutdown_timeout(Duration::from_secs(1));
    result
}

/// The node `args` describe, and how its bind address reads in an error.
fn node_builder(args: &NodeArgs) -> Result<(NodeBuilder, String), Failure> {
    let mut config = NodeConfig {
        save_interval: args.save_interval,
        ..NodeConfig::default()
    };
    if let Some(accept) = &args.accept_broadcasts {
        config.broadcast.accept = crate::broadcast::policy(accept)?;
    }
    let port = args.port.unwrap_or(6881);
    let mut builder = NodeBuilder::new().config(config);
    let bind = match (&args.bind, &args.bind6) {
        (None, None) if args.ipv4_only => {
            builder = builder.bind(format!("0.0.0.0:{port}"));
            format!("0.0.0.0:{port}")
        }
        (None, None) => {
            builder = builder.dual_stack(port);
            format!("port {port}")
        }
        (bind, bind6) => {
            let bind = bind.clone().unwrap_or_else(|| "0.0.0.0:6881".to_string());
            builder = builder.bind(bind.clone());
            if let Some(bind6) = bind6 {
                builder = builder.bind6(bind6.clone());
            }
            bind
        }
    };
    let mut builder = builder
        .bootstrap(args.bootstrap.clone())
        .no_default_routers(args.no_default_routers)
        .read_only(args.read_only);
    if let Some(path) = &args.state {
        builder = builder.state_path(path);
    }
    if let Some(ip) = args.external_ip {
        builder = builder.id_for_ip(ip);
    }
    builder = builder.enforce_bep42(args.enforce_bep42);
    builder = crate::with_network(builder, args.network.as_deref())?;
    let overlay = dipsea::onehop::Overlay::with_settings(
        &args.overlay,
        args.partitioner.as_deref(),
        args.replicas,
    )
    .map_err(|e| Failure::usage(format!("--overlay: {e}")))?;
    if overlay != dipsea::onehop::Overlay::Kademlia && args.network.is_none() {
        return Err(Failure::usage(
            "--overlay one-hop needs --network NAME: a one-hop node never joins the public DHT",
        ));
    }
    builder = builder.overlay(overlay);
    if let Some(id) = args.id {
        builder = builder.id(id);
    }
    Ok((builder, bind))
}

async fn serve(args: NodeArgs) -> Outcome {
    let (builder, bind) = node_builder(&args)?;
    let node = builder.spawn().await.map_err(|e| match e {
        dipsea::Error::BadInput(msg) => Failure::usage(msg),
        e => Failure::failed(format!(
            "cannot listen on {bind}: {e}; pick another address with --bind or --port"
        )),
    })?;
    // Install the signal handlers before announcing the address, so a supervisor
    // that reads the first line and then signals is always heard.
    let signal = shutdown_signal()?;
    say(&format!(
        "listening on {} id {}",
        node.local_addr(),
        node.id()
    ));
    if let Some(addr6) = node.local_addr6() {
        say(&format!("listening on {addr6} (IPv6, dual stack)"));
    }
    tracing::info!(addr = %node.local_addr(), id = %node.id(), "node started");

    let status = status_loop(&node, Duration::from_secs(args.status_every));
    let printer = print_broadcasts(&node, args.print_broadcasts);
    let name = tokio::select! {
        name = signal => name,
        () = status => "status loop ended",
        () = printer => "broadcast printer ended",
    };
    tracing::info!(signal = name, "shutting down");
    node.shutdown().await;
    if let Some(path) = &args.state {
        tracing::info!(
            path = %path.display(),
            contacts = node.routing_table().len(),
            "routing table saved"
        );
    }
    Ok(())
}

/// Resolves when Ctrl-C (SIGINT) or, on unix, SIGTERM arrives; yields its name.
fn shutdown_signal() -> Result<impl std::future::Future<Output = &'static str>, Failure> {
    #[cfg(unix)]
    let mut term = {
        use tokio::signal::unix::{signal, SignalKind};
        signal(SignalKind::terminate())
            .map_err(|e| Failure::failed(format!("cannot install the SIGTERM handler: {e}")))?
    };
    Ok(async move {
        #[cfg(unix)]
        {
            tokio::select! {
                r = tokio::signal::ctrl_c() => {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "cannot wait for Ctrl-C");
                        std::future::pending::<()>().await;
                    }
                    "SIGINT"
                }
                _ = term.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            if let Err(e) = tokio::signal::ctrl_c().await {
                tracing::warn!(error = %e, "cannot wait for Ctrl-C");
                std::future::pending::<()>().await;
            }
            "Ctrl-C"
        }
    })
}

/// Prints a status line every `every` (never if zero); runs until cancelled.
async fn status_loop(node: &NodeHandle, every: Duration) {
    if every.is_zero() {
        return std::future::pending().await;
    }
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate
    let mut last = (Instant::now(), queries(&node.stats()));
    loop {
        ticker.tick().await;
        let stats = node.stats();
        let now = Instant::now();
        let total = queries(&stats);
        let secs = now.duration_since(last.0).as_secs_f64().max(1e-3);
        let rate = total.saturating_sub(last.1) as f64 / secs;
        last = (now, total);
        say(&status_line(&stats, rate));
    }
}

/// Prints each delivered broadcast as one line, if `enabled`; runs until cancelled.
async fn print_broadcasts(node: &NodeHandle, enabled: bool) {
    if !enabled {
        return std::future::pending().await;
    }
    let mut delivered = node.broadcasts();
    loop {
        match delivered.recv().await {
            Ok(b) => say(&crate::broadcast::line(&b)),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "printing broadcasts fell behind")
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                return std::future::pending().await
            }
        }
    }
}

/// Queries received so far, all methods.
fn queries(stats: &NodeStats) -> u64 {
    stats.queries_in.total()
}

/// The periodic status line: the table, the store and the load, then every other
/// counter of [`NodeStats::counters`] that is not zero (every reason datagrams were
/// dropped or refused so far, among them), so a counter added to the schema shows
/// here without a change to this function.
fn status_line(stats: &NodeStats, queries_per_sec: f64) -> String {
    use std::fmt::Write as _;
    let mut line = format!(
        "status: {} nodes in table, {} in network, {} items stored, {} info-hashes, \
         {:.1} queries/s",
        stats.routing_table_size,
        stats
            .network_size
            .map_or_else(|| "?".to_string(), |n| format!("~{n}")),
        stats.items,
        stats.info_hashes,
        queries_per_sec,
    );
    let shown = ["routing_table_size", "items", "info_hashes"];
    let mut first = true;
    for (name, value) in stats.counters() {
        if value == 0 || shown.contains(&name) {
            continue;
        }
        line.push_str(if first { "; " } else { ", " });
        first = false;
        let _ = write!(line, "{name} {value}");
    }
    line
}

/// Writes one line to stdout and flushes it. Stdout may be a closed pipe; the node
/// keeps running regardless (unlike `println!`, which would panic).
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

#[cfg(test)]
mod tests {
    use super::*;
    use dipsea::QueryCounts;

    #[test]
    fn status_line_names_its_numbers() {
        let stats = NodeStats {
            routing_table_size: 12,
            items: 3,
            queries_in: QueryCounts {
                ping: 4,
                get: 6,
                ..Default::default()
            },
            rate_limited_ip: 7,
            malformed: 1,
            bad_token: 2,
            ..Default::default()
        };
        assert_eq!(queries(&stats), 10);
        assert_eq!(
            status_line(&stats, 2.0),
            "status: 12 nodes in table, ? in network, 3 items stored, 0 info-hashes, \
             2.0 queries/s; \
             malformed 1, rate_limited_ip 7, bad_token 2"
        );
        let known = NodeStats {
            network_size: Some(2048),
            sample_refused: 3,
            ..stats
        };
        let line = status_line(&known, 2.0);
        assert!(
            line.contains("12 nodes in table, ~2048 in network"),
            "{line}"
        );
        assert!(line.ends_with("sample_refused 3"), "{line}");
    }
}
