//! Runs the real `dipsea` binary: a node on loopback, put/get/announce/peers
//! against it, argument errors, help texts and the simulator's JSON summary.
//!
//! Every child process runs under a deadline and is killed on the way out, so a hung
//! command fails its test instead of hanging the suite.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use dipsea::Id;

/// How long any one command may take.
const DEADLINE: Duration = Duration::from_secs(60);

/// The binary under test, with no bootstrap or log settings inherited.
fn dipsea() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dipsea"));
    cmd.env_remove("DIPSEA_BOOTSTRAP").env_remove("RUST_LOG");
    cmd
}

/// Runs `cmd` to completion within [`DEADLINE`], killing it past that.
fn run(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dipsea");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let status = wait_until(&mut child, DEADLINE).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("{cmd:?} ran past {DEADLINE:?}");
    });
    Output {
        status,
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        buf
    })
}

fn wait_until(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Some(status) = child.try_wait().expect("wait") {
            return Some(status);
        }
        thread::sleep(Duration::from_millis(20));
    }
    None
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Asserts success and returns stdout.
fn ok(out: &Output) -> Vec<u8> {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    out.stdout.clone()
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("dipsea-cli")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// A `dipsea node` child process on loopback; killed on drop.
struct NodeProc {
    child: Child,
    addr: String,
    id: Id,
    /// Stdout lines after the first.
    lines: mpsc::Receiver<String>,
}

impl NodeProc {
    fn start(extra: &[&str]) -> NodeProc {
        let mut child = dipsea()
            .args(["node", "--bind", "127.0.0.1:0", "--no-default-routers"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn dipsea node");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => line,
            Err(e) => {
                let _ = child.kill();
                panic!("no first line from dipsea node: {e}");
            }
        };
        // `listening on ADDR id HEX`
        let words: Vec<&str> = first.split(' ').collect();
        assert!(
            words.len() == 5 && words[0] == "listening" && words[1] == "on" && words[3] == "id",
            "unexpected first line {first:?}"
        );
        let addr = words[2].to_string();
        assert!(addr.starts_with("127.0.0.1:"), "address {addr}");
        let id = words[4].parse().expect("node id in the first line");
        NodeProc {
            child,
            addr,
            id,
            lines,
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    fn terminate(mut self) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        wait_until(&mut self.child, Duration::from_secs(20)).expect("node exits after SIGTERM")
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn put(node: &NodeProc, args: &[&str]) -> Output {
    run(dipsea().args(["put", "--bootstrap", &node.addr]).args(args))
}

fn get(node: &NodeProc, key: &str) -> Output {
    run(dipsea().args(["get", "--bootstrap", &node.addr, key]))
}

/// The key `dipsea put` prints: SHA-1 of the bencoded value.
fn key_of(value: &[u8]) -> String {
    let mut bencoded = format!("{}:", value.len()).into_bytes();
    bencoded.extend_from_slice(value);
    Id::sha1(&bencoded).to_string()
}

#[test]
fn text_value_round_trips_and_sigterm_saves_state() {
    let dir = scratch("text");
    let state = dir.join("node.state");
    let node = NodeProc::start(&["--state", state.to_str().expect("utf-8 path")]);

    let out = put(&node, &["hello world"]);
    let key = text(&ok(&out)).trim().to_string();
    // The BEP 44 example: SHA-1 of `11:hello world`.
    assert_eq!(key, "6d33adc2b6b2c14c3036feefb7fedbca1a880527");
    assert!(
        text(&out.stderr).contains("stored on 1 node"),
        "stderr: {}",
        text(&out.stderr)
    );

    // The bootstrap address may also come from the environment.
    let out = run(dipsea()
        .env("DIPSEA_BOOTSTRAP", &node.addr)
        .args(["get", &key]));
    assert_eq!(ok(&out), b"hello world");

    let id = node.id;
    let status = node.terminate();
    assert_eq!(status.code(), Some(0), "dipsea node exit after SIGTERM");
    let saved = std::fs::read(&state).expect("state file written on SIGTERM");
    assert!(saved.starts_with(b"DIPSEART"), "not a state file");
    assert_eq!(saved.get(9..29), Some(&id.as_bytes()[..]), "saved id");

    // Restarted from its state file, the node keeps its id.
    let again = NodeProc::start(&["--state", state.to_str().expect("utf-8 path")]);
    assert_eq!(again.id, id);
    assert_eq!(again.terminate().code(), Some(0));
}

#[test]
fn binary_file_round_trips() {
    let dir = scratch("binary");
    let value: Vec<u8> = (0..=255u8)
        .chain((0..=255u8).rev())
        .chain([0, 0, 10])
        .collect();
    let file = dir.join("value.bin");
    std::fs::write(&file, &value).expect("write value");
    let node = NodeProc::start(&[]);

    let out = put(&node, &["--file", file.to_str().expect("utf-8 path")]);
    let key = text(&ok(&out)).trim().to_string();
    assert_eq!(key, key_of(&value));

    let out = get(&node, &key);
    assert_eq!(ok(&out), value, "get returns the file's bytes exactly");
}

#[test]
fn keygen_then_mutable_put_update_and_get() {
    let dir = scratch("mutable");
    let key_file = dir.join("key");
    let node = NodeProc::start(&[]);
    let out = run(dipsea().arg("keygen").arg(&key_file));
    let pubkey = text(&ok(&out)).trim().to_string();
    assert_eq!(pubkey.len(), 64, "{pubkey}");
    let key_arg = key_file.to_str().expect("utf-8 path");

    // `put --key-file` prints the public key and the sequence number.
    let out = put(
        &node,
        &["--key-file", key_arg, "--salt", "status", "online"],
    );
    assert_eq!(text(&ok(&out)).trim(), format!("{pubkey} 1"));
    let out = put(&node, &["--key-file", key_arg, "--salt", "status", "away"]);
    assert_eq!(text(&ok(&out)).trim(), format!("{pubkey} 2"));
    let get_mutable = |salt: &str| {
        run(dipsea().args([
            "get",
            "--bootstrap",
            &node.addr,
            "--pubkey",
            &pubkey,
            "--salt",
            salt,
        ]))
    };
    let out = get_mutable("status");
    assert_eq!(ok(&out), b"away");
    assert!(text(&out.stderr).contains("seq 2"), "{}", text(&out.stderr));

    // A stale cas exits 1 and says so; another salt is not found.
    let out = put(
        &node,
        &[
            "--key-file",
            key_arg,
            "--salt",
            "status",
            "--cas",
            "1",
            "back",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("cas mismatch"),
        "{}",
        text(&out.stderr)
    );
    let out = get_mutable("other");
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not found"));
}

#[test]
fn get_of_an_absent_key_exits_1() {
    let node = NodeProc::start(&[]);
    let key = key_of(b"never stored");
    let out = get(&node, &key);
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let err = text(&out.stderr);
    assert!(
        err.contains("not found") && err.contains(&key),
        "stderr: {err}"
    );
}

#[test]
fn announce_then_peers() {
    let node = NodeProc::start(&[]);
    let info_hash = key_of(b"a torrent");
    let out = run(dipsea().args([
        "announce",
        "--bootstrap",
        &node.addr,
        &info_hash,
        "--port",
        "51413",
    ]));
    assert!(
        text(&ok(&out)).contains("to 1 node"),
        "{}",
        text(&out.stdout)
    );

    let out = run(dipsea().args(["peers", "--bootstrap", &node.addr, &info_hash]));
    assert_eq!(text(&ok(&out)), "127.0.0.1:51413\n");

    let other = key_of(b"another torrent");
    let out = run(dipsea().args(["peers", "--bootstrap", &node.addr, &other]));
    assert_eq!(out.status.code(), Some(1), "no peers: exit 1");
}

#[test]
fn announce_as_seed_then_scrape_and_sample() {
    let node = NodeProc::start(&[]);
    let info_hash = key_of(b"a scraped torrent");
    let out = run(dipsea().args([
        "announce",
        "--bootstrap",
        &node.addr,
        &info_hash,
        "--port",
        "51414",
        "--seed",
    ]));
    ok(&out);
    let out = run(dipsea().args(["scrape", "--bootstrap", &node.addr, &info_hash]));
    assert_eq!(text(&ok(&out)), "seeds 1 peers 0 (from 1 node)\n");

    let out = run(dipsea().args([
        "sample",
        "--bootstrap",
        &node.addr,
        "--max",
        "10",
        "--walk-secs",
        "10",
        "--regions",
        "4",
    ]));
    assert_eq!(text(&ok(&out)), format!("{info_hash}\n"));
    assert!(
        text(&out.stderr).contains("1 info-hashes from 4 of 4 regions"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn node_prints_status_lines() {
    let node = NodeProc::start(&["--status-every", "1"]);
    let line = node
        .lines
        .recv_timeout(Duration::from_secs(10))
        .expect("a status line within 10 s");
    assert!(
        line.starts_with("status: ")
            && line.contains("nodes in table")
            && line.contains("queries/s"),
        "status line {line:?}"
    );
}

#[test]
fn silent_bootstrap_address_exits_1() {
    // A bound socket that never answers.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = silent.local_addr().expect("addr").to_string();
    let start = Instant::now();
    let out = run(dipsea().args([
        "get",
        "--bootstrap",
        &addr,
        "--timeout",
        "15",
        &key_of(b"x"),
    ]));
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains(&addr),
        "the message names the address: {}",
        text(&out.stderr)
    );
    assert!(start.elapsed() < Duration::from_secs(20));
}

#[test]
fn bad_arguments_exit_2_with_usage() {
    let key = key_of(b"k");
    let cases: &[&[&str]] = &[
        &[],
        &["frobnicate"],
        &["get", "--bootstrap", "127.0.0.1:1", "not-hex"],
        &["get", "--bootstrap", "127.0.0.1:1", &key[..39]],
        &["put", "--bootstrap", "127.0.0.1:1"],
        &["put", "--bootstrap", "127.0.0.1:1", "v", "--file", "f"],
        &["peers", "--bootstrap", "127.0.0.1:1", "--frob", &key],
        &["node", "--bind", "127.0.0.1:0", "--port", "1"],
        &["swarm", "--loss", "1.5"],
        &["swarm", "--nodes", "many"],
    ];
    for args in cases {
        let out = run(dipsea().args(*args));
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: stderr {err}");
        assert!(
            err.to_lowercase().contains("usage") || err.contains("--help"),
            "{args:?}: no usage hint in {err}"
        );
    }
    let out = run(dipsea().args(["get", "--bootstrap", "127.0.0.1:1", "xyz"]));
    assert!(
        text(&out.stderr).contains("40 hex digits"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn external_ip_gives_a_bep42_id() {
    let ip: std::net::IpAddr = "203.0.113.7".parse().expect("ip");
    let node = NodeProc::start(&["--external-ip", "203.0.113.7", "--enforce-bep42"]);
    assert!(
        dipsea::id::bep42::id_conforms(&node.id, ip),
        "{} does not conform to {ip}",
        node.id
    );
    assert!(!dipsea::id::bep42::id_conforms(
        &node.id,
        "198.51.100.1".parse().expect("ip")
    ));
    assert!(node.terminate().success());
}

#[test]
fn help_explains_every_flag() {
    let top = text(&ok(&run(dipsea().arg("--help"))));
    for sub in ["node", "put", "get", "announce", "peers", "swarm"] {
        assert!(top.contains(sub), "--help lists {sub}");
    }
    let flags: &[(&str, &[&str])] = &[
        (
            "node",
            &[
                "--bind",
                "--port",
                "--bootstrap",
                "--state",
                "--read-only",
                "--id",
                "--external-ip",
                "--enforce-bep42",
                "--no-default-routers",
                "--status-every",
                "--save-interval",
                "--network",
                "--overlay",
                "--partitioner",
                "--replicas",
            ],
        ),
        (
            "put",
            &["--bootstrap", "--bind", "--timeout", "--file", "VALUE"],
        ),
        ("get", &["--bootstrap", "--timeout", "KEY"]),
        ("announce", &["--bootstrap", "--port", "INFOHASH"]),
        ("peers", &["--bootstrap", "INFOHASH"]),
        (
            "swarm",
            &[
                "--nodes",
                "--ops",
                "--seed",
                "--loss",
                "--crash",
                "--threads",
                "--json",
            ],
        ),
    ];
    for (sub, names) in flags {
        let help = text(&ok(&run(dipsea().args([sub, "--help"]))));
        for name in *names {
            assert!(
                described(&help, name),
                "`dipsea {sub} --help` does not describe {name}:\n{help}"
            );
        }
    }
}

/// Whether `help` lists the flag or argument `name` with a description: on the same
/// line (short help) or indented on the lines below (long help).
fn described(help: &str, name: &str) -> bool {
    let lines: Vec<&str> = help.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let spec = line.trim_start();
        if !(spec.starts_with('-') || spec.starts_with('[') || spec.starts_with('<')) {
            continue;
        }
        let head = spec.split("  ").next().unwrap_or_default();
        let listed = head
            .split([' ', ',', '=', '[', ']', '<', '>', '.'])
            .any(|token| token == name);
        if !listed {
            continue;
        }
        let same_line = spec.len() > head.len() && !spec[head.len()..].trim().is_empty();
        let indent = line.len() - spec.len();
        let below = lines.get(i + 1).is_some_and(|next| {
            let text = next.trim_start();
            !text.is_empty() && next.len() - text.len() > indent
        });
        return same_line || below;
    }
    false
}

#[test]
fn swarm_json_reports_full_success() {
    let out = run(dipsea().args([
        "swarm", "--nodes", "200", "--ops", "50", "--seed", "7", "--json",
    ]));
    let json: serde_json::Value =
        serde_json::from_slice(&ok(&out)).expect("swarm --json prints one JSON object");
    assert_eq!(json["nodes"], 200, "{json}");
    assert_eq!(json["success_rate"].as_f64(), Some(1.0), "{json}");
    assert!(json["wall_ms"].is_number(), "{json}");
}

#[test]
fn swarm_flags_reach_the_simulator() {
    let out = run(dipsea().args([
        "swarm", "--nodes", "300", "--ops", "20", "--loss", "0.05", "--crash", "0.2", "--json",
    ]));
    let json: serde_json::Value = serde_json::from_slice(&ok(&out)).expect("one JSON object");
    assert_eq!(json["nodes"], 300, "{json}");
    assert_eq!(json["crashed"], 60, "{json}");
    assert_eq!(json["live"], 240, "{json}");
    assert!(json["packets_lost"].as_u64() > Some(0), "{json}");
    assert_eq!(json["puts"], 20, "{json}");
    assert!(json["success_rate"].as_f64() > Some(0.5), "{json}");
}

#[test]
fn swarm_threads_do_not_change_the_run() {
    let json = |threads: &str| {
        let out = run(dipsea().args([
            "swarm",
            "--nodes",
            "300",
            "--ops",
            "20",
            "--seed",
            "3",
            "--threads",
            threads,
            "--json",
        ]));
        let mut json: serde_json::Value =
            serde_json::from_slice(&ok(&out)).expect("one JSON object");
        for wall in ["build_wall_ms", "wall_ms", "peak_rss", "peak_rss_per_node"] {
            json[wall] = serde_json::Value::Null;
        }
        json
    };
    let one = json("1");
    assert_eq!(one, json("3"));
    assert!(one["packets_sent"].as_u64() > Some(1_000), "{one}");
    let out = run(dipsea().args(["swarm", "--nodes", "10", "--threads", "0"]));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("threads must be between 1 and 64, got 0"),
        "{err}"
    );
}

#[test]
fn swarm_prints_a_summary_table() {
    let out = run(dipsea().args(["swarm", "--nodes", "100", "--ops", "10"]));
    let table = text(&ok(&out));
    for row in [
        "success",
        "rounds per lookup",
        "messages per lookup",
        "latency (virtual)",
        "memory per node",
        "wall time",
    ] {
        assert!(table.contains(row), "no {row:?} row in:\n{table}");
    }
    assert!(table.contains("100.00 %"), "{table}");
}

/// BEP 32: `--bind6` gives the node a second, IPv6 socket on loopback; a client over
/// IPv6 puts, one over IPv4 gets the same item from it.
#[test]
fn a_dual_stack_node_serves_both_families() {
    let node = NodeProc::start(&["--bind6", "[::1]:0"]);
    let second = node
        .lines
        .recv_timeout(Duration::from_secs(20))
        .expect("a second line naming the IPv6 address");
    let addr6 = second
        .strip_prefix("listening on ")
        .and_then(|rest| rest.strip_suffix(" (IPv6, dual stack)"))
        .unwrap_or_else(|| panic!("unexpected second line {second:?}"))
        .to_string();
    let port4 = node.addr.rsplit(':').next().expect("port");
    assert_eq!(
        addr6,
        format!("[::1]:{port4}"),
        "one port for both families"
    );

    let out = run(dipsea().args(["put", "--bootstrap", &addr6, "over six"]));
    let key = text(&ok(&out)).trim().to_string();
    let out = run(dipsea().args(["get", "--bootstrap", &node.addr, &key]));
    assert_eq!(ok(&out), b"over six");
    assert_eq!(node.terminate().code(), Some(0));
}

#[test]
fn listen_prints_each_new_version() {
    let dir = scratch("listen");
    let key_file = dir.join("key");
    let node = NodeProc::start(&[]);
    let out = run(dipsea().arg("keygen").arg(&key_file));
    let pubkey = text(&ok(&out)).trim().to_string();
    let key_arg = key_file.to_str().expect("utf-8 path");
    // The current version comes first, then each newer one.
    let out = put(&node, &["--key-file", key_arg, "--salt", "news", "first"]);
    ok(&out);
    let mut listener = dipsea()
        .args(["listen", "--bootstrap", &node.addr, "--bind", "127.0.0.1:0"])
        .args(["--pubkey", &pubkey, "--salt", "news", "--count", "3"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dipsea listen");
    let stdout = drain(listener.stdout.take().expect("stdout"));
    let stderr = listener.stderr.take().expect("stderr");
    let (tx, said) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = said
        .recv_timeout(Duration::from_secs(30))
        .expect("listen says it listens");
    assert!(
        first.starts_with(&format!("listening to {pubkey}")),
        "{first}"
    );
    for value in ["second", "third\nline"] {
        ok(&put(
            &node,
            &["--key-file", key_arg, "--salt", "news", value],
        ));
    }
    let status = wait_until(&mut listener, DEADLINE).unwrap_or_else(|| {
        let _ = listener.kill();
        panic!("listen did not exit after 3 versions");
    });
    assert!(status.success(), "listen exited {status:?}");
    let printed = text(&stdout.join().expect("stdout reader"));
    assert_eq!(
        printed,
        "seq 1: first\nseq 2: second\nseq 3: third\\nline\n"
    );
    // A bad key is a usage error.
    let out = run(dipsea().args(["listen", "--bootstrap", &node.addr, "--pubkey", "12"]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// `dipsea listen --infohash`: each peer announced after it subscribed, as
/// `peer IP:PORT`, once.
#[test]
fn listen_prints_each_new_peer() {
    let node = NodeProc::start(&[]);
    let info_hash = key_of(b"a listened torrent");
    let mut listener = dipsea()
        .args(["listen", "--bootstrap", &node.addr, "--bind", "127.0.0.1:0"])
        .args(["--infohash", &info_hash, "--count", "2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn dipsea listen");
    let stdout = drain(listener.stdout.take().expect("stdout"));
    let stderr = listener.stderr.take().expect("stderr");
    let (tx, said) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = said
        .recv_timeout(Duration::from_secs(30))
        .expect("listen says it listens");
    assert_eq!(first, format!("listening to the peers of {info_hash}"));
    for port in ["51415", "51416", "51415"] {
        let out = run(dipsea()
            .args(["announce", "--bootstrap", &node.addr, &info_hash])
            .args(["--port", port]));
        ok(&out);
    }
    let status = wait_until(&mut listener, DEADLINE).unwrap_or_else(|| {
        let _ = listener.kill();
        panic!("listen did not exit after 2 peers");
    });
    assert!(status.success(), "listen exited {status:?}");
    let printed = text(&stdout.join().expect("stdout reader"));
    assert_eq!(printed, "peer 127.0.0.1:51415\npeer 127.0.0.1:51416\n");
    // --infohash and --pubkey exclude each other; one of them is needed.
    let out = run(dipsea().args(["listen", "--bootstrap", &node.addr]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
}

/// `--network`: a node of a private network serves clients of its network only; a
/// client of another network, or of the public one, cannot even join it.
#[test]
fn a_private_network_serves_its_own_clients_only() {
    let node = NodeProc::start(&["--network", "blue"]);
    let put_blue =
        run(dipsea().args(["put", "--bootstrap", &node.addr, "--network", "blue", "sky"]));
    assert_eq!(text(&ok(&put_blue)).trim(), key_of(b"sky"));
    let get_blue = run(dipsea().args([
        "get",
        "--bootstrap",
        &node.addr,
        "--network",
        "blue",
        &key_of(b"sky"),
    ]));
    assert_eq!(ok(&get_blue), b"sky");
    for network in [&["--network", "green"][..], &[]] {
        let out = run(dipsea()
            .args(["get", "--bootstrap", &node.addr, "--timeout", "10"])
            .args(network)
            .arg(key_of(b"sky")));
        assert_eq!(
            out.status.code(),
            Some(1),
            "{network:?}: {}",
            text(&out.stderr)
        );
    }
    let out = run(dipsea().args(["node", "--bind", "127.0.0.1:0", "--network", ""]));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("network name"),
        "{}",
        text(&out.stderr)
    );
    assert!(node.terminate().success());
}

/// `dipsea node --overlay one-hop`: two members of a one-hop cluster, a value put
/// through one found through the other; one-hop settings without a network, or
/// with Kademlia, are usage errors.
#[test]
fn a_one_hop_cluster_serves_puts_and_gets() {
    let flags = ["--network", "cli-cluster", "--overlay", "one-hop"];
    let seed =
        NodeProc::start(&[&flags[..], &["--partitioner", "ring", "--replicas", "2"]].concat());
    let other = NodeProc::start(
        &[
            &flags[..],
            &[
                "--partitioner",
                "ring",
                "--replicas",
                "2",
                "--bootstrap",
                &seed.addr,
            ],
        ]
        .concat(),
    );
    let net = ["--network", "cli-cluster"];
    let put = run(dipsea()
        .args(["put", "--bootstrap", &seed.addr])
        .args(net)
        .arg("cluster value"));
    assert_eq!(text(&ok(&put)).trim(), key_of(b"cluster value"));
    let got = run(dipsea()
        .args(["get", "--bootstrap", &other.addr])
        .args(net)
        .arg(key_of(b"cluster value")));
    assert_eq!(ok(&got), b"cluster value");
    for bad in [
        &["--overlay", "one-hop"][..],
        &["--network", "x", "--partitioner", "ring"],
        &["--network", "x", "--overlay", "chord"],
    ] {
        let out = run(dipsea().args(["node", "--bind", "127.0.0.1:0"]).args(bad));
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("--overlay"),
            "{}",
            text(&out.stderr)
        );
    }
    assert!(other.terminate().success());
    assert!(seed.terminate().success());
}

/// `dipsea keyspace owners`: the owners of keys among the members of a file, the same
/// as the library names them; bad members and too many replicas are usage errors.
#[test]
fn keyspace_owners_names_the_libraries_owners() {
    use dipsea::keyspace::{Partitioner, Rendezvous, Ring};
    let dir = scratch("keyspace-owners");
    let file = dir.join("members.txt");
    let names = ["alpha", "beta", "gamma", "delta", "epsilon"];
    std::fs::write(&file, format!("# servers\n\n{}\n", names.join("\n"))).expect("write");
    let ids: Vec<Id> = names.iter().map(|n| Id::sha1(n.as_bytes())).collect();
    let name_of = |id: &Id| names[ids.iter().position(|i| i == id).expect("a member")];
    let key = "0123456789abcdef0123456789abcdef01234567";
    let expected = |p: &dyn Partitioner, k: &Id| -> String {
        let owners = p.owners(k, 2).expect("owners");
        owners.iter().map(name_of).collect::<Vec<_>>().join(" ")
    };
    let hrw = Rendezvous::with_members(&ids).expect("members");
    let ring = Ring::with_members(64, &ids).expect("members");
    let file_arg = file.to_str().expect("utf-8");
    let base = [
        "keyspace",
        "owners",
        "--members",
        file_arg,
        "--replicas",
        "2",
    ];
    let out = text(&ok(&run(dipsea().args(base).args([key, "user:42"]))));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            format!("{key} {}", expected(&hrw, &key.parse().expect("id"))),
            format!("user:42 {}", expected(&hrw, &Id::sha1(b"user:42"))),
        ]
    );
    let out = text(&ok(&run(dipsea().args(base).args([
        "--partitioner",
        "ring",
        "--vnodes",
        "64",
        "user:42",
    ]))));
    assert_eq!(
        out.trim(),
        format!("user:42 {}", expected(&ring, &Id::sha1(b"user:42")))
    );
    let too_many = run(dipsea().args([
        "keyspace",
        "owners",
        "--members",
        file_arg,
        "--replicas",
        "6",
        "k",
    ]));
    assert_eq!(too_many.status.code(), Some(2));
    assert!(text(&too_many.stderr).contains("asked for 6 owners among 5 members"));
    std::fs::write(&file, "a\nb\na\n").expect("write");
    let dup = run(dipsea().args(["keyspace", "owners", "--members", file_arg, "k"]));
    assert_eq!(dup.status.code(), Some(2));
    assert!(
        text(&dup.stderr).contains("duplicate member \"a\""),
        "{}",
        text(&dup.stderr)
    );
    let vnodes = run(dipsea().args([
        "keyspace",
        "owners",
        "--random",
        "3",
        "--partitioner",
        "ring",
        "--vnodes",
        "0",
        "k",
    ]));
    assert_eq!(vnodes.status.code(), Some(2));
}

/// `dipsea keyspace balance`: max/mean near 1 for rendezvous, and about 1/N of the
/// keys moved by a join and by a leave.
#[test]
fn keyspace_balance_prints_spread_and_moves() {
    let out = text(&ok(&run(dipsea().args([
        "keyspace",
        "balance",
        "--random",
        "100",
        "--keys",
        "20000",
        "--partitioner",
        "rendezvous",
    ]))));
    let value = |row: &str| -> f64 {
        let line = out
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no {row:?} in {out}"));
        line[row.len()..]
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no number in {line:?}"))
    };
    assert_eq!(value("members"), 100.0);
    assert_eq!(value("keys per member"), 200.0);
    let max = value("max/mean");
    assert!(max > 1.0 && max < 1.5, "{out}");
    assert!(value("min/mean") < 1.0, "{out}");
    let join = value("moved on join");
    assert!((join - 1.0 / 101.0).abs() < 0.004, "{out}");
    let leave = value("moved on leave");
    assert!((leave - 0.01).abs() < 0.006, "{out}");
}

/// `dipsea swarm --overlay one-hop`: every get in one round trip on a static network,
/// the partitioner flags reach the simulator, bad ones are usage errors.
#[test]
fn swarm_one_hop_reports_one_round_trip_gets() {
    let out = run(dipsea().args([
        "swarm",
        "--overlay",
        "one-hop",
        "--partitioner",
        "ring",
        "--vnodes",
        "32",
        "--nodes",
        "300",
        "--ops",
        "100",
        "--json",
    ]));
    let json: serde_json::Value = serde_json::from_slice(&ok(&out)).expect("one JSON object");
    assert_eq!(json["overlay"], "one-hop", "{json}");
    assert_eq!(json["partitioner"], "ring:32", "{json}");
    assert_eq!(json["nodes"], 300, "{json}");
    assert_eq!(json["success_rate"].as_f64(), Some(1.0), "{json}");
    assert_eq!(json["one_round_gets"].as_f64(), Some(1.0), "{json}");
    assert_eq!(json["messages_per_get"].as_f64(), Some(1.0), "{json}");
    let table = text(&ok(&run(dipsea().args([
        "swarm",
        "--overlay",
        "one-hop",
        "--nodes",
        "200",
        "--ops",
        "20",
        "--session-minutes",
        "30",
    ]))));
    for row in [
        "one-round gets",
        "messages per put",
        "membership",
        "memory per node",
    ] {
        assert!(table.contains(row), "no {row:?} in:\n{table}");
    }
    for bad in [
        &["--partitioner", "chord"][..],
        &["--replicas", "0"],
        &["--nodes", "2", "--replicas", "3"],
    ] {
        let out = run(dipsea().args(["swarm", "--overlay", "one-hop"]).args(bad));
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", text(&out.stderr));
    }
}
