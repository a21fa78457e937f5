//! Storing a file's chunk ids in its node: inline for small files, as a content list
//! blob (a delta against the previous snapshot's list when that is small) for large
//! ones.

use std::path::{Path, PathBuf};

use super::display_path;
use super::pipeline::ChunkIds;
use super::walk::Walker;
use crate::content_list::{build_list, FileContent, ResolvedList, MAX_INLINE_IDS};
use crate::error::Result;
use crate::id::{to_cbor, ObjectId};
use crate::pack::BlobType;
use crate::tree::Node;

/// A file whose chunks are still being hashed, stored once its folder is walked so
/// that reading the next file need not wait for the sealing threads.
pub(super) struct DeferredContent {
    path: PathBuf,
    ids: ChunkIds,
    previous: Option<Node>,
    /// Position of the file's node among its folder's nodes, set when it is added.
    node: Option<usize>,
}

impl Walker {
    /// Leaves the content of the file at `path` to [`Walker::store_deferred`].
    pub(super) fn defer_content(&mut self, path: &Path, ids: ChunkIds, previous: Option<&Node>) {
        self.deferred.push(DeferredContent {
            path: path.to_path_buf(),
            ids,
            previous: previous.cloned(),
            node: None,
        });
    }

    /// Adds a folder's node, which is the file of the last deferred content if that
    /// has no node yet: a subfolder stores its own deferred files before it returns.
    pub(super) fn push_node(&mut self, nodes: &mut Vec<Node>, node: Node) {
        if let Some(last) = self.deferred.last_mut() {
            if last.node.is_none() {
                last.node = Some(nodes.len());
            }
        }
        nodes.push(node);
    }

    /// Stores the content of every file deferred since `first`, into `nodes`.
    pub(super) fn store_deferred(&mut self, first: usize, nodes: &mut [Node]) -> Result<()> {
        let deferred: Vec<DeferredContent> = self.deferred.drain(first..).collect();
        for file in deferred {
            let position = file.node.expect("a deferred file's node was added");
            let ids = self.pipeline.resolve(file.ids)?;
            self.store_content(
                &file.path,
                &mut nodes[position],
                ids,
                file.previous.as_ref(),
            )?;
        }
        Ok(())
    }

    /// Gives `node` the content of the unchanged file `previous` when every blob it
    /// needs can be reused. Returns false when the file must be read again.
    pub(super) fn reuse_content(
        &mut self,
        path: &Path,
        previous: &Node,
        node: &mut Node,
    ) -> Result<bool> {
        let content = match self.handle.block_on(self.repo.file_content(previous)) {
            Ok(content) => content,
            Err(e) if e.is_damage() => {
                tracing::warn!(path = %display_path(path), error = %e, "reading the file again: its previous content list is damaged");
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        let FileContent { data, lists } = content;
        let reusable = data
            .iter()
            .chain(&lists)
            .chain(&previous.row_increments)
            .all(|id| self.repo.has_reusable_blob(id));
        if !reusable {
            return Ok(false);
        }
        node.kind = previous.kind;
        node.content = previous.content.clone();
        node.content_list = previous.content_list;
        node.row_increments = previous.row_increments.clone();
        self.pipeline.record_reused(&data);
        self.pipeline.record_reused(&lists);
        self.pipeline.record_reused(&previous.row_increments);
        Ok(true)
    }

    /// Sets the content of `node` from the chunk ids just read: inline up to
    /// [`MAX_INLINE_IDS`], otherwise as a content list blob.
    pub(super) fn store_content(
        &mut self,
        path: &Path,
        node: &mut Node,
        ids: Vec<ObjectId>,
        previous: Option<&Node>,
    ) -> Result<()> {
        if ids.len() <= MAX_INLINE_IDS {
            node.content = ids;
            return Ok(());
        }
        let base = match previous.and_then(|p| p.content_list) {
            Some(base_id) => self
                .reusable_base(path, &base_id)?
                .map(|resolved| (base_id, resolved)),
            None => None,
        };
        let list = build_list(&ids, base.as_ref().map(|(id, resolved)| (*id, resolved)));
        if let (Some(_), Some((_, resolved))) = (list.base, &base) {
            self.pipeline.record_reused(&resolved.chain);
        }
        let (list_id, _) = self.pipeline.save(BlobType::Tree, to_cbor(&list), true)?;
        node.content_list = Some(list_id);
        Ok(())
    }

    /// Loads the previous content list of a file. Returns `None` (and a full list is
    /// written) when it is damaged or any blob of its chain cannot be reused.
    fn reusable_base(&mut self, path: &Path, id: &ObjectId) -> Result<Option<ResolvedList>> {
        let resolved = match self.handle.block_on(self.repo.load_content_list(id)) {
            Ok(resolved) => resolved,
            Err(e) if e.is_damage() => {
                tracing::warn!(path = %display_path(path), error = %e, "writing a full content list: the previous one is damaged");
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        let reusable = resolved
            .chain
            .iter()
            .all(|list| self.repo.has_reusable_blob(list));
        Ok(reusable.then_some(resolved))
    }
}
