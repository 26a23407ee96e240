//! `dipsea scrape INFOHASH` (BEP 33: estimated seeds and peers) and `dipsea sample`
//! (BEP 51: walks the keyspace asking nodes for samples of the info-hashes they
//! store, printing each new one).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use clap::Args;
use dipsea::Id;

use crate::client::{op_failure, with_client};
use crate::{ClientArgs, Outcome};

/// Flags of `dipsea scrape`.
#[derive(Debug, Args)]
pub struct ScrapeArgs {
    #[command(flatten)]
    client: ClientArgs,

    /// The torrent's info-hash, 40 hex digits.
    #[arg(value_name = "INFOHASH")]
    info_hash: Id,
}

/// Flags of `dipsea sample`.
#[derive(Debug, Args)]
pub struct SampleArgs {
    #[command(flatten)]
    client: ClientArgs,

    /// Stop after printing this many info-hashes.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max: usize,

    /// Stop walking after this many seconds (keep it under --timeout, which also
    /// bounds joining).
    #[arg(long, value_name = "SECS", default_value_t = 20)]
    walk_secs: u64,

    /// Regions of the keyspace to visit, one sample lookup each, spread evenly
    /// from a random start.
    #[arg(long, value_name = "N", default_value_t = 256)]
    regions: u32,
}

/// Runs `dipsea scrape`: prints `seeds S peers P (from N nodes)`, the estimates
/// rounded.
pub fn scrape(args: ScrapeArgs) -> Outcome {
    let info_hash = args.info_hash;
    let estimate = with_client(&args.client, |node| async move {
        node.scrape(info_hash)
            .await
            .map_err(|e| op_failure("scrape", e))
    })?;
    println!(
        "seeds {:.0} peers {:.0} (from {} node{})",
        estimate.seeds,
        estimate.peers,
        estimate.responders,
        if estimate.responders == 1 { "" } else { "s" }
    );
    Ok(())
}

/// Runs `dipsea sample`: one `sample_infohashes` lookup per region, each new
/// info-hash printed (40 hex digits a line) as soon as it arrives; stops at --max,
/// after --walk-secs, or once every region was visited. A summary goes to stderr.
pub fn sample(args: SampleArgs) -> Outcome {
    let (max, regions) = (args.max, args.regions.max(1));
    let walk = Duration::from_secs(args.walk_secs);
    let (found, visited) = with_client(&args.client, |node| async move {
        let started = Instant::now();
        let start = Id::random();
        let mut seen = HashSet::new();
        let mut visited = 0u32;
        for region in 0..regions {
            if seen.len() >= max || started.elapsed() >= walk {
                break;
            }
            let left = walk.saturating_sub(started.elapsed());
            let target = region_target(&start, region, regions);
            let samples = match tokio::time::timeout(left, node.sample_infohashes(target)).await {
                Err(_) => break,
                Ok(samples) => samples.map_err(|e| op_failure("sample", e))?,
            };
            visited += 1;
            for id in samples.info_hashes {
                if seen.len() < max && seen.insert(id) {
                    println!("{id}");
                }
            }
        }
        Ok((seen.len(), visited))
    })?;
    eprintln!("{found} info-hashes from {visited} of {regions} regions");
    Ok(())
}

/// The target of region `i` of `n`: `start` plus i/n of the keyspace (on the
/// 32 high bits; the rest of `start` stays).
fn region_target(start: &Id, i: u32, n: u32) -> Id {
    let mut bytes = *start.as_bytes();
    let high = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let step = (u64::from(u32::MAX) + 1) / u64::from(n);
    let moved = high.wrapping_add((step * u64::from(i)) as u32);
    bytes[..4].copy_from_slice(&moved.to_be_bytes());
    Id::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_spread_over_the_keyspace() {
        let start = Id::from_bytes([0; 20]);
        let firsts: Vec<u8> = (0..4)
            .map(|i| region_target(&start, i, 4).as_bytes()[0])
            .collect();
        assert_eq!(firsts, [0, 64, 128, 192]);
        let wrapped = region_target(&Id::from_bytes([0xff; 20]), 1, 2);
        assert_eq!(wrapped.as_bytes()[0], 0x7f);
    }
}
