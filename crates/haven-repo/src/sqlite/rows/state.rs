//! Local row state: what the last backup of a database saw, kept between backups in
//! the state folder so the next backup can compute an increment.
//!
//! A state file is `seal(row state key, aad("sqlite-row-state", path), zstd(CBOR))`,
//! so it is encrypted and authenticated at rest and cannot be moved to another path.

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use haven_crypto::{KeyedHash, SecretKey};
use serde::{Deserialize, Serialize};

use super::scan::TableRows;
use crate::id::{to_cbor, ObjectId};
use crate::keys::associated_data;
use crate::tree::Node;

/// Format version of a state file's plaintext.
const STATE_VERSION: u32 = 2;
/// Folder under the state folder that holds the row state files.
const STATE_SUBDIR: &str = "sqlite-rows";

/// The rows of one database as of the snapshot node it describes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RowState {
    pub version: u32,
    #[serde(with = "crate::id::bytes")]
    pub schema: Vec<u8>,
    /// [`chain_id`] of the node whose last increment (or base) these rows match.
    pub chain: ObjectId,
    /// Increments in that node's chain.
    pub increments: u32,
    /// When the chain's page-level base was taken, in nanoseconds since the Unix epoch.
    pub base_time_ns: i64,
    pub tables: Vec<TableRows>,
}

impl RowState {
    pub fn new(schema: [u8; 32], base_time_ns: i64, tables: Vec<TableRows>) -> Self {
        Self {
            version: STATE_VERSION,
            schema: schema.to_vec(),
            chain: ObjectId([0; 32]),
            increments: 0,
            base_time_ns,
            tables,
        }
    }
}

/// Why the local state of a database cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StateProblem {
    Missing,
    Unreadable(String),
    /// Failed authentication: edited, truncated, or written with another key.
    Damaged,
    Invalid(String),
}

/// Returns the identity of a node's chain: BLAKE3 of its base content and increments.
pub(crate) fn chain_id(node: &Node) -> ObjectId {
    let parts = (&node.content, &node.content_list, &node.row_increments);
    ObjectId(*blake3::hash(&to_cbor(&parts)).as_bytes())
}

/// Returns the state file of the database at `path`. The name is a keyed hash of the
/// path, so the folder does not reveal which databases are backed up.
pub(crate) fn state_path(state_dir: &Path, name_key: &SecretKey, path: &Path) -> PathBuf {
    let mut hasher = KeyedHash::new(name_key);
    hasher.update(b"sqlite-row-state-name\0");
    hasher.update(path.as_os_str().as_bytes());
    let digest = hasher.finalize();
    state_dir
        .join(STATE_SUBDIR)
        .join(format!("{}.state", hex::encode(&digest[..16])))
}

/// Reads and opens the state file of the database at `path`.
pub(crate) fn read_state(
    file: &Path,
    key: &SecretKey,
    path: &Path,
) -> Result<RowState, StateProblem> {
    let sealed = match std::fs::read(file) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StateProblem::Missing),
        Err(e) => return Err(StateProblem::Unreadable(e.to_string())),
    };
    let aad = associated_data("sqlite-row-state", path.as_os_str().as_bytes());
    let compressed = haven_crypto::open(key, &aad, &sealed).map_err(|_| StateProblem::Damaged)?;
    drop(sealed);
    // Decoded as a stream: the plaintext of a large database's state is tens of MB.
    let plaintext = zstd::stream::read::Decoder::new(compressed.as_slice())
        .map_err(|e| StateProblem::Invalid(format!("decompression failed: {e}")))?;
    let state: RowState = ciborium::from_reader(plaintext)
        .map_err(|e| StateProblem::Invalid(format!("invalid CBOR or zstd data: {e}")))?;
    if state.version != STATE_VERSION {
        return Err(StateProblem::Invalid(format!(
            "unsupported version {}",
            state.version
        )));
    }
    Ok(state)
}

/// Seals and writes a state file under a temporary name, then renames it into place.
/// Returns the size written.
pub(crate) fn write_state(
    file: &Path,
    key: &SecretKey,
    path: &Path,
    state: &RowState,
) -> std::io::Result<u64> {
    let folder = file.parent().expect("state files live in a folder");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)?;
    // Compressed after the room for the nonce and sealed in place: a state file is
    // 16 bytes a row before compression, and a sealed copy of it doubled that.
    let room = vec![0u8; haven_crypto::NONCE_LEN];
    let mut encoder = zstd::stream::write::Encoder::new(room, 3)?;
    ciborium::into_writer(state, &mut encoder).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut sealed = encoder.finish()?;
    let aad = associated_data("sqlite-row-state", path.as_os_str().as_bytes());
    haven_crypto::seal_in_place(key, &aad, &mut sealed);
    let temporary = file.with_extension(format!("tmp-{}", std::process::id()));
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)?;
    out.write_all(&sealed)?;
    out.sync_all()?;
    drop(out);
    std::fs::rename(&temporary, file)?;
    Ok(sealed.len() as u64)
}
