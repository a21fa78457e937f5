//! Restoring a snapshot into a folder.

mod finisher;
mod prefetch;
mod rows;
mod rows_base;
mod run;

use std::collections::{HashMap, HashSet};
use std::ffi::{CString, OsStr};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use filetime::FileTime;
use serde::Serialize;
use tokio::runtime::Handle;

use crate::direct_writer::{DirectWrites, FileWriter, Then};
use crate::error::{Damage, RepoError, Result};
use crate::id::ObjectId;
use crate::tree::{escape_name, Node, NodeKind, Tree};
use crate::Repository;

/// Options for [`Repository::restore`].
#[derive(Clone, Default)]
pub struct RestoreOptions {
    /// Restore only these paths (relative to the snapshot root, for example
    /// `media/2024`) and what is below them. Empty restores everything.
    pub includes: Vec<PathBuf>,
    pub progress: Option<Arc<RestoreProgress>>,
    /// Rewrite every file, also one that a previous restore already wrote. By
    /// default a regular file whose size and modification time (to the nanosecond)
    /// equal the snapshot's is kept, so an interrupted restore resumes.
    pub overwrite_all: bool,
}

/// Live counters for a progress display.
#[derive(Debug, Default)]
pub struct RestoreProgress {
    pub files: AtomicU64,
    pub bytes: AtomicU64,
}

/// A restored file or folder with damaged or missing data.
#[derive(Clone, Debug, Serialize)]
pub struct DamagedFile {
    /// Path in the snapshot, with non-UTF-8 bytes escaped.
    pub path: String,
    /// The damaged objects, for example `blob 1a2b3c4d in data/…: failed authentication`.
    pub objects: Vec<String>,
}

/// The outcome of a restore.
#[derive(Clone, Debug, Default)]
pub struct RestoreReport {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
    /// Files kept as they were because their size and modification time already
    /// matched the snapshot (counted in `files`, not in `bytes`).
    pub unchanged: u64,
    /// Files whose data could not be read in full: the readable parts are restored
    /// and the rest is left as zero bytes.
    pub damaged: Vec<DamagedFile>,
    /// Entries restored without some metadata, or not restored (sockets, devices).
    pub warnings: Vec<String>,
}

impl Repository {
    /// Restores the snapshot `snapshot` into `target`, creating it if needed.
    /// Existing files at restored paths are replaced.
    pub async fn restore(
        &self,
        snapshot: &ObjectId,
        target: &Path,
        options: RestoreOptions,
    ) -> Result<RestoreReport> {
        let (_, snap) = self.find_snapshot(&snapshot.to_hex()).await?;
        let root = match self.load_tree(&snap.tree).await {
            Ok(tree) => tree,
            Err(RepoError::Damaged { damage, .. }) => {
                return Ok(RestoreReport {
                    damaged: vec![DamagedFile {
                        path: "/ (the whole snapshot)".into(),
                        objects: vec![damage.to_string()],
                    }],
                    ..RestoreReport::default()
                })
            }
            Err(e) => return Err(e),
        };
        self.require_paths(snapshot, &root, &options.includes)
            .await?;
        fs::create_dir_all(target).map_err(|e| RepoError::io("create", target, e))?;
        let includes: Vec<Vec<Vec<u8>>> = options.includes.iter().map(|p| components(p)).collect();
        let mut restorer = Restorer {
            repo: self.clone(),
            handle: Handle::current(),
            includes,
            progress: options.progress.clone().unwrap_or_default(),
            report: RestoreReport::default(),
            links: HashMap::new(),
            zero_blobs: HashSet::new(),
            is_root: unsafe { libc::geteuid() } == 0,
            overwrite_all: options.overwrite_all,
            snapshot: *snapshot,
            pending_rows: Vec::new(),
            prefetched: HashMap::new(),
            run: None,
            direct_writes: None,
            finisher: None,
            outcomes: finisher::Outcomes::new(),
            deferred_dirs: Vec::new(),
        };
        let target = target.to_path_buf();
        let report = tokio::task::spawn_blocking(move || {
            let restored = restorer.restore_tree(&root, &target, &mut Vec::new());
            // Joined on every path, so no thread is left writing after an error.
            let files = restorer.finish_files();
            let finished = restorer.finish_rows();
            // A failure on a write thread is reported first, since later errors may
            // follow from it.
            files?;
            restored?;
            finished?;
            Ok::<_, RepoError>(restorer.report)
        })
        .await
        .map_err(|e| RepoError::Pipeline(format!("the restore thread failed: {e}")))??;
        Ok(report)
    }
}

