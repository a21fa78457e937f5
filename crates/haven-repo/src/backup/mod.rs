//! Backing up files and folders into a new snapshot.

mod file_content;
mod pack_file;
mod pipeline;
mod sqlite_rows;
mod walk;

use std::collections::HashSet;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use crate::copy::CopyStats;
use crate::error::{Damage, RepoError, Result};
use crate::id::ObjectId;
use crate::index::{self, BlobLocation, IndexFile, IndexedPack};
use crate::pack::{self, PACK_PREFIX};
use crate::snapshot::{self, BackupSummary, Snapshot};
use crate::sqlite::{SqliteBase, SqliteOptions};
use crate::tree::escape_name;
use crate::Repository;

/// A point in reading one file where a test hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookPoint {
    BeforeOpen,
    AfterOpen,
}

/// Called with each regular file's path at each [`HookPoint`]. Tests use it to change
/// or delete a file at an exact moment.
pub type FileHook = Arc<dyn Fn(&Path, HookPoint) + Send + Sync>;

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct BackupProgress {
    pub files: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_written: Arc<AtomicU64>,
}

/// How a backup chooses the snapshot whose unchanged files it reuses.
#[derive(Clone, Debug, Default)]
pub enum ParentChoice {
    /// The latest snapshot with the same host and the same paths.
    #[default]
    Latest,
    /// Read every file.
    None,
    Snapshot(ObjectId),
}

/// Options for [`Repository::backup`].
#[derive(Clone)]
pub struct BackupOptions {
    pub tags: Vec<String>,
    /// Host name stored in the snapshot; defaults to the system host name.
    pub hostname: Option<String>,
    pub parent: ParentChoice,
    pub progress: Option<Arc<BackupProgress>>,
    /// Maximum packs covered by one index file before it is written.
    pub index_flush_packs: usize,
    /// Threads that compress and encrypt.
    pub workers: usize,
    /// Packs uploaded at once. Each running upload holds one pack (16 MiB by
    /// default) in memory.
    pub uploads: usize,
    /// How SQLite databases are copied.
    pub sqlite: SqliteOptions,
    /// Paths to record in the snapshot in place of a source path, as (source, recorded)
    /// pairs. An import that backs up a decrypted copy from a temporary folder records
    /// the original file, so the snapshot names what the user gave.
    pub recorded_paths: Vec<(PathBuf, PathBuf)>,
    #[doc(hidden)]
    pub hook: Option<FileHook>,
}

impl Default for BackupOptions {
    fn default() -> Self {
        Self {
            tags: Vec::new(),
            hostname: None,
            parent: ParentChoice::Latest,
            progress: None,
            index_flush_packs: 8,
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            uploads: 4,
            sqlite: SqliteOptions::default(),
            recorded_paths: Vec::new(),
            hook: None,
        }
    }
}

/// Why a file is missing from a snapshot or stored with a warning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Size, mtime or ctime changed while the file was read; what was read is stored.
    Changed,
    /// The file was listed but gone before it could be read; it is not in the snapshot.
    Vanished,
    /// Opening or reading failed; the file is not in the snapshot.
    Unreadable,
    /// A SQLite database that could not be read consistently (corrupt, truncated, or
    /// locked for longer than the busy timeout) is stored as a plain file, with its
    /// sidecars. This is a warning: the file is in the snapshot.
    StoredPlain,
}

/// A file the backup could not store as it was listed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FileProblem {
    /// The path, with non-UTF-8 bytes escaped as `\xNN`.
    pub path: String,
    pub kind: ProblemKind,
    pub detail: String,
}

/// The outcome of a backup that wrote a snapshot.
#[derive(Clone, Debug)]
pub struct BackupResult {
    pub snapshot_id: ObjectId,
    pub snapshot: Snapshot,
    pub problems: Vec<FileProblem>,
    /// Damage found in the repository while backing up (for example an unreadable
    /// index file). Blobs it made unreachable were stored again.
    pub damaged: Vec<Damage>,
    /// Packs found in storage without an index entry, from an interrupted backup,
    /// and indexed again so their blobs are reused.
    pub adopted_packs: u64,
    /// Blobs copied out of packs that a prune marked for deletion while the backup
    /// ran, so the snapshot does not depend on those packs.
    pub rescued_blobs: u64,
    /// Databases stored as a page-level base while a state folder was set, with the
    /// reason. Databases stored as row increments are counted in the summary.
    pub sqlite_bases: Vec<SqliteBase>,
}

