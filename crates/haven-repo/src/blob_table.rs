//! The in-memory blob locations of the index, kept compact: a sorted array of
//! fixed-size entries, plus a small hash map of the latest additions that is merged
//! into the array once it grows past an eighth of it.
//!
//! An entry takes [`ENTRY_BYTES`] (56) bytes: the 32-byte blob id, the pack as a
//! 4-byte number into a table of pack ids, the 8-byte offset, the 4-byte stored and
//! plaintext lengths and the blob type. A map of full [`BlobLocation`] values would
//! take about twice that per blob before the hash table's spare capacity.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::id::ObjectId;
use crate::index::BlobLocation;
use crate::pack::BlobType;

/// Size of one entry of the sorted array, in bytes.
pub const ENTRY_BYTES: usize = std::mem::size_of::<Entry>();

/// Fewest additions held in the hash map before a merge, so small repositories do
/// not sort on every pack.
const MIN_RECENT: usize = 4096;

#[derive(Clone, Copy)]
struct Entry {
    id: ObjectId,
    offset: u64,
    length: u32,
    raw_length: u32,
    pack: u32,
    blob_type: BlobType,
}

/// Blob id to location, with [`HashMap`]-like methods.
#[derive(Default)]
pub(crate) struct BlobTable {
    /// Pack ids by pack number.
    packs: Vec<ObjectId>,
    pack_numbers: HashMap<ObjectId, u32>,
    /// Sorted by id, one entry per id.
    sorted: Vec<Entry>,
    /// Additions not yet merged into `sorted`. An id is in one of the two, never both.
    recent: HashMap<ObjectId, Entry>,
}

/// Orders ids as their bytes do. Ids are hashes, so their first eight bytes nearly
/// always differ. Comparing them as one number saves a `memcmp` call, and those
/// calls were a quarter of the samples of opening the 1 GB benchmark repository.
fn compare(a: &ObjectId, b: &ObjectId) -> Ordering {
    let head = |id: &ObjectId| u64::from_be_bytes(id.0[..8].try_into().expect("8 bytes"));
    head(a).cmp(&head(b)).then_with(|| a.0.cmp(&b.0))
}

/// A location that does not fit an entry: a blob of 4 GiB or more, or more than
/// 2^32 packs. No writer produces one, since blobs are at most 512 MiB.
#[derive(Debug)]
pub(crate) struct TooLarge;

impl BlobTable {
    pub fn len(&self) -> usize {
        self.sorted.len() + self.recent.len()
    }

    pub fn get(&self, id: &ObjectId) -> Option<BlobLocation> {
        let entry = match self.recent.get(id) {
            Some(entry) => entry,
            None => {
                let position = self.position(id).ok()?;
                &self.sorted[position]
            }
        };
        Some(self.location(entry))
    }

    pub fn contains_key(&self, id: &ObjectId) -> bool {
        self.recent.contains_key(id) || self.position(id).is_ok()
    }

    /// Every blob with its location, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (ObjectId, BlobLocation)> + '_ {
        self.sorted
            .iter()
            .chain(self.recent.values())
            .map(|entry| (entry.id, self.location(entry)))
    }

    /// Sets the location of `id`, replacing an earlier one.
    pub fn insert(&mut self, id: ObjectId, location: &BlobLocation) -> Result<(), TooLarge> {
        let entry = Entry {
            id,
            offset: location.offset,
            length: u32::try_from(location.length).map_err(|_| TooLarge)?,
            raw_length: u32::try_from(location.raw_length).map_err(|_| TooLarge)?,
            pack: self.pack_number(location.pack)?,
            blob_type: location.blob_type,
        };
        if let Ok(position) = self.position(&id) {
            self.sorted[position] = entry;
            return Ok(());
        }
        self.recent.insert(id, entry);
        if self.recent.len() > MIN_RECENT.max(self.sorted.len() / 8) {
            self.merge();
        }
        Ok(())
    }

    fn position(&self, id: &ObjectId) -> Result<usize, usize> {
        self.sorted.binary_search_by(|entry| compare(&entry.id, id))
    }

    fn pack_number(&mut self, pack: ObjectId) -> Result<u32, TooLarge> {
        if let Some(number) = self.pack_numbers.get(&pack) {
            return Ok(*number);
        }
        let number = u32::try_from(self.packs.len()).map_err(|_| TooLarge)?;
        self.packs.push(pack);
        self.pack_numbers.insert(pack, number);
        Ok(number)
    }

    /// Moves the recent additions into the sorted array. Only the additions are
    /// sorted, then the two runs are merged from the back. Sorting the whole array
    /// at each merge took 40 of the 180 ms that opening the 1 GB benchmark
    /// repository took (an estimated 100,000 blobs, mostly 4 KiB database pages).
    fn merge(&mut self) {
        let mut recent: Vec<Entry> = self.recent.drain().map(|(_, entry)| entry).collect();
        recent.sort_unstable_by(|a, b| compare(&a.id, &b.id));
        let mut old = self.sorted.len();
        self.sorted.reserve_exact(recent.len());
        // Placeholders that the merge overwrites, so the array has its final length.
        self.sorted.extend_from_slice(&recent);
        let mut end = self.sorted.len();
        while let Some(last) = recent.last() {
            end -= 1;
            if old > 0 && compare(&self.sorted[old - 1].id, &last.id).is_gt() {
                old -= 1;
                self.sorted[end] = self.sorted[old];
            } else {
                self.sorted[end] = *last;
                recent.pop();
            }
        }
        self.sorted.shrink_to_fit();
    }

    fn location(&self, entry: &Entry) -> BlobLocation {
        BlobLocation {
            pack: self.packs[entry.pack as usize],
            blob_type: entry.blob_type,
            offset: entry.offset,
            length: u64::from(entry.length),
            raw_length: u64::from(entry.raw_length),
        }
    }
}

