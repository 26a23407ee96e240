//! The `dipsea` command: run a DHT node, put and get values from the shell, and run
//! the in-process simulator end to end.
//!
//! Entry point: [`Cli`]. Each subcommand lives in its own module: [`node`] runs a
//! long-lived node, [`client`] the one-shot operations (`put`, `get`, `announce`,
//! `peers`), [`swarm`] the simulator. Exit status: 0 on success, 1 when the operation
//! failed (not found, not stored, no node answered), 2 on bad arguments.
#![forbid(unsafe_code)]

mod broadcast;
mod client;
mod generate;
mod keygen;
mod keyspace;
mod listen;
mod node;
mod scrape;
mod swarm;
mod swarm_onehop;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use dipsea::Id;

/// Run a Kademlia DHT node that speaks the BitTorrent Mainline DHT protocol, store and
/// fetch values from the shell, or simulate a whole network in one process.
///
/// Exit status: 0 on success, 1 when the operation failed (value not found, no node
/// stored it, no node answered), 2 on bad arguments.
#[derive(Debug, Parser)]
#[command(name = "dipsea", version, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr: -v info, -vv debug, -vvv trace (default: warnings
    /// only; without -v the RUST_LOG variable, e.g. RUST_LOG=dipsea=debug, applies).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node until Ctrl-C or SIGTERM, then save its routing table and exit.
    ///
    /// The first line on stdout is `listening on ADDR id HEX`; a one-line status
    /// follows periodically (nodes in the table, items stored, queries per second).
    Node(NodeArgs),
    /// Store a value (a BEP 44 immutable item) on the nodes closest to its key, or
    /// with --key-file a mutable item signed with that key.
    ///
    /// Prints the key (40 hex digits) on stdout and how many nodes stored it on
    /// stderr, so `key=$(dipsea put hello)` works; a mutable put prints the public key
    /// (64 hex digits) and the sequence number stored instead. Exits 0 only if at
    /// least one node stored it.
    Put(PutArgs),
    /// Fetch the value stored under KEY (or the mutable item of --pubkey) and write
    /// its raw bytes to stdout.
    ///
    /// A mutable item's sequence number goes to stderr. Exits 1 with a message on
    /// stderr when no node has it.
    Get(GetArgs),
    /// Announce that this host serves a torrent (BEP 5 announce_peer).
    ///
    /// Prints how many nodes acknowledged; exits 0 only if at least one did.
    Announce(AnnounceArgs),
    /// List the peers announced for a torrent, one `IP:PORT` per line.
    ///
    /// Exits 1 with a message on stderr when no peer is known.
    Peers(PeersArgs),
    /// Send MESSAGE, signed with the key in --key-file, to every node that accepts
    /// broadcasts of that key (or, with --prefix, to every such node whose id starts
    /// with those hex digits).
    ///
    /// Prints the origin public key (to put in the receivers' key files), the
    /// sequence number and how many nodes it was handed to on stderr; exits 1 when
    /// no node in the range is known to speak the broadcast extension.
    Broadcast(BroadcastArgs),
    /// Subscribe to the mutable item of --pubkey (and --salt) and print each new
    /// version on stdout as one line, `seq N: VALUE`, as the nodes storing it push it.
    ///
    /// The current version, if the storing nodes have one, comes first. Runs until
    /// Ctrl-C, --count versions or --for seconds; exits 1 when no node to subscribe
    /// with is found.
    Listen(ListenArgs),
    /// Simulate a network of N nodes in this process and summarize how it did.
    ///
    /// Joins N nodes, runs puts and gets from random nodes, and prints the success
    /// rate, rounds and messages per lookup, latency percentiles in virtual time,
    /// memory per node and wall time.
    Swarm(SwarmArgs),
    /// Make a new ed25519 keypair for mutable items and write it to FILE.
    ///
    /// Prints the public key (64 hex digits) on stdout. The file holds the secret,
    /// readable by its owner only; an existing file is never replaced.
    Keygen(keygen::KeygenArgs),
    /// Estimate how many seeds and peers a torrent has (BEP 33 scrape).
    ///
    /// Prints `seeds S peers P (from N nodes)`: counts of distinct IPs, from the
    /// bloom filters of the nodes closest to the info-hash.
    Scrape(scrape::ScrapeArgs),
    /// Walk the keyspace asking nodes which info-hashes they store (BEP 51
    /// sample_infohashes), printing each new one (40 hex digits a line).
    ///
    /// Stops after --max info-hashes, --walk-secs seconds, or --regions lookups;
    /// a summary goes to stderr. Each node answers one address once per 6 hours.
    Sample(scrape::SampleArgs),
    /// Map keys to members with a partitioner (xor, ring, rendezvous): the owners
    /// of keys, or how evenly a scheme spreads keys and how many move on a join.
    ///
    /// `dipsea keyspace owners --members servers.txt --replicas 2 user:42` prints
    /// `user:42 OWNER1 OWNER2`; `dipsea keyspace balance --random 1000 --keys
    /// 1000000 --partitioner ring --vnodes 64` prints max/mean keys per member.
    Keyspace(keyspace::KeyspaceArgs),
    /// Print a shell completion script for SHELL on stdout.
    ///
    /// For example `dipsea completions bash > ~/.local/share/bash-completion/completions/dipsea`,
    /// or `dipsea completions zsh > ~/.zfunc/_dipsea`.
    Completions(generate::CompletionsArgs),
    /// Print the manual page (roff) on stdout, or write one page per command to a folder.
    ///
    /// `dipsea man | man -l -` reads it; `dipsea man --dir /usr/local/share/man/man1`
    /// installs dipsea.1 and dipsea-SUBCOMMAND.1.
    Man(generate::ManArgs),
}

