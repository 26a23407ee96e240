//! `dipsea-flood`: sends a flood of datagrams at one DHT node, as fast as one thread
//! can, from many loopback source addresses. The flood test (`tests/flood.rs`) runs
//! it as a separate process; it is also useful by hand against a node you run.
//!
//! ```text
//! dipsea-flood <target addr> [datagrams=1000000] [sources=512] [seed=1]
//! ```
//!
//! The mix, drawn from a seeded generator:
//! - 60% well-formed queries (ping, find_node, get_peers, get, and put and
//!   announce_peer with forged tokens) with random ids, targets and transaction ids;
//! - 25% malformed: random bytes, truncated queries, and bencode that is not KRPC
//!   but carries a transaction id (so a careless node would answer each);
//! - 15% oversized: 9 KiB, and one in twenty of those 64,000 bytes.
//!
//! Sources are 127.1.x.y: Linux routes all of 127.0.0.0/8 to the loopback device,
//! so each socket binds its own address. Prints one JSON line with what was sent.

use std::net::{SocketAddr, UdpSocket};
use std::time::Instant;

use dipsea::wire::{Message, PutArgs, QueryMethod};
use dipsea::Id;
use rand::rngs::SmallRng;
use rand::{Rng, RngCore, SeedableRng};

/// Distinct datagrams prepared before sending; the send loop cycles through them.
const POOL: usize = 8_192;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: dipsea-flood <target addr> [datagrams] [sources] [seed]";
    let Some(target) = args.get(1).and_then(|a| a.parse::<SocketAddr>().ok()) else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let number = |i: usize, default: u64| -> u64 {
        match args.get(i).map(|a| a.parse::<u64>()) {
            None => default,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                eprintln!("{usage}");
                std::process::exit(2);
            }
        }
    };
    let datagrams = number(2, 1_000_000);
    let sources = number(3, 512).clamp(1, 65_024) as usize;
    let seed = number(4, 1);

    let mut rng = SmallRng::seed_from_u64(seed);
    let sockets: Vec<UdpSocket> = (0..sources)
        .map(|i| {
            let [_, _, hi, lo] = (i as u32 + 256).to_be_bytes();
            let addr = SocketAddr::from(([127, 1, hi, lo], 0));
            UdpSocket::bind(addr).unwrap_or_else(|e| {
                eprintln!("cannot bind {addr}: {e}");
                std::process::exit(1);
            })
        })
        .collect();
    let pool: Vec<(Kind, Vec<u8>)> = (0..POOL).map(|_| datagram(&mut rng)).collect();

    let mut sent = [0u64; 3];
    let mut errors = 0u64;
    let started = Instant::now();
    for i in 0..datagrams {
        let (kind, data) = &pool[(i as usize) % POOL];
        let socket = &sockets[(i as usize) % sockets.len()];
        match socket.send_to(data, target) {
            Ok(_) => sent[*kind as usize] += 1,
            Err(_) => errors += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"sent\":{},\"queries\":{},\"malformed\":{},\"oversized\":{},\"send_errors\":{},\"sources\":{},\"seconds\":{:.3}}}",
        sent.iter().sum::<u64>(),
        sent[0],
        sent[1],
        sent[2],
        errors,
        sources,
        seconds
    );
}

#[derive(Clone, Copy)]
enum Kind {
    Query = 0,
    Malformed = 1,
    Oversized = 2,
}

fn datagram(rng: &mut SmallRng) -> (Kind, Vec<u8>) {
    let roll = rng.gen_range(0..100);
    if roll < 60 {
        (Kind::Query, query(rng))
    } else if roll < 85 {
        (Kind::Malformed, malformed(rng))
    } else {
        let len = if rng.gen_ratio(1, 20) {
            64_000
        } else {
            9 * 1024
        };
        let mut data = vec![0u8; len];
        rng.fill_bytes(&mut data);
        (Kind::Oversized, data)
    }
}

fn random_id(rng: &mut SmallRng) -> Id {
    let mut bytes = [0u8; 20];
    rng.fill_bytes(&mut bytes);
    Id::from(bytes)
}

fn query(rng: &mut SmallRng) -> Vec<u8> {
    let tid = rng.next_u32().to_be_bytes();
    let target = random_id(rng);
    let mut token = [0u8; 8];
    rng.fill_bytes(&mut token);
    let value = format!("{}:{}", 12, "flooded item");
    let method = match rng.gen_range(0..6) {
        0 => QueryMethod::Ping,
        1 => QueryMethod::FindNode { target },
        2 => QueryMethod::GetPeers {
            info_hash: target,
            scrape: false,
        },
        3 => QueryMethod::Get { target, seq: None },
        4 => QueryMethod::AnnouncePeer {
            info_hash: target,
            port: 6881,
            implied_port: false,
            token: &token,
            seed: false,
        },
        _ => QueryMethod::Put(PutArgs::immutable(&token, value.as_bytes())),
    };
    let msg = Message::query(&tid, random_id(rng), method);
    let mut out = Vec::new();
    msg.encode(&mut out);
    out
}

fn malformed(rng: &mut SmallRng) -> Vec<u8> {
    match rng.gen_range(0..3) {
        0 => {
            let mut data = vec![0u8; rng.gen_range(1..200)];
            rng.fill_bytes(&mut data);
            data
        }
        1 => {
            let mut data = query(rng);
            let cut = rng.gen_range(1..data.len());
            data.truncate(cut);
            data
        }
        _ => {
            // A query dict with a transaction id but no arguments.
            let tid = rng.next_u32().to_be_bytes();
            let mut data = b"d1:t4:".to_vec();
            data.extend_from_slice(&tid);
            data.extend_from_slice(b"1:y1:q1:q4:pinge");
            data
        }
    }
}
