//! Reading every row of a table into (row key, row hash) pairs, and the rows that
//! differ from a previous scan.

use std::collections::HashSet;

use haven_crypto::SecretKey;
use rusqlite::Connection;

use super::increment::{TableChange, TableDigest};
use super::scan_jobs::Budget;
use super::schema::{key_condition, quote, sql_error, RowKey, TableInfo};
pub(crate) use super::table_rows::TableRows;
use super::table_rows::{compare, key_bytes, KeyRef};
use super::value::{encode_value, row_hash, rowid_key, Value};

/// Why a scan stopped.
#[derive(Debug)]
pub(crate) enum ScanError {
    /// The changed rows exceed the byte budget, so the increment would be too large.
    TooLarge,
    Failed(String),
}

impl From<String> for ScanError {
    fn from(reason: String) -> Self {
        ScanError::Failed(reason)
    }
}

impl From<ScanError> for String {
    fn from(error: ScanError) -> Self {
        match error {
            ScanError::TooLarge => "the changed rows exceed the maximum increment size".into(),
            ScanError::Failed(reason) => reason,
        }
    }
}

/// Rowids from `from` (inclusive) to `to` (exclusive); `None` leaves that end open.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RowidRange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// The rows of a table, or of a rowid range of it, and the rows upserted since the
/// old scan, before [`finish_table`] joins them.
pub(crate) struct TablePart {
    rows: TableRows,
    upserted: Vec<Vec<Value>>,
}

/// Scans the rows of `table` in `range` (all rows of a table without rowids), of which
/// the old scan had `old_rows`. With `old`, also returns the rows upserted since it,
/// and takes the encoded size of each from `budget`, so a change too large for one
/// increment stops the scan before it fills memory. [`finish_table`] sorts the rows
/// and finds the deleted ones.
pub(crate) fn scan_part(
    conn: &Connection,
    table: &TableInfo,
    hash_key: &SecretKey,
    old: Option<&TableRows>,
    budget: &Budget,
    range: RowidRange,
    old_rows: usize,
) -> Result<TablePart, ScanError> {
    let mut rows = TableRows::new(table.name.clone(), matches!(table.key, RowKey::Rowid(_)));
    // Sized for the part's `old_rows` and a sixteenth more, so the vectors do not
    // double past what the part needs.
    rows.reserve(old_rows + old_rows / 16 + 64);
    let mut upserted = Vec::new();
    for_each_row(conn, table, hash_key, range, |scanned| {
        if budget.is_stopped() {
            return Err(ScanError::Failed("another row scan failed".into()));
        }
        if let Some(old) = old {
            if old.find(scanned.key) != Some(scanned.hash) {
                budget.take(scanned.size)?;
                let values = (0..scanned.columns)
                    .map(|i| scanned.row.get_ref(i).map(Value::from_ref))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_error)?;
                upserted.push(values);
            }
        }
        Ok(rows.push(scanned.key, scanned.hash)?)
    })?;
    Ok(TablePart { rows, upserted })
}

/// Joins the parts of `table` scanned in rowid order, sorts its rows and, with `old`,
/// returns its change since the old scan.
pub(crate) fn finish_table(
    table: &TableInfo,
    old: Option<&TableRows>,
    parts: Vec<TablePart>,
) -> Result<(TableRows, Option<TableChange>), ScanError> {
    let mut parts = parts.into_iter();
    let Some(TablePart {
        mut rows,
        mut upserted,
    }) = parts.next()
    else {
        return Err(ScanError::Failed(format!(
            "table {:?} has no scanned part",
            table.name
        )));
    };
    for part in parts {
        rows.append(&part.rows)?;
        upserted.extend(part.upserted);
    }
    rows.sort();
    let change = match old {
        Some(old) => Some(TableChange {
            name: table.name.clone(),
            deleted: deleted_keys(old, &rows)?,
            upserted,
            rows: rows.len() as u64,
            hash: rows.hash(),
            before: Some(TableDigest {
                rows: old.len() as u64,
                hash: old.hash(),
            }),
        }),
        None => None,
    };
    Ok((rows, change))
}

/// Returns the row count and keyed table hash ([`TableRows::hash`]) of `table`
/// without keeping its rows.
pub(crate) fn table_digest(
    conn: &Connection,
    table: &TableInfo,
    hash_key: &SecretKey,
) -> Result<(u64, u64), ScanError> {
    let (mut count, mut sum) = (0u64, 0u64);
    for_each_row(conn, table, hash_key, RowidRange::default(), |scanned| {
        count += 1;
        sum = sum.wrapping_add(scanned.hash);
        Ok(())
    })?;
    Ok((count, sum))
}