/// Splits a snapshot path into name components, ignoring empty parts and `.`.
pub(crate) fn components(path: &Path) -> Vec<Vec<u8>> {
    path.as_os_str()
        .as_bytes()
        .split(|b| *b == b'/')
        .filter(|part| !part.is_empty() && *part != b".")
        .map(|part| part.to_vec())
        .collect()
}

pub(crate) fn join_display(parts: &[Vec<u8>]) -> String {
    parts
        .iter()
        .map(|p| escape_name(p))
        .collect::<Vec<_>>()
        .join("/")
}

/// Smallest file written around the page cache (see [`crate::direct_writer`]):
/// media that nothing reads right after the restore.
const MIN_DIRECT_FILE: u64 = 1 << 20;

/// A small file's chunks that are not all zero, each at its offset, and its length.
type LoadedFile = (Vec<(u64, Bytes)>, u64);

enum Selection {
    /// Restore this entry and everything below it.
    All,
    /// Only a path on the way to an included entry.
    OnTheWay,
    Skip,
}

struct Restorer {
    repo: Repository,
    handle: Handle,
    includes: Vec<Vec<Vec<u8>>>,
    progress: Arc<RestoreProgress>,
    report: RestoreReport,
    /// First restored path of each multiply-linked (device, inode).
    links: HashMap<(u64, u64), PathBuf>,
    /// Data blobs known to be all zeros: skipped without reading, left as holes.
    zero_blobs: HashSet<ObjectId>,
    is_root: bool,
    overwrite_all: bool,
    /// The snapshot being restored, named in errors about its row increments.
    snapshot: ObjectId,
    /// Databases whose increments are still being applied.
    pending_rows: Vec<rows::PendingRows>,
    /// Blobs of the small files in the folder being restored, loaded together.
    prefetched: HashMap<ObjectId, Bytes>,
    /// The larger files of the folder being restored, read as one stream.
    run: Option<run::FileRun>,
    /// The thread that writes larger files around the page cache, once started.
    direct_writes: Option<DirectWrites>,
    /// The thread that writes small files and sets their metadata, once started.
    finisher: Option<finisher::Finisher>,
    /// Reports from the finishing thread and the direct write thread.
    outcomes: finisher::Outcomes,
    /// Folders whose metadata is set once their databases are moved into place, since
    /// the move would change their mtime (and a read-only mode would forbid it).
    deferred_dirs: Vec<(Node, PathBuf, Vec<Vec<u8>>)>,
}

impl Restorer {
    fn select(&self, path: &[Vec<u8>]) -> Selection {
        if self.includes.is_empty() {
            return Selection::All;
        }
        let mut on_the_way = false;
        for include in &self.includes {
            if path.starts_with(include) {
                return Selection::All;
            }
            if include.starts_with(path) {
                on_the_way = true;
            }
        }
        if on_the_way {
            Selection::OnTheWay
        } else {
            Selection::Skip
        }
    }

    fn restore_tree(&mut self, tree: &Tree, dir: &Path, path: &mut Vec<Vec<u8>>) -> Result<()> {
        for (position, node) in tree.nodes.iter().enumerate() {
            path.push(node.name.clone());
            let selection = self.select(path);
            let target = dir.join(OsStr::from_bytes(&node.name));
            match selection {
                Selection::Skip => {}
                Selection::OnTheWay if node.kind != NodeKind::Dir => {}
                _ => {
                    if self.includes.is_empty() {
                        self.prefetch(&tree.nodes, position)?;
                        self.plan_run(&tree.nodes, position, dir);
                    }
                    self.restore_node(node, &target, path)?
                }
            }
            path.pop();
        }
        self.prefetched.clear();
        self.run = None;
        Ok(())
    }

