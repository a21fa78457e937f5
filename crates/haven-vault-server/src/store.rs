//! The records table in a redb database.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::record::{Damaged, Record, RecordKeys};

/// Table key: keyed hash of the credential identifier; value: the sealed record.
pub(crate) const RECORDS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("records");

/// Table key of each phantom record; value: the Unix time in seconds of the last
/// login start or finish that wrote it. Phantoms not written for longer than the
/// configured expiry are removed by [`crate::changes::Changes::expire_phantoms`].
pub(crate) const PHANTOM_SEEN: TableDefinition<&[u8], u64> = TableDefinition::new("phantom_seen");

/// File name of the records database inside the data folder.
pub const DATABASE_FILE: &str = "records.redb";

/// Errors of the record store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("failed to open the records database {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("records database I/O failed: {0}")]
    Io(String),
    /// The stored record failed authentication.
    #[error("the stored record failed authentication")]
    Damaged,
    /// The writer task has stopped, so the vault is shutting down.
    #[error("the record writer has stopped")]
    WriterStopped,
    /// The cluster could not commit the change or confirm a read; the message
    /// says why and what to do.
    #[error("{0}")]
    Unavailable(String),
}

impl From<Damaged> for StoreError {
    fn from(_: Damaged) -> Self {
        StoreError::Damaged
    }
}

pub(crate) fn io_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Io(error.to_string())
}

/// An account's table key, credential identifier and log id.
#[derive(Clone)]
pub struct AccountRef {
    pub table_key: [u8; 32],
    pub credential_identifier: Vec<u8>,
    /// Keyed hash for logs; never the account id itself.
    pub log_id: String,
}

impl AccountRef {
    pub fn new(keys: &RecordKeys, credential_identifier: Vec<u8>) -> Self {
        Self {
            table_key: keys.table_key(&credential_identifier),
            log_id: keys.log_id(&credential_identifier),
            credential_identifier,
        }
    }
}

/// The records database, shared between the writer thread and readers.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Arc<Database>,
    pub(crate) keys: Arc<RecordKeys>,
}

impl Store {
    /// Opens or creates `DATA/records.redb` and its table.
    pub fn open(data_dir: &Path, keys: Arc<RecordKeys>) -> Result<Self, StoreError> {
        let path = data_dir.join(DATABASE_FILE);
        let db = Database::create(&path).map_err(|error| StoreError::Open {
            path: path.clone(),
            reason: error.to_string(),
        })?;
        let txn = db.begin_write().map_err(io_error)?;
        txn.open_table(RECORDS).map_err(io_error)?;
        txn.open_table(PHANTOM_SEEN).map_err(io_error)?;
        txn.commit().map_err(io_error)?;
        Ok(Self {
            db: Arc::new(db),
            keys,
        })
    }

    /// Reads and opens an account's record (a read transaction, no write).
    pub fn read(&self, account: &AccountRef) -> Result<Option<Record>, StoreError> {
        let txn = self.db.begin_read().map_err(io_error)?;
        let table = txn.open_table(RECORDS).map_err(io_error)?;
        let Some(value) = table.get(account.table_key.as_slice()).map_err(io_error)? else {
            return Ok(None);
        };
        match self
            .keys
            .open(&account.credential_identifier, value.value())
        {
            Ok(record) => Ok(Some(record)),
            Err(damaged) => {
                tracing::warn!(
                    account = %account.log_id,
                    "rejected a stored record that failed authentication: it was edited on \
                     disk or copied from another account"
                );
                Err(damaged.into())
            }
        }
    }
}

/// A `(table key, sealed value)` pair as stored.
pub type RawEntry = (Vec<u8>, Vec<u8>);

/// Raw access to the sealed entries of a stopped vault's database, for operators
/// and tests: listing, copying and replacing sealed values without opening them.
pub struct RawRecords {
    db: Database,
}

impl RawRecords {
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        let path = data_dir.join(DATABASE_FILE);
        let db = Database::open(&path).map_err(|error| StoreError::Open {
            path,
            reason: error.to_string(),
        })?;
        Ok(Self { db })
    }

    /// Returns every `(table key, sealed value)` pair.
    pub fn entries(&self) -> Result<Vec<RawEntry>, StoreError> {
        let txn = self.db.begin_read().map_err(io_error)?;
        let table = txn.open_table(RECORDS).map_err(io_error)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(io_error)? {
            let (key, value) = entry.map_err(io_error)?;
            out.push((key.value().to_vec(), value.value().to_vec()));
        }
        Ok(out)
    }

    /// Stores `value` under `key`, replacing what is there.
    pub fn put(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(io_error)?;
        {
            let mut table = txn.open_table(RECORDS).map_err(io_error)?;
            table.insert(key, value).map_err(io_error)?;
        }
        txn.commit().map_err(io_error)
    }
}
