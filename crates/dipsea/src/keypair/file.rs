//! Keeping a [`Keypair`] in a file: the one place this module touches the file
//! system, so the rest of the crate stays sans-I/O.
//!
//! The file holds the 32-byte seed as 64 lowercase hex digits and a newline, readable
//! by its owner only (mode 0600 on Unix).

use std::io::Write;
use std::path::Path;

use super::{from_hex, to_hex, Keypair, SEED_LEN};
use crate::error::Error;

impl Keypair {
    /// Writes the seed to a new file at `path`, readable and writable by its owner
    /// only (mode 0600 on Unix; the file is created with that mode, never wider).
    ///
    /// Refuses to overwrite: an existing file fails with [`Error::Io`] of kind
    /// `AlreadyExists`, since replacing a key loses the right to update what it
    /// published. Remove the file first to replace it on purpose.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path)?;
        let mut text = to_hex(&self.seed());
        text.push('\n');
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        Ok(())
    }

    /// Reads a keypair written by [`Keypair::save`]: 64 hex digits, surrounding
    /// whitespace ignored.
    ///
    /// Fails with [`Error::Io`] if the file cannot be read and with
    /// [`Error::BadInput`] if it does not hold a seed.
    pub fn load(path: impl AsRef<Path>) -> Result<Keypair, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)?;
        let seed = from_hex::<SEED_LEN>(text.trim())
            .map_err(|e| Error::BadInput(format!("{} is not a key file: {e}", path.display())))?;
        Ok(Keypair::from_seed(&seed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dipsea-keypair-{}-{}",
            std::process::id(),
            crate::id::Id::random()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join(name)
    }

    #[test]
    fn save_then_load_gives_the_same_key() {
        let path = temp_path("key");
        let keypair = Keypair::random();
        keypair.save(&path).expect("save");
        let loaded = Keypair::load(&path).expect("load");
        assert_eq!(loaded.public_key(), keypair.public_key());
        assert_eq!(loaded.seed(), keypair.seed());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second save refuses to replace the key.
        let err = Keypair::random().save(&path).expect_err("exists");
        assert!(
            matches!(&err, Error::Io(e) if e.kind() == std::io::ErrorKind::AlreadyExists),
            "{err:?}"
        );
        assert_eq!(
            Keypair::load(&path).expect("load").public_key(),
            keypair.public_key()
        );
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[test]
    fn loading_a_missing_or_garbled_file_fails_clearly() {
        let path = temp_path("garbled");
        assert!(matches!(Keypair::load(&path), Err(Error::Io(_))));
        std::fs::write(&path, "not a key\n").expect("write");
        let err = Keypair::load(&path).expect_err("garbled");
        assert!(matches!(err, Error::BadInput(_)), "{err:?}");
        assert!(err.to_string().contains("is not a key file"), "{err}");
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }
}
