//! The (row key, row hash) pairs of one table, stored column-wise: a table of a
//! million rows costs 16 MB for a rowid table (an `i64` and a `u64` a row), instead of
//! one heap-allocated key per row.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::value::rowid_key;

/// The row keys of a table, in the same order as its hashes.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Keys {
    /// A rowid table: the rowids.
    Rowid(Vec<i64>),
    /// A WITHOUT ROWID table: the encoded primary keys, one after another, and where
    /// each ends in `bytes`.
    Encoded { bytes: Vec<u8>, ends: Vec<usize> },
}

/// One row key, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyRef<'a> {
    Rowid(i64),
    Encoded(&'a [u8]),
}

/// Every row of one table, sorted by row key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TableRows {
    pub name: String,
    keys: Keys,
    hashes: Vec<u64>,
}

impl TableRows {
    /// Starts an empty table whose rows have rowid keys, or primary keys if `rowid` is false.
    pub fn new(name: String, rowid: bool) -> Self {
        let keys = if rowid {
            Keys::Rowid(Vec::new())
        } else {
            Keys::Encoded {
                bytes: Vec::new(),
                ends: Vec::new(),
            }
        };
        Self {
            name,
            keys,
            hashes: Vec::new(),
        }
    }

    /// Appends a row. Rows may come in any order; [`TableRows::sort`] orders them.
    pub fn push(&mut self, key: KeyRef, hash: u64) -> Result<(), String> {
        match (&mut self.keys, key) {
            (Keys::Rowid(rowids), KeyRef::Rowid(rowid)) => rowids.push(rowid),
            (Keys::Encoded { bytes, ends }, KeyRef::Encoded(key)) => {
                bytes.extend_from_slice(key);
                ends.push(bytes.len());
            }
            _ => return Err(self.kind_mismatch()),
        }
        self.hashes.push(hash);
        Ok(())
    }

    fn kind_mismatch(&self) -> String {
        format!(
            "table {:?} mixes rowid keys and primary keys in the row state",
            self.name
        )
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    /// Returns the keyed table hash: the wrapping sum of the row hashes. Row keys are
    /// unique and part of each row hash, so equal rows cannot cancel out.
    pub fn hash(&self) -> u64 {
        self.hashes
            .iter()
            .fold(0u64, |sum, hash| sum.wrapping_add(*hash))
    }

    /// Returns the key of row `index`.
    pub fn key(&self, index: usize) -> KeyRef<'_> {
        match &self.keys {
            Keys::Rowid(rowids) => KeyRef::Rowid(rowids[index]),
            Keys::Encoded { bytes, ends } => {
                let start = index.checked_sub(1).map_or(0, |i| ends[i]);
                KeyRef::Encoded(&bytes[start..ends[index]])
            }
        }
    }

    /// Returns the hash of the row with `key`, if the (sorted) table has one.
    pub fn find(&self, key: KeyRef) -> Option<u64> {
        let index = match (&self.keys, key) {
            (Keys::Rowid(rowids), KeyRef::Rowid(rowid)) => rowids.binary_search(&rowid).ok()?,
            (Keys::Encoded { .. }, KeyRef::Encoded(_)) => self.position(key)?,
            _ => return None,
        };
        Some(self.hashes[index])
    }

    /// Binary search over the sorted keys.
    fn position(&self, key: KeyRef) -> Option<usize> {
        let (mut low, mut high) = (0, self.len());
        while low < high {
            let middle = low + (high - low) / 2;
            match compare(self.key(middle), key) {
                std::cmp::Ordering::Less => low = middle + 1,
                std::cmp::Ordering::Greater => high = middle,
                std::cmp::Ordering::Equal => return Some(middle),
            }
        }
        None
    }

    /// Sorts the rows by key. A rowid table scanned in rowid order is left as it is.
    pub fn sort(&mut self) {
        let sorted = (1..self.len()).all(|i| less(self.key(i - 1), self.key(i)));
        if sorted {
            return;
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|a, b| compare(self.key(*a), self.key(*b)));
        let mut rows = TableRows::new(
            std::mem::take(&mut self.name),
            matches!(self.keys, Keys::Rowid(_)),
        );
        for index in order {
            rows.push(self.key(index), self.hashes[index])
                .expect("rows of one table have one kind of key");
        }
        *self = rows;
    }
}

/// Orders keys as their encoded bytes order: a rowid's key bytes sort as the rowid.
pub(crate) fn compare(a: KeyRef, b: KeyRef) -> std::cmp::Ordering {
    match (a, b) {
        (KeyRef::Rowid(a), KeyRef::Rowid(b)) => a.cmp(&b),
        (KeyRef::Encoded(a), KeyRef::Encoded(b)) => a.cmp(b),
        (a, b) => key_bytes(a).cmp(&key_bytes(b)),
    }
}

fn less(a: KeyRef, b: KeyRef) -> bool {
    compare(a, b) == std::cmp::Ordering::Less
}

/// Returns the bytes a row key is hashed and stored as.
pub(crate) fn key_bytes(key: KeyRef) -> Vec<u8> {
    match key {
        KeyRef::Rowid(rowid) => rowid_key(rowid).to_vec(),
        KeyRef::Encoded(bytes) => bytes.to_vec(),
    }
}

/// The state file form of a table: `keys` contains the 8-byte keys of a rowid table, or
/// the encoded primary keys one after another with `ends` (u64 little-endian each)
/// marking where each ends. `hashes` contains the row hashes, u64 little-endian.
#[derive(Serialize, Deserialize)]
struct Stored {
    name: String,
    rowid: bool,
    #[serde(with = "crate::id::bytes")]
    keys: Vec<u8>,
    #[serde(with = "crate::id::bytes")]
    ends: Vec<u8>,
    #[serde(with = "crate::id::bytes")]
    hashes: Vec<u8>,
}

