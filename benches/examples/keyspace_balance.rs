//! Balance and movement of the keyspace partitioners at full size: 1,000 members and
//! 1,000,000 keys, for rendezvous hashing, the ring with 16, 64 and 256 virtual nodes,
//! and XOR distance.
//!
//! `cargo run --release -p dipsea-benches --example keyspace_balance [members] [keys]`
//!
//! For each it prints the busiest and idlest member's keys over the mean (counting
//! each key at its first owner), and the fraction of keys whose first owner changes
//! when one member joins and when one leaves, beside the optimal 1/N. The same
//! measures at 100 members and 200,000 keys are asserted by
//! `tests/keyspace_balance.rs`.

use std::time::Instant;

use dipsea::keyspace::{Partitioner, Rendezvous, Ring, Xor};
use dipsea_tests::keyspace_measure::{balance, ids, moved_on_join, moved_on_leave};

fn main() {
    let mut args = std::env::args().skip(1);
    let members: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let keys: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let member_ids = ids("member", members);
    let key_ids = ids("key", keys);
    let newcomer = ids("newcomer", 1)[0];
    let leaver = member_ids[members / 2];
    let build = |name: &str| -> Box<dyn Partitioner> {
        match name {
            "rendezvous" => Box::new(Rendezvous::with_members(&member_ids).expect("distinct")),
            "ring-16" => Box::new(Ring::with_members(16, &member_ids).expect("distinct")),
            "ring-64" => Box::new(Ring::with_members(64, &member_ids).expect("distinct")),
            "ring-256" => Box::new(Ring::with_members(256, &member_ids).expect("distinct")),
            _ => Box::new(Xor::with_members(&member_ids).expect("distinct")),
        }
    };
    println!("{members} members, {keys} keys; optimal moved on join 1/(N+1) = {:.5}, on leave 1/N = {:.5}",
        1.0 / (members + 1) as f64, 1.0 / members as f64);
    println!(
        "{:<11} {:>8} {:>8} {:>11} {:>11} {:>8}",
        "scheme", "max/mean", "min/mean", "join moved", "leave moved", "secs"
    );
    for name in ["rendezvous", "ring-16", "ring-64", "ring-256", "xor"] {
        let started = Instant::now();
        let mut p = build(name);
        let b = balance(p.as_ref(), &key_ids);
        let (joined, _) = moved_on_join(p.as_mut(), newcomer, &key_ids);
        let mut p = build(name);
        let (left, _) = moved_on_leave(p.as_mut(), leaver, &key_ids);
        println!(
            "{name:<11} {:>8.3} {:>8.3} {:>11.5} {:>11.5} {:>8.1}",
            b.max_over_mean,
            b.min_over_mean,
            joined,
            left,
            started.elapsed().as_secs_f64()
        );
    }
}
