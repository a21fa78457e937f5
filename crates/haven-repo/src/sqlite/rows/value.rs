//! Column values, their canonical byte encoding, and keyed row hashes.

use haven_crypto::{KeyedHash, SecretKey};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::ToSql;
use serde::{Deserialize, Serialize};

/// One SQLite value as stored in an increment. Text is kept as raw bytes, because
/// SQLite does not require it to be valid UTF-8.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) enum Value {
    #[serde(rename = "n")]
    Null,
    #[serde(rename = "i")]
    Integer(i64),
    #[serde(rename = "r")]
    Real(f64),
    #[serde(rename = "t")]
    Text(#[serde(with = "crate::id::bytes")] Vec<u8>),
    #[serde(rename = "b")]
    Blob(#[serde(with = "crate::id::bytes")] Vec<u8>),
}

impl Value {
    pub fn from_ref(value: ValueRef<'_>) -> Self {
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Real(r) => Value::Real(r),
            ValueRef::Text(t) => Value::Text(t.to_vec()),
            ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        }
    }
}

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(i) => ValueRef::Integer(*i),
            Value::Real(r) => ValueRef::Real(*r),
            Value::Text(t) => ValueRef::Text(t),
            Value::Blob(b) => ValueRef::Blob(b),
        }))
    }
}

/// Appends the canonical encoding of `value`: a type byte (0 NULL, 1 INTEGER, 2 REAL,
/// 3 TEXT, 4 BLOB), then a big-endian i64, the big-endian IEEE 754 bits of a REAL, or
/// a big-endian u64 length and the bytes.
pub(crate) fn encode_value(out: &mut Vec<u8>, value: ValueRef<'_>) {
    match value {
        ValueRef::Null => out.push(0),
        ValueRef::Integer(i) => {
            out.push(1);
            out.extend_from_slice(&i.to_be_bytes());
        }
        ValueRef::Real(r) => {
            out.push(2);
            out.extend_from_slice(&r.to_bits().to_be_bytes());
        }
        ValueRef::Text(t) => encode_bytes(out, 3, t),
        ValueRef::Blob(b) => encode_bytes(out, 4, b),
    }
}

fn encode_bytes(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(bytes.len() as u64).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Returns the row key of a rowid: the big-endian bits with the sign bit flipped, so
/// byte order equals numeric order.
pub(crate) fn rowid_key(rowid: i64) -> [u8; 8] {
    ((rowid as u64) ^ (1 << 63)).to_be_bytes()
}

/// Returns the 64-bit keyed hash of one row: the first 8 bytes (little-endian) of
/// keyed BLAKE3 over the row key's length, the row key and the encoded values.
pub(crate) fn row_hash(key: &SecretKey, row_key: &[u8], encoded_values: &[u8]) -> u64 {
    let mut hasher = KeyedHash::new(key);
    hasher.update(&(row_key.len() as u64).to_be_bytes());
    hasher.update(row_key);
    hasher.update(encoded_values);
    let digest = hasher.finalize();
    u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rowid_keys_sort_numerically() {
        let rowids = [i64::MIN, -5, -1, 0, 1, 7, i64::MAX];
        let keys: Vec<[u8; 8]> = rowids.iter().map(|r| rowid_key(*r)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
    }

    #[test]
    fn encoding_separates_types() {
        let mut text = Vec::new();
        encode_value(&mut text, ValueRef::Text(b"1"));
        let mut blob = Vec::new();
        encode_value(&mut blob, ValueRef::Blob(b"1"));
        let mut integer = Vec::new();
        encode_value(&mut integer, ValueRef::Integer(1));
        assert_ne!(text, blob);
        assert_ne!(text, integer);
    }
}