/// Flags of `dipsea node`.
#[derive(Debug, Args)]
struct NodeArgs {
    /// Local UDP address to listen on, IP:PORT (port 0 picks a free one); alone, the
    /// node has this one socket. Without --bind and --port: port 6881 on all
    /// interfaces, IPv4 and (when the host has it) IPv6.
    #[arg(long, value_name = "ADDR", conflicts_with = "port")]
    bind: Option<String>,

    /// Also listen on this IPv6 address, [IP]:PORT (port 0: --bind's port): a
    /// dual-stack node (BEP 32) with a routing table per family.
    #[arg(long, value_name = "ADDR", conflicts_with = "port")]
    bind6: Option<String>,

    /// Listen on this UDP port on all interfaces, IPv4 and (when the host has it)
    /// IPv6 (BEP 32 dual stack; --ipv4-only for IPv4 alone).
    #[arg(long, value_name = "PORT")]
    port: Option<u16>,

    /// With --port or the default address: IPv4 alone, no IPv6 socket.
    #[arg(long, conflicts_with_all = ["bind", "bind6"])]
    ipv4_only: bool,

    /// A node to join the network through, HOST:PORT; repeat for several (also
    /// DIPSEA_BOOTSTRAP, comma separated). Without one the node rejoins through the
    /// contacts saved in --state, else joins the public Mainline DHT through its
    /// well-known routers (router.bittorrent.com and others).
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "DIPSEA_BOOTSTRAP",
        value_delimiter = ','
    )]
    bootstrap: Vec<String>,

    /// Join nothing unless --bootstrap or --state says where: without a bootstrap
    /// address the node waits to be contacted (the first node of a private network).
    #[arg(long)]
    no_default_routers: bool,

    /// File to load the node id and routing table from at start, and to save them to
    /// periodically and on exit, so a restarted node rejoins on its own.
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,

    /// Read-only node (BEP 43): answers no queries and asks other nodes not to add it
    /// to their routing tables.
    #[arg(long)]
    read_only: bool,

    /// The node id, 40 hex digits (default: the one saved in --state, else random).
    #[arg(long, value_name = "HEX")]
    id: Option<Id>,

    /// This node's public IP address, if known: the node id is derived from it as
    /// BEP 42 asks (a saved id that already conforms is kept; --id wins).
    #[arg(long, value_name = "IP")]
    external_ip: Option<std::net::IpAddr>,

    /// Keep nodes whose ids do not match their public address (BEP 42) out of the
    /// routing table, instead of only preferring those that match.
    #[arg(long)]
    enforce_bep42: bool,

    /// Seconds between two status lines on stdout (0: none).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    status_every: u64,

    /// Seconds between two saves of the routing table to --state, fractions allowed
    /// (at least 0.001). Each save writes a new file and renames it over the old one, so
    /// a crash at any moment leaves a whole file.
    #[arg(long, value_name = "SECS", default_value = "300", value_parser = interval)]
    save_interval: Duration,

    /// Deliver and forward broadcasts: `open` (any signed broadcast, rate-limited
    /// per origin and per source IP) or a file of origin public keys, 64 hex digits
    /// per line (default: none).
    #[arg(long, value_name = "open|FILE")]
    accept_broadcasts: Option<String>,

    /// Print each delivered broadcast on stdout as one line:
    /// `broadcast from ORIGIN seq N range R: MESSAGE`.
    #[arg(long, requires = "accept_broadcasts")]
    print_broadcasts: bool,

    /// Join the private network called NAME (also DIPSEA_NETWORK): every message
    /// carries the network's id, messages of other networks (the public DHT's
    /// included) are dropped and counted (`foreign_network`), and the default
    /// routers are never used. Every node and client of the network uses the same
    /// name.
    #[arg(long, value_name = "NAME", env = "DIPSEA_NETWORK")]
    network: Option<String>,

    /// The overlay: `kademlia` (the default: iterative lookups over k-buckets) or
    /// `one-hop` (needs --network): every member keeps the full member list and a
    /// get or put goes straight to the key's owners, one round trip. The
    /// --bootstrap addresses of a one-hop node are members it joins through.
    #[arg(long, value_name = "kademlia|one-hop", default_value = "kademlia")]
    overlay: String,

    /// With --overlay one-hop: the partitioner that names a key's owners,
    /// rendezvous (the default), ring, ring:V (V virtual nodes per member) or xor.
    #[arg(long, value_name = "NAME")]
    partitioner: Option<String>,

    /// With --overlay one-hop: owners (replicas) of each key (default 3).
    #[arg(long, value_name = "N")]
    replicas: Option<usize>,
}