impl Serialize for TableRows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (rowid, keys, ends) = match &self.keys {
            Keys::Rowid(rowids) => (
                true,
                rowids.iter().flat_map(|r| rowid_key(*r)).collect(),
                Vec::new(),
            ),
            Keys::Encoded { bytes, ends } => (
                false,
                bytes.clone(),
                ends.iter()
                    .flat_map(|e| (*e as u64).to_le_bytes())
                    .collect(),
            ),
        };
        Stored {
            name: self.name.clone(),
            rowid,
            keys,
            ends,
            hashes: self.hashes.iter().flat_map(|h| h.to_le_bytes()).collect(),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for TableRows {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let stored = Stored::deserialize(deserializer)?;
        from_stored(stored).map_err(D::Error::custom)
    }
}

fn from_stored(stored: Stored) -> Result<TableRows, String> {
    let words = |bytes: &[u8], what: &str| -> Result<Vec<u64>, String> {
        if !bytes.len().is_multiple_of(8) {
            return Err(format!(
                "table {:?}: {what} is not a whole number of 8-byte values",
                stored.name
            ));
        }
        Ok(bytes
            .chunks_exact(8)
            .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
            .collect())
    };
    let hashes = words(&stored.hashes, "the hash list")?;
    let keys = if stored.rowid {
        if stored.keys.len() != hashes.len() * 8 {
            return Err(format!(
                "table {:?}: {} key bytes for {} rowid rows",
                stored.name,
                stored.keys.len(),
                hashes.len()
            ));
        }
        Keys::Rowid(
            stored
                .keys
                .chunks_exact(8)
                .map(|k| (u64::from_be_bytes(k.try_into().expect("8 bytes")) ^ (1 << 63)) as i64)
                .collect(),
        )
    } else {
        let ends = words(&stored.ends, "the key end list")?;
        let in_order = ends.windows(2).all(|w| w[0] <= w[1]);
        if ends.len() != hashes.len()
            || !in_order
            || ends.last().copied().unwrap_or(0) != stored.keys.len() as u64
        {
            return Err(format!(
                "table {:?}: the key ends do not match the keys",
                stored.name
            ));
        }
        Keys::Encoded {
            bytes: stored.keys,
            ends: ends.into_iter().map(|e| e as usize).collect(),
        }
    };
    let rows = TableRows {
        name: stored.name,
        keys,
        hashes,
    };
    let sorted = (1..rows.len()).all(|i| less(rows.key(i - 1), rows.key(i)));
    if !sorted {
        return Err(format!(
            "table {:?}: the row keys are not sorted",
            rows.name
        ));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::id::{from_cbor, to_cbor};

    fn rowid_table(rowids: &[i64]) -> TableRows {
        let mut rows = TableRows::new("t".into(), true);
        for rowid in rowids {
            rows.push(KeyRef::Rowid(*rowid), (*rowid as u64).wrapping_mul(7))
                .unwrap();
        }
        rows.sort();
        rows
    }

    #[test]
    fn rowids_sort_and_find() {
        let rows = rowid_table(&[5, -3, 9, 0]);
        let keys: Vec<_> = (0..rows.len()).map(|i| rows.key(i)).collect();
        assert_eq!(keys, [-3, 0, 5, 9].map(KeyRef::Rowid));
        assert_eq!(rows.find(KeyRef::Rowid(9)), Some(63));
        assert_eq!(rows.find(KeyRef::Rowid(4)), None);
    }

    #[test]
    fn encoded_keys_sort_and_find() {
        let mut rows = TableRows::new("t".into(), false);
        for (key, hash) in [(&b"bb"[..], 2), (b"a", 1), (b"", 0), (b"ba", 3)] {
            rows.push(KeyRef::Encoded(key), hash).unwrap();
        }
        rows.sort();
        let keys: Vec<_> = (0..rows.len()).map(|i| key_bytes(rows.key(i))).collect();
        assert_eq!(keys, [&b""[..], b"a", b"ba", b"bb"]);
        assert_eq!(rows.find(KeyRef::Encoded(b"ba")), Some(3));
        assert_eq!(rows.find(KeyRef::Encoded(b"b")), None);
        assert!(rows.push(KeyRef::Rowid(1), 0).is_err());
    }

    #[test]
    fn state_form_roundtrip_and_checks() {
        let rows = rowid_table(&[i64::MIN, -1, 0, 42, i64::MAX]);
        assert_eq!(from_cbor::<TableRows>(&to_cbor(&rows)).unwrap(), rows);
        let mut encoded = TableRows::new("w".into(), false);
        encoded.push(KeyRef::Encoded(b"k1"), 1).unwrap();
        encoded.push(KeyRef::Encoded(b"k22"), 2).unwrap();
        assert_eq!(from_cbor::<TableRows>(&to_cbor(&encoded)).unwrap(), encoded);

        let unsorted = Stored {
            name: "t".into(),
            rowid: true,
            keys: [rowid_key(2), rowid_key(1)].concat(),
            ends: Vec::new(),
            hashes: vec![0; 16],
        };
        assert!(from_stored(unsorted).unwrap_err().contains("not sorted"));
        let short = Stored {
            name: "t".into(),
            rowid: true,
            keys: rowid_key(1).to_vec(),
            ends: Vec::new(),
            hashes: vec![0; 16],
        };
        assert!(from_stored(short).is_err());
    }
}
