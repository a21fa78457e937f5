//! Writing the page-level base of a database on the thread that then applies its
//! increments, so the pages of a large database are written while the restore goes
//! on with the other files.

use std::fs;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::runtime::Handle;

use super::run::Loads;
use super::RestoreProgress;
use crate::error::{Damage, RepoError};
use crate::id::ObjectId;
use crate::sqlite::rows::ApplyError;
use crate::Repository;

/// The reason restoring a database's chain on its thread failed.
pub(super) enum ChainFailure {
    /// Blobs of the base were damaged or missing.
    Base(Vec<Damage>),
    /// An increment did not apply or did not check.
    Apply(ApplyError),
    /// Writing the base failed, for example for lack of space.
    Write(RepoError),
}

/// The base of one database and where it goes.
pub(super) struct BaseWrite {
    pub repo: Repository,
    pub handle: Handle,
    pub progress: Arc<RestoreProgress>,
    /// The new file the base goes into, next to the database.
    pub temporary: PathBuf,
    /// The base's chunks in order: one page each, or more for a database stored whole.
    pub content: Vec<ObjectId>,
}

impl BaseWrite {
    /// Writes the base into its new file and returns its length. A file whose write
    /// fails is removed.
    pub(super) fn write(&self) -> Result<u64, ChainFailure> {
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.temporary)
            .map_err(|e| ChainFailure::Write(RepoError::io("create", &self.temporary, e)))?;
        let written = self.write_pages(&file);
        if matches!(written, Err(ChainFailure::Write(_))) {
            let _ = fs::remove_file(&self.temporary);
        }
        written
    }

    fn write_pages(&self, file: &fs::File) -> Result<u64, ChainFailure> {
        let write_failed = |e| ChainFailure::Write(RepoError::io("write", &self.temporary, e));
        let mut loads = Loads::new(self.repo.load_data_blobs(&self.content));
        let mut offset = 0u64;
        let mut damages = Vec::new();
        for id in &self.content {
            let loaded = loads
                .next(&self.handle, id, &self.temporary)
                .map_err(ChainFailure::Write)?;
            match loaded {
                Ok(data) => {
                    // All-zero pages stay holes.
                    if !data.iter().all(|b| *b == 0) {
                        file.write_all_at(&data, offset).map_err(write_failed)?;
                    }
                    offset += data.len() as u64;
                    self.progress
                        .bytes
                        .fetch_add(data.len() as u64, Ordering::Relaxed);
                }
                Err(RepoError::Damaged { damage, .. }) => {
                    offset += self.repo.locate(id).map_or(0, |l| l.raw_length);
                    damages.push(damage);
                }
                Err(e) => return Err(ChainFailure::Write(e)),
            }
        }
        if !damages.is_empty() {
            return Err(ChainFailure::Base(damages));
        }
        file.set_len(offset).map_err(write_failed)?;
        Ok(offset)
    }
}
