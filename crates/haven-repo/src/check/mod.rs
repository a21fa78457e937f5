//! Verifying a repository: structure always, every byte with `read_data`.

mod packs;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;

use crate::error::{Damage, RepoError, Result};
use crate::id::ObjectId;
use crate::pack::{self, BlobType, PACK_PREFIX};
use crate::restore::join_display;
use crate::tree::{NodeKind, Tree};
use crate::Repository;

/// Options for [`Repository::check`].
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Read and authenticate every blob of every data pack. Packs of trees are
    /// always read in full.
    pub read_data: bool,
}

/// A file or folder whose data is damaged, in one snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AffectedFile {
    pub snapshot: String,
    pub path: String,
}

/// What a check found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    pub snapshots: u64,
    pub packs: u64,
    pub trees: u64,
    /// Content lists of large files resolved to their chunk ids.
    pub content_lists: u64,
    /// Blobs read and authenticated (with `read_data`).
    pub blobs_read: u64,
    pub damaged: Vec<Damage>,
    /// Files and folders that reference damaged or missing objects.
    pub affected: Vec<AffectedFile>,
    /// Packs that no index lists (left by an interrupted backup; the next backup
    /// indexes them again). Not damage.
    pub unindexed_packs: Vec<String>,
    /// Leftovers of interrupted writes: zero-length objects, incomplete packs and
    /// temporary files. Not damage; `haven repair` or `haven prune` deletes them.
    pub leftovers: Vec<crate::Leftover>,
}

type ListResult = std::result::Result<Arc<Vec<ObjectId>>, Damage>;

/// Trees and content lists read so far, shared by all snapshots of one check.
#[derive(Default)]
struct Loaded {
    trees: HashMap<ObjectId, std::result::Result<Arc<Tree>, Damage>>,
    /// Chunk ids of each content list, by list blob id.
    lists: HashMap<ObjectId, ListResult>,
}

impl CheckReport {
    pub fn is_ok(&self) -> bool {
        self.damaged.is_empty() && self.affected.is_empty()
    }
}

impl Repository {
    /// Checks key slots, index files, snapshots and trees, that every referenced
    /// blob is indexed in a pack that exists, and with `read_data` every pack's bytes.
    pub async fn check(&self, options: CheckOptions) -> Result<CheckReport> {
        let mut report = CheckReport::default();
        let slots = Repository::list_slots(&self.storage).await?;
        report.damaged.extend(slots.damaged);
        self.reload_index().await?;
        report.damaged.extend(self.damaged_indexes());

        let listed: HashSet<ObjectId> = self
            .storage
            .list(PACK_PREFIX)
            .await?
            .iter()
            .filter_map(|path| pack::pack_id_from_path(path))
            .collect();
        report.packs = listed.len() as u64;
        // Blob id -> what is wrong with it.
        let mut bad_blobs: HashMap<ObjectId, String> = HashMap::new();
        {
            let index = self.index.read().expect("index lock");
            for pack_id in index.packs.keys() {
                if !listed.contains(pack_id) {
                    report.damaged.push(Damage::new(
                        pack::pack_path(pack_id),
                        "missing, but listed in an index file",
                    ));
                }
            }
            for id in &listed {
                if !index.packs.contains_key(id) {
                    report.unindexed_packs.push(pack::pack_path(id));
                }
            }
            for (blob, location) in index.blobs.iter() {
                if !listed.contains(&location.pack) {
                    bad_blobs.insert(
                        blob,
                        format!("its pack {} is missing", pack::pack_path(&location.pack)),
                    );
                }
            }
        }
        // Packs of trees are small and every check reads their trees anyway, so
        // they are always verified in full; data packs only with `read_data`.
        let to_read: HashSet<ObjectId> = if options.read_data {
            // Unindexed packs are read by `find_leftovers` below, which separates a
            // complete pack from an incomplete upload.
            let index = self.index.read().expect("index lock");
            listed
                .iter()
                .filter(|id| index.packs.contains_key(id))
                .copied()
                .collect()
        } else {
            let index = self.index.read().expect("index lock");
            index
                .blobs
                .iter()
                .filter(|(_, l)| l.blob_type == BlobType::Tree && listed.contains(&l.pack))
                .map(|(_, l)| l.pack)
                .collect()
        };
        self.read_packs(&to_read, &mut report, &mut bad_blobs)
            .await?;

        let (snapshots, damaged_snapshots) = self.snapshots().await?;
        report.damaged.extend(damaged_snapshots);
        report.snapshots = snapshots.len() as u64;
        let mut cache = Loaded::default();
        for (snapshot_id, snapshot) in &snapshots {
            self.check_snapshot(
                snapshot_id,
                snapshot.tree,
                &mut cache,
                &bad_blobs,
                &mut report,
            )
            .await?;
        }
        report.trees = cache.trees.len() as u64;
        report.content_lists = cache.lists.len() as u64;
        let failed_lists = cache.lists.into_values().filter_map(|r| r.err());
        for damage in cache
            .trees
            .into_values()
            .filter_map(|r| r.err())
            .chain(failed_lists)
        {
            report.damaged.push(damage);
        }
        for (blob, reason) in &bad_blobs {
            if !report
                .damaged
                .iter()
                .any(|d| d.object.contains(&blob.short()))
            {
                report.damaged.push(Damage::new(
                    format!("blob {}", blob.short()),
                    reason.clone(),
                ));
            }
        }
        report.leftovers = self.find_leftovers().await?;
        // A zero-length index file is normally an interrupted write. When snapshots
        // reference blobs that no readable index lists, it may have been the index
        // that listed them, so it is damage too.
        let unlisted = report
            .damaged
            .iter()
            .any(|d| d.reason == "not listed in any readable index file");
        if unlisted {
            let empty = self.index.read().expect("index lock").empty.clone();
            for path in empty {
                report.damaged.push(Damage::new(
                    path,
                    "zero-length, and snapshots reference blobs that no readable index file lists",
                ));
            }
        }
        let incomplete: HashSet<&str> = report.leftovers.iter().map(|l| l.path.as_str()).collect();
        report
            .unindexed_packs
            .retain(|path| !incomplete.contains(path.as_str()));
        report.damaged.sort_by(|a, b| a.object.cmp(&b.object));
        report.damaged.dedup();
        report.unindexed_packs.sort();
        Ok(report)
    }

