//! Prune: frees the space of packs that no snapshot needs, in two phases.
//!
//! 1. Mark: packs that hold no blob any snapshot references are listed in a sealed
//!    pending-deletion mark (`prune/<id>`) with the current time. Packs whose unused
//!    share is above the repack threshold have their used blobs copied into new packs
//!    first, then are marked too.
//! 2. Delete: a later prune deletes a marked pack once the grace period has passed
//!    since it was marked, and only if every blob in it that a snapshot existing at
//!    that moment references has another copy that stays. A marked pack that a
//!    snapshot needs again is unmarked.
//!
//! A backup never reuses a blob from a marked pack, and just before it writes its
//! snapshot it copies the blobs it references out of packs marked since it started.
//! So a backup whose snapshot write follows its last look at the marks by less than
//! the grace period never references a deleted pack.

mod lock;
pub(crate) mod marks;
mod usage;

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::error::{RepoError, Result};
use crate::id::ObjectId;
use crate::index::{self, BlobLocation, IndexFile, IndexedPack};
use crate::repository::unix_seconds_now;
use crate::Repository;

use marks::Marks;
use usage::Usage;

pub use lock::LOCK_PREFIX;

/// Options for [`Repository::prune`].
#[derive(Clone, Debug)]
pub struct PruneOptions {
    /// Time between marking a pack and deleting it. It must be longer than the
    /// longest backup: a backup that runs longer may reference a pack that is
    /// deleted before its snapshot is written. Leftover objects from interrupted
    /// writes are deleted once they are this old too. Default 24 hours.
    pub grace: Duration,
    /// A pack whose unused bytes are more than this share of its size (0.0 to 1.0)
    /// has its used blobs copied into new packs and is marked. Default 0.2.
    pub repack_threshold: f64,
    /// Report what would be marked, copied and deleted, and change nothing.
    pub dry_run: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(24 * 3600),
            repack_threshold: 0.2,
            dry_run: false,
        }
    }
}

/// Counts of what a prune did, or would do on a dry run.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct PruneReport {
    pub dry_run: bool,
    pub snapshots: u64,
    /// Packs in storage before the prune.
    pub packs: u64,
    pub pack_bytes: u64,
    /// Packs newly marked for deletion, and their bytes.
    pub packs_marked: u64,
    pub bytes_marked: u64,
    /// Partly used packs whose used blobs were copied into new packs (and which were
    /// marked).
    pub packs_repacked: u64,
    pub blobs_copied: u64,
    /// Bytes of new packs and index files that the copies wrote.
    pub bytes_copied: u64,
    /// Marked packs deleted because their grace period had passed.
    pub packs_deleted: u64,
    pub bytes_deleted: u64,
    /// Marked packs that a snapshot needs again, no longer marked.
    pub packs_unmarked: u64,
    /// Marked packs still waiting for their grace period.
    pub packs_pending: u64,
    /// Leftovers of interrupted writes that were deleted: zero-length objects and
    /// incomplete packs older than the grace period.
    pub leftovers_deleted: Vec<String>,
    /// Index files replaced by one rewritten index.
    pub index_files_replaced: u64,
}

/// The decisions of one prune run, before anything is written.
#[derive(Default)]
struct Plan {
    delete: HashSet<ObjectId>,
    unmark: HashSet<ObjectId>,
    pending: HashSet<ObjectId>,
    mark: Vec<ObjectId>,
    repack: Vec<ObjectId>,
    copy: Vec<(ObjectId, BlobLocation)>,
    leftovers: Vec<String>,
}

impl Repository {
    /// Runs both prune phases; see the module documentation. Holds the prune lock
    /// while it runs, so two prunes never run at once.
    pub async fn prune(&self, options: &PruneOptions) -> Result<PruneReport> {
        if !(0.0..=1.0).contains(&options.repack_threshold) {
            return Err(RepoError::InvalidInput(format!(
                "repack threshold {} is outside 0.0 to 1.0",
                options.repack_threshold
            )));
        }
        let lock = if options.dry_run {
            None
        } else {
            Some(lock::PruneLock::acquire(self).await?)
        };
        let result = self.prune_locked(options).await;
        if let Some(lock) = lock {
            let released = lock.release().await;
            // The prune's own error is the one to report.
            if result.is_ok() {
                released?;
            } else if let Err(error) = released {
                tracing::warn!(%error, "failed to delete the prune lock");
            }
        }
        result
    }

