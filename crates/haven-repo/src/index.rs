//! Index files: which blobs each pack holds and where.
//!
//! An index file `index/<id>` is a CBOR [`IndexFile`] sealed under the metadata key;
//! its id is the BLAKE3 hash of the stored bytes, so a replaced file fails its name.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::blob_table::BlobTable;
use crate::error::Damage;
use crate::id::{from_cbor, to_cbor, ObjectId};
use crate::keys::{associated_data, KeySet};
use crate::pack::{BlobType, PackEntry};

pub(crate) const INDEX_PREFIX: &str = "index/";

#[derive(Serialize, Deserialize, Default)]
pub(crate) struct IndexFile {
    pub packs: Vec<IndexedPack>,
}

#[derive(Serialize, Deserialize, Clone)]
pub(crate) struct IndexedPack {
    pub id: ObjectId,
    pub size: u64,
    pub blobs: Vec<PackEntry>,
}

/// Where to find one blob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobLocation {
    pub pack: ObjectId,
    pub blob_type: BlobType,
    pub offset: u64,
    pub length: u64,
    pub raw_length: u64,
}

/// The in-memory union of all index files.
#[derive(Default)]
pub(crate) struct Index {
    pub blobs: BlobTable,
    /// Indexed packs and their sizes.
    pub packs: HashMap<ObjectId, u64>,
    /// Index files that could not be read.
    pub damaged: Vec<Damage>,
    /// Zero-length index files, left by an interrupted write. Not damage.
    pub empty: Vec<String>,
    /// Packs that a prune marked for deletion. Their blobs are not reused.
    pub marked: HashSet<ObjectId>,
}

impl Index {
    /// Adds a pack's blobs. A blob already located in an unmarked pack keeps that
    /// location when `pack` is marked, so reads and reuse go to the copy that stays.
    pub fn add_pack(&mut self, pack: &IndexedPack) {
        self.packs.insert(pack.id, pack.size);
        let incoming_marked = self.marked.contains(&pack.id);
        for entry in &pack.blobs {
            if incoming_marked
                && self
                    .blobs
                    .get(&entry.id)
                    .is_some_and(|known| !self.marked.contains(&known.pack))
            {
                continue;
            }
            let location = BlobLocation {
                pack: pack.id,
                blob_type: entry.blob_type,
                offset: entry.offset,
                length: entry.length,
                raw_length: entry.raw_length,
            };
            if self.blobs.insert(entry.id, &location).is_err() {
                // Unreachable for packs Haven writes: the blob is left unindexed, so
                // check reports it missing and a backup stores it again.
                tracing::warn!(
                    pack = %pack.id,
                    blob = %entry.id,
                    length = entry.length,
                    "index entry too large to load; the blob is treated as missing"
                );
            }
        }
    }
}

impl Index {
    /// True when the blob is indexed in a pack that is not marked for deletion, so a
    /// backup may reference it without storing it again.
    pub fn is_reusable(&self, id: &ObjectId) -> bool {
        self.blobs
            .get(id)
            .is_some_and(|location| !self.marked.contains(&location.pack))
    }
}

pub(crate) fn index_path(id: &ObjectId) -> String {
    format!("{INDEX_PREFIX}{}", id.to_hex())
}

pub(crate) fn encode_index(keys: &KeySet, file: &IndexFile) -> (ObjectId, Vec<u8>) {
    let bytes = haven_crypto::seal(
        &keys.metadata,
        &associated_data("index", &[]),
        &to_cbor(file),
    );
    (ObjectId::of_stored_bytes(&bytes), bytes)
}

/// Decodes an index file read from `path`, checking its bytes against its name.
pub(crate) fn decode_index(keys: &KeySet, path: &str, bytes: &[u8]) -> Result<IndexFile, String> {
    check_content_name(path, bytes)?;
    let plain = haven_crypto::open(&keys.metadata, &associated_data("index", &[]), bytes)
        .map_err(|_| "failed authentication".to_string())?;
    from_cbor(&plain)
}

/// Checks that the last path component is the BLAKE3 hash of `bytes`.
pub(crate) fn check_content_name(path: &str, bytes: &[u8]) -> Result<(), String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let expected =
        ObjectId::from_hex(name).ok_or_else(|| "name is not a 64-digit hex id".to_string())?;
    if ObjectId::of_stored_bytes(bytes) != expected {
        return Err(format!(
            "content hash does not match its name ({} bytes read)",
            bytes.len()
        ));
    }
    Ok(())
}