/// One row of a scan.
struct ScannedRow<'a> {
    key: KeyRef<'a>,
    hash: u64,
    /// Encoded size of the key and the values.
    size: usize,
    row: &'a rusqlite::Row<'a>,
    /// Columns in `row`: the rowid (for a rowid table) and every stored column.
    columns: usize,
}

/// Reads every row of `table` in `range` and hands each, with its key and keyed hash,
/// to `visit`. A table without rowids is read whole.
fn for_each_row(
    conn: &Connection,
    table: &TableInfo,
    hash_key: &SecretKey,
    range: RowidRange,
    mut visit: impl FnMut(ScannedRow) -> Result<(), ScanError>,
) -> Result<(), ScanError> {
    let mut sql = format!(
        "SELECT {} FROM {}",
        select_list(table).join(", "),
        quote(&table.name)
    );
    let mut bounds = Vec::new();
    if let RowKey::Rowid(alias) = &table.key {
        let mut conditions = Vec::new();
        if let Some(from) = range.from {
            bounds.push(from);
            conditions.push(format!("{alias} >= ?{}", bounds.len()));
        }
        if let Some(to) = range.to {
            bounds.push(to);
            conditions.push(format!("{alias} < ?{}", bounds.len()));
        }
        if !conditions.is_empty() {
            sql.push_str(&format!(" WHERE {}", conditions.join(" AND ")));
        }
    }
    let mut statement = conn.prepare(&sql).map_err(sql_error)?;
    let mut query = statement
        .query(rusqlite::params_from_iter(&bounds))
        .map_err(sql_error)?;
    let mut hasher = RowHasher::new(table, hash_key);
    let columns = hasher.columns;
    while let Some(row) = query.next().map_err(sql_error)? {
        let (key, hash, size) = hasher.hash(row)?;
        visit(ScannedRow {
            key,
            hash,
            size,
            row,
            columns,
        })?;
    }
    Ok(())
}

/// Returns the row count and the sum of the row hashes of the rows of `table` with
/// the given keys (the rowid, or the primary key values). A key without a row adds
/// nothing.
pub(crate) fn keyed_digest<'k>(
    conn: &Connection,
    table: &TableInfo,
    hash_key: &SecretKey,
    keys: impl IntoIterator<Item = &'k [Value]>,
) -> Result<TableDigest, String> {
    let sql = format!(
        "SELECT {} FROM {} WHERE {}",
        select_list(table).join(", "),
        quote(&table.name),
        key_condition(table)
    );
    let mut statement = conn.prepare_cached(&sql).map_err(sql_error)?;
    let mut hasher = RowHasher::new(table, hash_key);
    let mut digest = TableDigest { rows: 0, hash: 0 };
    // Two keys can select one row: a key both deleted and upserted, or keys equal
    // under the column's collation or numeric comparison (`'x'` and `'X'` in a NOCASE
    // key, 1 and 1.0 in a key without affinity). Each row counts once.
    let mut seen = HashSet::new();
    for key in keys {
        let mut query = statement
            .query(rusqlite::params_from_iter(key))
            .map_err(sql_error)?;
        if let Some(row) = query.next().map_err(sql_error)? {
            let (row_key, hash, _) = hasher.hash(row).map_err(String::from)?;
            if !seen.insert(key_bytes(row_key)) {
                continue;
            }
            digest.rows += 1;
            digest.hash = digest.hash.wrapping_add(hash);
        }
    }
    Ok(digest)
}

/// Returns the columns a scan reads: the rowid first for a rowid table, then every
/// stored column.
fn select_list(table: &TableInfo) -> Vec<String> {
    let mut select: Vec<String> = table.columns.iter().map(|c| quote(c)).collect();
    if let RowKey::Rowid(alias) = &table.key {
        select.insert(0, alias.clone());
    }
    select
}

/// Computes the key and keyed hash of rows read with [`select_list`].
struct RowHasher<'a> {
    table: &'a TableInfo,
    hash_key: &'a SecretKey,
    /// Columns in a row: the rowid (for a rowid table) and every stored column.
    columns: usize,
    encoded: Vec<u8>,
    primary_key: Vec<u8>,
}

impl<'a> RowHasher<'a> {
    fn new(table: &'a TableInfo, hash_key: &'a SecretKey) -> Self {
        let rowid = usize::from(matches!(table.key, RowKey::Rowid(_)));
        Self {
            table,
            hash_key,
            columns: table.columns.len() + rowid,
            encoded: Vec::new(),
            primary_key: Vec::new(),
        }
    }