/// Flags of `dipsea broadcast`.
#[derive(Debug, Args)]
struct BroadcastArgs {
    #[command(flatten)]
    client: ClientArgs,

    /// File holding the origin's ed25519 secret key as 64 hex digits.
    #[arg(long, value_name = "FILE")]
    key_file: PathBuf,

    /// Only the nodes whose ids start with these hex digits (a key range).
    #[arg(long, value_name = "HEX")]
    prefix: Option<String>,

    /// Sequence number of this broadcast (default: milliseconds since 1970, so
    /// later broadcasts get higher numbers).
    #[arg(long, value_name = "N")]
    seq: Option<i64>,

    /// The message, as text (at most 1,024 bytes).
    #[arg(value_name = "MESSAGE")]
    message: String,
}

/// Flags of `dipsea listen`.
#[derive(Debug, Args)]
struct ListenArgs {
    #[command(flatten)]
    client: ClientArgs,

    /// The public key of the mutable item, 64 hex digits (as `dipsea keygen` and
    /// `dipsea put --key-file` print it).
    #[arg(long, value_name = "HEX", value_parser = public_key, required_unless_present = "infohash")]
    pubkey: Option<[u8; 32]>,

    /// Instead of a mutable item, listen to the peers of this info-hash (40 hex
    /// digits): print each peer announced as `peer IP:PORT`, once.
    #[arg(long, value_name = "HEX", conflicts_with_all = ["pubkey", "salt"])]
    infohash: Option<Id>,

    /// The mutable item's salt, as text.
    #[arg(long, value_name = "S")]
    salt: Option<String>,

    /// Exit after printing this many versions.
    #[arg(long, value_name = "N")]
    count: Option<u64>,

    /// Exit after listening this many seconds.
    #[arg(long = "for", value_name = "SECS", value_parser = interval)]
    for_secs: Option<Duration>,
}

