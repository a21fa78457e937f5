//! Raft type configuration of the vault cluster, and the data in its log.

use std::io::Cursor;

use serde::{Deserialize, Serialize};

use crate::apply::ChangeOutcome;

/// A node id as given by `--node-id`.
pub type NodeId = u64;

openraft::declare_raft_types!(
    /// Types of the vault's Raft group.
    pub TypeConfig:
        D = Batch,
        R = Replies,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Raft = openraft::Raft<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Entry = openraft::Entry<TypeConfig>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type SnapshotMeta = openraft::SnapshotMeta<NodeId, openraft::BasicNode>;
pub type Snapshot = openraft::Snapshot<TypeConfig>;

/// The application data of a log entry: one record change, sealed under the cluster
/// entry key (see [`super::entry`]) and base64url encoded, so neither the log on
/// disk nor the node-to-node traffic contains it in clear.
#[derive(Clone, Serialize, Deserialize)]
pub struct Proposal {
    pub sealed: String,
}

impl std::fmt::Debug for Proposal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proposal({} bytes sealed)", self.sealed.len())
    }
}

/// The application data of a log entry: the changes proposed together, in the
/// order they are applied. One entry costs every node one synced write, whatever
/// its size, so concurrent changes share one (see [`super::batch`]).
#[derive(Clone, Serialize, Deserialize)]
pub struct Batch {
    pub changes: Vec<Proposal>,
}

impl std::fmt::Debug for Batch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Batch({} changes)", self.changes.len())
    }
}

/// The state machine's results for one entry, one per change of its [`Batch`];
/// empty for a blank or membership entry. They go back to the proposer only, never
/// into the log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Replies(pub Vec<Reply>);

/// The state machine's result for one change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Reply {
    Applied(ChangeOutcome),
    /// The stored record failed authentication; the change was not applied.
    Damaged,
    /// The entry failed to open under the cluster entry key: it was made by a node
    /// of another cluster. It changes nothing.
    Unreadable,
}
