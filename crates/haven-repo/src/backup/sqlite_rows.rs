//! Row increments of SQLite databases during a backup: planning each database copy,
//! extending the parent's chain, and the local states put in place after the
//! snapshot.

use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Instant;

use super::display_path;
use super::walk::Walker;
use crate::error::Result;
use crate::id::ObjectId;
use crate::pack::BlobType;
use crate::sqlite::rows::{
    chain_id, plan_rows, prepare_state, state_path, BaseReason, BaseScan, PlanInput, PreparedState,
    RowPlan, RowState,
};
use crate::sqlite::{DatabaseView, SqliteBase};
use crate::tree::{Node, NodeKind};

/// States written at once, at most. Each thread uses a zstd context and a segment
/// buffer besides its state.
const STATE_WRITERS: usize = 2;

/// A local row state, written under a temporary name on a thread of its own while
/// the backup goes on, and renamed into place once the snapshot is saved. Writing
/// it after the snapshot took about 0.1 s at the end of each backup of the 1 GB
/// benchmark folder. Dropping it waits for the thread, whose unused file is then
/// removed.
pub(super) struct PendingState {
    /// The database's path as the snapshot records it.
    pub path: PathBuf,
    /// The state file.
    pub file: PathBuf,
    written: Option<JoinHandle<std::io::Result<PreparedState>>>,
    /// The thread's result, once joined.
    result: Option<std::io::Result<PreparedState>>,
}

/// Waits for the oldest state writes until fewer than [`STATE_WRITERS`] run.
fn bound_state_writers(pending: &mut [PendingState]) {
    let running = |p: &PendingState| p.written.as_ref().is_some_and(|w| !w.is_finished());
    while pending.iter().filter(|p| running(p)).count() >= STATE_WRITERS {
        if let Some(oldest) = pending.iter_mut().find(|p| running(p)) {
            oldest.wait();
        }
    }
}

impl PendingState {
    /// Starts writing `state` for the database at `path` into `file`.
    fn start(
        path: PathBuf,
        file: PathBuf,
        key: haven_crypto::SecretKey,
        state: RowState,
    ) -> std::io::Result<Self> {
        let (name, target) = (path.clone(), file.clone());
        let written = std::thread::Builder::new()
            .name("haven-row-state".into())
            .spawn(move || prepare_state(&target, &key, &name, &state))?;
        Ok(Self {
            path,
            file,
            written: Some(written),
            result: None,
        })
    }

    /// Waits for the write and renames the state file into place.
    pub fn commit(mut self) -> std::io::Result<u64> {
        self.wait();
        match self.result.take() {
            Some(prepared) => prepared?.commit(),
            None => Err(std::io::Error::other("the state was not written")),
        }
    }

    /// Waits for the thread and keeps its result.
    fn wait(&mut self) {
        if let Some(written) = self.written.take() {
            let joined = written.join();
            self.result =
                Some(joined.unwrap_or_else(|_| {
                    Err(std::io::Error::other("the thread writing it panicked"))
                }));
        }
    }
}

impl Drop for PendingState {
    fn drop(&mut self) {
        if let Some(written) = self.written.take() {
            let _ = written.join();
        }
    }
}

/// The storage plan for one database in a backup.
pub(super) enum DatabasePlan {
    /// This row increment blob extends the parent's chain.
    Increment(ObjectId),
    /// The pages, while the scan for the new chain's state runs beside them.
    Pages(Option<ScanTask>),
    /// The view failed its check: store the file itself with this warning.
    Unusable(String),
}

/// A base scan running on its own thread. Dropping it waits for the thread, so the
/// copy it reads outlives it.
pub(super) struct ScanTask(Option<JoinHandle<std::result::Result<RowState, String>>>);

impl ScanTask {
    fn start(scan: BaseScan) -> Self {
        Self(Some(std::thread::spawn(move || scan.run())))
    }

    fn finish(mut self) -> std::result::Result<RowState, String> {
        match self.0.take().map(JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err("the row scan thread panicked".into()),
            None => Err("the row scan already finished".into()),
        }
    }
}

impl Drop for ScanTask {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            let _ = handle.join();
        }
    }
}

