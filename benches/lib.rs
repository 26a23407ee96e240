//! Benchmarks live in the [[bench]] targets of this package; this library holds what
//! they and the examples share.

use std::time::Duration;

/// The `p` quantile (0 to 1) of latencies sorted in ascending order, nearest rank;
/// zero for none.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = (sorted.len().saturating_sub(1) as f64 * p).round() as usize;
    sorted.get(i).copied().unwrap_or_default()
}

/// User plus system CPU seconds this process has used, from `/proc/self/stat`
/// (Linux; 0 where it cannot be read). Varies far less with other load on the
/// machine than wall-clock time does.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the stat line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// CPU seconds one BEP 44 signature check takes on this machine: checks of one
/// valid signature, in batches, until at least a quarter of a CPU second has been
/// used (the clock ticks in hundredths), divided by their number. Run it before the
/// process starts other threads: it reads the whole process's CPU time. Multiplied
/// by [`dipsea::rpc::signature::checks`] it gives the signature share of a run's CPU.
pub fn signature_check_seconds() -> f64 {
    let keypair = dipsea::Keypair::from_seed(&[3u8; 32]);
    let v = dipsea::wire::bencode::encode_bytes(b"a mutable value of ordinary size");
    let sig = keypair.sign(b"", 1, &v);
    let k = keypair.public_key();
    let (cpu0, wall0) = (cpu_seconds(), std::time::Instant::now());
    let mut checks = 0u32;
    loop {
        for _ in 0..200 {
            assert!(dipsea::rpc::signature::verify(
                std::hint::black_box(&k),
                b"",
                1,
                &v,
                &sig
            ));
        }
        checks += 200;
        let cpu = cpu_seconds() - cpu0;
        if cpu >= 0.25 || wall0.elapsed().as_secs() >= 10 {
            return cpu / f64::from(checks);
        }
    }
}
