//! Walking the source tree on a blocking thread and turning it into nodes and blobs.

use std::collections::{HashMap, HashSet};
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::runtime::Handle;

use super::file_content::DeferredContent;
use super::pipeline::{ChunkIds, PackerStats, Pipeline, PipelineLimits};
use super::sqlite_rows::{DatabasePlan, PendingState};
use super::{display_path, BackupOptions, BackupProgress, FileProblem, HookPoint, ProblemKind};
use crate::chunker::Chunker;
use crate::compress::is_compressed_format;
use crate::error::{RepoError, Result};
use crate::id::{to_cbor, ObjectId};
use crate::pack::BlobType;
use crate::snapshot::BackupSummary;
use crate::sqlite::rows::RowState;
use crate::sqlite::{DatabaseView, Prepared, SqliteBase};
use crate::tree::{Node, NodeKind, Tree};
use crate::Repository;

/// Bytes read from the start of a file to detect SQLite and compressed formats.
const HEAD_LEN: usize = 100;

pub(super) struct WalkOutcome {
    pub root_tree: ObjectId,
    pub summary: BackupSummary,
    pub problems: Vec<FileProblem>,
    pub packer: PackerStats,
    /// Every blob the snapshot references.
    pub used: HashSet<ObjectId>,
    /// Local row states to write once the snapshot is saved.
    pub row_states: Vec<PendingState>,
    /// Databases stored as a page-level base while a state folder was set.
    pub sqlite_bases: Vec<SqliteBase>,
}

pub(super) fn run(
    repo: Repository,
    handle: Handle,
    paths: Vec<PathBuf>,
    parent_tree: Option<Tree>,
    options: BackupOptions,
    progress: Arc<BackupProgress>,
) -> Result<WalkOutcome> {
    let limits = PipelineLimits {
        workers: options.workers,
        uploads: options.uploads,
        flush_every_packs: options.index_flush_packs,
    };
    let pipeline = Pipeline::start(
        repo.clone(),
        handle.clone(),
        &limits,
        progress.bytes_written.clone(),
    );
    let mut walker = Walker {
        repo,
        handle,
        pipeline,
        options,
        progress,
        summary: BackupSummary::default(),
        problems: Vec::new(),
        hard_links: HashMap::new(),
        sqlite_plain: HashSet::new(),
        pending_row_state: None,
        pending_base: None,
        chunk_buffer: Vec::new(),
        deferred: Vec::new(),
        row_states: Vec::new(),
        sqlite_bases: Vec::new(),
    };
    let mut nodes = Vec::new();
    for path in &paths {
        let name = path
            .file_name()
            .expect("normalize_paths checked the name")
            .as_bytes()
            .to_vec();
        let previous = parent_tree.as_ref().and_then(|t| t.find(&name));
        if let Some(node) = walker.visit(path, name, previous)? {
            walker.push_node(&mut nodes, node);
        }
    }
    walker.store_deferred(0, &mut nodes)?;
    let root_tree = walker.save_tree(nodes)?;
    let Walker {
        pipeline,
        summary,
        problems,
        row_states,
        sqlite_bases,
        ..
    } = walker;
    let (packer, used) = pipeline.finish()?;
    Ok(WalkOutcome {
        root_tree,
        summary,
        problems,
        packer,
        used,
        row_states,
        sqlite_bases,
    })
}

pub(super) struct Walker {
    pub(super) repo: Repository,
    pub(super) handle: Handle,
    pub(super) pipeline: Pipeline,
    pub(super) options: BackupOptions,
    progress: Arc<BackupProgress>,
    pub(super) summary: BackupSummary,
    problems: Vec<FileProblem>,
    /// Inline content and content list of files with several hard links, by
    /// (device, inode), so each is read once.
    hard_links: HashMap<(u64, u64), Node>,
    /// SQLite databases stored as plain files: their sidecars are stored too.
    sqlite_plain: HashSet<PathBuf>,
    /// Row state planned for the database being read, until its node is complete.
    pub(super) pending_row_state: Option<RowState>,
    pub(super) row_states: Vec<PendingState>,
    pub(super) sqlite_bases: Vec<SqliteBase>,
    /// The page-level base planned for the database being read, counted once its copy
    /// passes the check.
    pub(super) pending_base: Option<SqliteBase>,
    /// The chunker's reading buffer, kept from one file to the next.
    chunk_buffer: Vec<u8>,
    /// Files whose content is stored once their folder is walked.
    pub(super) deferred: Vec<DeferredContent>,
}

impl Walker {
    fn problem(&mut self, path: &Path, kind: ProblemKind, detail: impl Into<String>) {
        let problem = FileProblem {
            path: display_path(path),
            kind,
            detail: detail.into(),
        };
        tracing::warn!(path = %problem.path, kind = ?problem.kind, detail = %problem.detail, "file not backed up as listed");
        self.problems.push(problem);
    }

