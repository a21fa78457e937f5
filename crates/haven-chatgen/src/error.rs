//! Errors returned by the generator, the day mutator and the writer.

use std::path::PathBuf;

/// Result type of this crate.
pub type Result<T, E = ChatgenError> = std::result::Result<T, E>;

/// Errors of data set generation and mutation.
#[derive(Debug, thiserror::Error)]
pub enum ChatgenError {
    /// A size string such as `200MB` could not be parsed or is out of range.
    #[error("invalid size {value:?}: {reason}; use a number with a unit, e.g. 10MB, 200MB or 2GB")]
    InvalidSize { value: String, reason: String },

    /// An option value is out of range or inconsistent with another option.
    #[error("invalid option {name} = {value}: {reason}")]
    InvalidOption {
        name: &'static str,
        value: String,
        reason: String,
    },

    /// The output folder of `generate` already contains files.
    #[error(
        "output folder {path} is not empty; choose a new or empty folder, or delete its contents"
    )]
    OutputNotEmpty { path: PathBuf },

    /// The data folder has no message database.
    #[error("message database {path} not found; run `haven-chatgen generate --out DIR` first")]
    DatabaseMissing { path: PathBuf },

    /// The message database lacks the tables or rows this operation needs.
    #[error("message database {path} is not usable: {reason}")]
    DatabaseUnusable { path: PathBuf, reason: String },

    /// The writer log of a database is not a gap-free prefix.
    #[error("writer log check failed: {reason}")]
    WriterLog { reason: String },

    /// A corpus file failed to parse. The corpus is embedded at build time, so this is a
    /// defect of the embedded data or of the parser.
    #[error("chat corpus file {file} line {line}: {reason}")]
    Corpus {
        file: &'static str,
        line: usize,
        reason: String,
    },

    /// A SQLite operation failed.
    #[error("SQLite error on {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    /// A file system operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Attaches a database path to rusqlite errors.
pub(crate) trait SqliteContext<T> {
    fn on_db(self, path: &std::path::Path) -> Result<T>;
}

impl<T> SqliteContext<T> for std::result::Result<T, rusqlite::Error> {
    fn on_db(self, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| ChatgenError::Sqlite {
            path: path.to_path_buf(),
            source,
        })
    }
}

/// Attaches an action and a path to I/O errors.
pub(crate) trait IoContext<T> {
    fn on_path(self, action: &'static str, path: &std::path::Path) -> Result<T>;
}

impl<T> IoContext<T> for std::result::Result<T, std::io::Error> {
    fn on_path(self, action: &'static str, path: &std::path::Path) -> Result<T> {
        self.map_err(|source| ChatgenError::Io {
            action,
            path: path.to_path_buf(),
            source,
        })
    }
}
