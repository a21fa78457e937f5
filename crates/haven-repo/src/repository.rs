//! Opening and creating repositories, key slots, and reading objects.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use futures::stream::{self, StreamExt};
use haven_crypto::{BackupKey, SecretKey};

use crate::config::{self, ConfigOuter, InitOptions, RepoConfig, CONFIG_PATH, FORMAT_VERSION};
use crate::error::{Damage, RepoError, Result};
use crate::id::{ObjectId, SlotId};
use crate::index::{self, BlobLocation, Index, INDEX_PREFIX};
use crate::keys::KeySet;
use crate::pack::{self, BlobType};
use crate::slot::{self, SlotInfo, SlotKind, SlotRecord, SLOT_PREFIX};
use crate::snapshot::{self, Snapshot, SNAPSHOT_PREFIX};
use crate::tree::Tree;

/// Parallel reads when loading many small objects.
const READ_CONCURRENCY: usize = 8;

/// An open repository. Cheap to clone: clones share keys, storage and index.
#[derive(Clone)]
pub struct Repository {
    pub(crate) storage: Storage,
    pub(crate) repo_id: [u8; 32],
    pub(crate) keys: Arc<KeySet>,
    master: Arc<SecretKey>,
    pub(crate) config: RepoConfig,
    opened_slot: SlotId,
    pub(crate) index: Arc<RwLock<Index>>,
}

use crate::storage::Storage;

/// Key slots found without a key, and slots that could not be read.
#[derive(Debug, Default)]
pub struct SlotList {
    pub slots: Vec<SlotInfo>,
    pub damaged: Vec<Damage>,
}

impl Repository {
    /// Creates a repository with a fresh master key and one recovery-key slot for `key`.
    /// Fails if a config or any key slot already exists at the location.
    pub async fn init(storage: Storage, key: &BackupKey, options: InitOptions) -> Result<Self> {
        options.validate().map_err(RepoError::InvalidInput)?;
        if storage.exists(CONFIG_PATH).await? || !storage.list(SLOT_PREFIX).await?.is_empty() {
            return Err(RepoError::AlreadyExists {
                url: storage.url().to_string(),
            });
        }
        let mut repo_id = [0u8; 32];
        haven_crypto::random_bytes(&mut repo_id);
        let master = SecretKey::generate();
        let keys = KeySet::derive(&master, &repo_id);
        let config = RepoConfig {
            version: FORMAT_VERSION,
            pack_size: options.pack_size,
            chunk_min: options.chunk_min,
            chunk_avg: options.chunk_avg,
            chunk_max: options.chunk_max,
            created: unix_seconds_now(),
        };
        // The slot goes first: a config without a slot is reported as damage, and
        // a slot without a config is not yet a repository.
        let slot_id = SlotId::random();
        let slot_bytes = slot::encode_slot(key, &master, &repo_id, slot_id, SlotKind::RecoveryKey);
        storage
            .write(&slot::slot_path(&slot_id), slot_bytes)
            .await?;
        storage
            .write(CONFIG_PATH, config::encode_config(&repo_id, &keys, &config))
            .await?;
        Ok(Self {
            storage,
            repo_id,
            keys: Arc::new(keys),
            master: Arc::new(master),
            config,
            opened_slot: slot_id,
            index: Arc::new(RwLock::new(Index::default())),
        })
    }

    /// Opens a repository with `key`, trying every key slot's key check.
    ///
    /// Returns [`RepoError::WrongKey`] only when every slot is intact and none matches.
    /// Damaged index files do not stop the open; see [`Repository::damaged_indexes`].
    pub async fn open(storage: Storage, key: &BackupKey) -> Result<Self> {
        let (repo_id, sealed_config) = read_config_outer(&storage).await?;
        let (records, damaged) = read_slots(&storage, &repo_id).await?;
        let check = slot::key_check(key, &repo_id);
        let Some(record) = records.iter().find(|r| r.key_check == check) else {
            return Err(no_matching_slot(&storage, records.len(), damaged));
        };
        let master = slot::unwrap_master(key, &repo_id, record).map_err(|reason| {
            damaged_error(
                &storage,
                Damage::new(slot::slot_path(&record.slot_id), reason),
            )
        })?;
        let keys = KeySet::derive(&master, &repo_id);
        let config = config::decode_config_body(&repo_id, &keys, &sealed_config)
            .map_err(|reason| damaged_error(&storage, Damage::new(CONFIG_PATH, reason)))?;
        if config.version != FORMAT_VERSION {
            return Err(RepoError::UnsupportedVersion {
                url: storage.url().to_string(),
                found: config.version,
                supported: FORMAT_VERSION,
            });
        }
        let repo = Self {
            storage,
            repo_id,
            keys: Arc::new(keys),
            master: Arc::new(master),
            config,
            opened_slot: record.slot_id,
            index: Arc::new(RwLock::new(Index::default())),
        };
        repo.reload_index().await?;
        Ok(repo)
    }

