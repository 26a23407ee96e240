//! Balance and movement of the keyspace partitioners at a size `cargo test` affords:
//! 100 members, 200,000 keys. The full-size numbers (1,000 members, 1,000,000 keys)
//! come from `cargo run --release -p dipsea-benches --example keyspace_balance`.
//!
//! Members and keys are fixed SHA-1 derived ids, so every run measures the same
//! thing; the bounds sit a few standard deviations above what a fair hash gives.

use dipsea::keyspace::{Partitioner, Rendezvous, Ring, Xor};
use dipsea_tests::keyspace_measure::{balance, ids, moved_on_join, moved_on_leave};

const MEMBERS: usize = 100;
const KEYS: usize = 200_000;

/// The balance bound and the allowed distance of a join's or leave's moved keys from
/// the optimal 1/N, as a fraction of 1/N, for each partitioner.
fn cases() -> Vec<(&'static str, Box<dyn Partitioner>, f64, f64)> {
    let members = ids("member", MEMBERS);
    vec![
        // Exact 1/N expected shares: the busiest of 100 members with 2,000 keys each
        // is about 2.5 standard deviations (2.2% each) above the mean.
        (
            "rendezvous",
            Box::new(Rendezvous::with_members(&members).expect("distinct")),
            1.12,
            0.10,
        ),
        // A ring member's share varies by about 1/sqrt(vnodes): 6%, 12%, 25%.
        (
            "ring/256",
            Box::new(Ring::with_members(256, &members).expect("distinct")),
            1.35,
            0.30,
        ),
        (
            "ring/64",
            Box::new(Ring::with_members(64, &members).expect("distinct")),
            1.7,
            0.50,
        ),
        (
            "ring/16",
            Box::new(Ring::with_members(16, &members).expect("distinct")),
            2.5,
            0.90,
        ),
        // One point per member: shares spread like a ring with one virtual node.
        (
            "xor",
            Box::new(Xor::with_members(&members).expect("distinct")),
            8.0,
            f64::INFINITY,
        ),
    ]
}

#[test]
fn keys_spread_evenly_over_members() {
    let keys = ids("key", KEYS);
    for (name, p, bound, _) in cases() {
        let b = balance(p.as_ref(), &keys);
        println!(
            "{name}: max/mean {:.3}, min/mean {:.3}",
            b.max_over_mean, b.min_over_mean
        );
        assert!(b.max_over_mean < bound, "{name}: {b:?}");
    }
}

#[test]
fn a_join_moves_only_the_newcomers_keys_about_one_nth() {
    let keys = ids("key", KEYS);
    let newcomer = ids("newcomer", 1)[0];
    let optimal = 1.0 / (MEMBERS + 1) as f64;
    for (name, mut p, _, tolerance) in cases() {
        let (moved, share) = moved_on_join(p.as_mut(), newcomer, &keys);
        println!("{name}: join moved {moved:.5}, optimal {optimal:.5}");
        // Every key that moved went to the newcomer.
        assert_eq!(moved, share, "{name}");
        assert!(
            (moved - optimal).abs() <= tolerance * optimal,
            "{name}: moved {moved}, optimal {optimal}"
        );
    }
}

#[test]
fn a_leave_moves_only_the_leavers_keys_about_one_nth() {
    let keys = ids("key", KEYS);
    let leaver = ids("member", MEMBERS)[MEMBERS / 2];
    let optimal = 1.0 / MEMBERS as f64;
    for (name, mut p, _, tolerance) in cases() {
        let (moved, share) = moved_on_leave(p.as_mut(), leaver, &keys);
        println!("{name}: leave moved {moved:.5}, optimal {optimal:.5}");
        // Exactly the leaver's keys moved.
        assert_eq!(moved, share, "{name}");
        assert!(
            (moved - optimal).abs() <= tolerance * optimal,
            "{name}: moved {moved}, optimal {optimal}"
        );
    }
}
