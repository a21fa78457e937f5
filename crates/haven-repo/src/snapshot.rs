//! Snapshot objects: the root tree of one backup and its summary.

use serde::{Deserialize, Serialize};

use crate::id::{from_cbor, to_cbor, ObjectId};
use crate::index::check_content_name;
use crate::keys::{associated_data, KeySet};

pub(crate) const SNAPSHOT_PREFIX: &str = "snapshots/";

/// Counts from one backup run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSummary {
    pub files_new: u64,
    pub files_changed: u64,
    pub files_unchanged: u64,
    pub dirs: u64,
    /// Bytes read from source files.
    pub bytes_read: u64,
    /// Bytes written to storage: packs, index files and the snapshot.
    pub bytes_written: u64,
    pub blobs_new: u64,
    pub duration_ms: u64,
    /// Databases stored as a page-level base while a state folder was set.
    #[serde(default)]
    pub sqlite_bases: u64,
    /// Databases stored as a row increment.
    #[serde(default)]
    pub sqlite_increments: u64,
    /// Time spent reading rows and computing row increments, in milliseconds.
    #[serde(default)]
    pub sqlite_diff_ms: u64,
}

/// One backup: when, of what, and the root tree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Start time in nanoseconds since the Unix epoch.
    pub time_ns: i64,
    pub hostname: String,
    /// The absolute paths backed up, as raw bytes. Each is one entry of the root tree,
    /// named by its last component.
    #[serde(with = "crate::id::bytes::list")]
    pub paths: Vec<Vec<u8>>,
    pub tags: Vec<String>,
    pub tree: ObjectId,
    pub parent: Option<ObjectId>,
    pub summary: BackupSummary,
}

pub(crate) fn snapshot_path(id: &ObjectId) -> String {
    format!("{SNAPSHOT_PREFIX}{}", id.to_hex())
}

pub(crate) fn encode_snapshot(keys: &KeySet, snapshot: &Snapshot) -> (ObjectId, Vec<u8>) {
    let bytes = haven_crypto::seal(
        &keys.metadata,
        &associated_data("snapshot", &[]),
        &to_cbor(snapshot),
    );
    (ObjectId::of_stored_bytes(&bytes), bytes)
}

pub(crate) fn decode_snapshot(keys: &KeySet, path: &str, bytes: &[u8]) -> Result<Snapshot, String> {
    check_content_name(path, bytes)?;
    let plain = haven_crypto::open(&keys.metadata, &associated_data("snapshot", &[]), bytes)
        .map_err(|_| "failed authentication".to_string())?;
    from_cbor(&plain)
}