    fn restore_node(&mut self, node: &Node, target: &Path, path: &mut Vec<Vec<u8>>) -> Result<()> {
        match node.kind {
            NodeKind::Dir => {
                // symlink_metadata: a symlink in the target folder is replaced by a
                // folder, never followed, so nothing is written outside the target.
                let is_dir = fs::symlink_metadata(target).is_ok_and(|m| m.is_dir());
                if !is_dir {
                    remove_existing(target)?;
                    fs::create_dir(target).map_err(|e| RepoError::io("create", target, e))?;
                }
                self.report.dirs += 1;
                if let Some(id) = node.subtree {
                    match self.handle.block_on(self.repo.load_tree(&id)) {
                        Ok(subtree) => self.restore_tree(&subtree, target, path)?,
                        Err(RepoError::Damaged { damage, .. }) => {
                            self.damaged(path, vec![damage], true)
                        }
                        Err(e) => return Err(e),
                    }
                }
                // A file that fails on a write thread is removed, which a folder
                // made read-only would forbid.
                self.settle_writes()?;
                if node.mode & 0o200 == 0 {
                    self.settle_small_files()?;
                }
                if self.pending_rows.iter().any(|p| p.is_in(target)) {
                    self.deferred_dirs
                        .push((node.clone(), target.to_path_buf(), path.clone()));
                } else {
                    self.set_metadata(node, target, path);
                }
            }
            NodeKind::SqliteRows => {
                self.restore_rows(node, target, path)?;
                self.progress.files.fetch_add(1, Ordering::Relaxed);
                self.report.files += 1;
            }
            NodeKind::File => {
                self.restore_file(node, target, path)?;
                self.progress.files.fetch_add(1, Ordering::Relaxed);
                self.report.files += 1;
            }
            NodeKind::Symlink => {
                remove_existing(target)?;
                std::os::unix::fs::symlink(OsStr::from_bytes(&node.link_target), target)
                    .map_err(|e| RepoError::io("create symlink", target, e))?;
                self.set_metadata(node, target, path);
                self.report.files += 1;
            }
            NodeKind::Fifo => {
                remove_existing(target)?;
                let c_path = CString::new(target.as_os_str().as_bytes()).map_err(|_| {
                    RepoError::InvalidInput(format!(
                        "path {} contains a NUL byte",
                        target.display()
                    ))
                })?;
                // SAFETY: c_path is a valid NUL-terminated string.
                if unsafe { libc::mkfifo(c_path.as_ptr(), (node.mode & 0o7777) as libc::mode_t) }
                    != 0
                {
                    let e = std::io::Error::last_os_error();
                    return Err(RepoError::io("create FIFO", target, e));
                }
                self.set_metadata(node, target, path);
                self.report.files += 1;
            }
            NodeKind::Socket | NodeKind::CharDevice | NodeKind::BlockDevice => {
                self.report.warnings.push(format!(
                    "{}: {:?} entries are not restored",
                    join_display(path),
                    node.kind
                ));
            }
        }
        Ok(())
    }

    fn damaged(&mut self, path: &[Vec<u8>], damages: Vec<Damage>, folder: bool) {
        let mut shown = join_display(path);
        if folder {
            shown.push_str("/ (folder contents)");
        }
        // A chunk that repeats inside a file is named once.
        let mut objects: Vec<String> = Vec::new();
        for damage in &damages {
            let text = damage.to_string();
            if !objects.contains(&text) {
                objects.push(text);
            }
        }
        self.report.damaged.push(DamagedFile {
            path: shown,
            objects,
        });
    }

