//! The tables a row increment covers, their columns and row keys, and the schema
//! fingerprint that decides whether an increment is possible at all.

use rusqlite::Connection;

use super::fts::{derivable_shadow_tables, FullTextTable};

/// How rows of a table are identified between two backups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum RowKey {
    /// A rowid table: rows are keyed by rowid, read and written under this name
    /// (`rowid`, `_rowid_` or `oid`, whichever no column shadows).
    Rowid(String),
    /// A WITHOUT ROWID table: rows are keyed by these primary key columns, as
    /// positions in [`TableInfo::columns`], in primary key order.
    PrimaryKey(Vec<usize>),
}

/// One ordinary table of a database.
#[derive(Clone, Debug)]
pub(crate) struct TableInfo {
    pub name: String,
    /// Stored columns in declaration order. Generated columns are left out, since
    /// SQLite computes them.
    pub columns: Vec<String>,
    pub key: RowKey,
}

/// What a backup needs to know about a database's schema.
#[derive(Debug)]
pub(crate) struct Schema {
    /// BLAKE3 of every schema row and of the header values rows do not carry.
    pub fingerprint: [u8; 32],
    /// Tables whose rows increments carry, sorted by name, with `sqlite_sequence` last
    /// so a restore writes it after the inserts that would otherwise raise it.
    pub tables: Vec<TableInfo>,
    /// Full-text tables whose index a restore rebuilds.
    pub rebuilt: Vec<FullTextTable>,
}

/// Returns the SQL condition that selects one row of `table` by its key, with the
/// key values as parameters `?1`, `?2` and so on.
pub(crate) fn key_condition(table: &TableInfo) -> String {
    let columns: Vec<String> = match &table.key {
        RowKey::Rowid(alias) => vec![alias.clone()],
        RowKey::PrimaryKey(positions) => positions
            .iter()
            .map(|p| quote(&table.columns[*p]))
            .collect(),
    };
    let condition: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(i, column)| format!("{column} = ?{}", i + 1))
        .collect();
    condition.join(" AND ")
}

/// Returns the number of values in a row key of `table`.
pub(crate) fn key_len(table: &TableInfo) -> usize {
    match &table.key {
        RowKey::Rowid(_) => 1,
        RowKey::PrimaryKey(positions) => positions.len(),
    }
}

/// Quotes an identifier for SQL text.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Reads the schema of the open database.
pub(crate) fn read_schema(conn: &Connection) -> Result<Schema, String> {
    let entries = schema_entries(conn)?;
    let fingerprint = fingerprint(conn, &entries)?;
    let (rebuilt, shadows) = derivable_shadow_tables(&entries);
    let mut tables = Vec::new();
    for entry in &entries {
        let is_virtual = entry
            .sql
            .trim_start()
            .to_ascii_uppercase()
            .starts_with("CREATE VIRTUAL");
        if entry.kind != "table" || is_virtual || shadows.contains(&entry.name) {
            continue;
        }
        tables.push(table_info(conn, &entry.name, &entry.sql)?);
    }
    tables.sort_by_key(|t| (t.name == "sqlite_sequence", t.name.clone()));
    Ok(Schema {
        fingerprint,
        tables,
        rebuilt,
    })
}

/// One row of `sqlite_schema`.
pub(crate) struct SchemaEntry {
    pub kind: String,
    pub name: String,
    pub sql: String,
}

fn schema_entries(conn: &Connection) -> Result<Vec<SchemaEntry>, String> {
    let mut statement = conn
        .prepare("SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name")
        .map_err(sql_error)?;
    let rows = statement
        .query_map([], |row| {
            Ok(SchemaEntry {
                kind: row.get(0)?,
                name: row.get(1)?,
                sql: row.get(2)?,
            })
        })
        .map_err(sql_error)?;
    rows.collect::<Result<_, _>>().map_err(sql_error)
}

