//! Listing the entries of a snapshot.

use std::path::{Path, PathBuf};

use crate::error::{RepoError, Result};
use crate::id::ObjectId;
use crate::restore::{components, join_display};
use crate::tree::{escape_name, Node, NodeKind, Tree};
use crate::Repository;

/// One entry of a snapshot listing.
#[derive(Clone, Debug)]
pub struct ListEntry {
    /// Path from the snapshot root, with non-UTF-8 bytes escaped as `\xNN`.
    pub path: String,
    /// Path from the snapshot root as raw bytes.
    pub raw_path: Vec<u8>,
    pub node: Node,
}

impl Repository {
    /// Lists every entry of a snapshot at or below `path` (the whole snapshot when
    /// `path` is empty), depth first.
    pub async fn list_snapshot(&self, snapshot: &ObjectId, path: &Path) -> Result<Vec<ListEntry>> {
        let (_, snap) = self.find_snapshot(&snapshot.to_hex()).await?;
        let wanted = components(path);
        let root = self.load_tree(&snap.tree).await?;
        let mut tree = root.clone();
        let mut prefix: Vec<Vec<u8>> = Vec::new();
        let mut out = Vec::new();
        let not_found = || path_not_found(path, snapshot, &root);
        for (i, part) in wanted.iter().enumerate() {
            let node = tree.find(part).cloned().ok_or_else(not_found)?;
            prefix.push(part.clone());
            let last = i + 1 == wanted.len();
            if last {
                out.push(entry(&prefix, &node));
            }
            match (node.kind, node.subtree) {
                (NodeKind::Dir, Some(id)) => tree = self.load_tree(&id).await?,
                _ if last => return Ok(out),
                _ => return Err(not_found()),
            }
        }
        let mut stack = vec![(prefix, tree)];
        while let Some((prefix, tree)) = stack.pop() {
            let mut subdirs = Vec::new();
            for node in &tree.nodes {
                let mut child = prefix.clone();
                child.push(node.name.clone());
                out.push(entry(&child, node));
                if let (NodeKind::Dir, Some(id)) = (node.kind, node.subtree) {
                    subdirs.push((child, self.load_tree(&id).await?));
                }
            }
            stack.extend(subdirs.into_iter().rev());
        }
        Ok(out)
    }
}

fn entry(path: &[Vec<u8>], node: &Node) -> ListEntry {
    ListEntry {
        path: join_display(path),
        raw_path: path.join(&b'/'),
        node: node.clone(),
    }
}

impl Repository {
    /// Fails with [`RepoError::PathNotFound`] unless each path names an entry of the
    /// snapshot whose root tree is `root`.
    pub(crate) async fn require_paths(
        &self,
        snapshot: &ObjectId,
        root: &Tree,
        paths: &[PathBuf],
    ) -> Result<()> {
        for path in paths {
            let mut tree = root.clone();
            let wanted = components(path);
            for (i, part) in wanted.iter().enumerate() {
                let node = tree
                    .find(part)
                    .cloned()
                    .ok_or_else(|| path_not_found(path, snapshot, root))?;
                match (node.kind, node.subtree) {
                    (NodeKind::Dir, Some(id)) => tree = self.load_tree(&id).await?,
                    _ if i + 1 == wanted.len() => {}
                    _ => return Err(path_not_found(path, snapshot, root)),
                }
            }
        }
        Ok(())
    }
}

fn path_not_found(path: &Path, snapshot: &ObjectId, root: &Tree) -> RepoError {
    let names: Vec<String> = root.nodes.iter().map(|n| escape_name(&n.name)).collect();
    RepoError::PathNotFound {
        path: path.display().to_string(),
        snapshot: snapshot.short(),
        top_level: names.join(", "),
    }
}
