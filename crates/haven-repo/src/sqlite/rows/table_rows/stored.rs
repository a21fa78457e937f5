//! The state file form of a table's rows, a map of five fields. `name` is the table,
//! and `rowid` is true for a rowid table. `keys` contains the 8-byte keys of a rowid
//! table, or the encoded primary keys one after another. `ends` marks where each
//! encoded key ends and `hashes` contains the row hashes, u64 little-endian each.
//!
//! `keys`, `ends` and `hashes` are written as arrays of byte strings of at most
//! [`CHUNK`] bytes. Neither the writer nor the reader then keeps a second copy of a
//! large table's keys or hashes, and a rowid table's keys go straight into runs.
//! Version 2 state files wrote each as one byte string; those are still read.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{self, SerializeSeq, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::super::rowid_runs::RowidRuns;
use super::super::value::rowid_key;
use super::{less, Keys, TableRows};

/// Largest byte string of a stored field, a whole number of 8-byte values.
const CHUNK: usize = 64 * 1024;
const WORDS_PER_CHUNK: usize = CHUNK / 8;
const FIELDS: &[&str] = &["name", "rowid", "keys", "ends", "hashes"];

impl Serialize for TableRows {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let rows = self.hashes.len();
        let mut map = serializer.serialize_struct("Stored", FIELDS.len())?;
        map.serialize_field("name", &self.name)?;
        match &self.keys {
            Keys::Encoded { bytes, ends } => {
                map.serialize_field("rowid", &false)?;
                map.serialize_field("keys", &SliceChunks(bytes))?;
                let ends = ends.iter().map(|end| (*end as u64).to_le_bytes());
                map.serialize_field("ends", &WordChunks::new(ends, rows))?;
            }
            keys => {
                map.serialize_field("rowid", &true)?;
                let keys = keys.rowids().map(rowid_key);
                map.serialize_field("keys", &WordChunks::new(keys, rows))?;
                map.serialize_field("ends", &SliceChunks(&[]))?;
            }
        }
        let hashes = self.hashes.iter().map(|hash| hash.to_le_bytes());
        map.serialize_field("hashes", &WordChunks::new(hashes, rows))?;
        map.end()
    }
}

/// One byte string.
struct ByteString<'a>(&'a [u8]);

impl Serialize for ByteString<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
}

/// A slice written as chunks.
struct SliceChunks<'a>(&'a [u8]);

impl Serialize for SliceChunks<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len().div_ceil(CHUNK)))?;
        for chunk in self.0.chunks(CHUNK) {
            seq.serialize_element(&ByteString(chunk))?;
        }
        seq.end()
    }
}

/// `count` 8-byte values written as chunks, each chunk filled as it is written.
struct WordChunks<I> {
    words: Cell<Option<I>>,
    count: usize,
}

impl<I: Iterator<Item = [u8; 8]>> WordChunks<I> {
    fn new(words: I, count: usize) -> Self {
        Self {
            words: Cell::new(Some(words)),
            count,
        }
    }
}

impl<I: Iterator<Item = [u8; 8]>> Serialize for WordChunks<I> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut words = self
            .words
            .take()
            .ok_or_else(|| ser::Error::custom("a table's rows were serialized twice"))?;
        let chunks = self.count.div_ceil(WORDS_PER_CHUNK);
        let mut seq = serializer.serialize_seq(Some(chunks))?;
        let mut buffer = Vec::with_capacity(CHUNK.min(self.count * 8));
        for _ in 0..chunks {
            buffer.clear();
            for word in words.by_ref().take(WORDS_PER_CHUNK) {
                buffer.extend_from_slice(&word);
            }
            seq.serialize_element(&ByteString(&buffer))?;
        }
        if words.next().is_some() {
            return Err(ser::Error::custom("a table has more keys than hashes"));
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for TableRows {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct("Stored", FIELDS, TableVisitor)
    }
}

/// A destination for the chunks of one field.
trait ChunkSink {
    /// Makes room for a field of `chunks` chunks.
    fn reserve(&mut self, _chunks: usize) {}
    fn take(&mut self, chunk: &[u8]) -> Result<(), String>;
}

impl ChunkSink for Vec<u8> {
    fn take(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.extend_from_slice(chunk);
        Ok(())
    }
}

