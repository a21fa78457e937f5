//! The prune lock: a sealed `locks/<16 hex>` object that a prune writes before it
//! starts and deletes when it ends. Backups take no lock (the grace period protects
//! them). The lock only keeps two prunes from rewriting the index at once.
//!
//! Storage offers no atomic create-if-absent on every backend, so a prune writes its
//! lock first and then looks for others: two prunes that start together both see
//! each other and both stop, and neither runs alongside the other.

use serde::{Deserialize, Serialize};

use crate::error::{RepoError, Result};
use crate::id::{from_cbor, to_cbor};
use crate::keys::associated_data;
use crate::repository::unix_seconds_now;
use crate::Repository;

pub const LOCK_PREFIX: &str = "locks/";

/// A lock older than this is ignored: its prune has died. Seconds.
const LOCK_EXPIRY: i64 = 6 * 3600;

#[derive(Serialize, Deserialize)]
struct LockFile {
    /// When the prune started, in Unix seconds.
    time: i64,
    hostname: String,
    pid: u32,
}

pub(crate) struct PruneLock {
    repo: Repository,
    path: String,
}

impl PruneLock {
    pub async fn acquire(repo: &Repository) -> Result<Self> {
        let mut name = [0u8; 8];
        haven_crypto::random_bytes(&mut name);
        let path = format!("{LOCK_PREFIX}{}", hex::encode(name));
        let file = LockFile {
            time: unix_seconds_now(),
            hostname: crate::backup::system_hostname(),
            pid: std::process::id(),
        };
        let sealed = haven_crypto::seal(
            &repo.keys.metadata,
            &associated_data("lock", &[]),
            &to_cbor(&file),
        );
        repo.storage.write(&path, sealed).await?;
        let lock = Self {
            repo: repo.clone(),
            path,
        };
        match lock.other_holder().await {
            Ok(None) => Ok(lock),
            Ok(Some(holder)) => {
                lock.release().await?;
                Err(RepoError::Locked {
                    url: repo.storage.url().to_string(),
                    holder,
                })
            }
            Err(error) => {
                // A lock left behind would block every prune for hours.
                if let Err(release_error) = lock.release().await {
                    tracing::warn!(error = %release_error, "failed to delete the prune lock");
                }
                Err(error)
            }
        }
    }

    /// Describes another live lock, if one exists.
    async fn other_holder(&self) -> Result<Option<String>> {
        let now = unix_seconds_now();
        for path in self.repo.storage.list(LOCK_PREFIX).await? {
            if path == self.path {
                continue;
            }
            let Some(bytes) = self.repo.storage.read(&path).await? else {
                continue;
            };
            let opened = haven_crypto::open(
                &self.repo.keys.metadata,
                &associated_data("lock", &[]),
                &bytes,
            );
            let Some(file) = opened
                .ok()
                .and_then(|plain| from_cbor::<LockFile>(&plain).ok())
            else {
                tracing::warn!(lock = %path, "unreadable lock object ignored");
                continue;
            };
            if now - file.time < LOCK_EXPIRY {
                return Ok(Some(format!(
                    "a prune started on host {:?} (process {}) {} s ago holds {path}; wait for it \
                     to finish, or delete {path} if that prune is no longer running",
                    file.hostname,
                    file.pid,
                    now - file.time
                )));
            }
        }
        Ok(None)
    }

    pub fn into_path(self) -> String {
        self.path
    }

    pub async fn release(self) -> Result<()> {
        self.repo.storage.delete(&self.path).await
    }
}