    /// Returns the row's key, its hash and the encoded size of its key and values.
    fn hash(&mut self, row: &rusqlite::Row) -> Result<(KeyRef<'_>, u64, usize), ScanError> {
        let rowid_bytes;
        let (key, key_bytes, value_start) = match &self.table.key {
            RowKey::Rowid(_) => {
                let rowid = row.get::<_, i64>(0).map_err(sql_error)?;
                rowid_bytes = rowid_key(rowid);
                (KeyRef::Rowid(rowid), &rowid_bytes[..], 1)
            }
            RowKey::PrimaryKey(positions) => {
                self.primary_key.clear();
                for position in positions {
                    let value = row.get_ref(*position).map_err(sql_error)?;
                    encode_value(&mut self.primary_key, value);
                }
                (KeyRef::Encoded(&self.primary_key), &self.primary_key[..], 0)
            }
        };
        self.encoded.clear();
        for index in value_start..self.columns {
            encode_value(&mut self.encoded, row.get_ref(index).map_err(sql_error)?);
        }
        let hash = row_hash(self.hash_key, key_bytes, &self.encoded);
        Ok((key, hash, key_bytes.len() + self.encoded.len()))
    }
}

/// Returns the key values of rows in `old` that `new` no longer has: the rowid, or
/// the primary key values. Both are sorted by key, so one pass over each suffices.
fn deleted_keys(old: &TableRows, new: &TableRows) -> Result<Vec<Vec<Value>>, String> {
    let mut deleted = Vec::new();
    let mut next = 0;
    for index in 0..old.len() {
        let key = old.key(index);
        while next < new.len() && compare(new.key(next), key).is_lt() {
            next += 1;
        }
        if next < new.len() && new.key(next) == key {
            continue;
        }
        deleted.push(match key {
            KeyRef::Rowid(rowid) => vec![Value::Integer(rowid)],
            KeyRef::Encoded(bytes) => decode_values(bytes)?,
        });
    }
    Ok(deleted)
}

/// Decodes a sequence of canonically encoded values.
fn decode_values(mut bytes: &[u8]) -> Result<Vec<Value>, String> {
    let mut values = Vec::new();
    let invalid = || "a primary key in the row state is not a valid value encoding".to_string();
    while let Some((&tag, rest)) = bytes.split_first() {
        let fixed = |rest: &[u8]| -> Result<[u8; 8], String> {
            rest.get(..8)
                .and_then(|b| b.try_into().ok())
                .ok_or_else(invalid)
        };
        let (value, used) = match tag {
            0 => (Value::Null, 0),
            1 => (Value::Integer(i64::from_be_bytes(fixed(rest)?)), 8),
            2 => (
                Value::Real(f64::from_bits(u64::from_be_bytes(fixed(rest)?))),
                8,
            ),
            3 | 4 => {
                let len =
                    usize::try_from(u64::from_be_bytes(fixed(rest)?)).map_err(|_| invalid())?;
                let data = rest
                    .get(8..8usize.checked_add(len).ok_or_else(invalid)?)
                    .ok_or_else(invalid)?;
                let value = if tag == 3 {
                    Value::Text(data.to_vec())
                } else {
                    Value::Blob(data.to_vec())
                };
                (value, 8 + len)
            }
            _ => return Err(invalid()),
        };
        values.push(value);
        bytes = &rest[used..];
    }
    Ok(values)
}

/// Encodes values as [`encode_value`] does, for tests of the decoder.
#[cfg(test)]
fn encode_all(values: &[Value]) -> Vec<u8> {
    use rusqlite::ToSql;
    let mut out = Vec::new();
    for value in values {
        let output = value.to_sql().unwrap();
        let rusqlite::types::ToSqlOutput::Borrowed(value_ref) = output else {
            panic!("values are borrowed");
        };
        encode_value(&mut out, value_ref);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primary_key_roundtrip() {
        let values = vec![
            Value::Integer(-3),
            Value::Text(b"caf\xc3\xa9".to_vec()),
            Value::Blob(vec![0, 1, 2]),
            Value::Real(1.5),
            Value::Null,
        ];
        assert_eq!(decode_values(&encode_all(&values)).unwrap(), values);
    }

    #[test]
    fn truncated_key_rejected() {
        let bytes = encode_all(&[Value::Text(b"hello".to_vec())]);
        assert!(decode_values(&bytes[..bytes.len() - 1]).is_err());
    }
}