/// Little-endian 8-byte values.
#[derive(Default)]
struct Words(Vec<u64>);

impl ChunkSink for Words {
    fn reserve(&mut self, chunks: usize) {
        // The count comes from the file, so it sizes at most 16 chunks ahead.
        self.0.reserve_exact(chunks.min(16) * WORDS_PER_CHUNK);
    }

    fn take(&mut self, chunk: &[u8]) -> Result<(), String> {
        if !chunk.len().is_multiple_of(8) {
            return Err("a field is not a whole number of 8-byte values".into());
        }
        let words = chunk.chunks_exact(8);
        self.0
            .extend(words.map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes"))));
        Ok(())
    }
}

/// The 8-byte keys of a rowid table, which must come in ascending order.
#[derive(Default)]
struct Rowids {
    runs: RowidRuns,
    count: usize,
}

impl ChunkSink for Rowids {
    fn take(&mut self, chunk: &[u8]) -> Result<(), String> {
        if !chunk.len().is_multiple_of(8) {
            return Err("the rowid keys are not a whole number of 8-byte keys".into());
        }
        for key in chunk.chunks_exact(8) {
            let rowid = (u64::from_be_bytes(key.try_into().expect("8 bytes")) ^ (1 << 63)) as i64;
            if !self.runs.push(rowid) {
                return Err("the rowid keys are not sorted".into());
            }
            self.count += 1;
        }
        Ok(())
    }
}

/// Reads a field written as chunks, or as one byte string.
struct Chunks<S>(S);

impl<'de, S: ChunkSink> DeserializeSeed<'de> for Chunks<S> {
    type Value = S;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, S: ChunkSink> Visitor<'de> for Chunks<S> {
    type Value = S;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a byte string or an array of byte strings")
    }

    fn visit_bytes<E: de::Error>(mut self, bytes: &[u8]) -> Result<S, E> {
        self.0.take(bytes).map_err(E::custom)?;
        Ok(self.0)
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<S, E> {
        self.visit_bytes(&bytes)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<S, A::Error> {
        if let Some(chunks) = seq.size_hint() {
            self.0.reserve(chunks);
        }
        while seq.next_element_seed(Chunk(&mut self.0))?.is_some() {}
        Ok(self.0)
    }
}

/// One chunk, handed to a sink.
struct Chunk<'a, S>(&'a mut S);

impl<'de, S: ChunkSink> DeserializeSeed<'de> for Chunk<'_, S> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_byte_buf(self)
    }
}

impl<'de, S: ChunkSink> Visitor<'de> for Chunk<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<(), E> {
        self.0.take(bytes).map_err(E::custom)
    }

    fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<(), E> {
        self.visit_bytes(&bytes)
    }
}

enum StoredKeys {
    Rowids(Rowids),
    Encoded(Vec<u8>),
}

struct TableVisitor;

impl<'de> Visitor<'de> for TableVisitor {
    type Value = TableRows;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a table of the row state")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TableRows, A::Error> {
        let mut name: Option<String> = None;
        let mut rowid: Option<bool> = None;
        let mut keys = None;
        let mut ends = None;
        let mut hashes = None;
        while let Some(field) = map.next_key::<String>()? {
            match field.as_str() {
                "name" => name = Some(map.next_value()?),
                "rowid" => rowid = Some(map.next_value()?),
                "keys" => {
                    let sink = match rowid {
                        Some(true) => map
                            .next_value_seed(Chunks(Rowids::default()))
                            .map(StoredKeys::Rowids),
                        Some(false) => map
                            .next_value_seed(Chunks(Vec::new()))
                            .map(StoredKeys::Encoded),
                        None => {
                            return Err(de::Error::custom(
                                "a table's keys come before its rowid flag",
                            ))
                        }
                    };
                    keys = Some(sink.map_err(|e| in_table(&name, e))?);
                }
                "ends" => {
                    ends = Some(
                        map.next_value_seed(Chunks(Words::default()))
                            .map_err(|e| in_table(&name, e))?,
                    )
                }
                "hashes" => {
                    hashes = Some(
                        map.next_value_seed(Chunks(Words::default()))
                            .map_err(|e| in_table(&name, e))?,
                    )
                }
                other => return Err(de::Error::unknown_field(other, FIELDS)),
            }
        }
        let name = name.ok_or_else(|| de::Error::missing_field("name"))?;
        let keys = keys.ok_or_else(|| de::Error::missing_field("keys"))?;
        let ends = ends.ok_or_else(|| de::Error::missing_field("ends"))?.0;
        let hashes = hashes.ok_or_else(|| de::Error::missing_field("hashes"))?.0;
        assemble(name, keys, ends, hashes).map_err(de::Error::custom)
    }
}

