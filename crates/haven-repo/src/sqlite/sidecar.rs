//! The `-wal`, `-shm` and `-journal` files that SQLite keeps next to a database.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use super::header::SQLITE_MAGIC;

/// Name suffixes of a database's sidecars: the write-ahead log, its shared-memory
/// index, and the rollback journal.
pub const SIDECAR_SUFFIXES: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Returns the path of the sidecar of `database` with `suffix` (one of [`SIDECAR_SUFFIXES`]).
pub fn sidecar_path(database: &Path, suffix: &str) -> PathBuf {
    let mut name = database.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

/// Returns the database that `path` is a sidecar of: `NAME` for `NAME-wal`,
/// `NAME-shm` or `NAME-journal`, if `NAME` is a regular file that starts with the
/// SQLite header.
pub(crate) fn main_database_of(path: &Path) -> Option<PathBuf> {
    let bytes = path.as_os_str().as_bytes();
    let suffix = SIDECAR_SUFFIXES
        .iter()
        .find(|s| bytes.ends_with(s.as_bytes()))?;
    let main = PathBuf::from(OsString::from_vec(
        bytes[..bytes.len() - suffix.len()].to_vec(),
    ));
    starts_with_magic(&main).then_some(main)
}

fn starts_with_magic(path: &Path) -> bool {
    let Ok(metadata) = std::fs::symlink_metadata(path) else {
        return false;
    };
    if !metadata.is_file() {
        return false;
    }
    let mut head = [0u8; 16];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok()
        && &head == SQLITE_MAGIC
}

/// True when `database` has a non-empty write-ahead log or rollback journal: then
/// the database file alone may not show its latest committed state, and its
/// modification time may not change when that state changes.
pub(crate) fn has_live_sidecar(database: &Path) -> bool {
    ["-wal", "-journal"].iter().any(|suffix| {
        std::fs::metadata(sidecar_path(database, suffix))
            .map(|m| m.len() > 0)
            .unwrap_or(false)
    })
}

/// Removes the sidecars of `database` that exist. A stale write-ahead log or hot
/// journal next to a restored database would otherwise be applied to it on the next
/// open and corrupt it.
pub(crate) fn remove_sidecars(database: &Path) -> io::Result<()> {
    for suffix in SIDECAR_SUFFIXES {
        match std::fs::remove_file(sidecar_path(database, suffix)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
