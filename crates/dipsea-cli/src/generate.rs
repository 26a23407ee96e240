//! `dipsea completions SHELL` and `dipsea man`: shell completion scripts and manual
//! pages, generated from the clap definitions in `main.rs` so they never fall behind
//! the real flags.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use crate::{Cli, Failure, Outcome};

/// Flags of `dipsea completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for: bash, elvish, fish, powershell or zsh.
    #[arg(value_name = "SHELL")]
    shell: Shell,
}

/// Flags of `dipsea man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write dipsea.1 and one dipsea-SUBCOMMAND.1 per subcommand into this folder
    /// (created if missing) instead of printing dipsea.1 on stdout.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// Prints the completion script for `args.shell` on stdout.
pub fn completions(args: CompletionsArgs) -> Outcome {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "dipsea", &mut out);
    write_stdout(&out)
}

/// Prints the main manual page on stdout, or writes every page into `args.dir`.
pub fn man(args: ManArgs) -> Outcome {
    let cmd = Cli::command();
    match args.dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Failure::failed(format!("cannot create {}: {e}", dir.display())))?;
            clap_mangen::generate_to(cmd, &dir)
                .map_err(|e| Failure::failed(format!("cannot write to {}: {e}", dir.display())))
        }
        None => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cmd)
                .render(&mut out)
                .map_err(|e| Failure::failed(format!("cannot render the manual: {e}")))?;
            write_stdout(&out)
        }
    }
}

/// Writes `bytes` to stdout; a closed pipe (`dipsea man | head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Outcome {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::failed(format!("cannot write to stdout: {e}"))),
    }
}
