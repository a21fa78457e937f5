//! Checking a database after a chain of increments is applied: its full-text indexes,
//! its structure, and its tables' row counts and hashes against the last increment.

use std::path::Path;

use haven_crypto::SecretKey;
use rusqlite::{Connection, OpenFlags};

use super::fts_update::IndexUpdate;
use super::increment::Increment;
use super::scan::table_digest;
use super::schema::{quote, sql_error, Schema};
use super::touched::TouchedRows;

/// Rebuilds the derivable full-text indexes not in `updated`, then checks the
/// database's integrity and every table's row count and hash against `last`.
pub(crate) fn verify(
    conn: &Connection,
    path: &Path,
    schema: &Schema,
    updated: &[IndexUpdate],
    last: &Increment,
    hash_key: &SecretKey,
) -> Result<(), String> {
    rebuild_others(conn, schema, updated)?;
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
    same_tables(schema, last)?;
    for ((table, (count, hash)), expected) in schema.tables.iter().zip(&digests).zip(&last.tables) {
        if *count != expected.rows || *hash != expected.hash {
            return Err(mismatch(&table.name, *count, expected.rows));
        }
    }
    Ok(())
}

/// Checks a chain that records its digests before each change ([`TouchedRows`]),
/// whose rows were checked as each change was applied. It rebuilds the full-text
/// indexes not updated row by row, counts the rows of each changed table and hashes
/// `sqlite_sequence` whole.
///
/// The indexes updated row by row get no `quick_check`. FTS5's own check of an
/// external-content index covers its structure, not its agreement with the content
/// table. It cannot see the fault those updates risk, a `'delete'` with other values
/// than the index holds, and it walked the whole index: about 0.5 s of CPU on a 1 GB
/// chat database.
pub(crate) fn verify_touched(
    conn: &Connection,
    schema: &Schema,
    updated: &[IndexUpdate],
    touched: &TouchedRows,
    last: &Increment,
    hash_key: &SecretKey,
) -> Result<(), String> {
    rebuild_others(conn, schema, updated)?;
    same_tables(schema, last)?;
    touched.count_changed(conn)?;
    let whole = schema.tables.iter().zip(&last.tables);
    for (table, expected) in whole.filter(|(table, _)| !touched.follows(&table.name)) {
        let (count, hash) = table_digest(conn, table, hash_key).map_err(String::from)?;
        if count != expected.rows || hash != expected.hash {
            return Err(mismatch(&table.name, count, expected.rows));
        }
    }
    Ok(())
}

/// Rebuilds the derivable full-text indexes that were not updated row by row.
fn rebuild_others(
    conn: &Connection,
    schema: &Schema,
    updated: &[IndexUpdate],
) -> Result<(), String> {
    let is_updated = |name: &str| updated.iter().any(|u| u.name == name);
    for table in schema.rebuilt.iter().filter(|t| !is_updated(&t.name)) {
        rebuild(conn, &table.name)?;
    }
    Ok(())
}

/// Checks that the database has the last increment's tables, in its order.
fn same_tables(schema: &Schema, last: &Increment) -> Result<(), String> {
    if schema.tables.len() != last.tables.len() {
        return Err(format!(
            "the database has {} tables, the increment {}",
            schema.tables.len(),
            last.tables.len()
        ));
    }
    for (table, expected) in schema.tables.iter().zip(&last.tables) {
        if table.name != expected.name {
            return Err(format!(
                "table {:?} is not the increment's table {:?}",
                table.name, expected.name
            ));
        }
    }
    Ok(())
}

fn mismatch(table: &str, count: u64, expected: u64) -> String {
    format!(
        "table {table:?} has {count} rows that do not match the increment's {expected} rows and table hash"
    )
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
    let conn = read_only(path)?;
    pragma_rows(&conn, "PRAGMA quick_check")
}

fn read_only(path: &Path) -> Result<Connection, String> {
    Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_error)
}

fn pragma_rows(conn: &Connection, sql: &str) -> Result<Vec<String>, String> {
    let mut statement = conn.prepare(sql).map_err(sql_error)?;
    let rows = statement
        .query_map([], |row| row.get(0))
        .map_err(sql_error)?;
    rows.collect::<Result<_, _>>().map_err(sql_error)
}
