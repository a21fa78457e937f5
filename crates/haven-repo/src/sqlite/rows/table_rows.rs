//! The (row key, row hash) pairs of one table, stored column-wise: a table of a
//! million rows costs 8 MB for a rowid table whose rowids run in sequence (a `u64` hash
//! a row, and 16 bytes for each run of rowids), instead of one heap-allocated key per
//! row.

use std::borrow::Cow;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::rowid_runs::RowidRuns;
use super::value::rowid_key;
use zerocopy::IntoBytes;

/// The row keys of a table, in the same order as its hashes. Two tables with the same
/// keys are equal in either form.
#[derive(Clone, Debug)]
enum Keys {
    /// A rowid table whose rows came in ascending rowid order: the runs of rowids.
    Runs(RowidRuns),
    /// A rowid table whose rows came out of order (until [`TableRows::sort`]) or
    /// whose rowids are too sparse for runs.
    Rowid(Vec<i64>),
    /// A WITHOUT ROWID table: the encoded primary keys, one after another, and where
    /// each ends in `bytes`.
    Encoded { bytes: Vec<u8>, ends: Vec<usize> },
}

impl PartialEq for Keys {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Keys::Encoded { bytes, ends }, Keys::Encoded { bytes: b, ends: e }) => {
                bytes == b && ends == e
            }
            (Keys::Encoded { .. }, _) | (_, Keys::Encoded { .. }) => false,
            (a, b) => a.rowids().eq(b.rowids()),
        }
    }
}

impl Eq for Keys {}

impl Keys {
    /// Returns the rowids of a rowid table in order, and none for other tables.
    fn rowids(&self) -> Box<dyn Iterator<Item = i64> + '_> {
        match self {
            Keys::Runs(runs) => Box::new(runs.iter()),
            Keys::Rowid(rowids) => Box::new(rowids.iter().copied()),
            Keys::Encoded { .. } => Box::new(std::iter::empty()),
        }
    }
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
            Keys::Runs(RowidRuns::default())
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
            (Keys::Runs(runs), KeyRef::Rowid(rowid)) => {
                let added = runs.push(rowid);
                if !added || runs.is_sparse() {
                    let mut rowids: Vec<i64> = runs.iter().collect();
                    if !added {
                        rowids.push(rowid);
                    }
                    self.keys = Keys::Rowid(rowids);
                }
            }
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
            Keys::Runs(runs) => KeyRef::Rowid(runs.get(index)),
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
            (Keys::Runs(runs), KeyRef::Rowid(rowid)) => runs.position(rowid)?,
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
        let sorted = matches!(self.keys, Keys::Runs(_))
            || (1..self.len()).all(|i| less(self.key(i - 1), self.key(i)));
        if sorted {
            return;
        }
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.sort_by(|a, b| compare(self.key(*a), self.key(*b)));
        let mut rows = TableRows::new(
            std::mem::take(&mut self.name),
            !matches!(self.keys, Keys::Encoded { .. }),
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

/// [`Stored`] with borrowed fields, which serializes to the same bytes. A copy of the
/// hashes and encoded keys added 8 bytes a row or more to the peak memory of writing
/// a state.
#[derive(Serialize)]
struct StoredRef<'a> {
    name: &'a str,
    rowid: bool,
    #[serde(with = "crate::id::bytes")]
    keys: &'a [u8],
    #[serde(with = "crate::id::bytes")]
    ends: &'a [u8],
    #[serde(with = "crate::id::bytes")]
    hashes: &'a [u8],
}

impl Serialize for TableRows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let (rowid, keys, ends): (bool, Cow<[u8]>, Vec<u8>) = match &self.keys {
            Keys::Runs(_) | Keys::Rowid(_) => (
                true,
                self.keys.rowids().flat_map(rowid_key).collect(),
                Vec::new(),
            ),
            Keys::Encoded { bytes, ends } => (
                false,
                Cow::Borrowed(bytes),
                ends.iter()
                    .flat_map(|e| (*e as u64).to_le_bytes())
                    .collect(),
            ),
        };
        StoredRef {
            name: &self.name,
            rowid,
            keys: &keys,
            ends: &ends,
            hashes: &little_endian(&self.hashes),
        }
        .serialize(serializer)
    }
}

/// Returns the hashes as little-endian bytes, without a copy where that is the
/// memory layout.
fn little_endian(hashes: &[u64]) -> Cow<'_, [u8]> {
    if cfg!(target_endian = "little") {
        Cow::Borrowed(hashes.as_bytes())
    } else {
        Cow::Owned(hashes.iter().flat_map(|h| h.to_le_bytes()).collect())
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
        let mut runs = RowidRuns::default();
        for key in stored.keys.chunks_exact(8) {
            let rowid = (u64::from_be_bytes(key.try_into().expect("8 bytes")) ^ (1 << 63)) as i64;
            if !runs.push(rowid) {
                return Err(format!(
                    "table {:?}: the row keys are not sorted",
                    stored.name
                ));
            }
        }
        if runs.is_sparse() {
            Keys::Rowid(runs.iter().collect())
        } else {
            Keys::Runs(runs)
        }
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
    fn rowids_in_order_stay_runs() {
        let rows = rowid_table(&[1, 2, 3, 10, 11]);
        assert!(matches!(&rows.keys, Keys::Runs(_)));
        assert_eq!(rows.find(KeyRef::Rowid(11)), Some(77));
        assert_eq!(rows.find(KeyRef::Rowid(4)), None);

        let shuffled = rowid_table(&[3, 1, 2]);
        assert!(matches!(&shuffled.keys, Keys::Runs(_)));
        assert_eq!(shuffled, rowid_table(&[1, 2, 3]));
    }

    #[test]
    fn sparse_rowids_stay_a_list() {
        let gaps: Vec<i64> = (0..200).map(|i| i * 3).collect();
        let rows = rowid_table(&gaps);
        assert!(matches!(&rows.keys, Keys::Rowid(_)));
        assert_eq!(rows.find(KeyRef::Rowid(597)), Some(597 * 7));
        assert_eq!(rows.find(KeyRef::Rowid(598)), None);
        let loaded: TableRows = from_cbor(&to_cbor(&rows)).unwrap();
        assert!(matches!(&loaded.keys, Keys::Rowid(_)));
        assert_eq!(loaded, rows);
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

        let owned = Stored {
            name: "w".into(),
            rowid: false,
            keys: b"k1k22".to_vec(),
            ends: [2u64, 5].iter().flat_map(|e| e.to_le_bytes()).collect(),
            hashes: [1u64, 2].iter().flat_map(|h| h.to_le_bytes()).collect(),
        };
        assert_eq!(to_cbor(&encoded), to_cbor(&owned));

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
