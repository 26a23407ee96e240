//! Crash safety of the saved routing table, with the real `dipsea node` binary: a node
//! saving its table every 2 ms is killed with SIGKILL at random moments, 30 times,
//! and restarted on the same state file each time. Every restart must load the last
//! whole state (same id, same contacts), never a torn one, and never panic; temporary
//! files left by a kill mid-save are removed by the next start. A state file truncated
//! or with a flipped bit is reported with a warning and ignored.
//!
//! Loopback only; every wait has a deadline and the whole run stays under a minute.
#![cfg(target_os = "linux")]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use dipsea::node::state;
use dipsea::{Id, NodeBuilder, NodeHandle};

/// Kills (and restarts) of the node.
const KILLS: usize = 30;

/// How often the node saves its table.
const SAVE_INTERVAL: &str = "0.002";

/// The whole test stays within this.
const LIMIT: Duration = Duration::from_secs(60);

/// How long a start may take to print its address.
const START_DEADLINE: Duration = Duration::from_secs(15);

/// A running `dipsea node`.
struct NodeProc {
    child: Child,
    /// Everything the process wrote on stderr, once it has exited.
    stderr: thread::JoinHandle<String>,
    id: Id,
}

impl NodeProc {
    /// Starts `dipsea -v node` on `state` and waits for its first line.
    fn start(state: &Path, extra: &[&str]) -> NodeProc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_dipsea"))
            .env_remove("DIPSEA_BOOTSTRAP")
            .env_remove("RUST_LOG")
            .args([
                "-v",
                "node",
                "--bind",
                "127.0.0.1:0",
                "--no-default-routers",
            ])
            .args(["--status-every", "0"])
            .args(["--save-interval", SAVE_INTERVAL, "--state"])
            .arg(state)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn dipsea");
        let mut stderr_pipe = child.stderr.take().expect("stderr");
        let stderr = thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr_pipe.read_to_string(&mut text);
            text
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let Ok(line) = rx.recv_timeout(START_DEADLINE) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no address within {START_DEADLINE:?}");
        };
        // "listening on 127.0.0.1:PORT id HEX"
        let id = line
            .split_whitespace()
            .nth(4)
            .and_then(|hex| hex.parse::<Id>().ok())
            .unwrap_or_else(|| {
                let _ = child.kill();
                let _ = child.wait();
                panic!("unexpected first line {line:?}");
            });
        NodeProc { child, stderr, id }
    }

    /// SIGKILL, then everything it wrote on stderr.
    fn kill(mut self) -> String {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
        self.stderr.join().expect("stderr reader")
    }
}

/// A fresh directory for one test.
fn temp_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!("dipsea-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Temporary files beside `state` (left by a save that did not finish), except
/// those of the process `except`.
fn temp_files(state: &Path, except: Option<u32>) -> Vec<String> {
    let prefix = format!(
        "{}.tmp.",
        state.file_name().and_then(|n| n.to_str()).expect("name")
    );
    let own = except.map(|pid| format!("{prefix}{pid}."));
    std::fs::read_dir(state.parent().expect("dir"))
        .expect("list")
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with(&prefix))
        .filter(|n| own.as_ref().is_none_or(|own| !n.starts_with(own)))
        .collect()
}

/// `text` without terminal colour sequences (`ESC [ ... m`).
fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The value of `key=` in the log line containing `message`.
fn logged(stderr: &str, message: &str, key: &str) -> Option<String> {
    let stderr = plain(stderr);
    let line = stderr.lines().find(|l| l.contains(message))?;
    let start = line.find(&format!("{key}="))? + key.len() + 1;
    Some(
        line[start..]
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string(),
    )
}

/// A few in-process nodes on loopback for the killed node to know: the tests'
/// loopback network ([`dipsea_tests::network_of`]), on a runtime of its own that must
/// outlive them.
fn seeds(n: usize) -> (tokio::runtime::Runtime, Vec<NodeHandle>) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let builder = || NodeBuilder::new().bind("127.0.0.1:0");
    let nodes = runtime.block_on(dipsea_tests::network_of(n, builder));
    (runtime, nodes)
}

