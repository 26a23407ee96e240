//! `dipsea keygen FILE`: writes a key file (mode 0600) that the library loads, prints
//! the public key, and never replaces an existing file.

use std::process::{Command, Stdio};

use dipsea::keypair::{to_hex, Keypair};

fn keygen(path: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dipsea"))
        .arg("keygen")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run dipsea keygen")
}

#[test]
fn keygen_writes_a_private_key_file_and_prints_its_public_key() {
    let dir = std::env::temp_dir().join(format!("dipsea-keygen-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("key");
    let _ = std::fs::remove_file(&path);

    let out = keygen(&path);
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).expect("utf-8");
    let keypair = Keypair::load(&path).expect("the library loads the key file");
    assert_eq!(printed.trim(), to_hex(&keypair.public_key()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // A second keygen to the same file fails and leaves the key alone.
    let again = keygen(&path);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
    assert!(String::from_utf8_lossy(&again.stderr).contains("cannot write"));
    assert_eq!(
        Keypair::load(&path).expect("load").public_key(),
        keypair.public_key()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
