//! Group commit for the cluster: changes proposed at the same time share one log
//! entry.
//!
//! Every log entry costs the leader and each follower one synced write, whatever its
//! size. So handlers do not propose their changes one by one: they queue them, and one
//! task takes every change waiting (up to [`MAX_BATCH`]), proposes them as one entry
//! and hands each caller its own reply. While one entry is being committed, new
//! changes queue for the next, so the entries grow with the load and the synced
//! writes per change fall.

use std::time::Duration;

use openraft::error::{ClientWriteError, RaftError};
use openraft::BasicNode;
use tokio::sync::{mpsc, oneshot};

use super::types::{Batch, NodeId, Proposal, Raft, Replies, Reply};

/// Maximum number of changes in one log entry.
pub const MAX_BATCH: usize = 256;

/// Failure to commit a batch on this node, returned to every change of the batch.
#[derive(Clone, Debug)]
pub enum Failure {
    /// Another node leads; the change should go there.
    Leader(NodeId, BasicNode),
    NoLeader,
    /// No majority committed the entry within the commit timeout.
    Timeout,
    /// Raft rejected the entry, for the reason in the message.
    Rejected(String),
}

struct Pending {
    proposal: Proposal,
    reply: oneshot::Sender<Result<Reply, Failure>>,
}

/// Queue of changes for the batching task.
pub struct Batcher {
    sender: mpsc::Sender<Pending>,
}

impl Batcher {
    /// Starts the batching task for the Raft node `node_id`.
    pub fn start(raft: Raft, node_id: NodeId, timeout: Duration) -> Self {
        let (sender, receiver) = mpsc::channel(16 * 1024);
        tokio::spawn(run(raft, node_id, timeout, receiver));
        Self { sender }
    }

    /// Proposes one change and returns its reply once its entry is applied here.
    pub async fn propose(&self, proposal: Proposal) -> Result<Reply, Failure> {
        let (reply, answer) = oneshot::channel();
        let stopped = || Failure::Rejected("the Raft node is shutting down".into());
        self.sender
            .send(Pending { proposal, reply })
            .await
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

async fn run(raft: Raft, node_id: NodeId, timeout: Duration, mut queue: mpsc::Receiver<Pending>) {
    while let Some(first) = queue.recv().await {
        let mut waiting = vec![first];
        while waiting.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(pending) => waiting.push(pending),
                Err(_) => break,
            }
        }
        let (changes, replies): (Vec<_>, Vec<_>) = waiting
            .into_iter()
            .map(|pending| (pending.proposal, pending.reply))
            .unzip();
        let count = changes.len();
        let results = match commit(&raft, node_id, timeout, Batch { changes }).await {
            Ok(Replies(results)) if results.len() == count => results.into_iter().map(Ok).collect(),
            Ok(Replies(results)) => {
                let failure = Failure::Rejected(format!(
                    "the state machine returned {} replies for an entry of {count} changes",
                    results.len()
                ));
                vec![Err(failure); count]
            }
            Err(failure) => {
                if !matches!(failure, Failure::Leader(..)) {
                    tracing::warn!(
                        ?failure,
                        changes = count,
                        "a batch of changes was not committed"
                    );
                }
                vec![Err(failure); count]
            }
        };
        for (reply, result) in replies.into_iter().zip(results) {
            // A caller that gave up (its request was dropped) no longer listens.
            let _ = reply.send(result);
        }
    }
}

async fn commit(
    raft: &Raft,
    node_id: NodeId,
    timeout: Duration,
    batch: Batch,
) -> Result<Replies, Failure> {
    match tokio::time::timeout(timeout, raft.client_write(batch)).await {
        Err(_) => Err(Failure::Timeout),
        Ok(Ok(response)) => Ok(response.data),
        Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(forward)))) => {
            match (forward.leader_id, forward.leader_node) {
                (Some(id), Some(node)) if id != node_id => Err(Failure::Leader(id, node)),
                _ => Err(Failure::NoLeader),
            }
        }
        Ok(Err(error)) => Err(Failure::Rejected(error.to_string())),
    }
}
