//! Local row state: what the last backup of a database saw, kept between backups in
//! the state folder so the next backup can compute an increment.
//!
//! A state file is `zstd(CBOR)` sealed under the row state key in segments bound to
//! the database's path ([`super::segments`]), so it is encrypted and authenticated at
//! rest and cannot be moved to another path.

use std::io::{BufReader, BufWriter, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use haven_crypto::{KeyedHash, SecretKey};
use serde::{Deserialize, Serialize};

use super::scan::TableRows;
use super::segments::{SegmentProblem, SegmentReader, SegmentWriter, MAGIC, SEGMENT_LEN};
use crate::id::{to_cbor, ObjectId};
use crate::keys::associated_data;
use crate::tree::Node;

/// Format version of a state file's plaintext. Version 2 wrote each table's keys and
/// hashes as single byte strings rather than chunks, and is still read.
const STATE_VERSION: u32 = 3;
const OLDEST_STATE_VERSION: u32 = 2;
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
    let mut source = match std::fs::File::open(file) {
        Ok(source) => BufReader::new(source),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(StateProblem::Missing),
        Err(e) => return Err(StateProblem::Unreadable(e.to_string())),
    };
    let mut head = Vec::with_capacity(MAGIC.len());
    (&mut source)
        .take(MAGIC.len() as u64)
        .read_to_end(&mut head)
        .map_err(|e| StateProblem::Unreadable(e.to_string()))?;
    let state = if head == MAGIC {
        let mut segments = SegmentReader::new(source, key, path, SEGMENT_LEN);
        let state = decode_state(&mut segments);
        match segments.problem() {
            Some(SegmentProblem::Damaged) => return Err(StateProblem::Damaged),
            Some(SegmentProblem::Unreadable(e)) => return Err(StateProblem::Unreadable(e.clone())),
            None => state?,
        }
    } else {
        // A state file written before segments: one sealed message.
        let mut sealed = head;
        source
            .read_to_end(&mut sealed)
            .map_err(|e| StateProblem::Unreadable(e.to_string()))?;
        let aad = associated_data("sqlite-row-state", path.as_os_str().as_bytes());
        let compressed =
            haven_crypto::open(key, &aad, &sealed).map_err(|_| StateProblem::Damaged)?;
        drop(sealed);
        decode_state(compressed.as_slice())?
    };
    if !(OLDEST_STATE_VERSION..=STATE_VERSION).contains(&state.version) {
        return Err(StateProblem::Invalid(format!(
            "unsupported version {}",
            state.version
        )));
    }
    Ok(state)
}

/// Decodes a state's zstd-compressed CBOR as a stream, to its end: the plaintext of a
/// large database's state is tens of MB.
fn decode_state(compressed: impl Read) -> Result<RowState, StateProblem> {
    let mut plaintext = zstd::stream::read::Decoder::new(compressed)
        .map_err(|e| StateProblem::Invalid(format!("decompression failed: {e}")))?;
    let state: RowState = ciborium::from_reader(&mut plaintext)
        .map_err(|e| StateProblem::Invalid(format!("invalid CBOR or zstd data: {e}")))?;
    let mut rest = [0u8; 1];
    match plaintext.read(&mut rest) {
        Ok(0) => Ok(state),
        Ok(_) => Err(StateProblem::Invalid("bytes after the row state".into())),
        Err(e) => Err(StateProblem::Invalid(format!("decompression failed: {e}"))),
    }
}

/// Seals and writes a state file under a temporary name, then renames it into place.
/// Returns the size written.
#[cfg(test)]
pub(crate) fn write_state(
    file: &Path,
    key: &SecretKey,
    path: &Path,
    state: &RowState,
) -> std::io::Result<u64> {
    prepare_state(file, key, path, state)?.commit()
}

/// A state file written and synced under a temporary name, next to where it goes.
/// Dropped before [`PreparedState::commit`], it removes the temporary file.
pub(crate) struct PreparedState {
    temporary: PathBuf,
    file: PathBuf,
    written: u64,
    committed: bool,
}

impl PreparedState {
    /// Renames the state file into place, and returns the size written.
    pub(crate) fn commit(mut self) -> std::io::Result<u64> {
        std::fs::rename(&self.temporary, &self.file)?;
        self.committed = true;
        Ok(self.written)
    }
}