/// Fills a table with `blobs` made-up entries, 4,096 to a pack, and returns it with
/// its entry count, for the memory measurement in `examples/index_memory.rs`.
pub(crate) fn synthetic(blobs: usize) -> (BlobTable, usize) {
    let mut table = BlobTable::default();
    for n in 0..blobs as u64 {
        let mut id = [0u8; 32];
        id.copy_from_slice(blake3::hash(&n.to_le_bytes()).as_bytes());
        let mut pack = [0u8; 32];
        pack[..8].copy_from_slice(&(n / 4096).to_le_bytes());
        let location = BlobLocation {
            pack: ObjectId(pack),
            blob_type: BlobType::Data,
            offset: (n % 4096) * 4200,
            length: 4200,
            raw_length: 4096,
        };
        table
            .insert(ObjectId(id), &location)
            .expect("made-up entries fit");
    }
    let len = table.len();
    (table, len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u32) -> ObjectId {
        let mut bytes = [0u8; 32];
        bytes[..4].copy_from_slice(&n.to_le_bytes());
        bytes[31] = 0xAB;
        ObjectId(bytes)
    }

    fn location(pack: u32, offset: u64) -> BlobLocation {
        BlobLocation {
            pack: id(1_000_000 + pack),
            blob_type: if offset.is_multiple_of(2) {
                BlobType::Data
            } else {
                BlobType::Tree
            },
            offset,
            length: offset + 40,
            raw_length: offset + 10,
        }
    }

    #[test]
    fn entry_is_56_bytes() {
        assert_eq!(ENTRY_BYTES, 56);
    }

    #[test]
    fn lookups_match_a_hash_map_across_merges() {
        let mut table = BlobTable::default();
        let mut expected = HashMap::new();
        // 20,000 ids cross several merges; every 7th is inserted again with a new
        // location, some before and some after the merge that moves it.
        for n in 0..20_000u32 {
            let first = location(n % 50, u64::from(n) * 3);
            table.insert(id(n), &first).unwrap();
            expected.insert(id(n), first);
            if n.is_multiple_of(7) && n >= 700 {
                let again = location(n % 13, u64::from(n) * 5);
                table.insert(id(n - 700), &again).unwrap();
                expected.insert(id(n - 700), again);
            }
        }
        assert_eq!(table.len(), expected.len());
        for (blob, want) in &expected {
            assert_eq!(table.get(blob).as_ref(), Some(want));
            assert!(table.contains_key(blob));
        }
        assert_eq!(table.get(&id(99_999)), None);
        assert!(!table.contains_key(&id(99_999)));
        let listed: HashMap<ObjectId, BlobLocation> = table.iter().collect();
        assert_eq!(listed, expected);
        assert!(table.sorted.windows(2).all(|pair| pair[0].id < pair[1].id));
    }

    #[test]
    fn compare_matches_byte_order() {
        let mut ids = Vec::new();
        for head in [0u8, 1, 0x80, 0xFF] {
            for tail in [0u8, 7, 0xFF] {
                let mut bytes = [0u8; 32];
                bytes[0] = head.reverse_bits();
                bytes[7] = head;
                bytes[20] = tail;
                ids.push(ObjectId(bytes));
            }
        }
        for a in &ids {
            for b in &ids {
                assert_eq!(compare(a, b), a.0.cmp(&b.0), "{a:?} against {b:?}");
            }
        }
    }

    #[test]
    fn oversized_lengths_are_rejected() {
        let mut table = BlobTable::default();
        let mut big = location(1, 0);
        big.length = u64::from(u32::MAX) + 1;
        assert!(table.insert(id(1), &big).is_err());
        assert_eq!(table.len(), 0);
    }
}
