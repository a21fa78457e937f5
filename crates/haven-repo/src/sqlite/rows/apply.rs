//! Applying a chain of increments to a restored page-level base, and checking the
//! result against the last increment.

use std::path::Path;

use haven_crypto::SecretKey;
use rusqlite::{params_from_iter, Connection, OpenFlags};

use super::fts_update::{plan_updates, IndexUpdate};
use super::increment::{Increment, TableChange};
use super::scan::table_digest;
use super::schema::{quote, read_schema, sql_error, RowKey, Schema, TableInfo};

/// Why a chain could not be applied: the increment (0-based) when one is to blame,
/// and what failed.
#[derive(Debug)]
pub(crate) struct ApplyError {
    pub increment: Option<usize>,
    pub reason: String,
}

impl ApplyError {
    fn at(increment: usize, reason: impl Into<String>) -> Self {
        Self {
            increment: Some(increment),
            reason: reason.into(),
        }
    }

    fn whole(reason: impl Into<String>) -> Self {
        Self {
            increment: None,
            reason: reason.into(),
        }
    }
}

/// Applies `increments` in order to the database at `path`, rebuilds the derivable
/// full-text indexes, and checks integrity, row counts and table hashes.
pub(crate) fn apply_chain(
    path: &Path,
    increments: &[Increment],
    hash_key: &SecretKey,
) -> Result<(), ApplyError> {
    let Some(last) = increments.last() else {
        return Err(ApplyError::whole("the chain has no increments"));
    };
    let mut conn = Connection::open(path).map_err(|e| ApplyError::whole(sql_error(e)))?;
    conn.execute_batch("PRAGMA foreign_keys = OFF")
        .map_err(|e| ApplyError::whole(sql_error(e)))?;
    let schema = read_schema(&conn).map_err(ApplyError::whole)?;
    for (number, increment) in increments.iter().enumerate() {
        if increment.schema != schema.fingerprint {
            return Err(ApplyError::at(
                number,
                "it was made for another database schema than the base",
            ));
        }
    }
    let mut updates = plan_updates(&schema);
    apply_in_transaction(&mut conn, &schema, increments, &mut updates)?;
    verify(&conn, path, &schema, &updates, last, hash_key)
        .map_err(|reason| ApplyError::at(increments.len() - 1, reason))?;
    conn.close()
        .map_err(|(_, e)| ApplyError::whole(sql_error(e)))
}

/// Applies the increments in one transaction. `updates` are the full-text indexes
/// updated row by row; one whose update fails is left out of it, to be rebuilt.
fn apply_in_transaction(
    conn: &mut Connection,
    schema: &Schema,
    increments: &[Increment],
    updates: &mut Vec<IndexUpdate>,
) -> Result<(), ApplyError> {
    let whole = |e: rusqlite::Error| ApplyError::whole(sql_error(e));
    let transaction = conn.transaction().map_err(whole)?;
    // Triggers would fire again for rows the increment already contains in their
    // final form, so they are dropped while it applies and created again after.
    let triggers: Vec<(String, String)> = {
        let mut statement = transaction
            .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'")
            .map_err(whole)?;
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .map_err(whole)?;
        rows.collect::<Result<_, _>>().map_err(whole)?
    };
    for (name, _) in &triggers {
        transaction
            .execute_batch(&format!("DROP TRIGGER {}", quote(name)))
            .map_err(whole)?;
    }
    for (number, increment) in increments.iter().enumerate() {
        for change in &increment.tables {
            let table = schema
                .tables
                .iter()
                .find(|t| t.name == change.name)
                .ok_or_else(|| {
                    ApplyError::at(
                        number,
                        format!("the database has no table {:?}", change.name),
                    )
                })?;
            update_indexes(&transaction, updates, change, IndexUpdate::remove_old);
            apply_table(&transaction, table, change).map_err(|reason| {
                ApplyError::at(number, format!("table {:?}: {reason}", change.name))
            })?;
            update_indexes(&transaction, updates, change, IndexUpdate::add_new);
        }
    }
    for (_, sql) in &triggers {
        transaction.execute_batch(sql).map_err(whole)?;
    }
    transaction.commit().map_err(whole)
}

/// Runs `step` for each index over the changed table. An index whose step fails is
/// dropped from `updates`, so it is rebuilt after the increments.
fn update_indexes(
    conn: &Connection,
    updates: &mut Vec<IndexUpdate>,
    change: &TableChange,
    step: fn(&IndexUpdate, &Connection, &TableChange) -> Result<(), String>,
) {
    updates.retain(|update| {
        if update.content != change.name {
            return true;
        }
        match step(update, conn, change) {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(table = %update.name, %error, "updating the full-text index row by row failed; rebuilding it");
                false
            }
        }
    });
}

