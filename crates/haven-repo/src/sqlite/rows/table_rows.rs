//! The (row key, row hash) pairs of one table, stored column-wise: a table of a
//! million rows costs 8 MB for a rowid table whose rowids run in sequence (a `u64` hash
//! a row, and 16 bytes for each run of rowids), instead of one heap-allocated key per
//! row.

mod stored;

use super::rowid_runs::RowidRuns;
use super::value::rowid_key;

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

    /// Makes room for `rows` rows in all.
    pub fn reserve(&mut self, rows: usize) {
        let more = rows.saturating_sub(self.hashes.len());
        self.hashes.reserve_exact(more);
        if let Keys::Encoded { ends, .. } = &mut self.keys {
            ends.reserve_exact(more);
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

    /// Appends the rows of `other`, in its order.
    pub fn append(&mut self, other: &TableRows) -> Result<(), String> {
        self.reserve(self.len() + other.len());
        for (index, hash) in other.hashes.iter().enumerate() {
            self.push(other.key(index), *hash)?;
        }
        Ok(())
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
}
