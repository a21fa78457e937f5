//! The local key file: a backup key as 64 hex digits, readable only by its owner.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{bail, Context};
use haven_crypto::BackupKey;

/// Writes `key` to a new file at `path` with mode 0600. An existing file is never
/// overwritten, because it may hold the only copy of another key.
pub fn write_new(path: &Path, key: &BackupKey) -> anyhow::Result<()> {
    if path.exists() {
        bail!(
            "the key file {} already exists; move it away or choose another --key-file, \
             because overwriting it could destroy the only copy of a key",
            path.display()
        );
    }
    write_file(path, key)
}

/// Replaces the key file at `path` with `key`, atomically: the new key goes to a
/// temporary file in the same folder, which is then renamed over the old one.
pub fn replace(path: &Path, key: &BackupKey) -> anyhow::Result<()> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .context("the key file path has no file name")?;
    let temporary = folder.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&temporary);
    write_file(&temporary, key)?;
    std::fs::rename(&temporary, path)
        .with_context(|| format!("cannot replace the key file {}", path.display()))
}

fn write_file(path: &Path, key: &BackupKey) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create the key file {}", path.display()))?;
    let digits = key.to_grouped_digits();
    file.write_all(digits.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write the key file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::common::read_key_file as read;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn new_key_file_is_owner_only_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let key = BackupKey::generate();
        write_new(&path, &key).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(read(&path).unwrap(), key);
    }

    #[test]
    fn existing_key_file_is_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "keep me").unwrap();
        let error = write_new(&path, &BackupKey::generate())
            .unwrap_err()
            .to_string();
        assert!(error.contains("already exists"), "{error}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    }

    #[test]
    fn replace_swaps_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        write_new(&path, &BackupKey::generate()).unwrap();
        let key = BackupKey::generate();
        replace(&path, &key).unwrap();
        assert_eq!(read(&path).unwrap(), key);
    }
}
