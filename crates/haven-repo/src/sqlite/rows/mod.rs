//! Row increments: after a page-level base of a database, each backup stores only the
//! rows inserted, updated or deleted in each table since the previous snapshot.
//!
//! The backup scans every ordinary table of its consistent view ([`super::copy`])
//! into (row key, keyed row hash) pairs and compares them with the local row state
//! that the previous backup left in the state folder ([`state`]). The app's database
//! is only read, through read-only connections, and the app's own connection is never
//! touched. A restore writes the base pages, applies the
//! increments in order, rebuilds derivable full-text indexes ([`fts`]) and checks
//! every table's row count and hash ([`apply`]). `docs/FORMAT.md` defines the format.

mod apply;
mod fts;
mod fts_update;
mod increment;
mod plan;
mod rowid_runs;
mod scan;
mod scan_jobs;
mod schema;
mod segments;
mod state;
mod table_rows;
mod touched;
mod value;
mod verify;

use serde::Serialize;

pub(crate) use apply::{apply_chain, ApplyError};
pub(crate) use increment::{scan_database, Increment};
pub(crate) use plan::{plan_rows, BaseScan, PlanInput, RowPlan};
pub(crate) use schema::read_schema;
pub(crate) use state::{chain_id, prepare_state, state_path, PreparedState, RowState};

/// Why a backup stored a database as a page-level base instead of a row increment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseReason {
    /// No local row state: the first backup of this database with this state folder.
    NoState,
    /// The local row state could not be read.
    StateUnreadable,
    /// The local row state failed authentication (edited, truncated or foreign).
    StateDamaged,
    /// The local row state authenticated but could not be parsed.
    StateInvalid,
    /// The parent snapshot has no node for this database, or no parent was chosen.
    NoParent,
    /// The local row state describes another chain than the parent snapshot's, for
    /// example after a failed or concurrent backup.
    ChainMismatch,
    /// The schema, `user_version`, `application_id` or text encoding changed.
    SchemaChanged,
    /// The chain reached the maximum number of increments.
    ChainLength,
    /// The chain's base is older than the maximum age.
    ChainAge,
    /// A blob of the parent's chain is missing or in a pack marked for deletion.
    ChainNotReusable,
    /// The increment would exceed the maximum increment size.
    IncrementTooLarge,
    /// Reading the tables failed.
    DiffFailed,
}

impl BaseReason {
    pub fn describe(self) -> &'static str {
        match self {
            BaseReason::NoState => "no local row state",
            BaseReason::StateUnreadable => "the local row state could not be read",
            BaseReason::StateDamaged => "the local row state failed authentication",
            BaseReason::StateInvalid => "the local row state is invalid",
            BaseReason::NoParent => "the parent snapshot has no chain for this database",
            BaseReason::ChainMismatch => "the local row state does not match the parent snapshot",
            BaseReason::SchemaChanged => "the database schema changed",
            BaseReason::ChainLength => "the chain reached its maximum length",
            BaseReason::ChainAge => "the chain's base reached its maximum age",
            BaseReason::ChainNotReusable => "a blob of the parent's chain cannot be reused",
            BaseReason::IncrementTooLarge => "the increment would be too large",
            BaseReason::DiffFailed => "computing the row changes failed",
        }
    }
}

/// A database the backup stored as a page-level base, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SqliteBase {
    /// The path, with non-UTF-8 bytes escaped as `\xNN`.
    pub path: String,
    pub reason: BaseReason,
    /// Details of the reason, such as the error message.
    pub detail: String,
}
