//! Interop with libtorrent, an independent Mainline DHT implementation, on loopback.
//!
//! Eight dipsea nodes form a network; a libtorrent session (its Python bindings,
//! driven by `tests/interop/lt_peer.py` over JSON lines) bootstraps from one of them.
//! Then, each way: an immutable item put by one side is got by the other (BEP 44),
//! and a peer announced by one side is found by the other's get_peers (BEP 5); a
//! salted mutable item libtorrent puts and updates is stored and served by dipsea's
//! nodes, and mutable items go both ways, updates and a CAS mismatch included
//! (BEP 44).
//!
//! The interpreter is `$DIPSEA_PYTHON`, else the workspace's `.venv/bin/python`
//! (`make venv`). `make test` sets `DIPSEA_INTEROP=1`, and then a missing
//! interpreter or libtorrent fails the test; a plain `cargo test` without that
//! variable skips it with a message instead. The whole test is bounded by
//! [`LIMIT`] and the Python process is killed when it ends, pass or fail.
//! The helper's stderr is printed if the test fails; `LT_PEER_DEBUG=1` adds every DHT
//! packet libtorrent sends and receives, and prints it all even when the test passes.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dipsea::wire::bencode::encode_bytes;
use dipsea::{Error, Id, Keypair, MutablePut, NodeHandle, OpError};
use dipsea_tests::{loopback_builder, network_of, shutdown};
use serde_json::{json, Value};
use tokio::sync::mpsc;

/// Fails the test instead of hanging CI.
const LIMIT: Duration = Duration::from_secs(90);

/// How long one libtorrent operation (a lookup, a put) may take.
const OP_WAIT: Duration = Duration::from_secs(20);

/// Lines of the helper's stderr kept for the failure report.
const STDERR_LINES: usize = 4000;

/// The interpreter to run the helper with.
fn python() -> PathBuf {
    match std::env::var_os("DIPSEA_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace_root().join(".venv/bin/python"),
    }
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/lt_peer.py")
}

/// Whether the run demands the interop test (`make test` sets `DIPSEA_INTEROP=1`).
fn required() -> bool {
    std::env::var("DIPSEA_INTEROP").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The interpreter if it imports libtorrent; `None` (test skipped) only when the
/// run does not require interop, else a failure saying what is missing.
fn python_with_libtorrent() -> Option<PathBuf> {
    let python = python();
    let probe = Command::new(&python)
        .args(["-c", "import libtorrent; print(libtorrent.__version__)"])
        .stdin(Stdio::null())
        .output();
    let problem = match probe {
        Ok(out) if out.status.success() => {
            let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
            println!("libtorrent {version} via {}", python.display());
            return Some(python);
        }
        Ok(out) => format!(
            "{} cannot import libtorrent: {}",
            python.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("cannot run {}: {e}", python.display()),
    };
    if required() {
        panic!("interop test required (DIPSEA_INTEROP is set) but {problem}; run `make venv` or set DIPSEA_PYTHON");
    }
    // Straight to stderr, past the test harness's capture, so a skip is never silent.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED interop_libtorrent: {problem}. Run `make test-interop` (or set \
         DIPSEA_INTEROP=1 after `make venv`) to run it."
    );
    None
}