    /// Lists key slots without a key: id, kind and vault metadata. The metadata is not
    /// authenticated until a key opens the slot.
    pub async fn list_slots(storage: &Storage) -> Result<SlotList> {
        let (repo_id, _) = read_config_outer(storage).await?;
        let (records, damaged) = read_slots(storage, &repo_id).await?;
        Ok(SlotList {
            slots: records
                .into_iter()
                .map(|r| SlotInfo {
                    id: r.slot_id,
                    kind: r.kind,
                })
                .collect(),
            damaged,
        })
    }

    /// Adds a key slot that wraps the master key under `key`. Rewrites no data.
    pub async fn add_slot(&self, key: &BackupKey, kind: SlotKind) -> Result<SlotId> {
        let slot_id = SlotId::random();
        let bytes = slot::encode_slot(key, &self.master, &self.repo_id, slot_id, kind);
        self.storage
            .write(&slot::slot_path(&slot_id), bytes)
            .await?;
        Ok(slot_id)
    }

    /// Deletes a key slot. Rejects removing the last intact slot.
    pub async fn remove_slot(&self, id: SlotId) -> Result<()> {
        let (records, _) = read_slots(&self.storage, &self.repo_id).await?;
        if !records.iter().any(|r| r.slot_id == id) {
            return Err(RepoError::SlotNotFound {
                slot: id.to_string(),
            });
        }
        if records.len() <= 1 {
            return Err(RepoError::LastSlot {
                slot: id.to_string(),
            });
        }
        self.storage.delete(&slot::slot_path(&id)).await
    }

    /// The slot whose key opened this repository.
    pub fn opened_slot(&self) -> SlotId {
        self.opened_slot
    }

    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    pub fn config(&self) -> &RepoConfig {
        &self.config
    }

    /// Hex form of the random repository id.
    pub fn id(&self) -> String {
        hex::encode(self.repo_id)
    }

    /// Index files that failed to load at open; their blobs count as missing.
    pub fn damaged_indexes(&self) -> Vec<Damage> {
        self.index.read().expect("index lock").damaged.clone()
    }

    /// Reads every index file again, replacing the in-memory index.
    pub async fn reload_index(&self) -> Result<()> {
        let paths = self.storage.list(INDEX_PREFIX).await?;
        let keys = self.keys.clone();
        let results: Vec<_> = stream::iter(paths)
            .map(|path| {
                let storage = self.storage.clone();
                let keys = keys.clone();
                async move {
                    let bytes = storage.read(&path).await?;
                    let decoded = match bytes {
                        None => Err("disappeared while listed".to_string()),
                        Some(bytes) if bytes.is_empty() => Err(String::new()),
                        Some(bytes) => index::decode_index(&keys, &path, &bytes),
                    };
                    Ok::<_, RepoError>((path, decoded))
                }
            })
            .buffer_unordered(READ_CONCURRENCY)
            .collect()
            .await;
        let marks = crate::prune::marks::read_marks(&self.storage, &self.keys).await?;
        let mut fresh = Index {
            marked: marks.packs().into_keys().collect(),
            ..Index::default()
        };
        for result in results {
            let (path, decoded) = result?;
            match decoded {
                Ok(file) => file.packs.iter().for_each(|p| fresh.add_pack(p)),
                // An empty reason is a zero-length file: an interrupted write, whose
                // packs the next backup indexes again.
                Err(reason) if reason.is_empty() => fresh.empty.push(path),
                Err(reason) => {
                    tracing::warn!(index = %path, %reason, "index file is damaged");
                    fresh.damaged.push(Damage::new(path, reason));
                }
            }
        }
        *self.index.write().expect("index lock") = fresh;
        Ok(())
    }

