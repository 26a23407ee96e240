//! Flood test: another process (`dipsea-flood`) sends a million datagrams as fast as
//! one thread can at one node (well-formed queries from 512 loopback addresses,
//! malformed and oversized datagrams), while well-behaved clients ping the node at a
//! modest rate. The node must keep its memory under a fixed bound, answer at least
//! 99% of the well-behaved pings, and keep working.
//!
//! Loopback only, bounded: the flood takes a few seconds, the test stops the
//! flooder if it runs past two minutes.

use std::io::BufRead;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use dipsea::wire::{self, Message, MessageKind, QueryMethod};
use dipsea::{Id, NodeConfig, RateLimitConfig};

/// Datagrams the flooder sends.
const FLOOD: u64 = 1_000_000;

/// Source addresses of the flood.
const FLOOD_SOURCES: u64 = 512;

/// Well-behaved clients, each on its own address, each pinging every 100 ms: 10
/// pings a second, half the default per-IP rate.
const CLIENTS: u8 = 8;
const PING_EVERY: Duration = Duration::from_millis(100);

/// How long a client waits for each answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// The resident-memory bound the node's process must stay under, in bytes. The
/// process holds the test harness, the clients, a tokio runtime and the node, whose
/// tables are all bounded (routing table, per-IP limiter table of 65,536 entries,
/// store quotas, in-flight queries); the datagrams themselves wait in the kernel's
/// socket buffer, which is not resident memory of the process.
const RSS_BOUND: u64 = 64 << 20;

/// Datagrams the kernel dropped because a UDP socket's receive buffer was full, on
/// the whole machine (`RcvbufErrors` in /proc/net/snmp, Linux).
fn udp_receive_buffer_errors() -> Option<u64> {
    let snmp = std::fs::read_to_string("/proc/net/snmp").ok()?;
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next()?, udp.next()?);
    let column = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(column)?.parse().ok()
}

/// Resident set size of this process now, from /proc (Linux).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn ping(tid: u32) -> Vec<u8> {
    let tid = tid.to_be_bytes();
    let msg = Message::query(&tid, Id::sha1(b"well-behaved client"), QueryMethod::Ping);
    let mut out = Vec::new();
    msg.encode(&mut out);
    out
}

#[derive(Default)]
struct Tally {
    sent: AtomicU64,
    answered: AtomicU64,
}