/// A small xorshift: kill times need no more, and the seed is printed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn thirty_kills_at_random_moments_never_leave_a_state_that_is_not_whole() {
    let started = Instant::now();
    let (_runtime, seeds) = seeds(4);
    let dir = temp_dir("crash");
    let state_file = dir.join("table.bin");
    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    println!("kill times from seed {seed}");
    let mut rng = Rng(seed);
    let bootstrap = seeds[0].local_addr().to_string();

    let mut kept_id: Option<Id> = None;
    let mut most_contacts = 0;
    let (mut mid_save, mut restored, mut fresh) = (0, 0, 0);
    for round in 0..KILLS {
        // What the last kill left must be whole: the previous state or none yet.
        let before = match std::fs::read(&state_file) {
            Ok(bytes) => Some(
                state::decode(&bytes)
                    .unwrap_or_else(|e| panic!("round {round}: the state file is not whole: {e}")),
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                assert!(kept_id.is_none(), "round {round}: the state file vanished");
                None
            }
            Err(e) => panic!("round {round}: cannot read the state file: {e}"),
        };
        if !temp_files(&state_file, None).is_empty() {
            mid_save += 1;
        }
        // Only the first start is told where the network is; later ones rejoin from
        // the saved contacts alone.
        let extra: &[&str] = if round == 0 {
            &["--bootstrap", &bootstrap]
        } else {
            &[]
        };
        let node = NodeProc::start(&state_file, extra);
        // It loaded what was there, or started fresh if nothing was.
        match &before {
            Some(saved) => {
                assert_eq!(
                    node.id, saved.id,
                    "round {round}: restarted with another id"
                );
                restored += 1;
            }
            None => fresh += 1,
        }
        if let Some(kept) = kept_id {
            assert_eq!(node.id, kept, "round {round}: the id changed");
        }
        // The leftovers of earlier kills are gone once it has started.
        let leftovers = temp_files(&state_file, Some(node.child.id()));
        assert!(
            leftovers.is_empty(),
            "round {round}: left over: {leftovers:?}"
        );
        thread::sleep(Duration::from_millis(5 + rng.below(250)));
        let stderr = node.kill();
        assert!(!stderr.contains("panicked"), "round {round}: {stderr}");
        assert!(
            !stderr.contains("ignoring the saved routing table"),
            "round {round}: a whole file was refused: {stderr}"
        );
        if let Some(saved) = &before {
            let loaded = logged(&stderr, "loaded the saved routing table", "contacts");
            assert_eq!(
                loaded,
                Some(saved.contacts.len().to_string()),
                "round {round}: {stderr}"
            );
            // Once it knew the network, a restart never forgets it.
            if most_contacts > 0 {
                assert!(
                    !saved.contacts.is_empty(),
                    "round {round}: the saved contacts were lost"
                );
            }
            most_contacts = most_contacts.max(saved.contacts.len());
            kept_id = Some(saved.id);
        }
        assert!(
            started.elapsed() < LIMIT,
            "ran past {LIMIT:?} after {round} kills"
        );
    }
    assert!(most_contacts > 0, "the node never saved a contact");
    println!(
        "{KILLS} kills in {:?}: {restored} restarts from the saved state, {fresh} fresh, \
         {mid_save} kills left a temporary file (killed mid-save), up to {most_contacts} \
         contacts saved",
        started.elapsed()
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(seeds);
}

#[test]
fn a_truncated_or_bit_flipped_state_file_is_reported_and_ignored() {
    let dir = temp_dir("corrupt");
    let state_file = dir.join("table.bin");
    let saved_id = Id::random();
    let contact = dipsea::NodeInfo::new(Id::random(), "127.0.0.1:9".parse().expect("addr"));
    state::save(&state_file, saved_id, &[contact]).expect("save");
    let whole = std::fs::read(&state_file).expect("read");
    // The whole file is trusted...
    let node = NodeProc::start(&state_file, &[]);
    assert_eq!(node.id, saved_id);
    let stderr = node.kill();
    assert!(!stderr.contains("ignoring"), "{stderr}");
    // ...a torn or altered one is not.
    let mut flipped = whole.clone();
    flipped[30] ^= 0x04;
    for (what, bytes) in [
        ("truncated", whole[..whole.len() / 2].to_vec()),
        ("bit-flipped", flipped),
    ] {
        std::fs::write(&state_file, &bytes).expect("write");
        let node = NodeProc::start(&state_file, &[]);
        assert_ne!(node.id, saved_id, "a {what} file was trusted");
        let stderr = node.kill();
        assert!(
            stderr.contains("WARN") && stderr.contains("ignoring the saved routing table"),
            "no warning for a {what} file: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