    /// Storage paths of indexed packs, with the type of blobs each holds.
    #[doc(hidden)]
    pub fn indexed_packs(&self) -> Vec<(String, BlobType)> {
        let index = self.index.read().expect("index lock");
        let mut packs: Vec<_> = index
            .blobs
            .iter()
            .map(|(_, l)| (pack::pack_path(&l.pack), l.blob_type))
            .collect();
        packs.sort_by(|a, b| a.0.cmp(&b.0));
        packs.dedup_by(|a, b| a.0 == b.0);
        packs
    }

    pub(crate) fn locate(&self, id: &ObjectId) -> Option<BlobLocation> {
        self.index.read().expect("index lock").blobs.get(id)
    }

    /// True when a backup may reference the blob without storing it: it is indexed
    /// in a pack that no prune has marked for deletion.
    pub(crate) fn has_reusable_blob(&self, id: &ObjectId) -> bool {
        self.index.read().expect("index lock").is_reusable(id)
    }

    /// Reads the pending-deletion marks again, so blobs in packs marked since the
    /// index was loaded are no longer reused. Returns the marked packs.
    pub(crate) async fn reload_marks(&self) -> Result<HashSet<ObjectId>> {
        let marks = crate::prune::marks::read_marks(&self.storage, &self.keys).await?;
        let marked: HashSet<ObjectId> = marks.packs().into_keys().collect();
        self.index.write().expect("index lock").marked = marked.clone();
        Ok(marked)
    }

    pub(crate) fn has_blob(&self, id: &ObjectId) -> bool {
        self.index
            .read()
            .expect("index lock")
            .blobs
            .contains_key(id)
    }

    /// Loads and verifies one blob. Errors are [`RepoError::Damaged`] naming the blob
    /// and its pack, or a storage failure.
    pub async fn load_blob(&self, blob_type: BlobType, id: &ObjectId) -> Result<Vec<u8>> {
        let describe = |pack: Option<&ObjectId>| match pack {
            Some(pack) => format!("blob {} in {}", id.short(), pack::pack_path(pack)),
            None => format!("blob {}", id.short()),
        };
        let Some(location) = self.locate(id) else {
            return Err(self.damaged(Damage::new(
                describe(None),
                "not listed in any readable index file",
            )));
        };
        let path = pack::pack_path(&location.pack);
        let sealed = self
            .storage
            .read_range(&path, location.offset, location.length)
            .await?;
        let Some(sealed) = sealed else {
            return Err(self.damaged(Damage::new(
                describe(Some(&location.pack)),
                "its pack file is missing",
            )));
        };
        if sealed.len() as u64 != location.length {
            return Err(self.damaged(Damage::new(
                describe(Some(&location.pack)),
                format!(
                    "pack is truncated: read {} of {} bytes",
                    sealed.len(),
                    location.length
                ),
            )));
        }
        pack::open_blob(&self.keys, blob_type, id, &sealed)
            .map_err(|reason| self.damaged(Damage::new(describe(Some(&location.pack)), reason)))
    }

    /// Loads a tree blob.
    pub async fn load_tree(&self, id: &ObjectId) -> Result<Tree> {
        let bytes = self.load_blob(BlobType::Tree, id).await?;
        crate::tree::decode_tree(&bytes)
            .map_err(|reason| self.damaged(Damage::new(format!("tree {}", id.short()), reason)))
    }

    /// Lists all snapshots, oldest first, and the snapshot files that could not be read.
    pub async fn snapshots(&self) -> Result<(Vec<(ObjectId, Snapshot)>, Vec<Damage>)> {
        let paths = self.storage.list(SNAPSHOT_PREFIX).await?;
        let results: Vec<_> = stream::iter(paths)
            .map(|path| {
                let storage = self.storage.clone();
                let keys = self.keys.clone();
                async move {
                    let bytes = storage.read(&path).await?;
                    let decoded = match bytes {
                        None => Err("disappeared while listed".to_string()),
                        Some(bytes) if bytes.is_empty() => Err(String::new()),
                        Some(bytes) => snapshot::decode_snapshot(&keys, &path, &bytes),
                    };
                    Ok::<_, RepoError>((path, decoded))
                }
            })
            .buffer_unordered(READ_CONCURRENCY)
            .collect()
            .await;
        let mut snapshots = Vec::new();
        let mut damaged = Vec::new();
        for result in results {
            let (path, decoded) = result?;
            match decoded {
                Ok(snap) => {
                    let id = ObjectId::from_hex(path.trim_start_matches(SNAPSHOT_PREFIX))
                        .expect("decode_snapshot checked the name");
                    snapshots.push((id, snap));
                }
                // A zero-length snapshot object is an interrupted write, not a
                // snapshot: `check` reports it as a leftover and `repair` deletes it.
                Err(reason) if reason.is_empty() => {}
                Err(reason) => damaged.push(Damage::new(path, reason)),
            }
        }
        snapshots.sort_by_key(|(id, s)| (s.time_ns, *id));
        Ok((snapshots, damaged))
    }

