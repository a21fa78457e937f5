//! Leftovers of interrupted writes: zero-length objects, packs whose upload did not
//! finish, and temporary files of a local folder. They are not damage: nothing
//! refers to them, backups skip them, and `repair` or `prune` delete them once they
//! are older than the grace period (a younger one may belong to a running backup).

use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::error::Result;
use crate::id::ObjectId;
use crate::index::INDEX_PREFIX;
use crate::pack::{self, PACK_PREFIX};
use crate::prune::marks::MARK_PREFIX;
use crate::prune::LOCK_PREFIX;
use crate::snapshot::SNAPSHOT_PREFIX;
use crate::storage::ObjectMeta;
use crate::Repository;

/// Temporary files of a local-folder repository (see `docs/FORMAT.md`).
const TEMP_PREFIX: &str = ".tmp/";

/// One leftover object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Leftover {
    pub path: String,
    pub size: u64,
    /// Reason it is a leftover, for example "zero-length object".
    pub reason: String,
    /// Seconds since it was last modified, when the backend reports it.
    pub age_seconds: Option<u64>,
}

impl Leftover {
    fn new(object: &ObjectMeta, reason: impl Into<String>) -> Self {
        Self {
            path: object.path.clone(),
            size: object.size,
            reason: reason.into(),
            age_seconds: object
                .modified
                .and_then(|m| SystemTime::now().duration_since(m).ok())
                .map(|age| age.as_secs()),
        }
    }

    /// True when it was last modified at least `grace` ago. An unknown age is never
    /// old enough.
    pub fn older_than(&self, grace: Duration) -> bool {
        self.age_seconds.is_some_and(|age| age >= grace.as_secs())
    }
}

/// Options for [`Repository::repair`].
#[derive(Clone, Debug)]
pub struct RepairOptions {
    /// Only leftovers last modified at least this long ago are deleted. Default 1 hour.
    pub grace: Duration,
    pub dry_run: bool,
}

impl Default for RepairOptions {
    fn default() -> Self {
        Self {
            grace: Duration::from_secs(3600),
            dry_run: false,
        }
    }
}

/// Outcome of [`Repository::repair`].
#[derive(Clone, Debug, Default, Serialize)]
pub struct RepairReport {
    pub dry_run: bool,
    /// Leftovers deleted (or that would be, on a dry run).
    pub deleted: Vec<Leftover>,
    /// Leftovers younger than the grace period, left in place.
    pub kept: Vec<Leftover>,
    /// Valid packs that no index listed, indexed again.
    pub packs_indexed: u64,
}

impl Repository {
    /// Finds every leftover. Reads packs that no index lists, to tell a complete pack
    /// (which the next backup reuses) from an incomplete upload.
    pub async fn find_leftovers(&self) -> Result<Vec<Leftover>> {
        let mut leftovers = Vec::new();
        for object in self.storage.list_meta(PACK_PREFIX).await? {
            let Some(id) = pack::pack_id_from_path(&object.path) else {
                continue;
            };
            if object.size == 0 {
                leftovers.push(Leftover::new(&object, "zero-length object"));
                continue;
            }
            let indexed = self
                .index
                .read()
                .expect("index lock")
                .packs
                .contains_key(&id);
            if indexed {
                continue;
            }
            if let Some(reason) = self.incomplete_pack(&object.path, &id).await? {
                leftovers.push(Leftover::new(&object, reason));
            }
        }
        for prefix in [INDEX_PREFIX, SNAPSHOT_PREFIX, MARK_PREFIX, LOCK_PREFIX] {
            for object in self.storage.list_meta(prefix).await? {
                if object.size == 0 {
                    leftovers.push(Leftover::new(&object, "zero-length object"));
                }
            }
        }
        for object in self.storage.list_meta(TEMP_PREFIX).await? {
            leftovers.push(Leftover::new(
                &object,
                "temporary file of an unfinished write",
            ));
        }
        Ok(leftovers)
    }

    /// Returns why an unindexed pack is not a valid pack, or `None` if it is one.
    async fn incomplete_pack(&self, path: &str, id: &ObjectId) -> Result<Option<String>> {
        let Some(bytes) = self.storage.read(path).await? else {
            return Ok(None);
        };
        if ObjectId::of_stored_bytes(&bytes) != *id {
            return Ok(Some(format!(
                "pack content does not match its name ({} bytes): an incomplete upload",
                bytes.len()
            )));
        }
        Ok(pack::read_pack_header(&self.keys, &bytes)
            .err()
            .map(|reason| format!("pack without a readable header: {reason}")))
    }

    /// Deletes leftovers older than the grace period and indexes complete packs that
    /// no index lists.
    pub async fn repair(&self, options: &RepairOptions) -> Result<RepairReport> {
        self.reload_index().await?;
        let mut report = RepairReport {
            dry_run: options.dry_run,
            ..RepairReport::default()
        };
        for leftover in self.find_leftovers().await? {
            if !leftover.older_than(options.grace) {
                report.kept.push(leftover);
                continue;
            }
            if !options.dry_run {
                self.storage.delete(&leftover.path).await?;
                tracing::info!(object = %leftover.path, reason = %leftover.reason, "leftover deleted");
            }
            report.deleted.push(leftover);
        }
        if !options.dry_run {
            report.packs_indexed = self.adopt_unindexed_packs().await?;
        }
        Ok(report)
    }
}