    /// Backs up one path. Returns `None` when the path vanished or was unreadable.
    fn visit(
        &mut self,
        path: &Path,
        name: Vec<u8>,
        previous: Option<&Node>,
    ) -> Result<Option<Node>> {
        let metadata = match std::fs::symlink_metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.problem(path, ProblemKind::Vanished, "removed after it was listed");
                return Ok(None);
            }
            Err(e) => {
                self.problem(
                    path,
                    ProblemKind::Unreadable,
                    format!("cannot read metadata: {e}"),
                );
                return Ok(None);
            }
        };
        let mut node = node_from_metadata(name, &metadata);
        match node.kind {
            NodeKind::Dir => {
                node.subtree = Some(self.visit_dir(path, previous)?);
                self.summary.dirs += 1;
            }
            NodeKind::File => {
                if !self.fill_file(path, &mut node, &metadata, previous)? {
                    return Ok(None);
                }
                self.progress.files.fetch_add(1, Ordering::Relaxed);
            }
            NodeKind::Symlink => match std::fs::read_link(path) {
                Ok(target) => node.link_target = target.as_os_str().as_bytes().to_vec(),
                Err(e) => {
                    self.problem(
                        path,
                        ProblemKind::Unreadable,
                        format!("cannot read symlink: {e}"),
                    );
                    return Ok(None);
                }
            },
            _ => {}
        }
        Ok(Some(node))
    }

    fn visit_dir(&mut self, path: &Path, previous: Option<&Node>) -> Result<ObjectId> {
        let previous_tree = match previous.and_then(|n| n.subtree) {
            Some(id) => match self.handle.block_on(self.repo.load_tree(&id)) {
                Ok(tree) => Some(tree),
                Err(e) if e.is_damage() => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        let mut names = Vec::new();
        match std::fs::read_dir(path) {
            Ok(entries) => {
                for entry in entries {
                    match entry {
                        Ok(entry) => names.push(entry.file_name()),
                        Err(e) => self.problem(
                            path,
                            ProblemKind::Unreadable,
                            format!("listing failed: {e}"),
                        ),
                    }
                }
            }
            Err(e) => self.problem(
                path,
                ProblemKind::Unreadable,
                format!("cannot list the folder: {e}"),
            ),
        }
        names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        let first_deferred = self.deferred.len();
        let mut nodes = Vec::with_capacity(names.len());
        for name in names {
            let child = path.join(&name);
            if self.is_copied_sidecar(&child) {
                continue;
            }
            let name = name.as_bytes().to_vec();
            let previous_child = previous_tree.as_ref().and_then(|t| t.find(&name));
            if let Some(node) = self.visit(&child, name, previous_child)? {
                self.push_node(&mut nodes, node);
            }
        }
        self.store_deferred(first_deferred, &mut nodes)?;
        self.save_tree(nodes)
    }

    fn save_tree(&mut self, nodes: Vec<Node>) -> Result<ObjectId> {
        let bytes = to_cbor(&Tree { nodes });
        Ok(self.pipeline.save(BlobType::Tree, bytes, true)?.0)
    }

    /// Sets a file node's content. Returns false when the file is left out.
    fn fill_file(
        &mut self,
        path: &Path,
        node: &mut Node,
        before: &Metadata,
        previous: Option<&Node>,
    ) -> Result<bool> {
        let link_key = (node.device, node.inode);
        if node.links > 1 {
            if let Some(first) = self.hard_links.get(&link_key) {
                node.kind = first.kind;
                node.content = first.content.clone();
                node.content_list = first.content_list;
                node.row_increments = first.row_increments.clone();
                return Ok(true);
            }
        }
        let unchanged =
            previous.filter(|p| is_unchanged(p, node) && !crate::sqlite::has_live_sidecar(path));
        if let Some(prev) = unchanged {
            if self.reuse_content(path, prev, node)? {
                self.summary.files_unchanged += 1;
                self.remember_links(node);
                return Ok(true);
            }
        }
        let Some(read) = self.read_file(path, before, previous)? else {
            return Ok(false);
        };
        match previous {
            Some(_) => self.summary.files_changed += 1,
            None => self.summary.files_new += 1,
        }
        if let Some(after) = read.changed_metadata {
            self.problem(
                path,
                ProblemKind::Changed,
                format!(
                    "changed while it was read (size {} before, {} after, {} bytes read); the bytes read are stored",
                    before.len(),
                    after.len(),
                    read.bytes
                ),
            );
            // A zero ctime makes the next backup read the file again.
            node.ctime_ns = 0;
        }
        node.size = read.bytes;
        match (read.increment, previous) {
            (Some(increment), Some(parent)) => self.extend_chain(node, parent, increment)?,
            _ if read.content.has_unhashed()
                && node.links <= 1
                && self.pending_row_state.is_none() =>
            {
                self.defer_content(path, read.content, previous);
            }
            _ => {
                let ids = self.pipeline.resolve(read.content)?;
                self.store_content(path, node, ids, previous)?;
            }
        }
        self.finish_row_state(path, node);
        self.remember_links(node);
        Ok(true)
    }

    /// True for a `-wal`, `-shm` or `-journal` file whose database is in this backup
    /// through a consistent view, which already contains what the sidecar holds.
    fn is_copied_sidecar(&self, path: &Path) -> bool {
        crate::sqlite::main_database_of(path).is_some_and(|main| !self.sqlite_plain.contains(&main))
    }

    fn remember_links(&mut self, node: &Node) {
        if node.links > 1 {
            self.hard_links
                .insert((node.device, node.inode), node.clone());
        }
    }

    fn hook(&self, path: &Path, point: HookPoint) {
        if let Some(hook) = &self.options.hook {
            hook(path, point);
        }
    }

    /// Reads and chunks one file. Returns `None` (after recording a problem) if it
    /// vanished or could not be read.
    fn read_file(
        &mut self,
        path: &Path,
        before: &Metadata,
        previous: Option<&Node>,
    ) -> Result<Option<FileRead>> {
        self.pending_row_state = None;
        let Some((file, head)) = self.open_with_head(path) else {
            return Ok(None);
        };
        // A SQLite database is read from a consistent view in place of the file.
        match crate::sqlite::prepare(path, &head, &self.options.sqlite) {
            Prepared::NotDatabase => self.read_plain(path, before, file, head),
            Prepared::View(view) => self.read_view(path, before, previous, view),
            Prepared::Plain(warning) => {
                self.sqlite_plain.insert(path.to_path_buf());
                self.problem(path, ProblemKind::StoredPlain, warning);
                self.read_plain(path, before, file, head)
            }
            Prepared::LeaveOut(reason) => {
                self.problem(path, ProblemKind::Unreadable, reason);
                Ok(None)
            }
        }
    }

    /// Opens a file and reads its first bytes, or records why it could not.
    fn open_with_head(&mut self, path: &Path) -> Option<(File, Vec<u8>)> {
        self.hook(path, HookPoint::BeforeOpen);
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.problem(
                    path,
                    ProblemKind::Vanished,
                    "removed before it could be read",
                );
                return None;
            }
            Err(e) => {
                self.problem(path, ProblemKind::Unreadable, format!("cannot open: {e}"));
                return None;
            }
        };
        self.hook(path, HookPoint::AfterOpen);
        let mut head = vec![0u8; HEAD_LEN];
        match read_up_to(&mut file, &mut head) {
            Ok(n) => head.truncate(n),
            Err(e) => {
                self.problem(path, ProblemKind::Unreadable, format!("read failed: {e}"));
                return None;
            }
        }
        Some((file, head))
    }

    /// Reads the consistent view of a database: a row increment, or its pages.
    fn read_view(
        &mut self,
        path: &Path,
        before: &Metadata,
        previous: Option<&Node>,
        mut view: DatabaseView,
    ) -> Result<Option<FileRead>> {
        // Dropped before the view (a parameter), which waits for the scan's thread.
        let base_scan = match self.plan_database(path, &mut view, previous)? {
            DatabasePlan::Increment(increment) => {
                return Ok(Some(FileRead {
                    content: ChunkIds::default(),
                    bytes: view.len,
                    changed_metadata: None,
                    increment: Some(increment),
                }));
            }
            DatabasePlan::Pages(scan) => scan,
            DatabasePlan::Unusable(warning) => return self.read_again_plain(path, before, warning),
        };
        let head = view.head.clone();
        let Some((content, bytes)) = self.chunk_file(path, &mut view.reader, head)? else {
            // The read error is recorded and the file left out.
            self.pending_base = None;
            return Ok(None);
        };
        if let Err(warning) = view.checked() {
            // NOTE: the chunks of the view are already stored. No snapshot references
            // them, so the next prune removes them.
            drop(base_scan);
            return self.read_again_plain(path, before, warning);
        }
        self.record_pending_base();
        if let Some(scan) = base_scan {
            self.finish_base_scan(path, scan);
        }
        self.summary.bytes_read += bytes;
        // The view is consistent however the file changed meanwhile.
        Ok(Some(FileRead {
            content,
            bytes,
            changed_metadata: None,
            increment: None,
        }))
    }

    /// Stores a database whose view failed its check as the file itself, with the
    /// warning, after the view was already read.
    fn read_again_plain(
        &mut self,
        path: &Path,
        before: &Metadata,
        warning: String,
    ) -> Result<Option<FileRead>> {
        self.pending_row_state = None;
        self.pending_base = None;
        self.sqlite_plain.insert(path.to_path_buf());
        self.problem(path, ProblemKind::StoredPlain, warning);
        let Some((file, head)) = self.open_with_head(path) else {
            return Ok(None);
        };
        self.read_plain(path, before, file, head)
    }

    /// Reads a file that is not a database copy, and notes whether it changed while
    /// it was read.
    fn read_plain(
        &mut self,
        path: &Path,
        before: &Metadata,
        file: File,
        head: Vec<u8>,
    ) -> Result<Option<FileRead>> {
        let Some((content, bytes)) = self.chunk_file(path, &file, head)? else {
            return Ok(None);
        };
        self.summary.bytes_read += bytes;
        let after = file
            .metadata()
            .map_err(|e| RepoError::io("read metadata of", path, e))?;
        let changed = after.len() != before.len()
            || after.mtime() != before.mtime()
            || after.mtime_nsec() != before.mtime_nsec()
            || after.ctime() != before.ctime()
            || after.ctime_nsec() != before.ctime_nsec()
            || bytes != before.len();
        Ok(Some(FileRead {
            content,
            bytes,
            changed_metadata: changed.then_some(after),
            increment: None,
        }))
    }

    /// Chunks `file` (positioned after `head`) into the pipeline. Returns the blob ids
    /// and the bytes read, or `None` after recording a read error.
    fn chunk_file(
        &mut self,
        path: &Path,
        file: impl Read,
        head: Vec<u8>,
    ) -> Result<Option<(ChunkIds, u64)>> {
        let compress = !is_compressed_format(&head);
        // Read bytes are counted by chunk: a counting reader in between would have
        // the standard library zero each read's buffer before it is filled.
        let source = io::Cursor::new(head.clone()).chain(file);
        let mut chunker = Chunker::new(
            source,
            &head,
            &self.repo.config,
            self.repo.keys.chunker_seed,
        )
        .reuse(
            std::mem::take(&mut self.chunk_buffer),
            self.pipeline.chunk_pool(),
        );
        let mut content = ChunkIds::default();
        let mut bytes = 0;
        loop {
            match chunker.next_chunk() {
                Ok(Some(chunk)) => {
                    let length = chunk.bytes().len() as u64;
                    bytes += length;
                    self.progress
                        .bytes_read
                        .fetch_add(length, Ordering::Relaxed);
                    self.pipeline.save_chunk(&mut content, chunk, compress)?;
                }
                Ok(None) => break,
                Err(e) => {
                    self.problem(path, ProblemKind::Unreadable, format!("read failed: {e}"));
                    return Ok(None);
                }
            }
        }
        self.chunk_buffer = chunker.into_buffer();
        Ok(Some((content, bytes)))
    }
}