    async fn check_snapshot(
        &self,
        snapshot_id: &ObjectId,
        root: ObjectId,
        cache: &mut Loaded,
        bad_blobs: &HashMap<ObjectId, String>,
        report: &mut CheckReport,
    ) -> Result<()> {
        let mut stack: Vec<(Vec<Vec<u8>>, ObjectId)> = vec![(Vec::new(), root)];
        let mut seen = HashSet::new();
        while let Some((path, tree_id)) = stack.pop() {
            if !seen.insert(tree_id) {
                continue;
            }
            let tree = match cache.trees.get(&tree_id) {
                Some(result) => result.clone(),
                None => {
                    let result = match self.load_tree(&tree_id).await {
                        Ok(tree) => Ok(Arc::new(tree)),
                        Err(RepoError::Damaged { damage, .. }) => Err(damage),
                        Err(e) => return Err(e),
                    };
                    cache.trees.insert(tree_id, result.clone());
                    result
                }
            };
            let tree = match tree {
                Ok(tree) => tree,
                Err(_) => {
                    report.affected.push(AffectedFile {
                        snapshot: snapshot_id.short(),
                        path: format!("{}/ (folder contents)", join_display(&path)),
                    });
                    continue;
                }
            };
            for node in &tree.nodes {
                let mut child = path.clone();
                child.push(node.name.clone());
                if node.kind == NodeKind::Dir {
                    if let Some(subtree) = node.subtree {
                        stack.push((child, subtree));
                    }
                    continue;
                }
                let blobs = match node.content_list {
                    None => Ok(Arc::new(node.content.clone())),
                    Some(list) => self.resolve_cached(&list, cache).await?,
                };
                let blobs = blobs.map(|ids| {
                    if node.row_increments.is_empty() {
                        ids
                    } else {
                        let mut all = ids.as_ref().clone();
                        all.extend(node.row_increments.iter().copied());
                        Arc::new(all)
                    }
                });
                let Ok(blobs) = blobs else {
                    report.affected.push(AffectedFile {
                        snapshot: snapshot_id.short(),
                        path: join_display(&child),
                    });
                    continue;
                };
                let mut broken = false;
                for blob in blobs.iter() {
                    if bad_blobs.contains_key(blob) {
                        broken = true;
                    } else if !self.has_blob(blob) {
                        broken = true;
                        report.damaged.push(Damage::new(
                            format!("blob {}", blob.short()),
                            "not listed in any readable index file",
                        ));
                    }
                }
                if broken {
                    report.affected.push(AffectedFile {
                        snapshot: snapshot_id.short(),
                        path: join_display(&child),
                    });
                }
            }
        }
        Ok(())
    }

    /// Resolves a content list at most once per check. Damage is kept in the cache,
    /// so it is reported once.
    async fn resolve_cached(&self, list: &ObjectId, cache: &mut Loaded) -> Result<ListResult> {
        if let Some(result) = cache.lists.get(list) {
            return Ok(result.clone());
        }
        let result = match self.load_content_list(list).await {
            Ok(resolved) => Ok(Arc::new(resolved.ids)),
            Err(RepoError::Damaged { damage, .. }) => Err(damage),
            Err(e) => return Err(e),
        };
        cache.lists.insert(*list, result.clone());
        Ok(result)
    }
}
