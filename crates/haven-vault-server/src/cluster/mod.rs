//! Cluster mode: the vault's record changes replicated by Raft (openraft 0.9).
//!
//! Every record change is a log entry (see [`entry`]) that each node applies to its
//! own records database through the same logic as the single-node writer (see
//! [`state_machine`]). A handler gets its change's outcome only after a majority
//! stored the entry and this node applied it. A node that is not the leader forwards
//! the sealed change to the leader's Raft listener. docs/VAULT-CLUSTER.md describes
//! the secrets, the listeners and the commands.

mod auth;
mod batch;
mod entry;
mod log_store;
mod network;
mod rpc;
mod state_machine;
mod status;
mod types;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, RaftError};
use openraft::{BasicNode, Config, SnapshotPolicy};

pub use auth::{ClusterKey, ClusterKeyError};
pub use log_store::LOG_FILE;
pub use state_machine::SNAPSHOT_FILE;
pub use status::{admin, ClusterStatus, MemberStatus};
pub use types::NodeId;

use crate::apply::{Applied, Change, PhantomPolicy};
use crate::metrics::Metrics;
use crate::secrets::ServerSecrets;
use crate::store::{Store, StoreError};
use batch::{Batcher, Failure};
use entry::EntryKey;
use network::{PeerError, PeerHttp};
use types::{Raft, Reply};

/// Settings of a cluster node.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub node_id: NodeId,
    /// Address of the node-to-node listener.
    pub raft_listen: SocketAddr,
    /// Raft listener URL of every initial member, this node included; `cluster init`
    /// makes them the first membership.
    pub peers: BTreeMap<NodeId, String>,
    pub cluster_key_file: PathBuf,
    /// Time a change may wait for a majority before the request fails with 503.
    pub commit_timeout: Duration,
    /// Entries applied between two snapshots; older entries are then purged.
    pub snapshot_every: u64,
    pub heartbeat_interval: Duration,
    /// Lower bound of the randomized election timeout; the upper bound is twice it.
    pub election_timeout: Duration,
}

impl ClusterConfig {
    /// Returns a configuration with the default timeouts.
    pub fn new(
        node_id: NodeId,
        raft_listen: SocketAddr,
        peers: BTreeMap<NodeId, String>,
        cluster_key_file: PathBuf,
    ) -> Self {
        Self {
            node_id,
            raft_listen,
            peers,
            cluster_key_file,
            commit_timeout: Duration::from_secs(5),
            snapshot_every: 1000,
            heartbeat_interval: Duration::from_millis(100),
            election_timeout: Duration::from_millis(500),
        }
    }
}

