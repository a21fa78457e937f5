//! Haven's repository: an encrypted, deduplicated store of snapshots on any storage
//! that Apache OpenDAL reaches.
//!
//! Files are split into chunks (FastCDC, or fixed pages for SQLite databases), each
//! chunk is named by a keyed hash, compressed when that helps, sealed with
//! XChaCha20-Poly1305 and packed into pack files. Index files list where each chunk
//! is; trees list directories; a snapshot names the root tree and is written last.
//! See `docs/FORMAT.md` for the byte layout.

mod backend;
mod backup;
mod blob_reader;
mod blob_table;
mod browse;
mod buffers;
mod check;
mod chunker;
mod compress;
mod config;
mod content_list;
mod copy;
mod direct_writer;
mod envelope;
mod error;
mod forget;
mod fuzzing_samples;
mod id;
mod index;
mod keys;
mod leftovers;
mod pack;
mod prune;
mod repository;
mod restore;
mod short_slice;
mod slot;
mod snapshot;
mod sqlite;
mod storage;
mod tree;

pub use backend::{
    redact_url, BackendOptions, FaultCounts, FaultKind, FaultPlan, ListFault, RequestClass,
    StorageStats, FAULTS_VAR, GDRIVE_TOKEN_VAR, RETRIES_VAR, TIMEOUT_VAR, WEBDAV_PASSWORD_VAR,
    WEBDAV_USER_VAR,
};
pub use backup::{
    BackupOptions, BackupProgress, BackupResult, FileHook, FileProblem, HookPoint, ParentChoice,
    ProblemKind,
};
pub use browse::ListEntry;
pub use check::{AffectedFile, CheckOptions, CheckReport};
pub use chunker::sqlite_page_size;
pub use config::{InitOptions, RepoConfig, FORMAT_VERSION};
pub use error::{Damage, RepoError, Result};
pub use forget::{apply_policy, ForgetDecision, ForgetReport, RetentionPolicy};
pub use id::{ObjectId, SlotId};
pub use leftovers::{Leftover, RepairOptions, RepairReport};
pub use pack::BlobType;
pub use prune::{PruneOptions, PruneReport};
pub use repository::{Repository, SlotList};
pub use restore::{DamagedFile, RestoreOptions, RestoreProgress, RestoreReport};
pub use slot::{SlotInfo, SlotKind};
pub use snapshot::{BackupSummary, Snapshot};
pub use sqlite::{BaseReason, DatabaseHeader, LockedPolicy, SqliteBase, SqliteOptions};
pub use storage::{ObjectMeta, Storage};
pub use tree::{escape_name, Node, NodeKind, Tree};

#[doc(hidden)]
pub mod fuzzing;
#[doc(hidden)]
pub mod testing;