fn apply_table(conn: &Connection, table: &TableInfo, change: &TableChange) -> Result<(), String> {
    let mut columns: Vec<String> = table.columns.iter().map(|c| quote(c)).collect();
    let key_columns: Vec<String> = match &table.key {
        RowKey::Rowid(alias) => {
            columns.insert(0, alias.clone());
            vec![alias.clone()]
        }
        RowKey::PrimaryKey(positions) => positions
            .iter()
            .map(|p| quote(&table.columns[*p]))
            .collect(),
    };
    let condition: Vec<String> = key_columns
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{column} = ?{}", i + 1))
        .collect();
    let mut delete = conn
        .prepare(&format!(
            "DELETE FROM {} WHERE {}",
            quote(&table.name),
            condition.join(" AND ")
        ))
        .map_err(sql_error)?;
    for key in &change.deleted {
        if key.len() != key_columns.len() {
            return Err(format!(
                "a deleted key has {} values, not {}",
                key.len(),
                key_columns.len()
            ));
        }
        delete.execute(params_from_iter(key)).map_err(sql_error)?;
    }
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
    let mut upsert = conn
        .prepare(&format!(
            "INSERT OR REPLACE INTO {}({}) VALUES({})",
            quote(&table.name),
            columns.join(", "),
            placeholders.join(", ")
        ))
        .map_err(sql_error)?;
    for row in &change.upserted {
        if row.len() != columns.len() {
            return Err(format!(
                "an upserted row has {} values, not {}",
                row.len(),
                columns.len()
            ));
        }
        upsert.execute(params_from_iter(row)).map_err(sql_error)?;
    }
    Ok(())
}

/// Rebuilds the derivable full-text indexes not in `updated`, then checks the
/// database's integrity and every table's row count and hash against `last`.
fn verify(
    conn: &Connection,
    path: &Path,
    schema: &Schema,
    updated: &[IndexUpdate],
    last: &Increment,
    hash_key: &SecretKey,
) -> Result<(), String> {
    let is_updated = |name: &str| updated.iter().any(|u| u.name == name);
    for table in schema.rebuilt.iter().filter(|t| !is_updated(&t.name)) {
        rebuild(conn, &table.name)?;
    }
    // The structure check and the row hashes read the same committed file, each on
    // its own connection and thread.
    let (problems, scanned) = std::thread::scope(|scope| {
        let check = scope.spawn(|| quick_check(path));
        let scanned = schema
            .tables
            .iter()
            .map(|table| table_digest(conn, table, hash_key).map_err(String::from))
            .collect::<Result<Vec<_>, String>>();
        let problems = check
            .join()
            .unwrap_or_else(|_| Err("the quick_check thread panicked".into()));
        (problems, scanned)
    });
    let mut problems = problems?;
    if problems != ["ok"] && !updated.is_empty() {
        // An index updated row by row that does not match its content is rebuilt, and
        // the whole check runs again.
        tracing::warn!(problems = %problems.join("; "), "quick_check failed after the row-by-row full-text index updates; rebuilding those indexes");
        for update in updated {
            rebuild(conn, &update.name)?;
        }
        problems = quick_check(path)?;
    }
    if problems != ["ok"] {
        return Err(format!("quick_check failed: {}", problems.join("; ")));
    }
    let digests = scanned?;
    if digests.len() != last.tables.len() {
        return Err(format!(
            "the database has {} tables, the increment {}",
            digests.len(),
            last.tables.len()
        ));
    }
    for ((table, (count, hash)), expected) in schema.tables.iter().zip(&digests).zip(&last.tables) {
        if table.name != expected.name {
            return Err(format!(
                "table {:?} is not the increment's table {:?}",
                table.name, expected.name
            ));
        }
        if *count != expected.rows || *hash != expected.hash {
            return Err(format!(
                "table {:?} has {count} rows that do not match the increment's {} rows and table hash",
                table.name, expected.rows
            ));
        }
    }
    Ok(())
}

fn rebuild(conn: &Connection, table: &str) -> Result<(), String> {
    let name = quote(table);
    conn.execute_batch(&format!("INSERT INTO {name}({name}) VALUES('rebuild')"))
        .map_err(|e| {
            format!(
                "rebuilding the full-text index {table:?} failed: {}",
                sql_error(e)
            )
        })
}

/// Runs `PRAGMA quick_check` on its own read-only connection. It walks every b-tree
/// page and, for each full-text table, runs the module's own integrity check (SQLite
/// 3.44 and later). It leaves out the check that each index matches its table, which
/// took a third of a restore's time. The keyed hash of every table checks the rows.
fn quick_check(path: &Path) -> Result<Vec<String>, String> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_error)?;
    let mut statement = conn.prepare("PRAGMA quick_check").map_err(sql_error)?;
    let rows = statement
        .query_map([], |row| row.get(0))
        .map_err(sql_error)?;
    rows.collect::<Result<_, _>>().map_err(sql_error)
}
