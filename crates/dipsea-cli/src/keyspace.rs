//! `dipsea keyspace`: the partitioners of `dipsea::keyspace` from the shell. `owners`
//! names the r owners of keys among members (your own servers, say); `balance`
//! prints how evenly a scheme spreads keys and how many move when a member joins or
//! leaves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand, ValueEnum};
use dipsea::keyspace::{self, Balance, Partitioner, Scheme};
use dipsea::Id;

use crate::{Failure, Outcome};

/// Flags of `dipsea keyspace`.
#[derive(Debug, Args)]
pub struct KeyspaceArgs {
    /// What to compute.
    #[command(subcommand)]
    command: KeyspaceCommand,
}

/// The `keyspace` subcommands.
#[derive(Debug, Subcommand)]
enum KeyspaceCommand {
    /// Print the owners of each KEY, one line per key: `KEY OWNER...`, owners in
    /// order of preference (the first is the primary).
    ///
    /// Members and keys are 40 hex digits (an id) or any other text (its id is the
    /// SHA-1 of the text; it is printed as given).
    Owners(OwnersArgs),
    /// Print how evenly the scheme spreads K random keys over the members (max/mean
    /// and min/mean keys per member: 1 is perfect) and the fraction of keys that
    /// move when one member joins and when one leaves (optimal: 1/N).
    Balance(BalanceArgs),
}

/// Which partitioner (see `dipsea::keyspace`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Kind {
    /// Kademlia's: the members closest to the key by XOR distance.
    Xor,
    /// Consistent hashing with --vnodes virtual nodes per member.
    Ring,
    /// Rendezvous (highest random weight) hashing.
    Rendezvous,
}

/// The members and the scheme, shared by both subcommands.
#[derive(Debug, Args)]
struct SchemeArgs {
    /// The partitioner.
    #[arg(long, value_enum, default_value_t = Kind::Rendezvous)]
    partitioner: Kind,

    /// Virtual nodes per member of the ring (1 to 4096).
    #[arg(long, value_name = "V", default_value_t = keyspace::DEFAULT_VNODES)]
    vnodes: usize,

    /// A file of members, one a line: 40 hex digits, or a name (its id is the SHA-1
    /// of the name). Blank lines and lines starting with `#` are skipped; a member
    /// listed twice is an error.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "random",
        conflicts_with = "random"
    )]
    members: Option<PathBuf>,

    /// N members with ids derived from --seed, instead of --members.
    #[arg(long, value_name = "N")]
    random: Option<usize>,

    /// Seed of the random members and keys: the same seed gives the same ids.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
}

/// Flags of `dipsea keyspace owners`.
#[derive(Debug, Args)]
struct OwnersArgs {
    #[command(flatten)]
    scheme: SchemeArgs,

    /// Owners per key (at most the number of members).
    #[arg(long, value_name = "R", default_value_t = 3)]
    replicas: usize,

    /// The keys: 40 hex digits, or text (its id is the SHA-1 of the text).
    #[arg(value_name = "KEY", required = true)]
    keys: Vec<String>,
}

/// Flags of `dipsea keyspace balance`.
#[derive(Debug, Args)]
struct BalanceArgs {
    #[command(flatten)]
    scheme: SchemeArgs,

    /// Random keys to spread over the members.
    #[arg(long, value_name = "K", default_value_t = 100_000)]
    keys: usize,
}

/// Runs `dipsea keyspace`.
pub fn run(args: KeyspaceArgs) -> Outcome {
    match args.command {
        KeyspaceCommand::Owners(args) => owners(args),
        KeyspaceCommand::Balance(args) => balance(args),
    }
}

/// An id and how to print it.
struct Named {
    id: Id,
    name: String,
}

/// `text` as an id: 40 hex digits are one, anything else is hashed.
fn named(text: &str) -> Named {
    let id = match text.parse::<Id>() {
        Ok(id) if text.len() == 40 => id,
        _ => Id::sha1(text.as_bytes()),
    };
    Named {
        id,
        name: text.to_string(),
    }
}

/// `n` ids derived from `label` and `seed`.
fn derived(label: &str, seed: u64, n: usize) -> Vec<Named> {
    (0..n)
        .map(|i| {
            let id = Id::sha1_concat(&[
                label.as_bytes(),
                &seed.to_be_bytes(),
                &(i as u64).to_be_bytes(),
            ]);
            Named {
                id,
                name: id.to_string(),
            }
        })
        .collect()
}

