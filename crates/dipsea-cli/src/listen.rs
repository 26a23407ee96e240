//! `dipsea listen`: subscribe to a mutable item and print each new version as one
//! line, until Ctrl-C, `--count` versions or `--for` seconds.

use std::io::Write;
use std::time::Duration;

use dipsea::keypair::to_hex;
use dipsea::MutableValue;

use crate::client::{op_failure, with_node};
use crate::{Failure, ListenArgs, Outcome};

/// Runs `dipsea listen`.
pub fn run(args: ListenArgs) -> Outcome {
    let public_key = args.pubkey;
    let salt = args.salt.clone().map(String::into_bytes);
    let subscribe_limit = Duration::from_secs(args.client.timeout);
    let (count, for_secs) = (args.count, args.for_secs);
    with_node(&args.client, false, |node| async move {
        let subscribing = node.subscribe(public_key, salt.as_deref());
        let mut sub = tokio::time::timeout(subscribe_limit, subscribing)
            .await
            .map_err(|_| Failure::failed("timed out subscribing; raise --timeout"))?
            .map_err(|e| op_failure("listen", e))?;
        eprintln!(
            "listening to {} (target {})",
            to_hex(&public_key),
            sub.target()
        );
        let stop = async {
            match for_secs {
                Some(secs) => tokio::time::sleep(secs).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(stop);
        let mut printed = 0u64;
        while count.is_none_or(|n| printed < n) {
            tokio::select! {
                value = sub.next() => {
                    let Some(value) = value else { break };
                    print_line(&value)?;
                    printed += 1;
                }
                _ = &mut stop => break,
                _ = tokio::signal::ctrl_c() => break,
            }
        }
        Ok(())
    })
}

/// One version as printed: `seq N: VALUE` (the value as UTF-8, invalid bytes
/// replaced, line breaks escaped so that each version is one line).
pub fn line(value: &MutableValue) -> String {
    let text = String::from_utf8_lossy(&value.value)
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r");
    format!("seq {}: {text}", value.seq)
}

fn print_line(value: &MutableValue) -> Outcome {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", line(value))
        .and_then(|()| out.flush())
        .map_err(|e| Failure::failed(format!("cannot write to stdout: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_one_line() {
        let value = MutableValue {
            value: b"a\nb\\c".to_vec(),
            v: b"5:a\nb\\c".to_vec(),
            seq: 3,
            signature: [0; 64],
            public_key: [1; 32],
            salt: Vec::new(),
        };
        assert_eq!(line(&value), "seq 3: a\\nb\\\\c");
    }
}