impl Repository {
    /// Backs up `paths` (files or folders) into a new snapshot, written last.
    pub async fn backup(&self, paths: &[PathBuf], options: BackupOptions) -> Result<BackupResult> {
        let started = Instant::now();
        let time_ns = now_ns();
        let paths = normalize_paths(paths)?;
        // Marks written since the repository was opened count too: no blob of a
        // marked pack is reused.
        self.reload_marks().await?;
        let adopted_packs = self.adopt_unindexed_packs().await?;
        let mut damaged = self.damaged_indexes();
        let hostname = options.hostname.clone().unwrap_or_else(system_hostname);
        let raw_paths: Vec<Vec<u8>> = paths
            .iter()
            .map(|p| recorded_path(p, &options.recorded_paths))
            .collect();
        let parent = self
            .choose_parent(&options.parent, &hostname, &raw_paths)
            .await?;
        let parent_tree = match &parent {
            Some((_, snap)) => match self.load_tree(&snap.tree).await {
                Ok(tree) => Some(tree),
                Err(RepoError::Damaged { damage, .. }) => {
                    damaged.push(damage);
                    None
                }
                Err(e) => return Err(e),
            },
            None => None,
        };

        let progress = options.progress.clone().unwrap_or_default();
        let handle = tokio::runtime::Handle::current();
        let repo = self.clone();
        let walk_options = options.clone();
        let walk_progress = progress.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            walk::run(
                repo,
                handle,
                paths,
                parent_tree,
                walk_options,
                walk_progress,
            )
        })
        .await
        .map_err(|e| RepoError::Pipeline(format!("the backup thread failed: {e}")))??;

        let mut summary = outcome.summary;
        let snapshot = Snapshot {
            time_ns,
            hostname,
            paths: raw_paths,
            tags: options.tags.clone(),
            tree: outcome.root_tree,
            parent: parent.map(|(id, _)| id),
            summary: BackupSummary::default(),
        };
        let rescued = self.rescue_marked_blobs(&outcome.used).await?;
        summary.bytes_written = outcome.packer.bytes_written + rescued.bytes_written;
        summary.blobs_new = outcome.packer.blobs + rescued.blobs;
        summary.duration_ms = started.elapsed().as_millis() as u64;
        let mut snapshot = snapshot;
        snapshot.summary = summary;
        let (snapshot_id, bytes) = snapshot::encode_snapshot(&self.keys, &snapshot);
        snapshot.summary.bytes_written += bytes.len() as u64;
        // The stored summary does not count the snapshot's own size, since the size
        // depends on the summary.
        self.storage
            .write(&snapshot::snapshot_path(&snapshot_id), bytes)
            .await?;
        // Only now does the snapshot exist whose chains the states describe.
        for pending in outcome.row_states {
            let (path, file) = (pending.path.clone(), pending.file.clone());
            if let Err(e) = pending.commit() {
                tracing::warn!(path = %display_path(&path), state = %file.display(), error = %e,
                    "writing the local row state failed; the next backup takes a page-level base");
            }
        }
        Ok(BackupResult {
            snapshot_id,
            snapshot,
            problems: outcome.problems,
            damaged,
            adopted_packs,
            rescued_blobs: rescued.blobs,
            sqlite_bases: outcome.sqlite_bases,
        })
    }

    /// Copies the blobs the new snapshot references out of packs that a prune has
    /// marked for deletion, into new packs. A prune that marked them after this backup
    /// loaded the marks did not know the snapshot would need them. Once the copies
    /// exist, deleting the marked packs loses nothing. Runs just before the snapshot
    /// is written, and the grace period covers the time between the two.
    async fn rescue_marked_blobs(&self, used: &HashSet<ObjectId>) -> Result<CopyStats> {
        let marked = self.reload_marks().await?;
        if marked.is_empty() {
            return Ok(CopyStats::default());
        }
        let to_copy: Vec<(ObjectId, BlobLocation)> = {
            let index = self.index.read().expect("index lock");
            used.iter()
                .filter_map(|id| index.blobs.get(id).map(|location| (*id, location)))
                .filter(|(_, location)| marked.contains(&location.pack))
                .collect()
        };
        if to_copy.is_empty() {
            return Ok(CopyStats::default());
        }
        tracing::info!(
            blobs = to_copy.len(),
            "copying blobs out of packs a prune marked during the backup"
        );
        self.copy_blobs(&to_copy).await
    }

    async fn choose_parent(
        &self,
        choice: &ParentChoice,
        hostname: &str,
        paths: &[Vec<u8>],
    ) -> Result<Option<(ObjectId, Snapshot)>> {
        match choice {
            ParentChoice::None => Ok(None),
            ParentChoice::Snapshot(id) => self.find_snapshot(&id.to_hex()).await.map(Some),
            ParentChoice::Latest => {
                let (snapshots, _) = self.snapshots().await?;
                let wanted: HashSet<&Vec<u8>> = paths.iter().collect();
                Ok(snapshots.into_iter().rev().find(|(_, snap)| {
                    snap.hostname == hostname && snap.paths.iter().collect::<HashSet<_>>() == wanted
                }))
            }
        }
    }

    /// Indexes packs that are in storage but in no index file: the packs an
    /// interrupted backup uploaded after its last index file. Returns how many.
    pub async fn adopt_unindexed_packs(&self) -> Result<u64> {
        let listed = self.storage.list(PACK_PREFIX).await?;
        let missing: Vec<(String, ObjectId)> = {
            let index = self.index.read().expect("index lock");
            listed
                .into_iter()
                .filter_map(|path| pack::pack_id_from_path(&path).map(|id| (path, id)))
                .filter(|(_, id)| !index.packs.contains_key(id) && !index.marked.contains(id))
                .collect()
        };
        let mut adopted = Vec::new();
        for (path, id) in missing {
            let Some(bytes) = self.storage.read(&path).await? else {
                continue;
            };
            if ObjectId::of_stored_bytes(&bytes) != id {
                tracing::warn!(pack = %path, "unindexed pack does not match its name; not reused");
                continue;
            }
            match pack::read_pack_header(&self.keys, &bytes) {
                Ok(blobs) => adopted.push(IndexedPack {
                    id,
                    size: bytes.len() as u64,
                    blobs,
                }),
                Err(reason) => {
                    tracing::warn!(pack = %path, %reason, "unindexed pack is unreadable; not reused")
                }
            }
        }
        if adopted.is_empty() {
            return Ok(0);
        }
        let count = adopted.len() as u64;
        let file = IndexFile { packs: adopted };
        let (id, bytes) = index::encode_index(&self.keys, &file);
        self.storage.write(&index::index_path(&id), bytes).await?;
        let mut index = self.index.write().expect("index lock");
        for pack in &file.packs {
            index.add_pack(pack);
        }
        tracing::info!(packs = count, "indexed packs left by an interrupted backup");
        Ok(count)
    }
}

