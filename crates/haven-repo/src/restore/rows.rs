//! Restoring a database stored as a page-level base and row increments.

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use super::{remove_existing, Restorer};
use crate::error::{Damage, RepoError, Result};
use crate::id::{from_cbor, ObjectId};
use crate::pack::BlobType;
use crate::sqlite::rows::{apply_chain, ApplyError, Increment};
use crate::tree::{Node, NodeKind};

/// Databases whose increments are applied at most at once, each on its own thread.
const MAX_APPLYING: usize = 2;

/// A database whose increments are being applied on their own thread while the rest
/// of the snapshot is restored.
pub(super) struct PendingRows {
    apply: JoinHandle<std::result::Result<(), ApplyError>>,
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
    /// Restores the base pages into a temporary file next to `target` and starts
    /// applying the increments on another thread; [`Restorer::finish_rows`] checks
    /// the result and only then moves it into place. Any damage or mismatch is
    /// reported for the file and leaves `target` as it was.
    pub(super) fn restore_rows(
        &mut self,
        node: &Node,
        target: &Path,
        path: &[Vec<u8>],
    ) -> Result<()> {
        let temporary = temporary_path(target);
        remove_existing(&temporary)?;
        let base = Node {
            kind: NodeKind::File,
            links: 1,
            row_increments: Vec::new(),
            ..node.clone()
        };
        let damaged_before = self.report.damaged.len();
        let overwrite_all = std::mem::replace(&mut self.overwrite_all, true);
        let restored = self.restore_file(&base, &temporary, path);
        self.overwrite_all = overwrite_all;
        restored?;
        // A small base may have gone to the finishing thread; the increments apply
        // to it only once it is written.
        self.finish_files()?;
        if self.report.damaged.len() > damaged_before {
            remove_with_sidecars(&temporary);
            return Ok(());
        }
        let increments = match self.load_increments(node) {
            Ok(increments) => increments,
            Err(damage) => {
                remove_with_sidecars(&temporary);
                self.damaged(path, vec![damage], false);
                return Ok(());
            }
        };
        let hash_key = self.repo.keys.row_hash.clone();
        let database = temporary.clone();
        let apply = std::thread::spawn(move || apply_chain(&database, &increments, &hash_key));
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
            Err(ApplyError {
                increment: None,
                reason: "the thread applying the increments panicked".into(),
            })
        });
        if let Err(e) = applied {
            remove_with_sidecars(&temporary);
            let object = match e.increment {
                Some(number) => self.increment_name(&node, number),
                None => format!("row increments of snapshot {}", self.snapshot.short()),
            };
            self.damaged(&path, vec![Damage::new(object, e.reason)], false);
            return Ok(());
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