/// Pings `node` from `source` every [`PING_EVERY`] until `stop`.
fn client(source: SocketAddr, node: SocketAddr, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let socket = UdpSocket::bind(source).expect("client binds");
    socket
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("read timeout");
    let mut buf = [0u8; 1500];
    let mut tid = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        tid += 1;
        socket.send_to(&ping(tid), node).expect("client sends");
        tally.sent.fetch_add(1, Ordering::Relaxed);
        while started.elapsed() < ANSWER_WITHIN {
            let Ok((len, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok(msg) = wire::decode(&buf[..len]) else {
                continue;
            };
            if from == node
                && msg.tid == tid.to_be_bytes()
                && matches!(msg.kind, MessageKind::Response(_))
            {
                tally.answered.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
        if let Some(rest) = PING_EVERY.checked_sub(started.elapsed()) {
            thread::sleep(rest);
        }
    }
}

#[test]
fn a_flooded_node_keeps_serving_within_bounded_memory() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let config = NodeConfig {
        // Loopback is exempt from rate limits by default (test networks share
        // 127.0.0.1); here the loopback sources stand for distinct public peers.
        rate_limit: RateLimitConfig {
            limit_loopback: true,
            ..RateLimitConfig::default()
        },
        ..NodeConfig::default()
    };
    let node = runtime
        .block_on(dipsea_tests::loopback_builder().config(config).spawn())
        .expect("node starts");
    let node_addr = node.local_addr();
    let rss_before = rss_bytes().expect("VmRSS readable");

    // Memory sampler.
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop_sampling.clone();
        thread::spawn(move || {
            let mut peak = 0;
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_bytes().unwrap_or(0));
                thread::sleep(Duration::from_millis(20));
            }
            peak
        })
    };

    // Well-behaved clients.
    let stop_clients = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (1..=CLIENTS)
        .map(|i| {
            let source = SocketAddr::from(([127, 0, 2, i], 0));
            let (stop, tally) = (stop_clients.clone(), tally.clone());
            thread::spawn(move || client(source, node_addr, stop, tally))
        })
        .collect();
    thread::sleep(Duration::from_millis(500));

    // The flood, from another process.
    let kernel_drops_before = udp_receive_buffer_errors();
    let flood_started = Instant::now();
    let mut flooder = Command::new(env!("CARGO_BIN_EXE_dipsea-flood"))
        .args([
            node_addr.to_string(),
            FLOOD.to_string(),
            FLOOD_SOURCES.to_string(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("flooder starts");
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = flooder.try_wait().expect("flooder status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = flooder.kill();
            panic!("the flooder ran past two minutes");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let flood_time = flood_started.elapsed();
    assert!(status.success(), "flooder failed: {status}");
    let report = std::io::BufReader::new(flooder.stdout.take().expect("stdout"))
        .lines()
        .next()
        .expect("flooder prints its report")
        .expect("report line");
    let flood: serde_json::Value = serde_json::from_str(&report).expect("report is JSON");
    assert!(
        flood["sent"].as_u64().expect("sent") >= FLOOD,
        "flooder sent all: {report}"
    );
    let kernel_drops = udp_receive_buffer_errors()
        .zip(kernel_drops_before)
        .map(|(after, before)| after - before);
    let during = (
        tally.sent.load(Ordering::Relaxed),
        tally.answered.load(Ordering::Relaxed),
    );

    // Keep pinging for a while after the flood.
    thread::sleep(Duration::from_secs(2));
    stop_clients.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("client thread");
    }
    stop_sampling.store(true, Ordering::Relaxed);
    let peak_rss = sampler.join().expect("sampler");

    // The node still works as a whole: it answers a query of its own API.
    let id = runtime
        .block_on(async {
            let probe = dipsea_tests::loopback_builder().spawn().await?;
            let id = probe.ping(node_addr).await;
            probe.shutdown().await;
            id
        })
        .expect("the node answers a dipsea ping after the flood");
    assert_eq!(id, node.id());

    let stats = node.stats();
    let sent = tally.sent.load(Ordering::Relaxed);
    let answered = tally.answered.load(Ordering::Relaxed);
    println!(
        "flood: {report}; flooder ran {:.1} s\n\
         node: packets_in {} malformed {} oversized {} rate_limited_ip {} \
         rate_limited_global {} bad_token {} over_quota {} refused {} \
         routing_table {} queries_in {:?}\n\
         kernel: {kernel_drops:?} datagrams dropped on full receive buffers (all sockets)\n\
         memory: RSS before {:.1} MiB, peak {:.1} MiB (bound {} MiB)\n\
         clients: {answered}/{sent} pings answered ({}/{} during the flood)",
        flood_time.as_secs_f64(),
        stats.packets_in,
        stats.malformed,
        stats.oversized,
        stats.rate_limited_ip,
        stats.rate_limited_global,
        stats.bad_token,
        stats.over_quota,
        stats.refused,
        stats.routing_table_size,
        stats.queries_in,
        rss_before as f64 / (1 << 20) as f64,
        peak_rss as f64 / (1 << 20) as f64,
        RSS_BOUND >> 20,
        during.1,
        during.0,
    );
    assert!(peak_rss < RSS_BOUND, "peak RSS {peak_rss} over the bound");
    assert!(
        answered * 100 >= sent * 99,
        "only {answered} of {sent} well-behaved pings answered"
    );
    assert!(sent >= u64::from(CLIENTS) * 20, "clients pinged: {sent}");
    // The flood reached the node and was turned away for the right reasons.
    assert!(stats.packets_in >= FLOOD / 2, "the node read the flood");
    assert!(stats.malformed > 0 && stats.oversized > 0);
    assert!(stats.rate_limited_ip > 0);
    runtime.block_on(node.shutdown());
}
