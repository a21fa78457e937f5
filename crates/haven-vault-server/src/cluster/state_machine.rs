//! The Raft state machine: the records database, changed only by applying
//! committed log entries, plus snapshots of it.
//!
//! Each `apply` call is one redb write transaction. It applies the entries through
//! [`Ops::apply`] (the logic of the single-node writer) and stores the last applied
//! log id and membership in the same commit, so after a crash the records and the
//! applied index still agree. That commit is not synced to disk: the entries are
//! already synced in the log of a majority, so a crash only makes openraft apply the
//! last entries again. The records are synced before each snapshot, because
//! openraft purges the log entries that a snapshot covers.
//!
//! A snapshot is the two record tables as stored: keyed-hash table keys and values
//! sealed under the cluster record key, so it contains no record in clear.

// openraft's storage traits return `StorageError` (224 bytes) by value, so the
// helpers that feed them do too.
#![allow(clippy::result_large_err)]

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use openraft::storage::RaftStateMachine;
use openraft::{AnyError, EntryPayload, RaftSnapshotBuilder, StorageIOError};
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::entry::EntryKey;
use super::types::{
    Entry, LogId, Replies, Reply, Snapshot, SnapshotMeta, StorageError, StoredMembership,
    TypeConfig,
};
use crate::apply::{Effects, Ops, PhantomPolicy};
use crate::metrics::Metrics;
use crate::store::{Store, StoreError, PHANTOM_SEEN, RECORDS};

/// `applied` and `membership` of the state machine, JSON-encoded, in records.redb.
const RAFT_STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_state");

/// File name of the last snapshot inside the data folder.
pub const SNAPSHOT_FILE: &str = "raft-snapshot.json";

fn sm_read_error(error: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_state_machine(AnyError::error(error)).into()
}

fn sm_write_error(error: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_state_machine(AnyError::error(error)).into()
}

fn snapshot_error(error: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_snapshot(None, AnyError::error(error)).into()
}

/// The two record tables, as stored.
#[derive(Serialize, Deserialize, Default)]
struct SnapshotBody {
    /// `(table key, sealed record)`, both base64url.
    records: Vec<(String, String)>,
    /// `(table key, last use in Unix seconds)` of phantom records.
    phantom_seen: Vec<(String, u64)>,
}

/// The snapshot file: metadata and body.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    body: String,
}

/// The state machine; clones share the database.
#[derive(Clone)]
pub struct StateMachine {
    store: Store,
    phantom: PhantomPolicy,
    metrics: Arc<Metrics>,
    entry_key: Arc<EntryKey>,
    snapshot_path: PathBuf,
}

impl StateMachine {
    pub fn new(
        store: Store,
        data_dir: &std::path::Path,
        phantom: PhantomPolicy,
        metrics: Arc<Metrics>,
        entry_key: Arc<EntryKey>,
    ) -> Result<Self, StoreError> {
        let txn = store.db.begin_write().map_err(crate::store::io_error)?;
        txn.open_table(RAFT_STATE).map_err(crate::store::io_error)?;
        txn.commit().map_err(crate::store::io_error)?;
        Ok(Self {
            store,
            phantom,
            metrics,
            entry_key,
            snapshot_path: data_dir.join(SNAPSHOT_FILE),
        })
    }

