//! Where record changes go: the local writer thread, or the Raft cluster.

use std::sync::Arc;

use crate::apply::{Change, ChangeOutcome, ChargeOutcome, FinishOutcome};
use crate::cluster::Cluster;
use crate::record::{PendingSession, RealRecord};
use crate::store::{AccountRef, StoreError};
use crate::writer::Writer;

/// The committer of record changes that handlers use.
#[derive(Clone)]
pub enum Changes {
    /// Single-node mode: changes are durable once the writer thread commits them.
    Local(Writer),
    /// Cluster mode: changes are durable once a majority of nodes stored them.
    Cluster(Arc<Cluster>),
}

fn unexpected(outcome: ChangeOutcome) -> StoreError {
    StoreError::Io(format!("unexpected outcome {outcome:?} for this change"))
}

impl Changes {
    async fn submit(&self, change: Change) -> Result<ChangeOutcome, StoreError> {
        match self {
            Changes::Local(writer) => writer.submit(change).await,
            Changes::Cluster(cluster) => cluster.submit(change).await,
        }
    }

    /// Charges one guess (or a phantom guess) and records the pending session.
    pub async fn charge(
        &self,
        account: AccountRef,
        session: PendingSession,
        now: u64,
    ) -> Result<ChargeOutcome, StoreError> {
        match self
            .submit(Change::Charge {
                account,
                session,
                now,
            })
            .await?
        {
            ChangeOutcome::Charge(outcome) => Ok(outcome),
            other => Err(unexpected(other)),
        }
    }

    /// Ends a login session: resets the counter when `verified`, otherwise erases
    /// the record if no guess is left.
    pub async fn finish(
        &self,
        account: AccountRef,
        generation: [u8; 16],
        session_id: [u8; 16],
        verified: bool,
        now: u64,
    ) -> Result<FinishOutcome, StoreError> {
        let change = Change::Finish {
            account,
            generation,
            session_id,
            verified,
            now,
        };
        match self.submit(change).await? {
            ChangeOutcome::Finish(outcome) => Ok(outcome),
            other => Err(unexpected(other)),
        }
    }

    /// Replaces the account's record (the old one is destroyed in the same commit).
    pub async fn enroll(&self, account: AccountRef, record: RealRecord) -> Result<(), StoreError> {
        let change = Change::Enroll {
            account,
            record: Box::new(record),
        };
        match self.submit(change).await? {
            ChangeOutcome::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Erases the account's record.
    pub async fn delete(&self, account: AccountRef) -> Result<(), StoreError> {
        match self.submit(Change::Delete { account }).await? {
            ChangeOutcome::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    /// Removes up to `limit` phantom records last written before `cutoff` (Unix
    /// seconds) and returns how many it removed.
    pub async fn expire_phantoms(&self, cutoff: u64, limit: usize) -> Result<u64, StoreError> {
        match self
            .submit(Change::ExpirePhantoms { cutoff, limit })
            .await?
        {
            ChangeOutcome::Expired(removed) => Ok(removed),
            other => Err(unexpected(other)),
        }
    }

    /// Waits until a read of the local records sees every change committed before
    /// the call. In cluster mode this asks the leader to confirm its leadership.
    pub async fn read_barrier(&self) -> Result<(), StoreError> {
        match self {
            Changes::Local(_) => Ok(()),
            Changes::Cluster(cluster) => cluster.read_barrier().await,
        }
    }

    /// Returns whether this node runs periodic maintenance (phantom expiry): always
    /// in single-node mode, only on the leader in cluster mode.
    pub fn runs_maintenance(&self) -> bool {
        match self {
            Changes::Local(_) => true,
            Changes::Cluster(cluster) => cluster.is_leader(),
        }
    }
}
