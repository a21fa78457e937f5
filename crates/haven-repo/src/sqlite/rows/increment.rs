//! Row increments: the rows each table gained, changed and lost since the previous
//! backup, with each table's row count and keyed hash after the change.

use haven_crypto::SecretKey;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::scan::{ScanError, TableRows};
use super::scan_jobs::{scan_tables, Budget};
use super::schema::Schema;
use super::value::Value;

/// Format version of an increment's plaintext.
pub(crate) const INCREMENT_VERSION: u32 = 2;
/// Oldest increment version a restore reads. Version 1 has no `before` digests, so a
/// restore of a chain with one hashes every table whole.
const OLDEST_INCREMENT_VERSION: u32 = 1;
/// Largest increment plaintext a backup writes. A larger change takes a page-level
/// base instead, which keeps every increment far below the 512 MiB blob decode cap.
pub(crate) const MAX_INCREMENT_BYTES: usize = 64 << 20;

/// One increment blob's plaintext (CBOR).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Increment {
    pub version: u32,
    /// Schema fingerprint of the database the increment applies to.
    #[serde(with = "crate::id::bytes")]
    pub schema: Vec<u8>,
    /// Every table the increment covers, in the order a restore applies them.
    pub tables: Vec<TableChange>,
}

/// The changes to one table, and its state after them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct TableChange {
    pub name: String,
    /// Key values of deleted rows: the rowid, or the primary key columns in key order.
    pub deleted: Vec<Vec<Value>>,
    /// Rows inserted or updated: for a rowid table the rowid followed by every stored
    /// column, for a WITHOUT ROWID table every stored column.
    pub upserted: Vec<Vec<Value>>,
    /// Row count after the change.
    pub rows: u64,
    /// Keyed table hash after the change ([`TableRows::hash`]).
    pub hash: u64,
    /// Row count and table hash before the change. Version 1 increments have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<TableDigest>,
}

/// A table's row count and keyed table hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TableDigest {
    pub rows: u64,
    pub hash: u64,
}

impl Increment {
    /// Returns whether a restore reads this increment's version.
    pub fn is_supported(&self) -> bool {
        (OLDEST_INCREMENT_VERSION..=INCREMENT_VERSION).contains(&self.version)
    }

    /// Returns the number of deleted and upserted rows.
    pub fn changed_rows(&self) -> u64 {
        self.tables
            .iter()
            .map(|t| (t.deleted.len() + t.upserted.len()) as u64)
            .sum()
    }
}

/// Scans every table of `schema` on `conn`, and on `second` at the same time when it
/// is given. With the previous scan `old` (same schema), also returns the increment
/// from it. Each old table is dropped once its table is scanned, so the old and the
/// new rows of a database are never all held at once.
pub(crate) fn scan_database(
    conn: &Connection,
    second: Option<Connection>,
    schema: &Schema,
    hash_key: &SecretKey,
    old: Option<Vec<TableRows>>,
) -> Result<(Vec<TableRows>, Option<Increment>), ScanError> {
    let with_old = old.is_some();
    let budget = Budget::new(MAX_INCREMENT_BYTES);
    let (all_rows, changes) = scan_tables(conn, second, schema, hash_key, old, &budget)?;
    let increment = with_old.then(|| Increment {
        version: INCREMENT_VERSION,
        schema: schema.fingerprint.to_vec(),
        tables: changes,
    });
    Ok((all_rows, increment))
}