impl Walker {
    /// Plans the database seen through `view` when a state folder is set: a new
    /// increment blob, or pages with the scan that starts the new chain's state.
    pub(super) fn plan_database(
        &mut self,
        path: &Path,
        view: &mut DatabaseView,
        previous: Option<&Node>,
    ) -> Result<DatabasePlan> {
        let Some(state_dir) = self.options.sqlite.state_dir.clone() else {
            return Ok(DatabasePlan::Pages(None));
        };
        let started = Instant::now();
        let parent = self.extendable_parent(path, previous)?;
        let keys = self.repo.keys.clone();
        let state_name = self.recorded_path(path);
        let input = PlanInput {
            source: &view.source,
            path: &state_name,
            parent,
            state_dir: &state_dir,
            keys: &keys,
            max_increments: self.options.sqlite.max_increments,
            max_age: self.options.sqlite.max_chain_age,
            now_ns: super::now_ns(),
        };
        let plan = plan_rows(&input);
        let diff_ms = started.elapsed().as_millis() as u64;
        self.summary.sqlite_diff_ms += diff_ms;
        match plan {
            RowPlan::Increment {
                plaintext,
                state,
                changed_rows,
            } => {
                if let Err(warning) = view.checked() {
                    return Ok(DatabasePlan::Unusable(warning));
                }
                let size = plaintext.len();
                let (id, _) = self.pipeline.save(BlobType::Data, plaintext, true)?;
                tracing::info!(path = %display_path(path), changed_rows, size, diff_ms, "stored a row increment");
                self.pending_row_state = Some(state);
                self.summary.sqlite_increments += 1;
                Ok(DatabasePlan::Increment(id))
            }
            RowPlan::Base {
                reason,
                detail,
                scan,
            } => {
                let path_text = display_path(path);
                if reason == BaseReason::NoState {
                    tracing::info!(path = %path_text, "storing a page-level base: {}", reason.describe());
                } else {
                    tracing::warn!(path = %path_text, %detail, "storing a page-level base: {}", reason.describe());
                }
                self.pending_row_state = None;
                self.pending_base = Some(SqliteBase {
                    path: path_text,
                    reason,
                    detail,
                });
                Ok(DatabasePlan::Pages(scan.map(ScanTask::start)))
            }
        }
    }

    /// Counts the page-level base planned for the database just read.
    pub(super) fn record_pending_base(&mut self) {
        if let Some(base) = self.pending_base.take() {
            self.summary.sqlite_bases += 1;
            self.sqlite_bases.push(base);
        }
    }

    /// Waits for the base scan; its state is written once the snapshot is saved.
    pub(super) fn finish_base_scan(&mut self, path: &Path, scan: ScanTask) {
        let started = Instant::now();
        match scan.finish() {
            Ok(state) => self.pending_row_state = Some(state),
            Err(e) => {
                tracing::warn!(path = %display_path(path), error = %e, "the rows could not be read; the next backup stores pages again");
            }
        }
        self.summary.sqlite_diff_ms += started.elapsed().as_millis() as u64;
    }

    /// Returns the parent node whose chain an increment may extend, or why none.
    fn extendable_parent<'a>(
        &mut self,
        path: &Path,
        previous: Option<&'a Node>,
    ) -> Result<std::result::Result<&'a Node, BaseReason>> {
        let Some(parent) =
            previous.filter(|p| matches!(p.kind, NodeKind::File | NodeKind::SqliteRows))
        else {
            return Ok(Err(BaseReason::NoParent));
        };
        let content = match self.handle.block_on(self.repo.file_content(parent)) {
            Ok(content) => content,
            Err(e) if e.is_damage() => {
                tracing::warn!(path = %display_path(path), error = %e, "the parent's chain is damaged");
                return Ok(Err(BaseReason::ChainNotReusable));
            }
            Err(e) => return Err(e),
        };
        let reusable = content
            .data
            .iter()
            .chain(&content.lists)
            .chain(&parent.row_increments)
            .all(|id| self.repo.has_reusable_blob(id));
        Ok(if reusable {
            Ok(parent)
        } else {
            Err(BaseReason::ChainNotReusable)
        })
    }

    /// Gives `node` the parent's base and increments followed by `increment`.
    pub(super) fn extend_chain(
        &mut self,
        node: &mut Node,
        parent: &Node,
        increment: ObjectId,
    ) -> Result<()> {
        let content = self.handle.block_on(self.repo.file_content(parent))?;
        self.pipeline.record_reused(&content.data);
        self.pipeline.record_reused(&content.lists);
        self.pipeline.record_reused(&parent.row_increments);
        node.kind = NodeKind::SqliteRows;
        node.content = parent.content.clone();
        node.content_list = parent.content_list;
        node.row_increments = parent.row_increments.clone();
        node.row_increments.push(increment);
        Ok(())
    }

    /// Returns the path the snapshot records for `path`, which names its local state,
    /// so a database imported through a new temporary folder each time keeps its chain.
    fn recorded_path(&self, path: &Path) -> PathBuf {
        for (source, recorded) in &self.options.recorded_paths {
            let Ok(source) = std::path::absolute(source) else {
                continue;
            };
            if let Ok(rest) = path.strip_prefix(&source) {
                return recorded.join(rest);
            }
        }
        path.to_path_buf()
    }

    /// Ties the state planned for this file to the chain `node` now ends in.
    pub(super) fn finish_row_state(&mut self, path: &Path, node: &Node) {
        let Some(mut state) = self.pending_row_state.take() else {
            return;
        };
        let Some(state_dir) = &self.options.sqlite.state_dir else {
            return;
        };
        state.chain = chain_id(node);
        state.increments = node.row_increments.len() as u32;
        let recorded = self.recorded_path(path);
        let file = state_path(state_dir, &self.repo.keys.row_hash, &recorded);
        let key = self.repo.keys.row_state.clone();
        bound_state_writers(&mut self.row_states);
        match PendingState::start(recorded, file.clone(), key, state) {
            Ok(pending) => self.row_states.push(pending),
            Err(e) => {
                tracing::warn!(path = %display_path(path), state = %file.display(), error = %e,
                "cannot start writing the local row state; the next backup takes a page-level base")
            }
        }
    }
}