impl Drop for PreparedState {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// Returns this process's part of its temporary state files' names: the process
/// id and the time of the first call. A file left by an earlier process with the
/// same id, as every container's first process has, is then not taken for its own.
fn run_id() -> &'static str {
    static RUN: OnceLock<String> = OnceLock::new();
    RUN.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        format!("{}x{nanos:08x}", std::process::id())
    })
}

/// Removes the temporary files of `file` that another process left, for example
/// a backup stopped by a signal before its snapshot was saved. A backup that runs
/// at the same time with the same state folder can lose its temporary file this
/// way, as it can lose its state anyway.
fn remove_leftovers(file: &Path) {
    let (Some(folder), Some(stem)) = (file.parent(), file.file_stem()) else {
        return;
    };
    let mut prefix = stem.as_bytes().to_vec();
    prefix.extend_from_slice(b".tmp-");
    let own = format!("{}-", run_id());
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.as_bytes().strip_prefix(prefix.as_slice()) else {
            continue;
        };
        if !rest.starts_with(own.as_bytes()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Seals and writes the state file `file` under a temporary name, to be renamed
/// into place once the snapshot it describes exists.
pub(crate) fn prepare_state(
    file: &Path,
    key: &SecretKey,
    path: &Path,
    state: &RowState,
) -> std::io::Result<PreparedState> {
    let folder = file.parent().expect("state files live in a folder");
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)?;
    remove_leftovers(file);
    // A database read twice in one backup (through nested paths) has two writers of
    // one state file, each with its own temporary file.
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let number = NEXT.fetch_add(1, Ordering::Relaxed);
    let temporary = file.with_extension(format!("tmp-{}-{number}", run_id()));
    let out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)?;
    // From here on, dropping it removes the temporary file.
    let mut prepared = PreparedState {
        temporary,
        file: file.to_path_buf(),
        written: 0,
        committed: false,
    };
    // Compressed and sealed as it is serialized, one segment at a time: a state file
    // is 16 bytes a row before compression, and holding it whole was the peak memory
    // of a daily backup.
    let segments = SegmentWriter::new(BufWriter::new(out), key, path, SEGMENT_LEN)?;
    let mut encoder = zstd::stream::write::Encoder::new(segments, 3)?;
    ciborium::into_writer(state, &mut encoder).map_err(|e| std::io::Error::other(e.to_string()))?;
    let (out, written) = encoder.finish()?.finish()?;
    let out = out.into_inner().map_err(|e| e.into_error())?;
    out.sync_all()?;
    prepared.written = written;
    Ok(prepared)
}

#[cfg(test)]
mod tests {
    use super::super::table_rows::KeyRef;
    use super::*;

    /// Returns a state of 300,000 rows, so its file spans several segments.
    fn state() -> RowState {
        let mut rows = TableRows::new("message".into(), true);
        for rowid in 1..=300_000i64 {
            let hash = (rowid as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            rows.push(KeyRef::Rowid(rowid), hash).unwrap();
        }
        RowState::new([3; 32], 17, vec![rows])
    }

    #[test]
    fn state_files_round_trip_in_segments() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("rows").join("a.state");
        let key = SecretKey::from_bytes([5; 32]);
        let state = state();
        let written = write_state(&file, &key, Path::new("/app/db"), &state).unwrap();
        assert_eq!(written, std::fs::metadata(&file).unwrap().len());
        assert!(
            written > SEGMENT_LEN as u64,
            "{written} bytes is one segment"
        );
        let read = read_state(&file, &key, Path::new("/app/db")).unwrap();
        assert_eq!(read, state);
        assert_eq!(
            read_state(&file, &key, Path::new("/app/other.db")),
            Err(StateProblem::Damaged)
        );
    }

    /// A prepared state leaves the previous one in place until it is committed, and
    /// one dropped uncommitted leaves no file behind.
    #[test]
    fn state_replaced_only_on_commit() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("a.state");
        let key = SecretKey::from_bytes([5; 32]);
        let db = Path::new("/app/db");
        let old = RowState::new([1; 32], 2, Vec::new());
        write_state(&file, &key, db, &old).unwrap();
        let entries = || std::fs::read_dir(folder.path()).unwrap().count();

