//! `dipsea broadcast` and the broadcast flags of `dipsea node`: send a signed
//! broadcast to every node (or every node of a key range) that accepts it, and print
//! the broadcasts a node delivers.

use std::path::Path;

use dipsea::push::{next_seq, AcceptPolicy, Broadcast, KeyRange, SigningKey};

use crate::client::{op_failure, with_client};
use crate::{BroadcastArgs, Failure, Outcome};

/// Runs `dipsea broadcast`.
pub fn run(args: BroadcastArgs) -> Outcome {
    let key = read_key(&args.key_file)?;
    let range = match &args.prefix {
        Some(hex) => {
            KeyRange::from_hex(hex).map_err(|e| Failure::usage(format!("--prefix: {e}")))?
        }
        None => KeyRange::ALL,
    };
    // By default the library's rule (milliseconds since 1970, increasing within the
    // process), the same as the bindings': what the receivers' duplicate windows want.
    let seq = args.seq.unwrap_or_else(next_seq);
    let payload = args.message.into_bytes();
    let origin = key.verifying_key().to_bytes();
    let sent = with_client(&args.client, |node| async move {
        node.broadcast(&key, seq, range, &payload)
            .await
            .map_err(|e| op_failure("broadcast", e))
    })?;
    eprintln!(
        "origin {} seq {seq} range {range}: handed to {sent} node{}",
        hex(&origin),
        if sent == 1 { "" } else { "s" }
    );
    if sent == 0 {
        return Err(Failure::failed(
            "no node in the range is known to speak the broadcast extension",
        ));
    }
    Ok(())
}

/// The policy of `--accept-broadcasts`: `open`, or a file of public keys.
pub fn policy(arg: &str) -> Result<AcceptPolicy, Failure> {
    if arg == "open" {
        return Ok(AcceptPolicy::Open);
    }
    let text = std::fs::read_to_string(arg).map_err(|e| {
        Failure::usage(format!(
            "--accept-broadcasts: cannot read {arg}: {e}; give `open` or a file of keys"
        ))
    })?;
    AcceptPolicy::from_keys_text(&text)
        .map_err(|e| Failure::usage(format!("--accept-broadcasts {arg}: {e}")))
}

/// One delivered broadcast as `dipsea node --print-broadcasts` prints it:
/// `broadcast from ORIGIN seq N range R: MESSAGE` (the message as UTF-8, invalid
/// bytes replaced, line breaks escaped so that each broadcast is one line).
pub fn line(b: &Broadcast) -> String {
    let text = String::from_utf8_lossy(&b.payload)
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r");
    format!(
        "broadcast from {} seq {} range {}: {text}",
        hex(&b.origin),
        b.seq,
        b.range
    )
}

/// Reads an ed25519 secret key: 64 hex digits (the 32-byte seed), alone in the file.
fn read_key(path: &Path) -> Result<SigningKey, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Failure::usage(format!(
            "cannot read the key file {}: {e}; create one with \
             `head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n' > FILE`",
            path.display()
        ))
    })?;
    let digits = text.trim();
    let mut seed = [0u8; 32];
    let valid = digits.len() == 64 && digits.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(Failure::usage(format!(
            "{}: a key file holds 64 hex digits (an ed25519 secret key)",
            path.display()
        )));
    }
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&digits[2 * i..2 * i + 2], 16)
            .map_err(|_| Failure::usage("bad hex digit in the key file"))?;
    }
    Ok(SigningKey::from_bytes(&seed))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_line() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let b = Broadcast::sign(&key, 7, KeyRange::from_hex("3a").expect("range"), b"a\nb")
            .expect("signed");
        let l = line(&b);
        assert!(l.starts_with("broadcast from "));
        assert!(l.ends_with(" seq 7 range 3a: a\\nb"), "{l}");
    }

    #[test]
    fn key_files() {
        let dir = std::env::temp_dir().join(format!("dipsea-key-{}", std::process::id()));
        std::fs::write(&dir, format!("{}\n", "01".repeat(32))).expect("write");
        let key = read_key(&dir).expect("a key");
        assert_eq!(key.to_bytes(), [1; 32]);
        std::fs::write(&dir, "xyz").expect("write");
        assert!(read_key(&dir).is_err());
        let _ = std::fs::remove_file(&dir);
        assert!(policy("open").is_ok());
        assert!(policy("/nonexistent/keys").is_err());
    }
}