/// How a one-shot command reaches the network.
#[derive(Debug, Args)]
struct ClientArgs {
    /// A node to join the network through, HOST:PORT; repeat for several (also
    /// DIPSEA_BOOTSTRAP, comma separated). Default: the public Mainline DHT's
    /// well-known routers (router.bittorrent.com and others).
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "DIPSEA_BOOTSTRAP",
        value_delimiter = ','
    )]
    bootstrap: Vec<String>,

    /// Local UDP address for this short-lived client node (default: any free port,
    /// on IPv6 if the first bootstrap address is IPv6, else on IPv4).
    #[arg(long, value_name = "ADDR")]
    bind: Option<SocketAddr>,

    /// Give up after this many seconds (joining and the operation together).
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    timeout: u64,

    /// The private network to reach (also DIPSEA_NETWORK), as its nodes' --network.
    #[arg(long, value_name = "NAME", env = "DIPSEA_NETWORK")]
    network: Option<String>,
}

/// Flags of `dipsea put`.
#[derive(Debug, Args)]
struct PutArgs {
    #[command(flatten)]
    client: ClientArgs,

    /// The value to store, as text (at most about 1000 bytes: BEP 44's limit).
    #[arg(
        value_name = "VALUE",
        required_unless_present = "file",
        conflicts_with = "file"
    )]
    value: Option<String>,

    /// Store the contents of this file instead (raw bytes; `-` reads stdin).
    #[arg(long, value_name = "PATH")]
    file: Option<PathBuf>,

    /// Publish a mutable item (BEP 44) signed with the key in FILE (made by `dipsea
    /// keygen`); it lives at SHA-1(public key + salt) and can be updated.
    #[arg(long, value_name = "FILE")]
    key_file: Option<PathBuf>,

    /// The mutable item's salt, as text (at most 64 bytes): one item per salt.
    #[arg(long, value_name = "S", requires = "key_file")]
    salt: Option<String>,

    /// The mutable item's sequence number (default: one more than the highest on the
    /// network, 1 if none).
    #[arg(long, value_name = "N", requires = "key_file")]
    seq: Option<i64>,

    /// Compare-and-swap: store only where the current sequence number is N (exit 1
    /// with "cas mismatch" otherwise).
    #[arg(long, value_name = "N", requires = "key_file")]
    cas: Option<i64>,
}

/// Flags of `dipsea get`.
#[derive(Debug, Args)]
struct GetArgs {
    #[command(flatten)]
    client: ClientArgs,

    /// The key of the value, 40 hex digits (as `dipsea put` prints it).
    #[arg(
        value_name = "KEY",
        required_unless_present = "pubkey",
        conflicts_with = "pubkey"
    )]
    key: Option<Id>,

    /// Get the mutable item of this public key instead, 64 hex digits (as `dipsea
    /// keygen` and `dipsea put --key-file` print it).
    #[arg(long, value_name = "HEX", value_parser = public_key)]
    pubkey: Option<[u8; 32]>,

    /// The mutable item's salt, as text.
    // `conflicts_with` as well: once `--bootstrap` stopped being required, `requires`
    // alone no longer refused `get --salt S KEY` (seen with our clap version).
    #[arg(long, value_name = "S", requires = "pubkey", conflicts_with = "key")]
    salt: Option<String>,

    /// Only a version with at least this sequence number.
    #[arg(long, value_name = "N", requires = "pubkey", conflicts_with = "key")]
    min_seq: Option<i64>,
}

/// Parses a public key: 64 hex digits.
fn public_key(s: &str) -> Result<[u8; 32], String> {
    dipsea::keypair::public_key_from_hex(s).map_err(|e| e.to_string())
}

/// Flags of `dipsea announce`.
#[derive(Debug, Args)]
struct AnnounceArgs {
    #[command(flatten)]
    client: ClientArgs,

    /// The torrent's info-hash, 40 hex digits.
    #[arg(value_name = "INFOHASH")]
    info_hash: Id,

    /// The TCP/uTP port peers should connect to (default: the client's UDP source
    /// port, sent as implied_port).
    #[arg(long, value_name = "P")]
    port: Option<u16>,

