//! The Raft log, vote and committed index in `DATA/raft-log.redb`.
//!
//! Every write commits with `Durability::Immediate` before openraft is told that it
//! is done, so a vote or an appended entry that a node acknowledged survives a crash.
//! The one exception is the committed index, which openraft only reads to apply
//! entries sooner after a restart; it is synced with the next synced write.

// openraft's storage traits return `StorageError` (224 bytes) by value, so the
// helpers that feed them do too.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{AnyError, LogState, RaftLogReader, StorageIOError, Vote};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::types::{Entry, LogId, NodeId, StorageError, TypeConfig};
use crate::store::StoreError;

/// File name of the Raft log inside the data folder.
pub const LOG_FILE: &str = "raft-log.redb";

/// Log index to JSON-encoded entry.
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
/// `vote`, `committed` and `last_purged`, each JSON-encoded.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

fn read_error(error: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_logs(AnyError::error(error)).into()
}

fn write_error(error: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_logs(AnyError::error(error)).into()
}

/// The log store; clones share one database.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

impl LogStore {
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(LOG_FILE);
        let db = Database::create(&path).map_err(|error| StoreError::Open {
            path: path.clone(),
            reason: error.to_string(),
        })?;
        let txn = db.begin_write().map_err(crate::store::io_error)?;
        txn.open_table(LOG).map_err(crate::store::io_error)?;
        txn.open_table(META).map_err(crate::store::io_error)?;
        txn.commit().map_err(crate::store::io_error)?;
        Ok(Self { db: Arc::new(db) })
    }

    fn get_meta<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, StorageError> {
        let txn = self.db.begin_read().map_err(read_error)?;
        let table = txn.open_table(META).map_err(read_error)?;
        let Some(value) = table.get(name).map_err(read_error)? else {
            return Ok(None);
        };
        serde_json::from_slice(value.value())
            .map(Some)
            .map_err(read_error)
    }

    fn put_meta<T: Serialize>(
        &self,
        name: &str,
        value: &T,
        durability: redb::Durability,
    ) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(write_error)?;
        let mut txn = self.db.begin_write().map_err(write_error)?;
        txn.set_durability(durability).map_err(write_error)?;
        {
            let mut table = txn.open_table(META).map_err(write_error)?;
            table.insert(name, bytes.as_slice()).map_err(write_error)?;
        }
        txn.commit().map_err(write_error)
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        let txn = self.db.begin_read().map_err(read_error)?;
        let table = txn.open_table(LOG).map_err(read_error)?;
        let Some((_, value)) = table.last().map_err(read_error)? else {
            return Ok(None);
        };
        let entry: Entry = serde_json::from_slice(value.value()).map_err(read_error)?;
        Ok(Some(entry.log_id))
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(index) => *index,
            Bound::Excluded(index) => index + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(index) => Bound::Included(*index),
            Bound::Excluded(index) => Bound::Excluded(*index),
            Bound::Unbounded => Bound::Unbounded,
        };
        let txn = self.db.begin_read().map_err(read_error)?;
        let table = txn.open_table(LOG).map_err(read_error)?;
        let mut entries = Vec::new();
        for item in table
            .range((Bound::Included(start), end))
            .map_err(read_error)?
        {
            let (_, value) = item.map_err(read_error)?;
            entries.push(serde_json::from_slice(value.value()).map_err(read_error)?);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = self.get_meta("last_purged")?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        self.put_meta("vote", vote, redb::Durability::Immediate)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.get_meta("vote")
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.put_meta("committed", &committed, redb::Durability::None)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.get_meta::<Option<LogId>>("committed")?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut txn = self.db.begin_write().map_err(write_error)?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(write_error)?;
        {
            let mut table = txn.open_table(LOG).map_err(write_error)?;
            for entry in entries {
                let bytes = serde_json::to_vec(&entry).map_err(write_error)?;
                table
                    .insert(entry.log_id.index, bytes.as_slice())
                    .map_err(write_error)?;
            }
        }
        let result = txn.commit().map_err(std::io::Error::other);
        let failed = result.as_ref().err().map(write_error);
        callback.log_io_completed(result);
        match failed {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(from = log_id.index, "truncating the Raft log");
        let mut txn = self.db.begin_write().map_err(write_error)?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(write_error)?;
        {
            let mut table = txn.open_table(LOG).map_err(write_error)?;
            table
                .retain_in(log_id.index.., |_, _| false)
                .map_err(write_error)?;
        }
        txn.commit().map_err(write_error)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(up_to = log_id.index, "purging the Raft log");
        let bytes = serde_json::to_vec(&log_id).map_err(write_error)?;
        let mut txn = self.db.begin_write().map_err(write_error)?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(write_error)?;
        {
            let mut meta = txn.open_table(META).map_err(write_error)?;
            meta.insert("last_purged", bytes.as_slice())
                .map_err(write_error)?;
            let mut table = txn.open_table(LOG).map_err(write_error)?;
            table
                .retain_in(..=log_id.index, |_, _| false)
                .map_err(write_error)?;
        }
        txn.commit().map_err(write_error)
    }
}
