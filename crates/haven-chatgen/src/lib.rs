//! Generator of WhatsApp-like chat data sets for backup tests and benchmarks.
//!
//! A data set is a folder with `databases/msgstore.db`, a SQLite message store whose
//! tables follow WhatsApp for Android (`jid`, `chat`, `message`, `message_media`,
//! `message_quoted`, `receipt_user`, plus an FTS5 index), and `media/`, with real photos
//! and incompressible video and voice note files. Everything is derived from a seed:
//! the same options give byte-identical files with the same build. The database header
//! records the bundled SQLite version, and media sizes go through `f64::ln` and `exp`,
//! so another SQLite version or platform may give different bytes.
//!
//! - [`generate`] builds a new data folder of a target size.
//! - [`day`] applies one day of app activity to an existing folder.
//! - [`write`] commits numbered transactions, for backups taken during writes;
//!   [`check_writer_log`] verifies that a copy contains exactly a prefix of them.

mod corpus;
mod day;
mod error;
mod generate;
mod media;
mod people;
mod rng;
mod schema;
mod size;
mod store;
mod talk;
mod time;
mod writer;

use std::time::Duration;

pub use corpus::Corpus;
pub use day::{day, DayOptions};
pub use error::{ChatgenError, Result};
pub use generate::{database_path, generate, GenerateOptions, DATABASE_PERCENT};
pub use size::{parse_size, MIN_SIZE};
pub use writer::{check_writer_log, write, CommitHook, JournalMode, WriteOptions, WriterLog};

/// Counts of the changes an operation made. Counters it does not use stay zero.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub messages_inserted: u64,
    /// Sent messages marked as read.
    pub status_updates: u64,
    pub messages_deleted: u64,
    pub media_files_written: u64,
    pub media_bytes_written: u64,
    pub media_files_deleted: u64,
    /// Committed transactions.
    pub transactions: u64,
    /// Chats in the database.
    pub chats: u64,
    /// Size of `msgstore.db` afterwards, without `-wal` or `-journal` files.
    pub database_bytes: u64,
    /// Wall-clock time taken.
    pub elapsed: Duration,
}
