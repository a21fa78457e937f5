//! Reading every row of a table into (row key, row hash) pairs, and the rows that
//! differ from a previous scan.

use haven_crypto::SecretKey;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use super::increment::TableChange;
use super::schema::{quote, sql_error, RowKey, TableInfo};
use super::value::{encode_value, row_hash, rowid_key, Value};

/// One row as the local state records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RowEntry(#[serde(with = "crate::id::bytes")] pub Vec<u8>, pub u64);

/// Every row of one table, sorted by row key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TableRows {
    pub name: String,
    pub rows: Vec<RowEntry>,
}

impl TableRows {
    /// Returns the keyed table hash: the wrapping sum of the row hashes. Row keys are
    /// unique and part of each row hash, so equal rows cannot cancel out.
    pub fn hash(&self) -> u64 {
        self.rows
            .iter()
            .fold(0u64, |sum, row| sum.wrapping_add(row.1))
    }
}

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

/// Scans `table`. With `old`, also returns the rows deleted and upserted since it,
/// and takes the encoded size of each upserted row from `budget`, so a change too
/// large for one increment stops the scan before it fills memory.
pub(crate) fn scan_table(
    conn: &Connection,
    table: &TableInfo,
    hash_key: &SecretKey,
    old: Option<&TableRows>,
    budget: &mut usize,
) -> Result<(TableRows, Option<TableChange>), ScanError> {
    let mut select: Vec<String> = table.columns.iter().map(|c| quote(c)).collect();
    if let RowKey::Rowid(alias) = &table.key {
        select.insert(0, alias.clone());
    }
    let sql = format!("SELECT {} FROM {}", select.join(", "), quote(&table.name));
    let mut statement = conn.prepare(&sql).map_err(sql_error)?;
    let mut query = statement.query([]).map_err(sql_error)?;
    let value_start = usize::from(matches!(table.key, RowKey::Rowid(_)));
    let mut entries = Vec::new();
    let mut upserted = Vec::new();
    let mut encoded = Vec::new();
    while let Some(row) = query.next().map_err(sql_error)? {
        let key = match &table.key {
            RowKey::Rowid(_) => rowid_key(row.get::<_, i64>(0).map_err(sql_error)?),
            RowKey::PrimaryKey(positions) => {
                let mut key = Vec::new();
                for position in positions {
                    encode_value(&mut key, row.get_ref(*position).map_err(sql_error)?);
                }
                key
            }
        };
        encoded.clear();
        for index in value_start..select.len() {
            encode_value(&mut encoded, row.get_ref(index).map_err(sql_error)?);
        }
        let hash = row_hash(hash_key, &key, &encoded);
        if let Some(old) = old {
            let unchanged = old
                .rows
                .binary_search_by(|entry| entry.0.as_slice().cmp(&key))
                .is_ok_and(|i| old.rows[i].1 == hash);
            if !unchanged {
                *budget = budget
                    .checked_sub(key.len() + encoded.len())
                    .ok_or(ScanError::TooLarge)?;
                let values = (0..select.len())
                    .map(|i| row.get_ref(i).map(Value::from_ref))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql_error)?;
                upserted.push(values);
            }
        }
        entries.push(RowEntry(key, hash));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    let rows = TableRows {
        name: table.name.clone(),
        rows: entries,
    };
    let change = match old {
        Some(old) => Some(TableChange {
            name: table.name.clone(),
            deleted: deleted_keys(old, &rows, &table.key)?,
            upserted,
            rows: rows.rows.len() as u64,
            hash: rows.hash(),
        }),
        None => None,
    };
    Ok((rows, change))
}

/// Returns the key values of rows in `old` that `new` no longer has: the rowid, or
/// the primary key values.
fn deleted_keys(old: &TableRows, new: &TableRows, key: &RowKey) -> Result<Vec<Vec<Value>>, String> {
    let mut deleted = Vec::new();
    let mut next = new.rows.iter().peekable();
    for entry in &old.rows {
        while next.next_if(|n| n.0 < entry.0).is_some() {}
        if next.peek().is_some_and(|n| n.0 == entry.0) {
            continue;
        }
        deleted.push(match key {
            RowKey::Rowid(_) => vec![Value::Integer(decode_rowid_key(&entry.0)?)],
            RowKey::PrimaryKey(_) => decode_values(&entry.0)?,
        });
    }
    Ok(deleted)
}

fn decode_rowid_key(key: &[u8]) -> Result<i64, String> {
    let bytes: [u8; 8] = key
        .try_into()
        .map_err(|_| format!("a rowid key has {} bytes, not 8", key.len()))?;
    Ok((u64::from_be_bytes(bytes) ^ (1 << 63)) as i64)
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

    #[test]
    fn rowid_key_roundtrip() {
        for rowid in [i64::MIN, -1, 0, 42, i64::MAX] {
            assert_eq!(decode_rowid_key(&rowid_key(rowid)).unwrap(), rowid);
        }
    }
}