    /// This host has the whole torrent: scrapes (BEP 33) count it as a seed.
    #[arg(long)]
    seed: bool,
}

/// Flags of `dipsea peers`.
#[derive(Debug, Args)]
struct PeersArgs {
    #[command(flatten)]
    client: ClientArgs,

    /// The torrent's info-hash, 40 hex digits.
    #[arg(value_name = "INFOHASH")]
    info_hash: Id,
}

/// Flags of `dipsea swarm`.
#[derive(Debug, Args)]
struct SwarmArgs {
    /// Nodes in the simulated network.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    nodes: usize,

    /// Values to put; each is then fetched back with a get (2 x M lookups in all).
    #[arg(long, value_name = "M", default_value_t = 1_000)]
    ops: usize,

    /// Operations started at once: the puts, then the gets, run in batches of C.
    #[arg(long, value_name = "C", default_value_t = 100)]
    concurrency: usize,

    /// Seed of the simulation: the same seed gives the same network and results.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,

    /// Fraction of datagrams the network drops, 0 to 1 (e.g. 0.05).
    #[arg(long, value_name = "P", default_value_t = 0.0, value_parser = fraction)]
    loss: f64,

    /// Threads that run the simulated nodes (default: the machine's cores, at most
    /// 8). The results do not depend on it.
    #[arg(long, value_name = "T")]
    threads: Option<usize>,

    /// Fraction of nodes that crash after the puts and before the gets, 0 to 1:
    /// shows how well replication on the k closest nodes survives failures.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = fraction)]
    crash: f64,

    /// Print the summary as one JSON object on stdout instead of a table.
    #[arg(long)]
    json: bool,

    /// The overlay: `kademlia` (iterative lookups over k-buckets) or `one-hop`
    /// (every node knows every member; requests go straight to the owners).
    #[arg(long, value_enum, default_value_t = swarm_onehop::Overlay::Kademlia)]
    overlay: swarm_onehop::Overlay,

    /// With --overlay one-hop: the partitioner that names a key's owners.
    #[arg(long, value_name = "xor|ring|rendezvous", default_value = "rendezvous")]
    partitioner: String,

    /// With --overlay one-hop and --partitioner ring: virtual nodes per member.
    #[arg(long, value_name = "V", default_value_t = dipsea::keyspace::DEFAULT_VNODES)]
    vnodes: usize,

    /// With --overlay one-hop: owners (replicas) of each key.
    #[arg(long, value_name = "R", default_value_t = 3)]
    replicas: usize,

    /// With --overlay one-hop: churn with this median session, in minutes, each
    /// departure replaced by a new member (default: none).
    #[arg(long, value_name = "MIN")]
    session_minutes: Option<f64>,
}

/// Parses a positive number of seconds, fractions allowed, down to a millisecond.
fn interval(s: &str) -> Result<Duration, String> {
    let x: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number; give seconds such as 60 or 0.5"))?;
    if x.is_finite() && (0.001..=1e9).contains(&x) {
        Ok(Duration::from_secs_f64(x))
    } else {
        Err(format!("{x} is outside 0.001..1e9 seconds"))
    }
}

/// The builder with the network called `name`, if any (`--network`).
fn with_network(
    builder: dipsea::NodeBuilder,
    name: Option<&str>,
) -> Result<dipsea::NodeBuilder, Failure> {
    match name {
        None => Ok(builder),
        Some(name) => dipsea::node::NetworkId::from_name(name)
            .map(|id| builder.network(id))
            .map_err(|e| Failure::usage(format!("--network: {e}"))),
    }
}

/// Parses a fraction in [0, 1].
fn fraction(s: &str) -> Result<f64, String> {
    let x: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number; give a fraction such as 0.05"))?;
    dipsea::sim::fraction("the value", x).map_err(|e| e.to_string())
}

/// Why a command failed, and so its exit status.
#[derive(Debug)]
pub enum Failure {
    /// The operation failed (exit 1).
    Failed(String),
    /// The arguments are wrong (exit 2).
    Usage(String),
}

