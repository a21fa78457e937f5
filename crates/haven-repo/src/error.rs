use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

/// A damaged or missing object, named by its storage path (and blob id where it
/// applies), with what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Damage {
    /// Storage path of the object, for example `index/3fa4…`, or `blob <id> in data/…`.
    pub object: String,
    /// Description of the fault, for example "content hash does not match its name".
    pub reason: String,
}

impl Damage {
    pub(crate) fn new(object: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            object: object.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is damaged: {}", self.object, self.reason)
    }
}

/// Errors from the repository library. None of them carries key material.
///
/// [`RepoError::WrongKey`] is the only variant that means "this key is not for this
/// repository"; every form of corruption is [`RepoError::Damaged`].
#[derive(Debug, Error)]
pub enum RepoError {
    #[error("this key does not open repository {url}; check the key or key file")]
    WrongKey { url: String },

    #[error("no repository at {url}; create one with `haven init`")]
    NotARepository { url: String },

    #[error("a repository already exists at {url}; choose another location")]
    AlreadyExists { url: String },

    #[error("repository {url}: {damage}")]
    Damaged { url: String, damage: Damage },

    #[error("repository {url}: its config names format version {found}, which is not supported; this program reads version {supported} (if the repository was made by this program, the config is damaged)")]
    UnsupportedVersion {
        url: String,
        found: u32,
        supported: u32,
    },

    #[error("storage {operation} failed for {path}: {source}")]
    Storage {
        operation: &'static str,
        path: String,
        /// Boxed because OpenDAL errors are large and every `Result` carries this enum.
        #[source]
        source: Box<opendal::Error>,
    },

    #[error("invalid repository location {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    #[error("{operation} {}: {source}{}", path.display(), io_hint(source))]
    Io {
        operation: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("no snapshot matches {query:?}; list snapshots with `haven snapshots`")]
    SnapshotNotFound { query: String },

    #[error("snapshot id prefix {query:?} matches {count} snapshots; give more digits")]
    AmbiguousSnapshot { query: String, count: usize },

    #[error("path {path:?} is not in snapshot {snapshot}; paths are relative to the snapshot root, whose top-level entries are: {top_level}")]
    PathNotFound {
        path: String,
        snapshot: String,
        /// Names at the snapshot root, comma-separated, as examples of valid paths.
        top_level: String,
    },

    #[error("key slot {slot} not found; list key slots with `haven key list`")]
    SlotNotFound { slot: String },

    #[error("key slot {slot} is the last one that opens the repository; add another key before removing it")]
    LastSlot { slot: String },

    #[error("repository {url} is locked: {holder}")]
    Locked { url: String, holder: String },

    #[error("invalid input: {0}")]
    InvalidInput(String),

    #[error("backup pipeline stopped: {0}")]
    Pipeline(String),
}

impl RepoError {
    /// True when the error reports damaged or missing repository data, as opposed to
    /// a wrong key, bad input, or a storage failure.
    pub fn is_damage(&self) -> bool {
        matches!(self, RepoError::Damaged { .. })
    }

    pub(crate) fn storage(operation: &'static str, path: &str, source: opendal::Error) -> Self {
        RepoError::Storage {
            operation,
            path: path.to_string(),
            source: Box::new(source),
        }
    }

    pub(crate) fn io(
        operation: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        RepoError::Io {
            operation,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = RepoError> = std::result::Result<T, E>;

/// Advice for the I/O errors a user can fix. A restore keeps the files it finished,
/// so running it again after freeing space does not start over.
fn io_hint(error: &std::io::Error) -> &'static str {
    match error.kind() {
        std::io::ErrorKind::StorageFull => {
            "; free space on that filesystem or choose another folder, then run the \
             command again"
        }
        _ => "",
    }
}
