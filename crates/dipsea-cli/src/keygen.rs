//! `dipsea keygen FILE`: makes the ed25519 keypair that signs mutable items.

use std::path::PathBuf;

use clap::Args;
use dipsea::keypair::{to_hex, Keypair};

use crate::{Failure, Outcome};

/// Flags of `dipsea keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the new key's secret (64 hex digits, mode 0600); an existing
    /// file is never replaced.
    #[arg(value_name = "FILE")]
    file: PathBuf,
}

/// Writes a new random keypair to the file and prints its public key (64 hex digits)
/// on stdout: what readers pass to `dipsea get --pubkey`.
pub fn run(args: KeygenArgs) -> Outcome {
    let keypair = Keypair::random();
    keypair
        .save(&args.file)
        .map_err(|e| Failure::failed(format!("cannot write {}: {e}", args.file.display())))?;
    println!("{}", to_hex(&keypair.public_key()));
    Ok(())
}