    fn read_state(&self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let txn = self.store.db.begin_read().map_err(sm_read_error)?;
        let table = txn.open_table(RAFT_STATE).map_err(sm_read_error)?;
        let get = |name: &str| -> Result<Option<Vec<u8>>, StorageError> {
            Ok(table
                .get(name)
                .map_err(sm_read_error)?
                .map(|value| value.value().to_vec()))
        };
        let applied = match get("applied")? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(sm_read_error)?,
            None => None,
        };
        let membership = match get("membership")? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(sm_read_error)?,
            None => StoredMembership::default(),
        };
        Ok((applied, membership))
    }

    fn save_state(
        txn: &redb::WriteTransaction,
        applied: &Option<LogId>,
        membership: &StoredMembership,
    ) -> Result<(), StorageError> {
        let mut table = txn.open_table(RAFT_STATE).map_err(sm_write_error)?;
        let applied = serde_json::to_vec(applied).map_err(sm_write_error)?;
        let membership = serde_json::to_vec(membership).map_err(sm_write_error)?;
        table
            .insert("applied", applied.as_slice())
            .map_err(sm_write_error)?;
        table
            .insert("membership", membership.as_slice())
            .map_err(sm_write_error)?;
        Ok(())
    }

    fn apply_entries(&self, entries: Vec<Entry>) -> Result<Vec<Replies>, StorageError> {
        let (mut applied, mut membership) = self.read_state()?;
        let mut replies = Vec::with_capacity(entries.len());
        let mut effects: Vec<Effects> = Vec::new();
        let mut txn = self.store.db.begin_write().map_err(sm_write_error)?;
        // Not synced: the entries are already durable in the log of a majority, and
        // after a crash openraft applies them again from the last synced state.
        // `dump` syncs before a snapshot lets openraft purge the log.
        txn.set_durability(redb::Durability::None)
            .map_err(sm_write_error)?;
        {
            let mut table = txn.open_table(RECORDS).map_err(sm_write_error)?;
            let mut seen = txn.open_table(PHANTOM_SEEN).map_err(sm_write_error)?;
            let mut ops = Ops {
                table: &mut table,
                seen: &mut seen,
                keys: &self.store.keys,
                phantom: self.phantom,
            };
            for entry in entries {
                applied = Some(entry.log_id);
                let mut results = Vec::new();
                match entry.payload {
                    EntryPayload::Blank => {}
                    EntryPayload::Membership(config) => {
                        membership = StoredMembership::new(Some(entry.log_id), config);
                    }
                    EntryPayload::Normal(batch) => {
                        for proposal in &batch.changes {
                            let Some(change) =
                                self.entry_key.open_change(proposal, &self.store.keys)
                            else {
                                tracing::error!(index = entry.log_id.index, "a change in a log entry failed to open under this node's entry key and was skipped; it was proposed by a node with other vault secrets: give every node the same secrets with `haven vault cluster copy-secrets`");
                                results.push(Reply::Unreadable);
                                continue;
                            };
                            let (result, effect) = ops.apply(change).map_err(sm_write_error)?;
                            effects.push(effect);
                            results.push(match result {
                                Ok(outcome) => Reply::Applied(outcome),
                                Err(_) => Reply::Damaged,
                            });
                        }
                    }
                }
                replies.push(Replies(results));
            }
        }
        Self::save_state(&txn, &applied, &membership)?;
        txn.commit().map_err(sm_write_error)?;
        for effect in effects {
            effect.count(&self.metrics);
        }
        Ok(replies)
    }

    // NOTE: the whole snapshot is built in memory, as base64 in JSON (about 1.4 times
    // the stored size); a vault with millions of records would need a streamed one.
    fn dump(&self) -> Result<(Option<LogId>, StoredMembership, Vec<u8>), StorageError> {
        self.sync()?;
        let txn = self.store.db.begin_read().map_err(sm_read_error)?;
        let state = txn.open_table(RAFT_STATE).map_err(sm_read_error)?;
        let decode = |name: &str| -> Result<Option<Vec<u8>>, StorageError> {
            Ok(state
                .get(name)
                .map_err(sm_read_error)?
                .map(|value| value.value().to_vec()))
        };
        let applied: Option<LogId> = match decode("applied")? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(sm_read_error)?,
            None => None,
        };
        let membership: StoredMembership = match decode("membership")? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(sm_read_error)?,
            None => StoredMembership::default(),
        };

        let mut body = SnapshotBody::default();
        let records = txn.open_table(RECORDS).map_err(sm_read_error)?;
        for item in records.iter().map_err(sm_read_error)? {
            let (key, value) = item.map_err(sm_read_error)?;
            body.records.push((
                URL_SAFE_NO_PAD.encode(key.value()),
                URL_SAFE_NO_PAD.encode(value.value()),
            ));
        }

        let seen = txn.open_table(PHANTOM_SEEN).map_err(sm_read_error)?;
        for item in seen.iter().map_err(sm_read_error)? {
            let (key, value) = item.map_err(sm_read_error)?;
            body.phantom_seen
                .push((URL_SAFE_NO_PAD.encode(key.value()), value.value()));
        }
        let bytes = serde_json::to_vec(&body).map_err(sm_read_error)?;
        Ok((applied, membership, bytes))
    }

    /// Makes every applied entry durable: an empty commit with
    /// `Durability::Immediate` also persists the unsynced commits before it.
    fn sync(&self) -> Result<(), StorageError> {
        let mut txn = self.store.db.begin_write().map_err(sm_write_error)?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(sm_write_error)?;
        txn.commit().map_err(sm_write_error)
    }

    fn save_snapshot_file(&self, meta: &SnapshotMeta, body: &[u8]) -> Result<(), StorageError> {
        let file = SnapshotFile {
            meta: meta.clone(),
            body: URL_SAFE_NO_PAD.encode(body),
        };
        let json = serde_json::to_vec(&file).map_err(snapshot_error)?;
        let temporary = self.snapshot_path.with_extension("json.tmp");
        std::fs::write(&temporary, json)
            .and_then(|()| std::fs::File::open(&temporary)?.sync_all())
            .and_then(|()| std::fs::rename(&temporary, &self.snapshot_path))
            .map_err(snapshot_error)
    }

    fn install(&self, meta: &SnapshotMeta, bytes: &[u8]) -> Result<(), StorageError> {
        let body: SnapshotBody = serde_json::from_slice(bytes).map_err(snapshot_error)?;
        let decode = |text: &str| URL_SAFE_NO_PAD.decode(text).map_err(snapshot_error);
        let mut txn = self.store.db.begin_write().map_err(sm_write_error)?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(sm_write_error)?;
        {
            let mut records = txn.open_table(RECORDS).map_err(sm_write_error)?;
            records.retain(|_, _| false).map_err(sm_write_error)?;
            for (key, value) in &body.records {
                records
                    .insert(decode(key)?.as_slice(), decode(value)?.as_slice())
                    .map_err(sm_write_error)?;
            }
            let mut seen = txn.open_table(PHANTOM_SEEN).map_err(sm_write_error)?;
            seen.retain(|_, _| false).map_err(sm_write_error)?;
            for (key, last_used) in &body.phantom_seen {
                seen.insert(decode(key)?.as_slice(), *last_used)
                    .map_err(sm_write_error)?;
            }
        }
        Self::save_state(&txn, &meta.last_log_id, &meta.last_membership)?;
        txn.commit().map_err(sm_write_error)?;
        self.save_snapshot_file(meta, bytes)?;
        tracing::info!(
            last_index = meta.last_log_id.map(|id| id.index),
            records = body.records.len(),
            "installed a snapshot from the leader"
        );
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let (applied, membership, body) = self.dump()?;
        let mut nonce = [0u8; 8];
        haven_crypto::random_bytes(&mut nonce);
        let snapshot_id = format!(
            "{}-{}",
            applied.map(|id| id.index).unwrap_or(0),
            u64::from_be_bytes(nonce)
        );
        let meta = SnapshotMeta {
            last_log_id: applied,
            last_membership: membership,
            snapshot_id,
        };
        self.save_snapshot_file(&meta, &body)?;
        tracing::info!(
            last_index = applied.map(|id| id.index),
            bytes = body.len(),
            "built a snapshot"
        );
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(body)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        self.read_state()
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Replies>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        self.apply_entries(entries.into_iter().collect())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        self.install(meta, snapshot.get_ref())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let json = match std::fs::read(&self.snapshot_path) {
            Ok(json) => json,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(snapshot_error(error)),
        };
        let file: SnapshotFile = serde_json::from_slice(&json).map_err(snapshot_error)?;
        let body = URL_SAFE_NO_PAD.decode(&file.body).map_err(snapshot_error)?;
        Ok(Some(Snapshot {
            meta: file.meta,
            snapshot: Box::new(Cursor::new(body)),
        }))
    }
}