/// Hashes every schema row, plus `user_version`, `application_id` and the text
/// encoding, which apps change in migrations and which no row carries.
fn fingerprint(conn: &Connection, entries: &[SchemaEntry]) -> Result<[u8; 32], String> {
    let mut hasher = blake3::Hasher::new();
    for entry in entries {
        for part in [&entry.kind, &entry.name, &entry.sql] {
            hasher.update(&(part.len() as u64).to_be_bytes());
            hasher.update(part.as_bytes());
        }
    }
    for pragma in ["user_version", "application_id"] {
        let value: i64 = conn
            .query_row(&format!("PRAGMA {pragma}"), [], |row| row.get(0))
            .map_err(sql_error)?;
        hasher.update(&value.to_be_bytes());
    }
    let encoding: String = conn
        .query_row("PRAGMA encoding", [], |row| row.get(0))
        .map_err(sql_error)?;
    hasher.update(encoding.as_bytes());
    Ok(*hasher.finalize().as_bytes())
}

fn table_info(conn: &Connection, name: &str, sql: &str) -> Result<TableInfo, String> {
    let mut statement = conn
        .prepare(&format!("PRAGMA table_xinfo({})", quote(name)))
        .map_err(sql_error)?;
    // (name, position in the primary key, hidden)
    let rows: Vec<(String, i64, i64)> = statement
        .query_map([], |row| Ok((row.get(1)?, row.get(5)?, row.get(6)?)))
        .map_err(sql_error)?
        .collect::<Result<_, _>>()
        .map_err(sql_error)?;
    let stored: Vec<&(String, i64, i64)> =
        rows.iter().filter(|(_, _, hidden)| *hidden == 0).collect();
    let columns: Vec<String> = stored.iter().map(|(n, _, _)| n.clone()).collect();
    let key = if is_without_rowid(sql) {
        let mut key: Vec<(i64, usize)> = stored
            .iter()
            .enumerate()
            .filter(|(_, (_, pk, _))| *pk > 0)
            .map(|(position, (_, pk, _))| (*pk, position))
            .collect();
        key.sort();
        RowKey::PrimaryKey(key.into_iter().map(|(_, position)| position).collect())
    } else {
        let alias = ["rowid", "_rowid_", "oid"]
            .into_iter()
            .find(|alias| !rows.iter().any(|(n, _, _)| n.eq_ignore_ascii_case(alias)))
            .ok_or_else(|| {
                format!("table {name:?} has columns named rowid, _rowid_ and oid, so its rowid cannot be read")
            })?;
        RowKey::Rowid(alias.to_string())
    };
    Ok(TableInfo {
        name: name.to_string(),
        columns,
        key,
    })
}

/// Returns whether the table options after the column list include WITHOUT ROWID.
fn is_without_rowid(sql: &str) -> bool {
    let Some(end) = sql.rfind(')') else {
        return false;
    };
    sql[end + 1..].split(',').any(|option| {
        option
            .split_whitespace()
            .map(str::to_ascii_uppercase)
            .eq(["WITHOUT", "ROWID"])
    })
}

pub(crate) fn sql_error(e: rusqlite::Error) -> String {
    format!("SQLite error: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_rowid_detected() {
        assert!(is_without_rowid(
            "CREATE TABLE t(a PRIMARY KEY) WITHOUT ROWID"
        ));
        assert!(is_without_rowid(
            "CREATE TABLE t(a PRIMARY KEY) strict, without  rowid"
        ));
        assert!(!is_without_rowid("CREATE TABLE t(a, b)"));
        assert!(!is_without_rowid(
            "CREATE TABLE t(a DEFAULT 'without rowid')"
        ));
    }

    #[test]
    fn rowid_alias_avoids_shadowing_columns() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t(rowid TEXT, x); CREATE TABLE u(a PRIMARY KEY, b) WITHOUT ROWID;",
        )
        .unwrap();
        let schema = read_schema(&conn).unwrap();
        assert_eq!(schema.tables[0].key, RowKey::Rowid("_rowid_".into()));
        assert_eq!(schema.tables[1].key, RowKey::PrimaryKey(vec![0]));
    }
}