fn read_members(path: &Path) -> Result<Vec<Named>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::failed(format!("cannot read {}: {e}", path.display())))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(named)
        .collect())
}

/// The members and a partitioner holding them.
fn build(args: &SchemeArgs) -> Result<(Vec<Named>, Box<dyn Partitioner>), Failure> {
    let members = match (&args.members, args.random) {
        (Some(path), _) => read_members(path)?,
        (None, Some(n)) => derived("member", args.seed, n),
        (None, None) => return Err(Failure::usage("give --members FILE or --random N")),
    };
    if members.is_empty() {
        return Err(Failure::usage(
            "no members: the partitioner needs at least one",
        ));
    }
    let scheme = match args.partitioner {
        Kind::Xor => Scheme::Xor,
        Kind::Ring => Scheme::Ring {
            vnodes: args.vnodes,
        },
        Kind::Rendezvous => Scheme::Rendezvous,
    };
    let mut partitioner = scheme.build().map_err(usage)?;
    let ids: Vec<Id> = members.iter().map(|m| m.id).collect();
    partitioner.add_all(&ids).map_err(|e| {
        let shown = members
            .iter()
            .find(|m| matches!(&e, keyspace::PartitionError::DuplicateMember(id) if *id == m.id));
        match shown {
            Some(m) => Failure::usage(format!("duplicate member {:?} ({})", m.name, m.id)),
            None => usage(e),
        }
    })?;
    Ok((members, partitioner))
}

fn usage(e: keyspace::PartitionError) -> Failure {
    Failure::usage(e.to_string())
}

fn owners(args: OwnersArgs) -> Outcome {
    let (members, partitioner) = build(&args.scheme)?;
    let names: HashMap<Id, &str> = members.iter().map(|m| (m.id, m.name.as_str())).collect();
    let mut out = Vec::new();
    for key in args.keys.iter().map(|k| named(k)) {
        partitioner
            .owners_into(&key.id, args.replicas, &mut out)
            .map_err(usage)?;
        let owners: Vec<&str> = out
            .iter()
            .map(|id| names.get(id).copied().unwrap_or("?"))
            .collect();
        println!("{} {}", key.name, owners.join(" "));
    }
    Ok(())
}

fn balance(args: BalanceArgs) -> Outcome {
    let (members, mut partitioner) = build(&args.scheme)?;
    let keys: Vec<Id> = derived("key", args.scheme.seed, args.keys)
        .into_iter()
        .map(|k| k.id)
        .collect();
    let measured = Balance::measure(partitioner.as_ref(), &keys).map_err(usage)?;
    let before = keyspace::primaries(partitioner.as_ref(), &keys).map_err(usage)?;
    let newcomer = Id::sha1_concat(&[b"newcomer", &args.scheme.seed.to_be_bytes()]);
    partitioner.add(newcomer).map_err(usage)?;
    let joined = keyspace::primaries(partitioner.as_ref(), &keys).map_err(usage)?;
    partitioner.remove(&newcomer).map_err(usage)?;
    let leaver = members[0].id;
    partitioner.remove(&leaver).map_err(usage)?;
    let left = if partitioner.is_empty() {
        None
    } else {
        Some(keyspace::primaries(partitioner.as_ref(), &keys).map_err(usage)?)
    };
    let n = measured.members as f64;
    println!("{:<16}{}", "members", measured.members);
    println!("{:<16}{}", "keys", measured.keys);
    println!("{:<16}{:.1}", "keys per member", measured.mean);
    println!("{:<16}{:.3}", "max/mean", measured.max_over_mean());
    println!("{:<16}{:.3}", "min/mean", measured.min_over_mean());
    println!(
        "{:<16}{:.4} (optimal {:.4})",
        "moved on join",
        keyspace::moved(&before, &joined),
        1.0 / (n + 1.0)
    );
    if let Some(left) = left {
        println!(
            "{:<16}{:.4} (optimal {:.4})",
            "moved on leave",
            keyspace::moved(&before, &left),
            1.0 / n
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_an_id_and_text_is_hashed() {
        let hex = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(named(hex).id.to_string(), hex);
        assert_eq!(named("server-1").id, Id::sha1(b"server-1"));
        assert_eq!(named("server-1").name, "server-1");
    }
}
