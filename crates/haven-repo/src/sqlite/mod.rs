//! SQLite databases in a backup set.
//!
//! A file that starts with the SQLite header is not read as it is on disk, but through
//! a consistent view ([`copy`]) that stays consistent while another process writes to it.
//! A WAL-mode database is read in place: its pages, its `quick_check` and its row scan
//! all come from one snapshot ([`snapshot`]), so the backup needs no temporary space.
//! Any other database, or one this SQLite cannot read at a snapshot, is first copied
//! with SQLite's online backup API into a temporary file. Either way the view has the
//! source's page size and page numbers, so the repository's page chunker stores only
//! the pages that changed since the last backup.
//!
//! The `-wal`, `-shm` and `-journal` sidecars of a database read this way are left out
//! of the snapshot, because the view already contains what they hold. A restore
//! removes stale sidecars next to a restored database, so it opens as it was read
//! ([`sidecar`]).
//!
//! A database that cannot be read this way (corrupt, truncated, or locked by another
//! process for longer than [`SqliteOptions::busy_timeout`]) is stored as a plain file
//! with a warning, or left out of the snapshot, as [`LockedPolicy`] sets.

mod copy;
mod header;
pub(crate) mod rows;
mod sidecar;
mod snapshot;

use std::path::PathBuf;
use std::time::Duration;

pub(crate) use copy::{prepare, DatabaseSource, DatabaseView, Prepared};
pub use header::{DatabaseHeader, SQLITE_MAGIC};
pub use rows::{BaseReason, SqliteBase};
pub(crate) use sidecar::{has_live_sidecar, main_database_of, remove_sidecars};

/// What a backup does with a database that another process keeps locked for longer
/// than the busy timeout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LockedPolicy {
    /// Store the database file and its sidecars as plain files, with a warning. The
    /// stored copy may be inconsistent if the other process writes while it is read.
    #[default]
    Plain,
    /// Leave the database out of the snapshot and report it as unreadable.
    Fail,
}

/// How SQLite databases are copied during a backup.
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    /// Time to keep retrying while another process holds a lock that blocks reading.
    pub busy_timeout: Duration,
    pub locked: LockedPolicy,
    /// Folder for the temporary copies of databases that are not in WAL mode; defaults
    /// to the system temporary folder.
    pub temp_dir: Option<PathBuf>,
    /// Folder for the local row state between backups. With a state folder, a backup
    /// after a page-level base stores only the changed rows of each database. Without
    /// one, every backup stores changed pages.
    pub state_dir: Option<PathBuf>,
    /// Maximum row increments after one base before a backup takes a new base.
    pub max_increments: usize,
    /// Maximum age of a chain's base before a backup takes a new base.
    pub max_chain_age: Duration,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            busy_timeout: Duration::from_secs(10),
            locked: LockedPolicy::Plain,
            temp_dir: None,
            state_dir: None,
            max_increments: 30,
            max_chain_age: Duration::from_secs(40 * 86_400),
        }
    }
}
