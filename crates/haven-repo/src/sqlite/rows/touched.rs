//! Checking a chain's tables by the rows it touches instead of hashing them whole.
//!
//! Each increment since version 2 records every table's row count and table hash
//! before its change. The chain starts from the base's, whose pages are authenticated
//! blob by blob and were checked with `quick_check` when the backup read them. The
//! rows a change deletes or replaces are read and hashed before it is applied, and the
//! rows it wrote are read back and hashed after. The table hash is a sum of row hashes,
//! so the table's digest after the change follows from those reads alone, and it must
//! equal the increment's. A count of each changed table's rows at the end catches rows
//! that a write removed as a side effect, such as a `REPLACE` on another unique index.

use std::collections::HashMap;

use haven_crypto::SecretKey;
use rusqlite::Connection;

use super::increment::{Increment, TableChange, TableDigest};
use super::scan::keyed_digest;
use super::schema::{quote, sql_error, RowKey, TableInfo};
use super::value::Value;

/// SQLite raises `sqlite_sequence` whenever a row goes into an AUTOINCREMENT table,
/// so its rows change outside its own change. It is hashed whole.
pub(crate) const SEQUENCE_TABLE: &str = "sqlite_sequence";

/// The expected digest of each table as the chain is applied.
pub(crate) struct TouchedRows {
    digests: HashMap<String, TableDigest>,
    /// Tables that some increment changed.
    changed: Vec<String>,
    /// Digest of the rows a change is about to delete or replace.
    replaced: TableDigest,
    /// Keys of the rows that change writes, read back after it.
    upserted_keys: Vec<Vec<Value>>,
}

impl TouchedRows {
    /// Starts from the first increment's digests before its changes. Returns `None`
    /// when an increment has no such digests (version 1), and an error naming the
    /// increment when its digests before do not match the previous increment's after.
    pub fn start(increments: &[Increment]) -> Result<Option<Self>, (usize, String)> {
        let before = |change: &TableChange| change.before;
        if increments
            .iter()
            .any(|increment| increment.tables.iter().any(|t| before(t).is_none()))
        {
            return Ok(None);
        }
        let Some(first) = increments.first() else {
            return Ok(None);
        };
        let mut digests: HashMap<String, TableDigest> = first
            .tables
            .iter()
            .filter_map(|t| Some((t.name.clone(), before(t)?)))
            .collect();
        let mut changed = Vec::new();
        for (number, increment) in increments.iter().enumerate() {
            if increment.tables.len() != digests.len() {
                return Err((
                    number,
                    "it covers other tables than the first increment".into(),
                ));
            }
            for table in &increment.tables {
                if digests.get(&table.name) != before(table).as_ref() {
                    return Err((
                        number,
                        format!(
                            "table {:?} does not start where the previous increment left it",
                            table.name
                        ),
                    ));
                }
                let after = TableDigest {
                    rows: table.rows,
                    hash: table.hash,
                };
                digests.insert(table.name.clone(), after);
                let touched = !table.deleted.is_empty() || !table.upserted.is_empty();
                if touched && !changed.contains(&table.name) {
                    changed.push(table.name.clone());
                }
            }
        }
        // Rewound to the chain's start, now that every increment is known to continue
        // the one before it.
        for table in &first.tables {
            digests.insert(table.name.clone(), before(table).expect("checked above"));
        }
        Ok(Some(Self {
            digests,
            changed,
            replaced: TableDigest { rows: 0, hash: 0 },
            upserted_keys: Vec::new(),
        }))
    }

    /// Returns whether the check of `table` depends on [`TouchedRows::before_change`]
    /// and [`TouchedRows::after_change`].
    pub fn follows(&self, table: &str) -> bool {
        table != SEQUENCE_TABLE
    }

    /// Reads and hashes the rows that `change` will delete or replace.
    pub fn before_change(
        &mut self,
        conn: &Connection,
        table: &TableInfo,
        change: &TableChange,
        hash_key: &SecretKey,
    ) -> Result<(), String> {
        self.upserted_keys = upserted_keys(table, &change.upserted);
        let keys = change
            .deleted
            .iter()
            .map(Vec::as_slice)
            .chain(self.upserted_keys.iter().map(Vec::as_slice));
        self.replaced = keyed_digest(conn, table, hash_key, keys)?;
        Ok(())
    }

    /// Reads back and hashes the rows `change` wrote, and checks the table's digest
    /// after the change against the increment's. Follows [`TouchedRows::before_change`].
    pub fn after_change(
        &mut self,
        conn: &Connection,
        table: &TableInfo,
        change: &TableChange,
        hash_key: &SecretKey,
    ) -> Result<(), String> {
        let upserted_keys = std::mem::take(&mut self.upserted_keys);
        let written = keyed_digest(
            conn,
            table,
            hash_key,
            upserted_keys.iter().map(Vec::as_slice),
        )?;
        let digest = self
            .digests
            .get_mut(&table.name)
            .ok_or_else(|| format!("no increment covers table {:?}", table.name))?;
        digest.rows = digest
            .rows
            .wrapping_add(written.rows)
            .wrapping_sub(self.replaced.rows);
        digest.hash = digest
            .hash
            .wrapping_add(written.hash)
            .wrapping_sub(self.replaced.hash);
        if written.rows != upserted_keys.len() as u64
            || digest.rows != change.rows
            || digest.hash != change.hash
        {
            return Err(format!(
                "the rows written do not give the increment's {} rows and table hash",
                change.rows
            ));
        }
        Ok(())
    }

    /// Counts the rows of every table the chain changed and compares the count with
    /// the last increment's.
    pub fn count_changed(&self, conn: &Connection) -> Result<(), String> {
        for name in self.changed.iter().filter(|name| self.follows(name)) {
            let count: u64 = conn
                .query_row(
                    &format!("SELECT count(*) FROM {}", quote(name)),
                    [],
                    |row| row.get(0),
                )
                .map_err(sql_error)?;
            let expected = self.digests.get(name).map_or(0, |d| d.rows);
            if count != expected {
                return Err(format!(
                    "table {name:?} has {count} rows, not the increment's {expected}"
                ));
            }
        }
        Ok(())
    }
}

/// Returns the key values of each upserted row: its rowid, or its primary key columns.
fn upserted_keys(table: &TableInfo, upserted: &[Vec<Value>]) -> Vec<Vec<Value>> {
    upserted
        .iter()
        .map(|row| match &table.key {
            RowKey::Rowid(_) => row.iter().take(1).cloned().collect(),
            RowKey::PrimaryKey(positions) => positions
                .iter()
                .filter_map(|p| row.get(*p).cloned())
                .collect(),
        })
        .collect()
}

#[cfg(test)]
#[path = "touched_tests.rs"]
mod tests;