    async fn prune_locked(&self, options: &PruneOptions) -> Result<PruneReport> {
        let marks = marks::read_marks(&self.storage, &self.keys).await?;
        if let Some(damage) = marks.damaged.first() {
            return Err(self.damaged(damage.clone()));
        }
        let usage = self.read_usage().await?;
        let now = SystemTime::now();
        let mut plan = plan(&usage, &marks, options, now);
        plan.leftovers = self
            .find_leftovers()
            .await?
            .into_iter()
            .filter(|leftover| leftover.older_than(options.grace))
            .map(|leftover| leftover.path)
            .collect();
        let mut report = PruneReport {
            dry_run: options.dry_run,
            snapshots: usage.snapshots,
            packs: usage.packs.len() as u64,
            pack_bytes: usage.packs.values().map(|p| p.size).sum(),
            packs_repacked: plan.repack.len() as u64,
            packs_unmarked: plan.unmark.len() as u64,
            packs_pending: plan.pending.len() as u64,
            ..PruneReport::default()
        };
        let size_of = |ids: &mut dyn Iterator<Item = &ObjectId>| -> u64 {
            ids.filter_map(|id| usage.packs.get(id))
                .map(|p| p.size)
                .sum()
        };
        report.packs_marked = plan.mark.len() as u64;
        report.bytes_marked = size_of(&mut plan.mark.iter());
        report.packs_deleted = plan.delete.len() as u64;
        report.bytes_deleted = size_of(&mut plan.delete.iter());
        report.blobs_copied = plan.copy.len() as u64;
        report.leftovers_deleted = plan.leftovers.clone();
        if options.dry_run {
            return Ok(report);
        }

        // Copies first: a pack is marked only once its used blobs exist elsewhere.
        let copied = self.copy_blobs(&plan.copy).await?;
        report.blobs_copied = copied.blobs;
        report.bytes_copied = copied.bytes_written;
        if !plan.delete.is_empty() || usage.packs.values().any(|p| !p.indexed) {
            report.index_files_replaced = self.rewrite_index(&usage, &plan.delete).await?;
        }
        for id in &plan.delete {
            self.storage.delete(&usage.packs[id].path).await?;
        }
        for path in &plan.leftovers {
            self.storage.delete(path).await?;
        }
        self.update_marks(&marks, &plan).await?;
        self.reload_index().await?;
        tracing::info!(
            marked = report.packs_marked,
            deleted = report.packs_deleted,
            repacked = report.packs_repacked,
            "prune finished"
        );
        Ok(report)
    }

    /// Writes one index file listing every pack that stays, then deletes the index
    /// files it replaces. Index files written after the prune read them are kept.
    async fn rewrite_index(&self, usage: &Usage, deleted: &HashSet<ObjectId>) -> Result<u64> {
        let mut packs: Vec<IndexedPack> = usage
            .packs
            .iter()
            .filter(|(id, _)| !deleted.contains(id))
            .map(|(id, info)| IndexedPack {
                id: *id,
                size: info.size,
                blobs: info.blobs.clone(),
            })
            .collect();
        packs.sort_by_key(|p| p.id);
        let file = IndexFile { packs };
        let (id, bytes) = index::encode_index(&self.keys, &file);
        let new_path = index::index_path(&id);
        self.storage.write(&new_path, bytes).await?;
        let mut replaced = 0;
        for path in &usage.index_files {
            if *path != new_path {
                self.storage.delete(path).await?;
                replaced += 1;
            }
        }
        Ok(replaced)
    }

