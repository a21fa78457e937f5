//! Deciding between a row increment and a page-level base for one database.

use std::path::Path;
use std::time::Duration;

use super::increment::{scan_database, MAX_INCREMENT_BYTES};
use super::scan::ScanError;
use super::schema::{read_schema, sql_error};
use super::state::{chain_id, read_state, state_path, RowState, StateProblem};
use super::BaseReason;
use crate::id::to_cbor;
use haven_crypto::SecretKey;

use crate::keys::KeySet;
use crate::sqlite::DatabaseSource;
use crate::tree::Node;

/// What a backup needs to plan one database.
pub(crate) struct PlanInput<'a> {
    /// The consistent view to read.
    pub source: &'a DatabaseSource,
    /// The database's path in the backup set, which names its state.
    pub path: &'a Path,
    /// The parent snapshot's node for the database when its chain can be extended.
    pub parent: Result<&'a Node, BaseReason>,
    pub state_dir: &'a Path,
    pub keys: &'a KeySet,
    pub max_increments: usize,
    pub max_age: Duration,
    pub now_ns: i64,
}

/// The outcome of planning one database.
pub(crate) enum RowPlan {
    /// Store this increment plaintext after the parent's chain.
    Increment {
        plaintext: Vec<u8>,
        /// The state to write once the snapshot is saved; its chain is set by then.
        state: RowState,
        changed_rows: u64,
    },
    /// Store the pages. `scan` builds the new chain's state; it is `None` when the
    /// rows could not be read.
    Base {
        reason: BaseReason,
        detail: String,
        scan: Option<BaseScan>,
    },
}

/// The scan of a database that a backup stores as a page-level base, which gives the
/// state the next backup's increment is computed from. It opens the view on its own,
/// so it can run on another thread while the pages are stored.
pub(crate) struct BaseScan {
    source: DatabaseSource,
    hash_key: SecretKey,
    schema: [u8; 32],
    now_ns: i64,
}

impl BaseScan {
    /// Reads every table of the view into a new state.
    pub fn run(self) -> Result<RowState, String> {
        let conn = self.source.connect().map_err(sql_error)?;
        let schema = read_schema(&conn)?;
        if schema.fingerprint != self.schema {
            return Err("the view's schema changed between two reads".into());
        }
        let (tables, _) =
            scan_database(&conn, None, &schema, &self.hash_key, None).map_err(String::from)?;
        Ok(RowState::new(schema.fingerprint, self.now_ns, tables))
    }
}

/// Plans the backup of one database: an increment when the local state matches the
/// parent's chain, otherwise a base with the reason.
pub(crate) fn plan_rows(input: &PlanInput<'_>) -> RowPlan {
    let conn = match input.source.connect() {
        Ok(conn) => conn,
        Err(e) => return failed(sql_error(e)),
    };
    let schema = match read_schema(&conn) {
        Ok(schema) => schema,
        Err(e) => return failed(e),
    };
    let base = |reason: BaseReason, detail: String| RowPlan::Base {
        reason,
        detail,
        scan: Some(BaseScan {
            source: input.source.clone(),
            hash_key: input.keys.row_hash.clone(),
            schema: schema.fingerprint,
            now_ns: input.now_ns,
        }),
    };
    let file = state_path(input.state_dir, &input.keys.row_hash, input.path);
    let mut old = match read_state(&file, &input.keys.row_state, input.path) {
        Ok(state) => state,
        Err(problem) => {
            let (reason, detail) = match problem {
                StateProblem::Missing => (BaseReason::NoState, String::new()),
                StateProblem::Unreadable(e) => (BaseReason::StateUnreadable, e),
                StateProblem::Damaged => (BaseReason::StateDamaged, String::new()),
                StateProblem::Invalid(e) => (BaseReason::StateInvalid, e),
            };
            return base(reason, detail);
        }
    };
    let parent = match input.parent {
        Ok(parent) => parent,
        Err(reason) => return base(reason, String::new()),
    };
    if old.schema != schema.fingerprint {
        return base(BaseReason::SchemaChanged, String::new());
    }
    if old.chain != chain_id(parent) {
        return base(BaseReason::ChainMismatch, String::new());
    }
    if parent.row_increments.len() >= input.max_increments {
        return base(
            BaseReason::ChainLength,
            format!("{} increments", parent.row_increments.len()),
        );
    }
    let age = Duration::from_nanos(input.now_ns.saturating_sub(old.base_time_ns).max(0) as u64);
    if age >= input.max_age {
        return base(BaseReason::ChainAge, format!("{} s", age.as_secs()));
    }
    // A second connection at the same view scans other tables, or the other half of
    // a large one, meanwhile. Without one, this connection scans them all.
    let second = input
        .source
        .connect()
        .inspect_err(|e| tracing::debug!(error = %e, "no second connection for the row scan"))
        .ok();
    let (tables, increment) = match scan_database(
        &conn,
        second,
        &schema,
        &input.keys.row_hash,
        Some(std::mem::take(&mut old.tables)),
    ) {
        Ok((tables, Some(increment))) => (tables, increment),
        Ok((_, None)) => unreachable!("a scan against a previous state returns an increment"),
        Err(ScanError::TooLarge) => {
            let detail = format!("more than {MAX_INCREMENT_BYTES} bytes of changed rows");
            return base(BaseReason::IncrementTooLarge, detail);
        }
        Err(ScanError::Failed(e)) => return failed(e),
    };
    let plaintext = to_cbor(&increment);
    if plaintext.len() > MAX_INCREMENT_BYTES {
        return base(
            BaseReason::IncrementTooLarge,
            format!("{} bytes", plaintext.len()),
        );
    }
    let mut state = RowState::new(schema.fingerprint, old.base_time_ns, tables);
    state.increments = old.increments + 1;
    RowPlan::Increment {
        plaintext,
        state,
        changed_rows: increment.changed_rows(),
    }
}

fn failed(detail: String) -> RowPlan {
    RowPlan::Base {
        reason: BaseReason::DiffFailed,
        detail,
        scan: None,
    }
}