/// Errors of starting a cluster node.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(transparent)]
    Key(#[from] ClusterKeyError),
    #[error("invalid Raft settings: {0}")]
    Config(String),
    #[error("cannot open the Raft log: {0}")]
    Store(#[from] StoreError),
    #[error("the Raft node failed to start: {0}")]
    Start(String),
    #[error("failed to listen for node-to-node traffic on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A running cluster node: the Raft instance and what it needs to propose.
pub struct Cluster {
    raft: Raft,
    batcher: Batcher,
    node_id: NodeId,
    peers: Arc<PeerHttp>,
    entry_key: Arc<EntryKey>,
    config: ClusterConfig,
}

impl Cluster {
    /// Opens the Raft log in `data_dir`, starts Raft over the records `store` and
    /// serves the node-to-node listener until the process ends.
    pub async fn start(
        config: ClusterConfig,
        data_dir: &std::path::Path,
        store: Store,
        secrets: &ServerSecrets,
        phantom: PhantomPolicy,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Self>, ClusterError> {
        let key = Arc::new(ClusterKey::load(&config.cluster_key_file)?);
        let peers = Arc::new(PeerHttp::new(key.clone()));
        let entry_key = Arc::new(EntryKey::derive(&secrets.record_key));
        let log_store = log_store::LogStore::open(data_dir)?;
        let state_machine =
            state_machine::StateMachine::new(store, data_dir, phantom, metrics, entry_key.clone())?;
        let election = config.election_timeout.as_millis() as u64;
        let raft_config = Config {
            cluster_name: secrets.vault_id.clone(),
            heartbeat_interval: config.heartbeat_interval.as_millis() as u64,
            election_timeout_min: election,
            election_timeout_max: election * 2,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every),
            max_in_snapshot_log_to_keep: config.snapshot_every / 2,
            ..Config::default()
        }
        .validate()
        .map_err(|error| ClusterError::Config(error.to_string()))?;
        let network = network::Network {
            peers: peers.clone(),
        };
        let raft = Raft::new(
            config.node_id,
            Arc::new(raft_config),
            network,
            log_store,
            state_machine,
        )
        .await
        .map_err(|error| ClusterError::Start(error.to_string()))?;
        let batcher = Batcher::start(raft.clone(), config.node_id, config.commit_timeout);
        let cluster = Arc::new(Self {
            raft,
            batcher,
            node_id: config.node_id,
            peers,
            entry_key,
            config,
        });
        rpc::serve(cluster.clone(), key).await?;
        tracing::info!(node_id = cluster.node_id, raft_listen = %cluster.config.raft_listen, "cluster node started");
        Ok(cluster)
    }

    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Stops the Raft node: its timers, replication and state machine worker.
    pub async fn shutdown(&self) {
        if let Err(error) = self.raft.shutdown().await {
            tracing::warn!(%error, node_id = self.node_id, "the Raft node did not stop cleanly");
        }
    }

    /// Returns whether this node is the leader as far as it knows.
    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.node_id)
    }

    /// Commits `change` through Raft and returns its outcome once this node applied it.
    pub async fn submit(&self, change: Change) -> Applied {
        let proposal = self.entry_key.seal_change(&change);
        let reply = match self.propose_local(proposal.clone()).await {
            Err(Forward::To(leader_id, leader)) => {
                self.forward(leader_id, &leader.addr, &proposal).await?
            }
            Err(Forward::Fail(error)) => return Err(error),
            Ok(reply) => reply,
        };
        match reply {
            Reply::Applied(outcome) => Ok(outcome),
            Reply::Damaged => Err(StoreError::Damaged),
            Reply::Unreadable => Err(StoreError::Unavailable(
                "the change was not applied: the leader could not open it (is every node of \
                 this cluster initialised with the same vault secrets?)"
                    .into(),
            )),
        }
    }

    /// Proposes on this node, which must be the leader. The change shares a log
    /// entry with the changes proposed at the same time.
    async fn propose_local(&self, proposal: types::Proposal) -> Result<Reply, Forward> {
        self.batcher
            .propose(proposal)
            .await
            .map_err(|failure| match failure {
                Failure::Leader(id, node) => Forward::To(id, node),
                Failure::NoLeader => Forward::Fail(no_leader()),
                Failure::Timeout => Forward::Fail(not_committed(self.config.commit_timeout)),
                Failure::Rejected(reason) => Forward::Fail(StoreError::Unavailable(format!(
                    "the change was not committed: {reason}; retry on another vault node"
                ))),
            })
    }

    async fn forward(
        &self,
        leader_id: NodeId,
        leader_url: &str,
        proposal: &types::Proposal,
    ) -> Result<Reply, StoreError> {
        let timeout = self.config.commit_timeout + Duration::from_secs(1);
        let reply: rpc::ForwardReply = self
            .peers
            .post(leader_url, "/raft/propose", proposal, timeout)
            .await
            .map_err(|error| leader_failed(leader_id, error))?;
        let sealed = match reply {
            rpc::ForwardReply::Applied { sealed } => sealed,
            rpc::ForwardReply::Failed { message } => {
                return Err(StoreError::Unavailable(message));
            }
        };
        self.open_reply(&sealed)
            .ok_or_else(|| StoreError::Unavailable(format!("the leader node {leader_id} returned a reply that does not open under this cluster's key; check that every node has the same vault secrets")))
    }

    fn seal_reply(&self, reply: &Reply) -> String {
        use base64::Engine;
        let plain = zeroize::Zeroizing::new(serde_json::to_vec(reply).expect("reply serializes"));
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.entry_key.seal_bytes(&plain))
    }

    fn open_reply(&self, sealed: &str) -> Option<Reply> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(sealed)
            .ok()?;
        let plain = self.entry_key.open_bytes(&bytes)?;
        serde_json::from_slice(&plain).ok()
    }

    /// Waits until this node's records reflect every change committed before the
    /// call (a linearizable read): the leader confirms its leadership with a
    /// majority, and this node applies up to the leader's commit index.
    pub async fn read_barrier(&self) -> Result<(), StoreError> {
        let timeout = self.config.commit_timeout;
        let read_index = match self.leader_read_index().await {
            Ok(index) => index,
            Err(Forward::To(leader_id, leader)) => {
                let index: Option<u64> = self
                    .peers
                    .post(&leader.addr, "/raft/read-index", &(), timeout)
                    .await
                    .map_err(|error| leader_failed(leader_id, error))?;
                index
            }
            Err(Forward::Fail(error)) => return Err(error),
        };
        self.raft
            .wait(Some(timeout))
            .applied_index_at_least(read_index, "linearizable read")
            .await
            .map_err(|_| not_committed(timeout))?;
        Ok(())
    }

    /// On the leader: confirms leadership with a majority and returns the index a
    /// read must wait for.
    async fn leader_read_index(&self) -> Result<Option<u64>, Forward> {
        let timeout = self.config.commit_timeout;
        match tokio::time::timeout(timeout, self.raft.ensure_linearizable()).await {
            Err(_) => Err(Forward::Fail(not_committed(timeout))),
            Ok(Ok(log_id)) => Ok(log_id.map(|id| id.index)),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(forward)))) => {
                match (forward.leader_id, forward.leader_node) {
                    (Some(id), Some(node)) if id != self.node_id => Err(Forward::To(id, node)),
                    _ => Err(Forward::Fail(no_leader())),
                }
            }
            Ok(Err(error)) => Err(Forward::Fail(StoreError::Unavailable(format!(
                "the leader could not confirm its leadership: {error}; retry on another \
                 vault node"
            )))),
        }
    }
}

/// Why a proposal did not run on this node.
enum Forward {
    To(NodeId, BasicNode),
    Fail(StoreError),
}

fn not_committed(timeout: Duration) -> StoreError {
    StoreError::Unavailable(format!(
        "the vault cluster did not commit the change within {} ms: no majority of its nodes \
         answered; nothing was released; retry on another vault node or later",
        timeout.as_millis()
    ))
}

fn no_leader() -> StoreError {
    StoreError::Unavailable(
        "the vault cluster has no leader at the moment (an election is running, or no \
         majority of nodes is reachable); retry on another vault node or later"
            .into(),
    )
}

fn leader_failed(leader_id: NodeId, error: PeerError) -> StoreError {
    StoreError::Unavailable(format!(
        "this node is not the leader and forwarding to the leader, node {leader_id}, \
         failed: {error}; retry on another vault node"
    ))
}