/// The libtorrent helper process and its pipes.
struct LtPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl LtPeer {
    fn spawn(python: &PathBuf) -> LtPeer {
        let mut child = Command::new(python)
            .arg("-u")
            .arg(script())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the libtorrent helper");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("helper stdout");
        let stderr_pipe = child.stderr.take().expect("helper stderr");
        let (tx, lines) = mpsc::unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(line) => {
                        if tx.send(line).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr_pipe).lines().map_while(Result::ok) {
                let mut kept = sink.lock().expect("stderr buffer");
                if kept.len() >= STDERR_LINES {
                    kept.remove(0);
                }
                kept.push(line);
            }
        });
        LtPeer {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    /// The next JSON line from the helper, waiting at most `wait`.
    async fn recv(&mut self, wait: Duration) -> Value {
        let line = tokio::time::timeout(wait, self.lines.recv())
            .await
            .unwrap_or_else(|_| panic!("no answer from the libtorrent helper within {wait:?}"))
            .expect("the libtorrent helper exited");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("helper wrote {line:?}: {e}"))
    }

    /// Sends a command with `wait` as its timeout and returns the successful answer.
    async fn call(&mut self, mut cmd: Value, wait: Duration) -> Value {
        cmd["timeout"] = json!(wait.as_secs_f64());
        let stdin = self.stdin.as_mut().expect("helper stdin open");
        writeln!(stdin, "{cmd}").expect("write to the helper");
        stdin.flush().expect("flush to the helper");
        // The helper bounds its own wait by `timeout`; allow for its start-up slack.
        let answer = self.recv(wait + Duration::from_secs(5)).await;
        assert_eq!(
            answer["ok"],
            json!(true),
            "libtorrent helper failed {cmd}: {answer}"
        );
        answer
    }

    /// Asks the helper to quit, then makes sure it is gone.
    fn stop(&mut self) {
        if let Some(mut stdin) = self.stdin.take() {
            let _ = writeln!(stdin, "{}", json!({"cmd": "quit"}));
            // Dropping stdin closes it: the helper exits on EOF as well.
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for LtPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let debug = std::env::var("LT_PEER_DEBUG").is_ok_and(|v| !v.is_empty() && v != "0");
        if std::thread::panicking() || debug {
            // Give the reader thread a moment to collect the last lines.
            std::thread::sleep(Duration::from_millis(100));
            if let Ok(lines) = self.stderr.lock() {
                eprintln!("---- libtorrent helper stderr ({} lines) ----", lines.len());
                for line in lines.iter() {
                    eprintln!("{line}");
                }
                eprintln!("---- end of helper stderr (LT_PEER_DEBUG=1 logs DHT packets) ----");
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    assert_eq!(s.len() % 2, 0, "odd hex length: {s:?}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key:?} missing in {v}"))
}

fn peers_field(v: &Value) -> HashSet<SocketAddr> {
    v["peers"]
        .as_array()
        .unwrap_or_else(|| panic!("no peers list in {v}"))
        .iter()
        .map(|p| {
            p.as_str()
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("bad peer {p} in {v}"))
        })
        .collect()
}

/// Polls dipsea's get_peers until `want` is among the peers or `wait` passes.
async fn dipsea_finds_peer(
    node: &NodeHandle,
    info_hash: Id,
    want: SocketAddr,
    wait: Duration,
) -> Vec<SocketAddr> {
    let deadline = Instant::now() + wait;
    loop {
        let peers = node.get_peers(info_hash).await.expect("dipsea get_peers");
        if peers.contains(&want) || Instant::now() >= deadline {
            return peers;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libtorrent_and_dipsea_exchange_items_and_peers() {
    let Some(python) = python_with_libtorrent() else {
        return;
    };
    let started = Instant::now();
    let mut lt = LtPeer::spawn(&python);
    let outcome = tokio::time::timeout(LIMIT, scenario(&mut lt, started)).await;
    lt.stop();
    outcome.expect("the interop test ran past its time limit");
    println!("interop test passed in {:?}", started.elapsed());
}

async fn scenario(lt: &mut LtPeer, started: Instant) {
    let step = |what: &str| println!("[{:>6.2?}] {what}", started.elapsed());

    // The dipsea nodes accept broadcasts from anyone, so the broadcast below travels
    // between them without refusals (a refusal is a KRPC error to the sender, and
    // every KRPC error counted below must be libtorrent's).
    let nodes = network_of(8, || {
        loopback_builder().configure(|c| c.broadcast.accept = dipsea::push::AcceptPolicy::Open)
    })
    .await;
    step("8 dipsea nodes joined");
    let ready = lt.recv(OP_WAIT).await;
    assert_eq!(ready["event"], json!("ready"), "helper start: {ready}");
    let lt_port =
        u16::try_from(ready["port"].as_u64().expect("port in ready line")).expect("a UDP port");
    let lt_addr = SocketAddr::from(([127, 0, 0, 1], lt_port));
    step(&format!("libtorrent {} up on {lt_addr}", ready["version"]));

    // 1. libtorrent bootstraps with one dipsea node as its router: its lookup of its
    // own id must find every other dipsea node through our answers. (libtorrent
    // never puts a router in its routing table, so the seed is not expected there.)
    let seed = nodes[0].local_addr().to_string();
    lt.call(json!({"cmd": "bootstrap", "routers": [seed]}), OP_WAIT)
        .await;
    let others = &nodes[1..];
    let table = lt
        .call(json!({"cmd": "wait_nodes", "min": others.len()}), OP_WAIT)
        .await;
    let live: HashMap<String, String> = table["live"]
        .as_array()
        .expect("live list")
        .iter()
        .map(|n| {
            (
                n[0].as_str().expect("id").to_string(),
                n[1].as_str().expect("endpoint").to_string(),
            )
        })
        .collect();
    for node in others {
        assert_eq!(
            live.get(&node.id().to_string()),
            Some(&node.local_addr().to_string()),
            "libtorrent's routing table lacks dipsea node {} at {}: {table}",
            node.id(),
            node.local_addr()
        );
    }
    let lt_id: Id = str_field(&table, "id").parse().expect("libtorrent id");
    step(&format!(
        "libtorrent bootstrapped from {seed}: {} other dipsea nodes in its table",
        others.len()
    ));

    // dipsea understands libtorrent's answers: a ping returns libtorrent's id, and a
    // re-join puts libtorrent in dipsea's tables.
    let pong = nodes[1]
        .ping(lt_addr)
        .await
        .expect("dipsea pings libtorrent");
    assert_eq!(pong, lt_id, "libtorrent answered a ping with another id");
    for node in &nodes {
        node.bootstrap().await.expect("dipsea re-joins");
    }
    let knowing = nodes
        .iter()
        .filter(|n| {
            n.routing_table()
                .iter()
                .any(|c| c.id == lt_id && c.addr == lt_addr)
        })
        .count();
    assert!(knowing >= 1, "no dipsea node keeps libtorrent in its table");
    step(&format!(
        "libtorrent is in {knowing} of {} dipsea routing tables",
        nodes.len()
    ));

    // Broadcasts are a dipsea extension: a node sends one only to contacts whose
    // client version says they speak it, so libtorrent, though in the tables, is
    // never handed one, while the dipsea nodes are.
    let origin = dipsea::push::SigningKey::from_bytes(&[9; 32]);
    let handed = nodes[1]
        .broadcast(
            &origin,
            1,
            dipsea::push::KeyRange::ALL,
            b"not for libtorrent",
        )
        .await
        .expect("broadcast");
    assert!(handed >= 1, "no dipsea node was handed the broadcast");
    for node in &nodes {
        assert!(
            !node.node().speaks_push(&lt_id),
            "{} takes libtorrent for a broadcast speaker",
            node.id()
        );
    }
    step(&format!(
        "a broadcast went to {handed} dipsea nodes and none to libtorrent"
    ));

    let tag: u64 = rand::random();

    // 2. BEP 44, dipsea → libtorrent: a byte string and a dictionary.
    let value = format!("put by dipsea, got by libtorrent {tag:016x}").into_bytes();
    let put = nodes[3].put(&value).await.expect("dipsea put");
    assert_eq!(put.key, Id::sha1(&encode_bytes(&value)));
    assert!(put.stored >= 1);
    let got = lt
        .call(
            json!({"cmd": "get", "target": put.key.to_string()}),
            OP_WAIT,
        )
        .await;
    assert_eq!(
        got["found"],
        json!(true),
        "libtorrent did not find {}: {got}",
        put.key
    );
    assert_eq!(unhex(str_field(&got, "bencoded")), encode_bytes(&value));
    let dict = format!("d1:ai{}e1:bl1:x1:yee", tag >> 1).into_bytes();
    let put = nodes[4]
        .put_bencoded(dict.clone())
        .await
        .expect("dipsea put of a dictionary");
    let got = lt
        .call(
            json!({"cmd": "get", "target": put.key.to_string()}),
            OP_WAIT,
        )
        .await;
    assert_eq!(
        got["found"],
        json!(true),
        "libtorrent did not find {}: {got}",
        put.key
    );
    assert_eq!(unhex(str_field(&got, "bencoded")), dict);
    step("libtorrent got both immutable items dipsea put");

    // 3. BEP 44, libtorrent → dipsea.
    let value = format!("put by libtorrent, got by dipsea {tag:016x}").into_bytes();
    let put = lt
        .call(
            json!({"cmd": "put", "bencoded": hex(&encode_bytes(&value))}),
            OP_WAIT,
        )
        .await;
    let key: Id = str_field(&put, "target").parse().expect("target");
    assert_eq!(key, Id::sha1(&encode_bytes(&value)), "libtorrent's key");
    let acks = put["num_success"].as_u64().expect("num_success");
    assert!(acks >= 1, "no node acknowledged libtorrent's put: {put}");
    let got = nodes[5].get(key).await.expect("dipsea get");
    assert_eq!(got, Some(value), "dipsea did not get libtorrent's item");
    let dict = format!("d1:ki{}e1:ll1:p1:qee", tag >> 2).into_bytes();
    let put = lt
        .call(json!({"cmd": "put", "bencoded": hex(&dict)}), OP_WAIT)
        .await;
    let key: Id = str_field(&put, "target").parse().expect("target");
    assert_eq!(key, Id::sha1(&dict));
    let got = nodes[6].get_bencoded(key).await.expect("dipsea get");
    assert_eq!(
        got,
        Some(dict),
        "dipsea did not get libtorrent's dictionary"
    );
    step(&format!(
        "dipsea got both items libtorrent put ({acks} acks for the first)"
    ));

    // 4. BEP 5, dipsea announces (explicit and implied port), libtorrent finds both.
    let info_hash = Id::sha1(format!("dipsea torrent {tag}").as_bytes());
    let explicit = SocketAddr::from(([127, 0, 0, 1], 40001));
    let stored = nodes[2]
        .announce(info_hash, Some(explicit.port()))
        .await
        .expect("dipsea announce");
    assert!(stored >= 1);
    let implied = nodes[7].local_addr();
    let stored = nodes[7]
        .announce(info_hash, None)
        .await
        .expect("dipsea implied-port announce");
    assert!(stored >= 1);
    let found = lt
        .call(
            json!({"cmd": "get_peers", "info_hash": info_hash.to_string(),
                   "want": [explicit.to_string(), implied.to_string()]}),
            OP_WAIT,
        )
        .await;
    let peers = peers_field(&found);
    assert!(
        peers.contains(&explicit),
        "libtorrent missed {explicit}: {found}"
    );
    assert!(
        peers.contains(&implied),
        "libtorrent missed {implied}: {found}"
    );
    step("libtorrent found both peers dipsea announced");

    // 5. BEP 5, libtorrent announces (explicit and implied port), dipsea finds both.
    let info_hash = Id::sha1(format!("libtorrent torrent {tag}").as_bytes());
    let explicit = SocketAddr::from(([127, 0, 0, 1], 40002));
    lt.call(
        json!({"cmd": "announce", "info_hash": info_hash.to_string(), "port": explicit.port()}),
        OP_WAIT,
    )
    .await;
    let peers = dipsea_finds_peer(&nodes[1], info_hash, explicit, Duration::from_secs(10)).await;
    assert!(
        peers.contains(&explicit),
        "dipsea missed {explicit}: {peers:?}"
    );
    let info_hash = Id::sha1(format!("libtorrent implied {tag}").as_bytes());
    lt.call(
        json!({"cmd": "announce", "info_hash": info_hash.to_string(), "port": 40003,
               "implied_port": true}),
        OP_WAIT,
    )
    .await;
    let peers = dipsea_finds_peer(&nodes[6], info_hash, lt_addr, Duration::from_secs(10)).await;
    assert!(
        peers.contains(&lt_addr),
        "dipsea missed libtorrent's implied-port announce {lt_addr}: {peers:?}"
    );
    step("dipsea found both peers libtorrent announced");

    // 6. BEP 44 mutable items stored by dipsea nodes: libtorrent puts one with a salt
    // (signed with the key of a seed dipsea derives the same public key from), gets
    // it back from them, then updates it: dipsea's nodes verified and kept both.
    let keypair = Keypair::from_seed(&rand::random());
    let salt = format!("salt {tag:x}").into_bytes();
    let lt_put_mutable = |value: &[u8]| {
        json!({"cmd": "put_mutable", "seed": hex(&keypair.seed()),
               "public_key": hex(&keypair.public_key()), "salt": hex(&salt),
               "value": hex(value)})
    };
    let lt_get_mutable = json!({"cmd": "get_mutable",
        "public_key": hex(&keypair.public_key()), "salt": hex(&salt)});
    for (round, seq) in [(1, 1), (2, 2)] {
        let value = format!("mutable item by libtorrent, round {round}").into_bytes();
        let put = lt.call(lt_put_mutable(&value), OP_WAIT).await;
        assert_eq!(put["seq"], json!(seq), "libtorrent's put: {put}");
        assert!(
            put["num_success"].as_u64().expect("num_success") >= 1,
            "no dipsea node stored libtorrent's mutable item: {put}"
        );
        let got = lt.call(lt_get_mutable.clone(), OP_WAIT).await;
        assert_eq!(got["found"], json!(true), "libtorrent's get: {got}");
        assert_eq!(got["seq"], json!(seq), "libtorrent's get: {got}");
        assert_eq!(unhex(str_field(&got, "bencoded")), encode_bytes(&value));
        assert_eq!(str_field(&got, "signature"), str_field(&put, "signature"));
    }
    step("dipsea nodes stored and served libtorrent's salted mutable item, seq 1 then 2");

    // Nothing libtorrent sent was malformed to dipsea, nor did it reject our queries.
    let mut malformed = 0;
    let mut errors = 0;
    for node in &nodes {
        let stats = node.stats();
        malformed += stats.malformed;
        errors += stats.errors_in;
    }
    assert_eq!(malformed, 0, "dipsea failed to decode libtorrent datagrams");
    assert_eq!(
        errors, 0,
        "libtorrent answered dipsea queries with KRPC errors"
    );

    // 7. BEP 44 mutable items between dipsea and libtorrent, both ways, with a salt:
    // dipsea puts, libtorrent gets; libtorrent updates (seq + 1), dipsea gets the
    // update; dipsea updates again over it, libtorrent sees that; a put whose cas is
    // stale is refused as a CAS mismatch.
    let keypair = Keypair::random();
    let salt = format!("both ways {tag:x}").into_bytes();
    let options = |seq: Option<i64>, cas: Option<i64>| MutablePut {
        salt: salt.clone(),
        seq,
        cas,
    };
    let first = format!("mutable by dipsea {tag:x}").into_bytes();
    let stored = nodes[2]
        .put_mutable(&keypair, &first, options(None, None))
        .await
        .expect("dipsea put_mutable");
    assert_eq!(stored.seq, 1);
    assert_eq!(stored.target, keypair.target(&salt));
    let lt_get = json!({"cmd": "get_mutable",
        "public_key": hex(&keypair.public_key()), "salt": hex(&salt)});
    let got = lt.call(lt_get.clone(), OP_WAIT).await;
    assert_eq!(got["found"], json!(true), "libtorrent's get: {got}");
    assert_eq!(got["seq"], json!(1), "{got}");
    assert_eq!(unhex(str_field(&got, "bencoded")), encode_bytes(&first));
    let second = format!("mutable by libtorrent {tag:x}").into_bytes();
    let put = lt
        .call(
            json!({"cmd": "put_mutable", "seed": hex(&keypair.seed()),
                   "public_key": hex(&keypair.public_key()), "salt": hex(&salt),
                   "value": hex(&second)}),
            OP_WAIT,
        )
        .await;
    assert_eq!(put["seq"], json!(2), "libtorrent's update: {put}");
    let item = nodes[5]
        .get_mutable(&keypair.public_key(), &salt, None)
        .await
        .expect("dipsea get_mutable")
        .expect("dipsea found libtorrent's update");
    assert_eq!((item.seq, &item.value), (2, &second));
    assert_eq!(hex(&item.signature), str_field(&put, "signature"));
    let third = b"dipsea again".to_vec();
    let stored = nodes[6]
        .put_mutable(&keypair, &third, options(None, Some(2)))
        .await
        .expect("dipsea update over libtorrent's");
    assert_eq!(stored.seq, 3);
    let got = lt.call(lt_get.clone(), OP_WAIT).await;
    assert_eq!(got["seq"], json!(3), "{got}");
    assert_eq!(unhex(str_field(&got, "bencoded")), encode_bytes(&third));
    let stale = nodes[7]
        .put_mutable(&keypair, b"stale cas", options(Some(4), Some(2)))
        .await;
    assert!(
        matches!(stale, Err(Error::Op(OpError::CasMismatch))),
        "a stale cas: {stale:?}"
    );
    let old = nodes[7]
        .put_mutable(&keypair, b"old seq", options(Some(1), None))
        .await;
    assert!(
        matches!(old, Err(Error::Op(OpError::SeqTooOld))),
        "an old seq: {old:?}"
    );
    step("mutable items both ways: put, update by each side, cas mismatch, old seq");
    shutdown(&nodes).await;
}