/// Names the table in an error about one of its fields.
fn in_table<E: de::Error>(name: &Option<String>, error: E) -> E {
    E::custom(format!(
        "table {:?}: {error}",
        name.as_deref().unwrap_or("")
    ))
}

/// Checks the fields of a stored table against each other and builds the table.
fn assemble(
    name: String,
    keys: StoredKeys,
    ends: Vec<u64>,
    hashes: Vec<u64>,
) -> Result<TableRows, String> {
    let keys = match keys {
        StoredKeys::Rowids(rowids) => {
            if rowids.count != hashes.len() {
                return Err(format!(
                    "table {name:?}: {} rowid keys for {} rows",
                    rowids.count,
                    hashes.len()
                ));
            }
            if rowids.runs.is_sparse() {
                Keys::Rowid(rowids.runs.iter().collect())
            } else {
                Keys::Runs(rowids.runs)
            }
        }
        StoredKeys::Encoded(bytes) => {
            let in_order = ends.windows(2).all(|w| w[0] <= w[1]);
            if ends.len() != hashes.len()
                || !in_order
                || ends.last().copied().unwrap_or(0) != bytes.len() as u64
            {
                return Err(format!(
                    "table {name:?}: the key ends do not match the keys"
                ));
            }
            Keys::Encoded {
                bytes,
                ends: ends.into_iter().map(|e| e as usize).collect(),
            }
        }
    };
    let rows = TableRows { name, keys, hashes };
    if !(1..rows.len()).all(|i| less(rows.key(i - 1), rows.key(i))) {
        return Err(format!(
            "table {:?}: the row keys are not sorted",
            rows.name
        ));
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::super::KeyRef;
    use super::*;
    use crate::id::{from_cbor, to_cbor};

    /// The version 2 form: each field one byte string.
    #[derive(Serialize)]
    struct Version2 {
        name: String,
        rowid: bool,
        #[serde(with = "crate::id::bytes")]
        keys: Vec<u8>,
        #[serde(with = "crate::id::bytes")]
        ends: Vec<u8>,
        #[serde(with = "crate::id::bytes")]
        hashes: Vec<u8>,
    }

    fn words(values: &[u64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn rowid_table(rowids: impl IntoIterator<Item = i64>) -> TableRows {
        let mut rows = TableRows::new("t".into(), true);
        for rowid in rowids {
            rows.push(KeyRef::Rowid(rowid), (rowid as u64).wrapping_mul(7))
                .unwrap();
        }
        rows
    }

    fn encoded_table(keys: &[&[u8]]) -> TableRows {
        let mut rows = TableRows::new("w".into(), false);
        for (hash, key) in keys.iter().enumerate() {
            rows.push(KeyRef::Encoded(key), hash as u64).unwrap();
        }
        rows
    }

    fn chunks_of(stored: &[u8]) -> usize {
        // Each chunk of a full field starts with a byte string header of 64 KiB.
        stored
            .windows(5)
            .filter(|w| w == &[0x5a, 0, 1, 0, 0])
            .count()
    }

    #[test]
    fn tables_round_trip_in_chunks() {
        let extremes = rowid_table([i64::MIN, -1, 0, 42, i64::MAX]);
        assert_eq!(
            from_cbor::<TableRows>(&to_cbor(&extremes)).unwrap(),
            extremes
        );
        let encoded = encoded_table(&[b"", b"k1", b"k22"]);
        assert_eq!(from_cbor::<TableRows>(&to_cbor(&encoded)).unwrap(), encoded);
        let empty = encoded_table(&[]);
        assert_eq!(from_cbor::<TableRows>(&to_cbor(&empty)).unwrap(), empty);

        let large = rowid_table(1..=20_000);
        let stored = to_cbor(&large);
        assert_eq!(
            chunks_of(&stored),
            4,
            "two full chunks each of keys and hashes"
        );
        let loaded: TableRows = from_cbor(&stored).unwrap();
        assert!(matches!(loaded.keys, Keys::Runs(_)));
        assert_eq!(loaded, large);
    }

    #[test]
    fn reads_the_version_2_form() {
        let rows = rowid_table([1, 2, 3, 10]);
        let old = Version2 {
            name: "t".into(),
            rowid: true,
            keys: [1, 2, 3, 10].iter().flat_map(|r| rowid_key(*r)).collect(),
            ends: Vec::new(),
            hashes: words(&[7, 14, 21, 70]),
        };
        assert_eq!(from_cbor::<TableRows>(&to_cbor(&old)).unwrap(), rows);

        let encoded = encoded_table(&[b"k1", b"k22"]);
        let old = Version2 {
            name: "w".into(),
            rowid: false,
            keys: b"k1k22".to_vec(),
            ends: words(&[2, 5]),
            hashes: words(&[0, 1]),
        };
        assert_eq!(from_cbor::<TableRows>(&to_cbor(&old)).unwrap(), encoded);
    }

    #[test]
    fn rejects_inconsistent_tables() {
        let rowid = |keys: &[i64], hashes: usize| Version2 {
            name: "t".into(),
            rowid: true,
            keys: keys.iter().flat_map(|r| rowid_key(*r)).collect(),
            ends: Vec::new(),
            hashes: vec![0; 8 * hashes],
        };
        let error = |stored: &Version2| from_cbor::<TableRows>(&to_cbor(stored)).unwrap_err();
        assert!(error(&rowid(&[2, 1], 2)).contains("not sorted"));
        assert!(error(&rowid(&[1], 2)).contains("1 rowid keys for 2 rows"));
        let mut ragged = rowid(&[1], 1);
        ragged.hashes.pop();
        assert!(error(&ragged).contains("8-byte values"));
        let bad_ends = Version2 {
            name: "w".into(),
            rowid: false,
            keys: b"k1k22".to_vec(),
            ends: words(&[2, 4]),
            hashes: words(&[0, 1]),
        };
        assert!(error(&bad_ends).contains("key ends"));

        let unsorted = Version2 {
            name: "w".into(),
            rowid: false,
            keys: b"k2k1".to_vec(),
            ends: words(&[2, 4]),
            hashes: words(&[0, 1]),
        };
        assert!(error(&unsorted).contains("not sorted"));
        let decreasing = Version2 {
            name: "w".into(),
            rowid: false,
            keys: b"k1k22".to_vec(),
            ends: words(&[4, 2, 5]),
            hashes: words(&[0, 1, 2]),
        };
        assert!(error(&decreasing).contains("key ends"));

        #[derive(Serialize)]
        struct KeysFirst {
            #[serde(with = "crate::id::bytes")]
            keys: Vec<u8>,
            rowid: bool,
        }
        let keys_first = KeysFirst {
            keys: Vec::new(),
            rowid: true,
        };
        assert!(from_cbor::<TableRows>(&to_cbor(&keys_first))
            .unwrap_err()
            .contains("before its rowid flag"));
    }

    /// `{"name": "t", "rowid": true, "keys": [], "ends": [], "hashes": <header>}`.
    fn table_with_hashes_header(header: &[u8]) -> Vec<u8> {
        let mut cbor = vec![0xa5, 0x64];
        cbor.extend_from_slice(b"name");
        cbor.extend_from_slice(&[0x61, b't', 0x65]);
        cbor.extend_from_slice(b"rowid");
        cbor.extend_from_slice(&[0xf5, 0x64]);
        cbor.extend_from_slice(b"keys");
        cbor.extend_from_slice(&[0x80, 0x64]);
        cbor.extend_from_slice(b"ends");
        cbor.extend_from_slice(&[0x80, 0x66]);
        cbor.extend_from_slice(b"hashes");
        cbor.extend_from_slice(header);
        cbor
    }

    #[test]
    fn huge_chunk_counts_are_errors() {
        let mut largest = vec![0x9b];
        largest.extend_from_slice(&[0xff; 8]);
        // 2^20 chunks, 64 GiB if reserved at once.
        let large = [0x9a, 0x00, 0x10, 0x00, 0x00];
        for header in [&largest[..], &large[..]] {
            let cbor = table_with_hashes_header(header);
            assert!(from_cbor::<TableRows>(&cbor).is_err(), "{header:02x?}");
        }
    }
}