struct FileRead {
    content: ChunkIds,
    bytes: u64,
    changed_metadata: Option<Metadata>,
    /// Row increment blob of a database whose chain the node extends.
    increment: Option<ObjectId>,
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn is_unchanged(previous: &Node, current: &Node) -> bool {
    matches!(previous.kind, NodeKind::File | NodeKind::SqliteRows)
        && previous.size == current.size
        && previous.mtime_ns == current.mtime_ns
        && previous.ctime_ns == current.ctime_ns
        && previous.inode == current.inode
}

fn node_from_metadata(name: Vec<u8>, m: &Metadata) -> Node {
    let file_type = m.file_type();
    let kind = if file_type.is_dir() {
        NodeKind::Dir
    } else if file_type.is_symlink() {
        NodeKind::Symlink
    } else if file_type.is_fifo() {
        NodeKind::Fifo
    } else if file_type.is_socket() {
        NodeKind::Socket
    } else if file_type.is_char_device() {
        NodeKind::CharDevice
    } else if file_type.is_block_device() {
        NodeKind::BlockDevice
    } else {
        NodeKind::File
    };
    Node {
        name,
        kind,
        mode: m.mode(),
        mtime_ns: m
            .mtime()
            .saturating_mul(1_000_000_000)
            .saturating_add(m.mtime_nsec()),
        ctime_ns: m
            .ctime()
            .saturating_mul(1_000_000_000)
            .saturating_add(m.ctime_nsec()),
        uid: m.uid(),
        gid: m.gid(),
        size: if kind == NodeKind::File { m.len() } else { 0 },
        inode: m.ino(),
        device: m.dev(),
        links: m.nlink(),
        rdev: m.rdev(),
        link_target: Vec::new(),
        content: Vec::new(),
        content_list: None,
        row_increments: Vec::new(),
        subtree: None,
    }
}