    /// Finds a snapshot by `latest`, a full id, or a unique id prefix.
    pub async fn find_snapshot(&self, query: &str) -> Result<(ObjectId, Snapshot)> {
        let (snapshots, damaged) = self.snapshots().await?;
        let not_found = || RepoError::SnapshotNotFound {
            query: query.to_string(),
        };
        if query == "latest" {
            return snapshots.into_iter().last().ok_or_else(not_found);
        }
        let query_lower = query.to_ascii_lowercase();
        let mut matches: Vec<_> = snapshots
            .into_iter()
            .filter(|(id, _)| id.to_hex().starts_with(&query_lower))
            .collect();
        match matches.len() {
            1 => Ok(matches.pop().expect("one match")),
            0 => {
                if let Some(damage) = damaged.into_iter().find(|d| {
                    d.object
                        .trim_start_matches(SNAPSHOT_PREFIX)
                        .starts_with(&query_lower)
                }) {
                    return Err(self.damaged(damage));
                }
                Err(not_found())
            }
            count => Err(RepoError::AmbiguousSnapshot {
                query: query.to_string(),
                count,
            }),
        }
    }

    pub(crate) fn damaged(&self, damage: Damage) -> RepoError {
        damaged_error(&self.storage, damage)
    }
}

fn damaged_error(storage: &Storage, damage: Damage) -> RepoError {
    RepoError::Damaged {
        url: storage.url().to_string(),
        damage,
    }
}

fn no_matching_slot(storage: &Storage, intact: usize, mut damaged: Vec<Damage>) -> RepoError {
    if let Some(first) = damaged.first().cloned() {
        // The key may belong to a damaged slot, so this is damage, not a wrong key.
        let others = damaged.len() - 1;
        let mut damage = first;
        if others > 0 {
            damage.reason = format!("{} (and {others} more damaged key slots)", damage.reason);
        }
        damaged.clear();
        return damaged_error(storage, damage);
    }
    if intact == 0 {
        return damaged_error(storage, Damage::new(SLOT_PREFIX, "no key slots found"));
    }
    RepoError::WrongKey {
        url: storage.url().to_string(),
    }
}

async fn read_config_outer(storage: &Storage) -> Result<([u8; 32], Vec<u8>)> {
    let Some(bytes) = storage.read(CONFIG_PATH).await? else {
        if storage.list(SLOT_PREFIX).await?.is_empty() {
            return Err(RepoError::NotARepository {
                url: storage.url().to_string(),
            });
        }
        return Err(damaged_error(
            storage,
            Damage::new(CONFIG_PATH, "missing, but key slots exist"),
        ));
    };
    match config::decode_config_outer(&bytes) {
        Ok(ConfigOuter::Current { repo_id, sealed }) => Ok((repo_id, sealed)),
        Ok(ConfigOuter::OtherVersion(v)) => Err(RepoError::UnsupportedVersion {
            url: storage.url().to_string(),
            found: v as u32,
            supported: FORMAT_VERSION,
        }),
        Err(reason) => Err(damaged_error(storage, Damage::new(CONFIG_PATH, reason))),
    }
}

async fn read_slots(
    storage: &Storage,
    repo_id: &[u8; 32],
) -> Result<(Vec<SlotRecord>, Vec<Damage>)> {
    let mut records = Vec::new();
    let mut damaged = Vec::new();
    for path in storage.list(SLOT_PREFIX).await? {
        let name = path.trim_start_matches(SLOT_PREFIX);
        let Some(slot_id) = SlotId::from_hex(name) else {
            damaged.push(Damage::new(&path, "name is not a 16-digit hex slot id"));
            continue;
        };
        let decoded = match storage.read(&path).await? {
            None => Err("disappeared while listed".to_string()),
            Some(bytes) => slot::decode_slot(&bytes, repo_id, &slot_id),
        };
        match decoded {
            Ok(record) => records.push(record),
            Err(reason) => damaged.push(Damage::new(&path, reason)),
        }
    }
    Ok((records, damaged))
}

pub(crate) fn unix_seconds_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