    /// Writes the new mark, rewrites marks that lost packs, and deletes marks that
    /// have none left. New marks are written before old ones are deleted.
    async fn update_marks(&self, marks: &Marks, plan: &Plan) -> Result<()> {
        if !plan.mark.is_empty() {
            marks::write_mark(
                &self.storage,
                &self.keys,
                unix_seconds_now(),
                plan.mark.clone(),
            )
            .await?;
        }
        for mark in &marks.marks {
            let remaining: Vec<ObjectId> = mark
                .file
                .packs
                .iter()
                .filter(|id| plan.pending.contains(id))
                .copied()
                .collect();
            if remaining.len() == mark.file.packs.len() {
                continue;
            }
            if !remaining.is_empty() {
                marks::write_mark(&self.storage, &self.keys, mark.file.time, remaining).await?;
            }
            self.storage.delete(&mark.path).await?;
        }
        Ok(())
    }
}

/// Takes the prune lock without releasing it (for tests).
pub(crate) async fn hold_lock(repo: &Repository) -> Result<String> {
    Ok(lock::PruneLock::acquire(repo).await?.into_path())
}

/// Decides what to delete, unmark, mark, repack and copy.
fn plan(usage: &Usage, marks: &Marks, options: &PruneOptions, now: SystemTime) -> Plan {
    let mut plan = Plan::default();
    let now_seconds = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let grace = options.grace.as_secs() as i64;
    let marked: HashMap<ObjectId, i64> = marks.packs();

    // Phase two: marked packs whose grace period has passed.
    let due: HashSet<ObjectId> = marked
        .iter()
        .filter(|(id, time)| usage.packs.contains_key(id) && now_seconds - **time >= grace)
        .map(|(id, _)| *id)
        .collect();
    for id in &due {
        let still_needed = usage.packs[id].blobs.iter().any(|blob| {
            usage.used.contains(&blob.id)
                && !usage.copies[&blob.id]
                    .iter()
                    .any(|copy| copy != id && !due.contains(copy))
        });
        if still_needed {
            plan.unmark.insert(*id);
        } else {
            plan.delete.insert(*id);
        }
    }
    plan.pending = marked
        .keys()
        .filter(|id| usage.packs.contains_key(id) && !due.contains(id))
        .copied()
        .collect();

    // Phase one: unused and mostly unused packs that are not marked yet.
    let mut ids: Vec<&ObjectId> = usage.packs.keys().collect();
    ids.sort();
    let candidates: Vec<&ObjectId> = ids
        .into_iter()
        .filter(|id| !marked.contains_key(id))
        .collect();
    let mut copying: HashSet<ObjectId> = HashSet::new();
    for id in &candidates {
        let info = &usage.packs[*id];
        let used_bytes: u64 = info
            .blobs
            .iter()
            .filter(|b| usage.used.contains(&b.id))
            .map(|b| b.length)
            .sum();
        if used_bytes == 0 {
            plan.mark.push(**id);
            continue;
        }
        let unused_share = 1.0 - used_bytes as f64 / info.size as f64;
        if unused_share > options.repack_threshold {
            plan.repack.push(**id);
        }
    }
    let repacking: HashSet<ObjectId> = plan.repack.iter().copied().collect();
    for id in &plan.repack {
        for blob in &usage.packs[id].blobs {
            if !usage.used.contains(&blob.id) || copying.contains(&blob.id) {
                continue;
            }
            // A copy in a pack that stays unmarked makes a new copy unnecessary.
            let kept_elsewhere = usage.copies[&blob.id].iter().any(|copy| {
                copy != id
                    && !repacking.contains(copy)
                    && !marked.contains_key(copy)
                    && !plan.mark.contains(copy)
            });
            if kept_elsewhere {
                continue;
            }
            copying.insert(blob.id);
            plan.copy.push((
                blob.id,
                BlobLocation {
                    pack: *id,
                    blob_type: blob.blob_type,
                    offset: blob.offset,
                    length: blob.length,
                    raw_length: blob.raw_length,
                },
            ));
        }
        plan.mark.push(*id);
    }

    plan
}
