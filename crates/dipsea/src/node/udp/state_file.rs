//! The state file on disk: the UDP driver's side of routing-table persistence
//! ([`super::super::state`] encodes and decodes; this module reads and writes).
//!
//! Crash safety: [`save`] writes a temporary file beside the state file, named after
//! it with the writer's process id and a per-process counter
//! (`table.bin.tmp.<pid>.<n>`, so two saves never share one, not even from two
//! processes or two threads), flushes it to disk, renames it over the state file and
//! flushes the directory. A crash at any moment leaves the previous state file or the
//! new one, whole, and at worst a temporary file, which nothing ever reads: [`load`]
//! removes those whose writer is gone.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::id::{Id, NodeInfo};
use crate::node::state::{decode, encode, SavedState, StateError};

/// Writes the state atomically: a temporary file beside `path` (a name no other save
/// uses, see the module docs), flushed to disk, then renamed over `path`, so a crash
/// leaves either the old file or the new one. On failure the temporary file is
/// removed.
pub fn save(path: &Path, id: Id, contacts: &[NodeInfo]) -> Result<(), StateError> {
    let bytes = encode(id, contacts);
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // Make the rename itself durable.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(dir) = fs::File::open(dir) {
                let _ = dir.sync_all();
            }
        }
        Ok::<(), io::Error>(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    Ok(result?)
}

/// What the temporary files of `path` start with: its file name and `.tmp.`.
fn temp_prefix(path: &Path) -> String {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("{name}.tmp.")
}

/// A temporary file name for one save of `path` that no other save shares:
/// `<name>.tmp.<pid>.<n>`, `n` counting the saves of this process.
fn temp_path(path: &Path) -> PathBuf {
    static SAVES: AtomicU64 = AtomicU64::new(0);
    let n = SAVES.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!("{}{}.{n}", temp_prefix(path), std::process::id()))
}

/// A temporary file of another process is left alone for this long where it cannot
/// be told whether that process still runs (outside Linux): a save takes milliseconds.
const STALE_AFTER: Duration = Duration::from_secs(600);

/// Removes the temporary files that saves of `path` left behind when their process
/// died between creating and renaming them: those of processes that are gone (on
/// Linux, no `/proc/<pid>`; elsewhere, untouched for 10 minutes). Never those of
/// this process. Best effort: errors are ignored, and removing the file of a live
/// writer (another PID namespace sharing the directory) only makes that save fail
/// and be tried again.
pub fn remove_stale_temp_files(path: &Path) -> usize {
    let prefix = temp_prefix(path);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let Some(pid) = rest.split('.').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid == std::process::id() || writer_may_live(pid, &entry) {
            continue;
        }
        if fs::remove_file(entry.path()).is_ok() {
            tracing::debug!(file = %entry.path().display(), "removed a temporary state file left by a dead process");
            removed += 1;
        }
    }
    removed
}

/// Whether the process `pid` that wrote the temporary file `entry` may still run.
fn writer_may_live(pid: u32, entry: &fs::DirEntry) -> bool {
    if cfg!(target_os = "linux") {
        return Path::new("/proc").join(pid.to_string()).exists();
    }
    entry
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age < STALE_AFTER)
}

/// Reads the state file at `path`. A missing file gives `None` quietly; a corrupt or
/// unreadable one is reported through `tracing` (a warning) and also gives `None`.
/// First removes the temporary files that crashed saves left beside it
/// ([`remove_stale_temp_files`]).
pub fn load(path: &Path) -> Option<SavedState> {
    remove_stale_temp_files(path);
    match fs::read(path) {
        Ok(bytes) => match decode(&bytes) {
            Ok(state) => {
                tracing::info!(
                    path = %path.display(),
                    id = %state.id,
                    contacts = state.contacts.len(),
                    "loaded the saved routing table"
                );
                Some(state)
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring the saved routing table");
                None
            }
        },
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read the saved routing table");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::state::sample;

    #[test]
    fn save_replaces_atomically_and_load_ignores_garbage() {
        let dir = std::env::temp_dir().join(format!("dipsea-state-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("table.bin");
        let s = sample();
        save(&path, s.id, &s.contacts).expect("save");
        assert_eq!(load(&path), Some(s));
        fs::write(&path, b"garbage").expect("write");
        assert_eq!(load(&path), None);
        assert_eq!(load(&dir.join("missing.bin")), None);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn temp_names_never_repeat() {
        let path = Path::new("/var/lib/dipsea/table.bin");
        let a = temp_path(path);
        let b = temp_path(path);
        assert_ne!(a, b);
        let name = a.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(
            name.starts_with(&format!("table.bin.tmp.{}.", std::process::id())),
            "{name}"
        );
        assert_eq!(a.parent(), path.parent());
    }

    #[test]
    fn load_removes_temp_files_of_dead_writers_only() {
        let dir = std::env::temp_dir().join(format!("dipsea-state-tmp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("table.bin");
        let s = sample();
        save(&path, s.id, &s.contacts).expect("save");
        // A torn temp file of a dead process (pid beyond any Linux pid_max), one of
        // this process, and unrelated files.
        let dead = dir.join("table.bin.tmp.4294967295.7");
        let ours = dir.join(format!("table.bin.tmp.{}.99", std::process::id()));
        let other = dir.join("other.bin.tmp.4294967295.1");
        let odd = dir.join("table.bin.tmp.notapid");
        for f in [&dead, &ours, &other, &odd] {
            fs::write(f, b"DIPSEART torn").expect("write");
        }
        assert_eq!(load(&path), Some(s));
        if cfg!(target_os = "linux") {
            assert!(!dead.exists(), "a dead writer's temp file is removed");
        }
        for kept in [&ours, &other, &odd] {
            assert!(kept.exists(), "{} kept", kept.display());
        }
        // No save leaves a temp file behind.
        fs::remove_file(&ours).expect("rm");
        let s = sample();
        save(&path, s.id, &s.contacts).expect("save");
        let temps = fs::read_dir(&dir)
            .expect("list")
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with("table.bin.tmp.")
            })
            .filter(|e| e.path() != odd)
            .count();
        assert_eq!(temps, 0);
        let _ = fs::remove_dir_all(&dir);
    }
}
