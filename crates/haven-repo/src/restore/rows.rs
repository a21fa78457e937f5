//! Restoring a database stored as a page-level base and row increments.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use super::rows_base::{BaseWrite, ChainFailure};
use super::{remove_existing, Restorer};
use crate::error::{Damage, RepoError, Result};
use crate::id::{from_cbor, ObjectId};
use crate::pack::BlobType;
use crate::sqlite::rows::{apply_chain, ApplyError, Increment};
use crate::tree::Node;

/// Databases whose increments are applied at most at once, each on its own thread.
const MAX_APPLYING: usize = 2;

/// A database whose increments are applied on their own thread while the rest of
/// the snapshot is restored.
pub(super) struct PendingRows {
    /// Returns the base's length once the chain applied and checked.
    apply: JoinHandle<std::result::Result<u64, ChainFailure>>,
    node: Node,
    target: PathBuf,
    temporary: PathBuf,
    path: Vec<Vec<u8>>,
}

impl PendingRows {
    /// Returns whether the database is restored into the folder `dir`.
    pub(super) fn is_in(&self, dir: &Path) -> bool {
        self.target.parent() == Some(dir)
    }
}

impl Restorer {
    /// Writes the base pages into a temporary file next to `target`, then starts a
    /// thread that applies the increments. [`Restorer::finish_rows`] checks the
    /// result and only then moves it into place. Any damage or mismatch is reported for the file and leaves `target` as
    /// it was.
    pub(super) fn restore_rows(
        &mut self,
        node: &Node,
        target: &Path,
        path: &[Vec<u8>],
    ) -> Result<()> {
        let temporary = temporary_path(target);
        remove_existing(&temporary)?;
        // Sidecars left by an earlier restore would be applied to the new file.
        crate::sqlite::remove_sidecars(&temporary)
            .map_err(|e| RepoError::io("remove the stale sidecars of", &temporary, e))?;
        let increments = match self.load_increments(node) {
            Ok(increments) => increments,
            Err(damage) => {
                self.damaged(path, vec![damage], false);
                return Ok(());
            }
        };
        let content = match self.handle.block_on(self.repo.file_content(node)) {
            Ok(content) => content.data,
            Err(RepoError::Damaged { damage, .. }) => {
                self.damaged(path, vec![damage], false);
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        let base = BaseWrite {
            repo: self.repo.clone(),
            handle: self.handle.clone(),
            progress: self.progress.clone(),
            temporary: temporary.clone(),
            content,
        };
        let hash_key = self.repo.keys.row_hash.clone();
        // The base is written before the other files, so that the increments and the
        // check run on their thread while the other files are restored, instead of
        // alone at the end of the restore.
        let written = base.write();
        let apply = std::thread::spawn(move || {
            let length = written?;
            apply_chain(&base.temporary, &increments, &hash_key).map_err(ChainFailure::Apply)?;
            Ok(length)
        });
        if self.pending_rows.len() >= MAX_APPLYING {
            let oldest = self.pending_rows.remove(0);
            self.finish_one(oldest)?;
        }
        self.pending_rows.push(PendingRows {
            apply,
            node: node.clone(),
            target: target.to_path_buf(),
            temporary,
            path: path.to_vec(),
        });
        Ok(())
    }

    /// Waits for every database still applying its increments and moves each
    /// checked one into place, then sets the metadata of the folders that hold them.
    pub(super) fn finish_rows(&mut self) -> Result<()> {
        let mut result = Ok(());
        for pending in std::mem::take(&mut self.pending_rows) {
            let finished = self.finish_one(pending);
            if result.is_ok() {
                result = finished;
            }
        }
        for (node, target, path) in std::mem::take(&mut self.deferred_dirs) {
            self.set_metadata(&node, &target, &path);
        }
        result
    }

    fn finish_one(&mut self, pending: PendingRows) -> Result<()> {
        let PendingRows {
            apply,
            node,
            target,
            temporary,
            path,
        } = pending;
        let applied = apply.join().unwrap_or_else(|_| {
            Err(ChainFailure::Apply(ApplyError {
                increment: None,
                reason: "the thread applying the increments panicked".into(),
            }))
        });
        match applied {
            Ok(length) => self.report.bytes += length,
            Err(ChainFailure::Base(damages)) => {
                remove_with_sidecars(&temporary);
                self.damaged(&path, damages, false);
                return Ok(());
            }
            Err(ChainFailure::Apply(e)) => {
                remove_with_sidecars(&temporary);
                let object = match e.increment {
                    Some(number) => self.increment_name(&node, number),
                    None => format!("row increments of snapshot {}", self.snapshot.short()),
                };
                self.damaged(&path, vec![Damage::new(object, e.reason)], false);
                return Ok(());
            }
            Err(ChainFailure::Write(e)) => {
                remove_with_sidecars(&temporary);
                return Err(e);
            }
        }
        crate::sqlite::remove_sidecars(&temporary)
            .map_err(|e| RepoError::io("remove the sidecars of", &temporary, e))?;
        remove_existing(&target)?;
        crate::sqlite::remove_sidecars(&target)
            .map_err(|e| RepoError::io("remove the stale sidecars of", &target, e))?;
        fs::rename(&temporary, &target).map_err(|e| RepoError::io("rename", &temporary, e))?;
        self.set_metadata(&node, &target, &path);
        Ok(())
    }

    /// Loads and decodes every increment of `node`, or returns the first damage.
    fn load_increments(&self, node: &Node) -> std::result::Result<Vec<Increment>, Damage> {
        let mut increments = Vec::with_capacity(node.row_increments.len());
        for (number, id) in node.row_increments.iter().enumerate() {
            let name = self.increment_name(node, number);
            let bytes = match self
                .handle
                .block_on(self.repo.load_blob(BlobType::Data, id))
            {
                Ok(bytes) => bytes,
                Err(RepoError::Damaged { damage, .. }) => {
                    return Err(Damage::new(name, damage.to_string()))
                }
                Err(e) => return Err(Damage::new(name, e.to_string())),
            };
            let increment: Increment =
                from_cbor(&bytes).map_err(|reason| Damage::new(&name, reason))?;
            if !increment.is_supported() {
                return Err(Damage::new(
                    name,
                    format!("unsupported increment version {}", increment.version),
                ));
            }
            increments.push(increment);
        }
        Ok(increments)
    }

    /// Names increment `number` (0-based) of `node` for an error message.
    fn increment_name(&self, node: &Node, number: usize) -> String {
        let id: Option<&ObjectId> = node.row_increments.get(number);
        format!(
            "row increment {} of {} (blob {}) of snapshot {}",
            number + 1,
            node.row_increments.len(),
            id.map_or_else(String::new, |id| id.short()),
            self.snapshot.short()
        )
    }
}

/// Returns `.<name>.haven-rows` next to `target`.
fn temporary_path(target: &Path) -> PathBuf {
    let mut name = b".".to_vec();
    name.extend_from_slice(
        target
            .file_name()
            .map_or(&b"database"[..], |n| n.as_bytes()),
    );
    name.extend_from_slice(b".haven-rows");
    target.with_file_name(std::ffi::OsStr::from_bytes(&name))
}

fn remove_with_sidecars(path: &Path) {
    let _ = fs::remove_file(path);
    let _ = crate::sqlite::remove_sidecars(path);
}