/// Makes paths absolute (without resolving symlinks) and checks that their last
/// components, the names in the root tree, are present and distinct.
fn normalize_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    if paths.is_empty() {
        return Err(RepoError::InvalidInput(
            "no paths to back up; give at least one file or folder".into(),
        ));
    }
    let mut names = HashSet::new();
    let mut out = Vec::new();
    for path in paths {
        let absolute = std::path::absolute(path).map_err(|e| RepoError::io("resolve", path, e))?;
        std::fs::symlink_metadata(&absolute)
            .map_err(|e| RepoError::io("read metadata of", &absolute, e))?;
        let Some(name) = absolute.file_name() else {
            return Err(RepoError::InvalidInput(format!(
                "{} has no last component to name it in the snapshot; back up its contents instead",
                absolute.display()
            )));
        };
        if !names.insert(name.to_os_string()) {
            return Err(RepoError::InvalidInput(format!(
                "two paths end in {:?}; back up folders with distinct names, or their parent",
                escape_name(name.as_bytes())
            )));
        }
        out.push(absolute);
    }
    Ok(out)
}

/// Returns the bytes recorded in the snapshot for the source path `path`.
fn recorded_path(path: &Path, aliases: &[(PathBuf, PathBuf)]) -> Vec<u8> {
    let recorded = aliases
        .iter()
        .find(|(source, _)| std::path::absolute(source).is_ok_and(|s| s == path))
        .map_or(path, |(_, recorded)| recorded.as_path());
    recorded.as_os_str().as_bytes().to_vec()
}

pub(super) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

pub(crate) fn system_hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its whole length; gethostname writes at most
    // that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

pub(crate) fn display_path(path: &Path) -> String {
    escape_name(path.as_os_str().as_bytes())
}
