//! `dipsea completions SHELL` and `dipsea man`: run the real binary and check that what
//! it prints describes the real command line (every subcommand, their flags, the
//! version), and that the bash script loads in bash and registers the completion.

use std::process::{Command, Output};

/// Subcommands every generated text must mention.
const SUBCOMMANDS: [&str; 9] = [
    "node",
    "put",
    "get",
    "announce",
    "peers",
    "swarm",
    "keygen",
    "completions",
    "man",
];

/// Runs the binary under test with `args`; these commands read no network and no
/// input, so they end by themselves.
fn dipsea(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dipsea"))
        .args(args)
        .env_remove("DIPSEA_BOOTSTRAP")
        .output()
        .expect("run dipsea")
}

fn stdout_of(args: &[&str]) -> String {
    let out = dipsea(args);
    assert!(
        out.status.success(),
        "dipsea {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn completions_cover_every_subcommand_in_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout_of(&["completions", shell]);
        for sub in SUBCOMMANDS {
            assert!(script.contains(sub), "{shell} completions lack {sub}");
        }
        // Flags of subcommands are completed too.
        for flag in ["bootstrap", "state", "nodes"] {
            assert!(script.contains(flag), "{shell} completions lack --{flag}");
        }
    }
}

#[test]
fn bash_completion_loads_and_registers() {
    let script = stdout_of(&["completions", "bash"]);
    let Ok(out) = Command::new("bash")
        .args(["--norc", "-c", &format!("{script}\ncomplete -p dipsea")])
        .output()
    else {
        // No bash on this machine: the content checks above still ran.
        eprintln!("bash not found; the script's loading is not checked");
        return;
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let registered = String::from_utf8_lossy(&out.stdout);
    assert!(registered.contains("dipsea"), "{registered}");
}

#[test]
fn unknown_shell_is_a_usage_error() {
    let out = dipsea(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bash") && stderr.contains("zsh"),
        "{stderr}"
    );
}

#[test]
fn man_page_describes_the_command() {
    let page = stdout_of(&["man"]);
    assert!(page.contains(".TH dipsea 1"), "not a roff man page");
    assert!(
        page.contains(&format!("dipsea {}", env!("CARGO_PKG_VERSION"))),
        "no version"
    );
    assert!(page.contains(".SH SYNOPSIS") && page.contains(".SH OPTIONS"));
    for sub in SUBCOMMANDS {
        assert!(page.contains(sub), "man page lacks {sub}");
    }
}

#[test]
fn man_dir_writes_a_page_per_subcommand() {
    let dir = std::env::temp_dir().join(format!("dipsea-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    stdout_of(&["man", "--dir", dir.to_str().expect("utf-8 path")]);
    let main = std::fs::read_to_string(dir.join("dipsea.1")).expect("dipsea.1");
    assert!(main.contains(".TH dipsea 1"));
    for sub in SUBCOMMANDS {
        let page = std::fs::read_to_string(dir.join(format!("dipsea-{sub}.1")))
            .unwrap_or_else(|e| panic!("dipsea-{sub}.1: {e}"));
        assert!(page.contains(".TH"), "dipsea-{sub}.1 is not a man page");
    }
    // `dipsea node`'s page documents its flags.
    let node = std::fs::read_to_string(dir.join("dipsea-node.1")).expect("dipsea-node.1");
    assert!(node.contains("bootstrap") && node.contains("state"));
    std::fs::remove_dir_all(&dir).expect("clean up");
}