impl Failure {
    /// A failed operation (exit 1).
    pub fn failed(msg: impl Into<String>) -> Failure {
        Failure::Failed(msg.into())
    }

    /// Bad arguments (exit 2).
    pub fn usage(msg: impl Into<String>) -> Failure {
        Failure::Usage(msg.into())
    }
}

/// What a subcommand returns.
pub type Outcome = Result<(), Failure>;

fn init_logging(verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let filter = match verbose {
        0 => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")),
        1 => EnvFilter::new("info"),
        2 => EnvFilter::new("debug"),
        _ => EnvFilter::new("trace"),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Node(args) => node::run(args),
        Command::Put(args) => client::put(args),
        Command::Get(args) => client::get(args),
        Command::Announce(args) => client::announce(args),
        Command::Peers(args) => client::peers(args),
        Command::Broadcast(args) => broadcast::run(args),
        Command::Listen(args) => listen::run(args),
        Command::Swarm(args) => swarm::run(args),
        Command::Keygen(args) => keygen::run(args),
        Command::Scrape(args) => scrape::scrape(args),
        Command::Sample(args) => scrape::sample(args),
        Command::Keyspace(args) => keyspace::run(args),
        Command::Completions(args) => generate::completions(args),
        Command::Man(args) => generate::man(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Failed(msg)) => {
            eprintln!("dipsea: {msg}");
            ExitCode::from(1)
        }
        Err(Failure::Usage(msg)) => {
            eprintln!("dipsea: {msg}");
            eprintln!("for more information, try '--help'");
            ExitCode::from(2)
        }
    }
}

/// A multi-threaded tokio runtime for the network commands.
fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("dipsea")
        .enable_all()
        .build()
        .map_err(|e| Failure::failed(format!("cannot start the async runtime: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn every_flag_is_documented() {
        let cmd = Cli::command();
        let mut missing = Vec::new();
        for sub in cmd.get_subcommands() {
            assert!(sub.get_about().is_some(), "{} has no about", sub.get_name());
            for arg in sub.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() {
                    missing.push(format!("{} {id}", sub.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "undocumented: {missing:?}");
    }

    #[test]
    fn fractions_are_checked() {
        assert_eq!(fraction("0.25"), Ok(0.25));
        assert!(fraction("1.5").is_err());
        assert!(fraction("x").is_err());
    }

    #[test]
    fn bootstrap_env_splits_on_commas() {
        let cli = Cli::try_parse_from([
            "dipsea",
            "get",
            "--bootstrap",
            "a:1,b:2",
            "--bootstrap",
            "c:3",
            &"0".repeat(40),
        ])
        .expect("parses");
        match cli.command {
            Command::Get(args) => assert_eq!(args.client.bootstrap, ["a:1", "b:2", "c:3"]),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn mutable_flags_parse_and_need_their_key() {
        let pubkey = "ab".repeat(32);
        let cli = Cli::try_parse_from([
            "dipsea",
            "get",
            "--bootstrap",
            "a:1",
            "--pubkey",
            &pubkey,
            "--salt",
            "s",
        ])
        .expect("parses");
        match cli.command {
            Command::Get(args) => {
                assert_eq!(args.pubkey, Some([0xab; 32]));
                assert_eq!((args.key, args.salt.as_deref()), (None, Some("s")));
            }
            other => panic!("parsed as {other:?}"),
        }
        // A salt needs a key; a key and --pubkey exclude each other; bad hex fails.
        for argv in [
            vec!["dipsea", "put", "--bootstrap", "a:1", "--salt", "s", "v"],
            vec![
                "dipsea",
                "get",
                "--bootstrap",
                "a:1",
                "--salt",
                "s",
                &pubkey[..40],
            ],
            vec![
                "dipsea",
                "get",
                "--bootstrap",
                "a:1",
                "--pubkey",
                &pubkey,
                &pubkey[..40],
            ],
            vec!["dipsea", "get", "--bootstrap", "a:1", "--pubkey", "abc"],
        ] {
            assert!(Cli::try_parse_from(&argv).is_err(), "{argv:?} parsed");
        }
    }
}
