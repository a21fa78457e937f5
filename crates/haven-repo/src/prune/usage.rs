//! The input of a prune's decisions: every pack with its blobs, and the blobs that
//! the snapshots reference.

use std::collections::{HashMap, HashSet};

use crate::error::{Damage, RepoError, Result};
use crate::id::ObjectId;
use crate::index::{self, IndexedPack, INDEX_PREFIX};
use crate::pack::{self, PackEntry, PACK_PREFIX};
use crate::tree::NodeKind;
use crate::Repository;

/// One pack in storage.
#[derive(Clone, Debug)]
pub(crate) struct PackInfo {
    pub path: String,
    pub size: u64,
    pub blobs: Vec<PackEntry>,
    /// False for a pack that no index file lists (its blobs come from its header).
    pub indexed: bool,
}

/// The packs, index files and referenced blobs that a prune reads.
pub(crate) struct Usage {
    /// Packs that are in storage and readable, by id.
    pub packs: HashMap<ObjectId, PackInfo>,
    /// Index files read (their packs are in `packs` when they still exist).
    pub index_files: Vec<String>,
    /// Blob id -> packs that hold it.
    pub copies: HashMap<ObjectId, Vec<ObjectId>>,
    /// Every blob a snapshot references (file chunks, trees and content lists).
    pub used: HashSet<ObjectId>,
    pub snapshots: u64,
}

impl Repository {
    /// Reads index files, lists packs and walks every snapshot's trees. Fails when an
    /// index file, snapshot or tree is damaged: a prune that cannot see every
    /// reference could delete data that a snapshot needs.
    pub(crate) async fn read_usage(&self) -> Result<Usage> {
        self.reload_index().await?;
        if let Some(damage) = self.damaged_indexes().into_iter().next() {
            return Err(refuse(self, damage));
        }
        let mut usage = Usage {
            packs: HashMap::new(),
            index_files: Vec::new(),
            copies: HashMap::new(),
            used: HashSet::new(),
            snapshots: 0,
        };
        let indexed = self.read_index_files(&mut usage).await?;
        for object in self.storage.list_meta(PACK_PREFIX).await? {
            let Some(id) = pack::pack_id_from_path(&object.path) else {
                continue;
            };
            // Zero-length and incomplete packs are leftovers, which `find_leftovers`
            // reports.
            if object.size == 0 {
                continue;
            }
            let (blobs, is_indexed) = match indexed.get(&id) {
                Some(pack) => (pack.blobs.clone(), true),
                None => match self.read_unindexed_header(&object.path, &id).await? {
                    Ok(blobs) => (blobs, false),
                    Err(_) => continue,
                },
            };
            for blob in &blobs {
                usage.copies.entry(blob.id).or_default().push(id);
            }
            usage.packs.insert(
                id,
                PackInfo {
                    path: object.path,
                    size: object.size,
                    blobs,
                    indexed: is_indexed,
                },
            );
        }
        self.collect_used(&mut usage).await?;
        Ok(usage)
    }

    /// Reads every index file; returns the packs they list.
    async fn read_index_files(&self, usage: &mut Usage) -> Result<HashMap<ObjectId, IndexedPack>> {
        let mut packs = HashMap::new();
        for object in self.storage.list_meta(INDEX_PREFIX).await? {
            if object.size == 0 {
                continue;
            }
            let Some(bytes) = self.storage.read(&object.path).await? else {
                return Err(refuse(
                    self,
                    Damage::new(&object.path, "disappeared while listed"),
                ));
            };
            let file = index::decode_index(&self.keys, &object.path, &bytes)
                .map_err(|reason| refuse(self, Damage::new(&object.path, reason)))?;
            for pack in file.packs {
                packs.insert(pack.id, pack);
            }
            usage.index_files.push(object.path);
        }
        Ok(packs)
    }

    /// Reads a pack that no index lists and returns its header's blob list, or why it
    /// is not a valid pack.
    async fn read_unindexed_header(
        &self,
        path: &str,
        id: &ObjectId,
    ) -> Result<std::result::Result<Vec<PackEntry>, String>> {
        let Some(bytes) = self.storage.read(path).await? else {
            return Ok(Err("disappeared while listed".into()));
        };
        if ObjectId::of_stored_bytes(&bytes) != *id {
            return Ok(Err(format!(
                "content does not match its name ({} bytes): an incomplete upload",
                bytes.len()
            )));
        }
        Ok(pack::read_pack_header(&self.keys, &bytes))
    }

    /// Walks every snapshot's trees and records each blob they reference.
    async fn collect_used(&self, usage: &mut Usage) -> Result<()> {
        let (snapshots, damaged) = self.snapshots().await?;
        if let Some(damage) = damaged.into_iter().next() {
            return Err(refuse(self, damage));
        }
        usage.snapshots = snapshots.len() as u64;
        let refuse_damage = |e: RepoError| match e {
            RepoError::Damaged { damage, .. } => refuse(self, damage),
            other => other,
        };
        let mut pending: Vec<ObjectId> = snapshots.iter().map(|(_, s)| s.tree).collect();
        // Content lists already resolved: a list and its whole base chain are in use.
        let mut lists_done: HashSet<ObjectId> = HashSet::new();
        while let Some(tree_id) = pending.pop() {
            if !usage.used.insert(tree_id) {
                continue;
            }
            let tree = self.load_tree(&tree_id).await.map_err(refuse_damage)?;
            for node in tree.nodes {
                usage.used.extend(node.content.iter().copied());
                usage.used.extend(node.row_increments.iter().copied());
                if let Some(list) = node.content_list {
                    if lists_done.insert(list) {
                        let resolved =
                            self.load_content_list(&list).await.map_err(refuse_damage)?;
                        usage.used.extend(resolved.ids);
                        usage.used.extend(resolved.chain);
                    }
                }
                if node.kind == NodeKind::Dir {
                    if let Some(subtree) = node.subtree {
                        pending.push(subtree);
                    }
                }
            }
        }
        Ok(())
    }
}

/// Builds the error for damage that stops a prune.
fn refuse(repo: &Repository, mut damage: Damage) -> RepoError {
    damage.reason = format!(
        "{}; prune deletes nothing while the repository is damaged (run `haven check`)",
        damage.reason
    );
    repo.damaged(damage)
}