    fn restore_file(&mut self, node: &Node, target: &Path, path: &[Vec<u8>]) -> Result<()> {
        // A planned file was checked when its run was planned.
        let planned = self.take_planned(target);
        // One look at the path decides both whether the file is finished and whether
        // something is in the way: most restores write into an empty folder.
        let existing = fs::symlink_metadata(target).ok();
        if let Some(meta) = &existing {
            if planned.is_none() && !self.overwrite_all && matches_node(node, meta) {
                return self.keep_restored(node, target, path);
            }
            remove_existing(target)?;
        }
        if planned.is_none() && node.links > 1 {
            if let Some(first) = self.links.get(&(node.device, node.inode)) {
                if fs::hard_link(first, target).is_ok() {
                    return Ok(());
                }
            }
        }
        // create_new with O_NOFOLLOW: if a symlink or file appeared at this path after
        // remove_existing, opening fails instead of writing through it.
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(target)
            .map_err(|e| RepoError::io("create", target, e))?;
        if let Some(known_zero) = planned {
            return self.write_file(node, target, path, file, &node.content, known_zero, true);
        }
        if node.links <= 1 {
            if let Some((chunks, length)) = self.loaded_chunks(node, target)? {
                return self.hand_over(node, target, path, file, chunks, length);
            }
        }
        let content = match self.handle.block_on(self.repo.file_content(node)) {
            Ok(content) => content.data,
            Err(RepoError::Damaged { damage, .. }) => {
                // As with damaged chunks, the file keeps its size, filled with zeros.
                file.set_len(node.size)
                    .map_err(|e| RepoError::io("set length of", target, e))?;
                drop(file);
                self.damaged(path, vec![damage], false);
                self.set_metadata(node, target, path);
                // As in write_file: the current time as mtime, so that the file
                // never looks finished.
                let now = FileTime::now();
                let _ = filetime::set_symlink_file_times(target, now, now);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        // Chunks already known to be all zero are not read again: they stay holes.
        let known_zero: Vec<bool> = content.iter().map(|id| self.known_zero(id)).collect();
        self.write_file(node, target, path, file, &content, known_zero, false)
    }

    /// Returns the chunks of a small file whose blobs are all loaded, each at its
    /// offset and leaving out those that are all zero, and the file's length. Returns
    /// `None` if a blob is not loaded.
    fn loaded_chunks(&mut self, node: &Node, target: &Path) -> Result<Option<LoadedFile>> {
        if node.content_list.is_some() || self.prefetched.is_empty() {
            return Ok(None);
        }
        let mut chunks = Vec::with_capacity(node.content.len());
        let mut offset = 0;
        let mut zero = Vec::new();
        for id in &node.content {
            if self.known_zero(id) {
                offset += self.repo.locate(id).map_or(0, |l| l.raw_length);
                continue;
            }
            let Some(data) = self.prefetched.get(id) else {
                return Ok(None);
            };
            if data.iter().all(|b| *b == 0) {
                zero.push(*id);
            } else {
                chunks.push((offset, data.clone()));
            }
            offset += data.len() as u64;
        }
        self.zero_blobs.extend(zero);
        // Stale sidecars of a database would be applied to it on its next open.
        if chunks
            .first()
            .is_some_and(|(at, data)| *at == 0 && data.starts_with(crate::sqlite::SQLITE_MAGIC))
        {
            crate::sqlite::remove_sidecars(target)
                .map_err(|e| RepoError::io("remove the stale sidecars of", target, e))?;
        }
        Ok(Some((chunks, offset)))
    }

    /// Hands a created small file and its loaded chunks over to the finishing thread.
    fn hand_over(
        &mut self,
        node: &Node,
        target: &Path,
        path: &[Vec<u8>],
        file: fs::File,
        chunks: Vec<(u64, Bytes)>,
        length: u64,
    ) -> Result<()> {
        self.report.bytes += length;
        self.progress.bytes.fetch_add(length, Ordering::Relaxed);
        let small = finisher::SmallFile {
            file,
            chunks,
            end: self.file_end(node, path, target, length, file_time(node)),
        };
        let finisher =
            match &mut self.finisher {
                Some(finisher) => finisher,
                None => self.finisher.insert(
                    finisher::Finisher::start(self.outcomes.sender()).map_err(|e| {
                        RepoError::Pipeline(format!(
                            "cannot start the restore's finishing thread: {e}"
                        ))
                    })?,
                ),
            };
        finisher.send(small)?;
        self.take_outcomes()
    }

    /// Returns the last steps of the file at `target`, for a finishing thread.
    fn file_end(
        &self,
        node: &Node,
        path: &[Vec<u8>],
        target: &Path,
        length: u64,
        mtime: FileTime,
    ) -> finisher::FileEnd {
        finisher::FileEnd {
            target: target.to_path_buf(),
            display_path: join_display(path),
            length,
            owner: self.owner(node),
            mode: node.mode & 0o7777,
            mtime,
        }
    }

    /// Adds the warnings that the finishing threads reported so far to the report,
    /// or returns the first failure.
    fn take_outcomes(&mut self) -> Result<()> {
        let warnings = self.outcomes.take()?;
        self.report.warnings.extend(warnings);
        Ok(())
    }

    /// Waits until the direct write thread has ended every file handed to it, and
    /// returns the first failure it reported.
    fn settle_writes(&mut self) -> Result<()> {
        let waited = match &mut self.direct_writes {
            Some(writes) => writes.wait_all(),
            None => Ok(()),
        };
        self.take_outcomes()?;
        waited.map_err(write_thread_failed)
    }

    /// Waits until the finishing thread has written every small file handed to it,
    /// and returns the first failure it reported. The next small file starts a new
    /// thread.
    /// NOTE: no test covers a small file failing after its folder lost write
    /// permission, because the case needs a user without root's rights.
    fn settle_small_files(&mut self) -> Result<()> {
        let finished = self.finisher.take().map_or(Ok(()), |f| f.finish());
        self.take_outcomes()?;
        finished
    }

    /// Returns the failure that the finishing threads reported before `error`, if
    /// any, or else `error`.
    fn first_failure(&mut self, error: RepoError) -> RepoError {
        match self.take_outcomes() {
            Ok(()) => error,
            Err(earlier) => earlier,
        }
    }

    /// Waits for the files handed to the finishing thread and the direct write
    /// thread.
    pub(super) fn finish_files(&mut self) -> Result<()> {
        let finished = self.finisher.take().map_or(Ok(()), |f| f.finish());
        let written = self.direct_writes.take().map_or(Ok(()), |w| w.finish());
        self.take_outcomes()?;
        finished?;
        written.map_err(write_thread_failed)
    }

    /// Returns whether the blob `id` is known to be all zero bytes.
    fn known_zero(&self, id: &ObjectId) -> bool {
        self.zero_blobs.contains(id) && self.repo.locate(id).is_some()
    }

    /// Writes a file's chunks into `file`, new and empty, and sets its metadata. The
    /// chunks come from the current run when the file is planned in one, or else from
    /// the loaded small files and a read of the file's own.
    #[allow(clippy::too_many_arguments)]
    fn write_file(
        &mut self,
        node: &Node,
        target: &Path,
        path: &[Vec<u8>],
        file: fs::File,
        content: &[ObjectId],
        known_zero: Vec<bool>,
        from_run: bool,
    ) -> Result<()> {
        let mut offset = 0u64;
        // End of the data written so far; holes after it need the length set.
        let mut written_end = 0u64;
        let mut damages = Vec::new();
        let mut own = None;
        if !from_run {
            let to_load: Vec<ObjectId> = content
                .iter()
                .zip(&known_zero)
                .filter(|(id, zero)| !**zero && !self.prefetched.contains_key(id))
                .map(|(id, _)| *id)
                .collect();
            own = Some(run::Loads::new(self.repo.load_data_blobs(&to_load)));
        }
        let mut writes = self.direct_writes.take();
        if writes.is_none() && node.size >= MIN_DIRECT_FILE {
            writes = Some(DirectWrites::start().map_err(|e| {
                RepoError::Pipeline(format!("cannot start the restore's write thread: {e}"))
            })?);
        }
        let mut writer = match &mut writes {
            Some(writes) if node.size >= MIN_DIRECT_FILE => {
                FileWriter::direct(&file, writes).map_err(|e| RepoError::io("write", target, e))?
            }
            _ => FileWriter::buffered(&file),
        };
        for (id, zero) in content.iter().zip(known_zero) {
            if zero {
                let raw_length = self.repo.locate(id).map_or(0, |l| l.raw_length);
                offset += raw_length;
                self.report.bytes += raw_length;
                continue;
            }
            let result = match (&mut own, &mut self.run) {
                (Some(own), _) => match self.prefetched.get(id) {
                    Some(data) => Ok(data.clone()),
                    None => own.next(&self.handle, id, target)?,
                },
                (None, Some(run)) => run.loads.next(&self.handle, id, target)?,
                (None, None) => {
                    return Err(RepoError::Pipeline(format!(
                        "{} was planned in a read that has ended",
                        target.display()
                    )))
                }
            };
            match result {
                Ok(data) => {
                    // Stale sidecars of a database would be applied to the restored
                    // file on its next open, so they go before its first page is written.
                    // A database is read right after its restore, so it goes
                    // through the cache.
                    if offset == 0 && data.starts_with(crate::sqlite::SQLITE_MAGIC) {
                        crate::sqlite::remove_sidecars(target).map_err(|e| {
                            RepoError::io("remove the stale sidecars of", target, e)
                        })?;
                        if let Err(e) = writer.end_direct() {
                            let _ = fs::remove_file(target);
                            return Err(self.first_failure(RepoError::io("write", target, e)));
                        }
                    }
                    // All-zero chunks are skipped, leaving a hole in a sparse file.
                    let all_zero = data.iter().all(|b| *b == 0);
                    if all_zero {
                        self.zero_blobs.insert(*id);
                    } else if let Err(e) = writer.write_at(&data, offset) {
                        // A partial file must not stay behind, since it would take
                        // the space that the rest of the restore needs.
                        let _ = fs::remove_file(target);
                        return Err(self.first_failure(RepoError::io("write", target, e)));
                    } else {
                        written_end = offset + data.len() as u64;
                    }
                    offset += data.len() as u64;
                    self.report.bytes += data.len() as u64;
                    self.progress
                        .bytes
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                Err(RepoError::Damaged { damage, .. }) => {
                    offset += self.repo.locate(id).map(|l| l.raw_length).unwrap_or(0);
                    damages.push(damage);
                }
                Err(e) => return Err(e),
            }
        }
        let length = if damages.is_empty() {
            offset
        } else {
            node.size.max(offset)
        };
        // A damaged file keeps the current time as its mtime, so it never looks
        // finished and a later restore, after a repair, writes it again.
        let mtime = if damages.is_empty() {
            file_time(node)
        } else {
            FileTime::now()
        };
        let end = self.file_end(node, path, target, length, mtime);
        let report = self.outcomes.sender();
        let then: Then = Box::new(move |file, written| {
            if let Some(outcome) = end.apply(file, written.map(|()| written_end)) {
                let _ = report.send(outcome);
            }
        });
        // The write thread ends a file written around the cache after its last
        // piece, while this thread goes on with the next file. Waiting here for
        // each file's pieces left the disk idle between files.
        let handed = writer.finish(then);
        drop(file);
        self.direct_writes = writes;
        if let Err(e) = handed {
            let _ = fs::remove_file(target);
            return Err(self.first_failure(RepoError::io("write", target, e)));
        }
        if !damages.is_empty() {
            self.damaged(path, damages, false);
        }
        if node.links > 1 {
            // The other links share the file, so it must be whole before they are made.
            self.settle_writes()?;
            self.links
                .insert((node.device, node.inode), target.to_path_buf());
        }
        self.take_outcomes()
    }

    /// Keeps a file that an earlier restore wrote in full. Stale sidecars of a
    /// database are removed all the same, since SQLite would apply them to it.
    fn keep_restored(&mut self, node: &Node, target: &Path, path: &[Vec<u8>]) -> Result<()> {
        if starts_with_sqlite_header(target) {
            crate::sqlite::remove_sidecars(target)
                .map_err(|e| RepoError::io("remove the stale sidecars of", target, e))?;
        }
        self.report.unchanged += 1;
        self.set_metadata(node, target, path);
        if node.links > 1 {
            self.links
                .entry((node.device, node.inode))
                .or_insert_with(|| target.to_path_buf());
        }
        Ok(())
    }

    /// Returns the owner to give a restored entry: only root can.
    fn owner(&self, node: &Node) -> Option<(u32, u32)> {
        self.is_root.then_some((node.uid, node.gid))
    }

    fn metadata_failures(&mut self, path: &[Vec<u8>], failures: Vec<String>) {
        if !failures.is_empty() {
            self.report.warnings.push(format!(
                "{}: could not set {}",
                join_display(path),
                failures.join(", ")
            ));
        }
    }

    /// Sets owner (when running as root), permissions and mtime through the path.
    /// Failures become warnings.
    fn set_metadata(&mut self, node: &Node, target: &Path, path: &[Vec<u8>]) {
        let mut failures = Vec::new();
        if self.is_root {
            if let Err(e) = std::os::unix::fs::lchown(target, Some(node.uid), Some(node.gid)) {
                failures.push(format!("owner: {e}"));
            }
        }
        let mtime = file_time(node);
        if node.kind != NodeKind::Symlink {
            if let Err(e) =
                fs::set_permissions(target, fs::Permissions::from_mode(node.mode & 0o7777))
            {
                failures.push(format!("permissions: {e}"));
            }
        }
        // utimensat on the path without following symlinks: `set_file_times` would
        // open the file, which blocks on a FIFO until a writer appears.
        if let Err(e) = filetime::set_symlink_file_times(target, mtime, mtime) {
            failures.push(format!("mtime: {e}"));
        }
        self.metadata_failures(path, failures);
    }
}

fn write_thread_failed(error: std::io::Error) -> RepoError {
    RepoError::Pipeline(format!("the restore's write thread failed: {error}"))
}

/// Returns the node's modification time.
fn file_time(node: &Node) -> FileTime {
    FileTime::from_unix_time(
        node.mtime_ns.div_euclid(1_000_000_000),
        node.mtime_ns.rem_euclid(1_000_000_000) as u32,
    )
}

/// Returns whether `target` is a regular file (not a symlink) with the node's size
/// and modification time, as a finished restore leaves it. A restore interrupted
/// while writing a file leaves a different mtime, because the mtime is set last.
fn is_restored(node: &Node, target: &Path) -> bool {
    fs::symlink_metadata(target).is_ok_and(|meta| matches_node(node, &meta))
}

/// Returns whether `meta`, of a path not followed if a symlink, describes a regular
/// file with the node's size and modification time.
fn matches_node(node: &Node, meta: &fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    let mtime_ns = i128::from(meta.mtime()) * 1_000_000_000 + i128::from(meta.mtime_nsec());
    meta.is_file() && meta.len() == node.size && mtime_ns == i128::from(node.mtime_ns)
}

fn starts_with_sqlite_header(target: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 16];
    fs::File::open(target)
        .and_then(|mut file| file.read_exact(&mut head))
        .is_ok_and(|()| head == *crate::sqlite::SQLITE_MAGIC)
}

/// Removes whatever is in the way of a restored entry: a file, a symlink, or a
/// folder with its contents.
fn remove_existing(target: &Path) -> Result<()> {
    match fs::symlink_metadata(target) {
        Ok(m) if m.is_dir() => {
            fs::remove_dir_all(target).map_err(|e| RepoError::io("remove", target, e))
        }
        Ok(_) => fs::remove_file(target).map_err(|e| RepoError::io("remove", target, e)),
        Err(_) => Ok(()),
    }
}
