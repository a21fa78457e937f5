//! Pending-deletion marks: `prune/<64 hex>` objects that list packs a prune found
//! unused, with the time it found them.
//!
//! A marked pack is deleted by a later prune only after the grace period, and only if
//! no snapshot that exists at that moment needs a blob that lives only in it. Backups
//! never reuse a blob from a marked pack (see `docs/FORMAT.md`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::{Damage, Result};
use crate::id::{from_cbor, to_cbor, ObjectId};
use crate::index::check_content_name;
use crate::keys::{associated_data, KeySet};
use crate::storage::Storage;

pub(crate) const MARK_PREFIX: &str = "prune/";

/// The stored form of one mark object.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub(crate) struct MarkFile {
    /// When the packs were found unused, in Unix seconds.
    pub time: i64,
    pub packs: Vec<ObjectId>,
}

/// One mark object read from storage.
#[derive(Clone, Debug)]
pub(crate) struct Mark {
    pub path: String,
    pub file: MarkFile,
}

/// Every readable mark, and the mark objects that could not be read.
#[derive(Default, Debug)]
pub(crate) struct Marks {
    pub marks: Vec<Mark>,
    pub damaged: Vec<Damage>,
    /// Zero-length mark objects, left by an interrupted write.
    pub empty: Vec<String>,
}

impl Marks {
    /// Returns each marked pack with the earliest time it was marked.
    pub fn packs(&self) -> HashMap<ObjectId, i64> {
        let mut packs: HashMap<ObjectId, i64> = HashMap::new();
        for mark in &self.marks {
            for pack in &mark.file.packs {
                let time = packs.entry(*pack).or_insert(mark.file.time);
                *time = (*time).min(mark.file.time);
            }
        }
        packs
    }
}

pub(crate) fn mark_path(id: &ObjectId) -> String {
    format!("{MARK_PREFIX}{}", id.to_hex())
}

pub(crate) fn encode_mark(keys: &KeySet, file: &MarkFile) -> (ObjectId, Vec<u8>) {
    let bytes = haven_crypto::seal(
        &keys.metadata,
        &associated_data("prune-mark", &[]),
        &to_cbor(file),
    );
    (ObjectId::of_stored_bytes(&bytes), bytes)
}

fn decode_mark(keys: &KeySet, path: &str, bytes: &[u8]) -> Result<MarkFile, String> {
    check_content_name(path, bytes)?;
    let plain = haven_crypto::open(&keys.metadata, &associated_data("prune-mark", &[]), bytes)
        .map_err(|_| "failed authentication".to_string())?;
    from_cbor(&plain)
}

/// Writes a mark for `packs` at `time` and returns its path.
pub(crate) async fn write_mark(
    storage: &Storage,
    keys: &KeySet,
    time: i64,
    packs: Vec<ObjectId>,
) -> Result<String> {
    let (id, bytes) = encode_mark(keys, &MarkFile { time, packs });
    let path = mark_path(&id);
    storage.write(&path, bytes).await?;
    Ok(path)
}

/// Reads every mark object.
pub(crate) async fn read_marks(storage: &Storage, keys: &KeySet) -> Result<Marks> {
    let mut marks = Marks::default();
    for path in storage.list(MARK_PREFIX).await? {
        let Some(bytes) = storage.read(&path).await? else {
            // Deleted by a prune that finished with it after the listing.
            continue;
        };
        if bytes.is_empty() {
            marks.empty.push(path);
            continue;
        }
        match decode_mark(keys, &path, &bytes) {
            Ok(file) => marks.marks.push(Mark { path, file }),
            Err(reason) => {
                tracing::warn!(mark = %path, %reason, "pending-deletion mark is damaged");
                marks.damaged.push(Damage::new(path, reason));
            }
        }
    }
    Ok(marks)
}
