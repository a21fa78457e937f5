//! Storing a file's chunk ids in its node: inline for small files, as a content list
//! blob (a delta against the previous snapshot's list when that is small) for large
//! ones.

use std::path::Path;

use super::display_path;
use super::walk::Walker;
use crate::content_list::{build_list, FileContent, ResolvedList, MAX_INLINE_IDS};
use crate::error::Result;
use crate::id::{to_cbor, ObjectId};
use crate::pack::BlobType;
use crate::tree::Node;

impl Walker {
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