        let dropped = prepare_state(&file, &key, db, &state()).unwrap();
        assert_eq!(entries(), 2, "the temporary file is next to the state");
        assert_eq!(read_state(&file, &key, db).unwrap(), old);
        drop(dropped);
        assert_eq!(entries(), 1, "the temporary file is left behind");
        assert_eq!(read_state(&file, &key, db).unwrap(), old);

        let prepared = prepare_state(&file, &key, db, &state()).unwrap();
        assert_eq!(read_state(&file, &key, db).unwrap(), old);
        let written = prepared.commit().unwrap();
        assert_eq!(entries(), 1);
        assert_eq!(written, std::fs::metadata(&file).unwrap().len());
        assert_eq!(read_state(&file, &key, db).unwrap(), state());
    }

    /// A database read twice in one backup (through a folder and a folder inside it)
    /// has its state written by two threads at once. Each writes its own temporary
    /// file, so the state in place is whole after both commit.
    #[test]
    fn two_writers_leave_state_whole() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("a.state");
        let key = SecretKey::from_bytes([5; 32]);
        let state = state();
        let write = || prepare_state(&file, &key, Path::new("/app/db"), &state).unwrap();
        let (first, second) = std::thread::scope(|scope| {
            let first = scope.spawn(write);
            let second = scope.spawn(write);
            (first.join().unwrap(), second.join().unwrap())
        });
        first.commit().unwrap();
        second.commit().unwrap();
        assert_eq!(
            read_state(&file, &key, Path::new("/app/db")).unwrap(),
            state
        );
        assert_eq!(std::fs::read_dir(folder.path()).unwrap().count(), 1);
    }

    /// Temporary files of the same state that another process left are removed. The
    /// ones of this process and of other states stay.
    #[test]
    fn prepare_removes_other_process_leftovers() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("a.state");
        let key = SecretKey::from_bytes([5; 32]);
        // The same process id as this one, from an earlier process.
        let same_pid = format!("a.tmp-{}x0-0", std::process::id());
        let other_pid = folder.path().join(same_pid);
        let own = folder.path().join(format!("a.tmp-{}-99", run_id()));
        let other_state = folder.path().join("b.tmp-1-0");
        for leftover in [&other_pid, &own, &other_state] {
            std::fs::write(leftover, b"left").unwrap();
        }
        let prepared = prepare_state(&file, &key, Path::new("/app/db"), &state()).unwrap();
        prepared.commit().unwrap();
        assert!(!other_pid.exists(), "another process's file stayed");
        assert!(own.exists(), "this process's file was removed");
        assert!(other_state.exists(), "another state's file was removed");
    }

    #[test]
    fn damaged_state_files_are_damaged() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("a.state");
        let key = SecretKey::from_bytes([5; 32]);
        write_state(&file, &key, Path::new("/app/db"), &state()).unwrap();
        let bytes = std::fs::read(&file).unwrap();
        let mut at = MAGIC.len();
        let mut last = at;
        while at < bytes.len() {
            last = at;
            let len = u32::from_le_bytes(bytes[at + 1..at + 5].try_into().unwrap()) as usize;
            at += 5 + len;
        }
        assert!(last > MAGIC.len(), "the file has one segment");
        let mut changed_magic = bytes.clone();
        changed_magic[0] ^= 1;
        for (what, damaged) in [
            ("without its last segment", &bytes[..last]),
            ("with another first byte", &changed_magic[..]),
            ("cut to 4 bytes", &bytes[..4]),
        ] {
            std::fs::write(&file, damaged).unwrap();
            assert_eq!(
                read_state(&file, &key, Path::new("/app/db")),
                Err(StateProblem::Damaged),
                "a state file {what}"
            );
        }
    }

    #[test]
    fn reads_a_state_file_sealed_as_one_message() {
        let folder = tempfile::tempdir().unwrap();
        let file = folder.path().join("a.state");
        let key = SecretKey::from_bytes([5; 32]);
        let state = state();
        let compressed = zstd::encode_all(crate::id::to_cbor(&state).as_slice(), 3).unwrap();
        let aad = associated_data("sqlite-row-state", b"/app/db");
        std::fs::write(&file, haven_crypto::seal(&key, &aad, &compressed)).unwrap();
        assert_eq!(
            read_state(&file, &key, Path::new("/app/db")).unwrap(),
            state
        );
    }
}
