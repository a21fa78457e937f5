//! Cluster status and the admin calls behind `haven vault cluster`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::types::NodeId;
use super::Cluster;

/// Body of `POST /cluster/init`; empty `members` means the node's `--peers`.
#[derive(Serialize, Deserialize, Default)]
pub struct InitRequest {
    pub members: BTreeMap<NodeId, String>,
}

/// Body of `POST /cluster/add-node`.
#[derive(Serialize, Deserialize)]
pub struct AddNode {
    pub id: NodeId,
    /// Raft listener URL of the new node.
    pub url: String,
}

/// Body of `POST /cluster/remove-node`.
#[derive(Serialize, Deserialize)]
pub struct RemoveNode {
    pub id: NodeId,
}

/// One node of the membership, as the answering node sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberStatus {
    pub id: NodeId,
    pub url: String,
    pub voter: bool,
    /// Last log index known to be stored on that node; only a leader knows it.
    pub matched_index: Option<u64>,
    /// Entries the node is behind the leader's last log index; only on a leader.
    pub lag: Option<u64>,
}

/// The state of the cluster as one node sees it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClusterStatus {
    pub node_id: NodeId,
    /// Leader, Follower, Candidate or Learner.
    pub state: String,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub members: Vec<MemberStatus>,
}

/// Reads the node's Raft metrics.
pub fn collect(cluster: &Cluster) -> ClusterStatus {
    let metrics = cluster.raft.metrics().borrow().clone();
    let membership = metrics.membership_config.membership();
    let voters: Vec<NodeId> = membership.voter_ids().collect();
    let last = metrics.last_log_index.unwrap_or(0);
    let members = membership
        .nodes()
        .map(|(id, node)| {
            let matched = metrics
                .replication
                .as_ref()
                .and_then(|replication| replication.get(id))
                .map(|log_id| log_id.map(|id| id.index).unwrap_or(0));
            MemberStatus {
                id: *id,
                url: node.addr.clone(),
                voter: voters.contains(id),
                matched_index: matched,
                lag: matched.map(|matched| last.saturating_sub(matched)),
            }
        })
        .collect();
    ClusterStatus {
        node_id: cluster.node_id,
        state: format!("{:?}", metrics.state),
        leader: metrics.current_leader,
        term: metrics.current_term,
        last_log_index: metrics.last_log_index,
        applied_index: metrics.last_applied.map(|id| id.index),
        snapshot_index: metrics.snapshot.map(|id| id.index),
        purged_index: metrics.purged.map(|id| id.index),
        members,
    }
}

/// Client side of the admin calls, for `haven vault cluster`.
pub mod admin {
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use super::super::auth::{ClusterKey, ClusterKeyError};
    use super::super::network::{PeerError, PeerHttp};
    use super::*;

    /// Errors of an admin call.
    #[derive(Debug, thiserror::Error)]
    pub enum AdminError {
        #[error(transparent)]
        Key(#[from] ClusterKeyError),
        #[error(transparent)]
        Peer(#[from] PeerError),
    }

    const TIMEOUT: Duration = Duration::from_secs(30);

    /// A signed client for one cluster's Raft listeners.
    pub struct Admin {
        peers: PeerHttp,
    }

    impl Admin {
        pub fn new(cluster_key_file: &Path) -> Result<Self, AdminError> {
            let key = ClusterKey::load(cluster_key_file)?;
            Ok(Self {
                peers: PeerHttp::new(Arc::new(key)),
            })
        }

        pub async fn status(&self, node_url: &str) -> Result<ClusterStatus, AdminError> {
            Ok(self.peers.get(node_url, "/cluster/status", TIMEOUT).await?)
        }

        /// Makes the node at `node_url` initialise the cluster with `members`
        /// (empty: the node's `--peers`).
        pub async fn init(
            &self,
            node_url: &str,
            members: BTreeMap<NodeId, String>,
        ) -> Result<(), AdminError> {
            self.post_empty(node_url, "/cluster/init", &InitRequest { members })
                .await
        }

        pub async fn add_node(
            &self,
            leader_url: &str,
            id: NodeId,
            url: &str,
        ) -> Result<(), AdminError> {
            let body = AddNode {
                id,
                url: url.to_string(),
            };
            self.post_empty(leader_url, "/cluster/add-node", &body)
                .await
        }

        pub async fn remove_node(&self, leader_url: &str, id: NodeId) -> Result<(), AdminError> {
            self.post_empty(leader_url, "/cluster/remove-node", &RemoveNode { id })
                .await
        }

        async fn post_empty<T: Serialize>(
            &self,
            url: &str,
            path: &str,
            body: &T,
        ) -> Result<(), AdminError> {
            Ok(self.peers.post::<T, ()>(url, path, body, TIMEOUT).await?)
        }
    }
}
