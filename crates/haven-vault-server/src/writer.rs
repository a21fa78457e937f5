//! Group commit: one thread owns every write to the records database.
//!
//! Handlers send changes over a channel. The thread takes every change waiting (up
//! to a batch size), applies them in order inside one write transaction, commits it
//! with `Durability::Immediate`, and only then sends each reply. So a charged guess
//! is on disk before its KE2 leaves the vault, and because one thread applies the
//! changes one after another, concurrent charges on one record never interleave.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::apply::{Applied, Change, Effects, Ops, PhantomPolicy};
use crate::metrics::{bump, Metrics};
use crate::store::{io_error, Store, StoreError, PHANTOM_SEEN, RECORDS};

type Reply = oneshot::Sender<Applied>;

struct Command {
    change: Change,
    reply: Reply,
}

/// Handle through which handlers send changes to the writer thread.
#[derive(Clone)]
pub struct Writer {
    sender: mpsc::Sender<Command>,
}

impl Writer {
    /// Starts the writer thread. It stops when every handle is dropped.
    pub fn start(
        store: Store,
        metrics: Arc<Metrics>,
        phantom: PhantomPolicy,
        max_batch: usize,
    ) -> std::io::Result<Self> {
        let (sender, receiver) = mpsc::channel(16 * 1024);
        let state = WriterThread {
            store,
            metrics,
            phantom,
            max_batch: max_batch.max(1),
        };
        std::thread::Builder::new()
            .name("vault-writer".into())
            .spawn(move || state.run(receiver))?;
        Ok(Self { sender })
    }

    /// Applies one change and returns its outcome once its commit is on disk.
    pub async fn submit(&self, change: Change) -> Applied {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Command { change, reply })
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }
}

struct WriterThread {
    store: Store,
    metrics: Arc<Metrics>,
    phantom: PhantomPolicy,
    max_batch: usize,
}

/// A reply held back until the batch commits, with the counters it moves.
struct Deferred {
    reply: Reply,
    result: Applied,
    effects: Effects,
}

impl WriterThread {
    fn run(self, mut receiver: mpsc::Receiver<Command>) {
        while let Some(first) = receiver.blocking_recv() {
            let mut batch = vec![first];
            while batch.len() < self.max_batch {
                match receiver.try_recv() {
                    Ok(command) => batch.push(command),
                    Err(_) => break,
                }
            }
            self.commit_batch(batch);
        }
        tracing::info!("record writer stopped");
    }

    fn commit_batch(&self, batch: Vec<Command>) {
        let count = batch.len();
        let mut deferred = Vec::with_capacity(count);
        let result = self.apply_batch(batch, &mut deferred);
        if let Err(error) = &result {
            tracing::error!(%error, commands = count, "commit of the records database failed");
        } else {
            bump(&self.metrics.commits);
            self.metrics
                .committed_commands
                .fetch_add(count as u64, Ordering::Relaxed);
        }
        for item in deferred {
            let answer = match &result {
                Ok(()) => {
                    item.effects.count(&self.metrics);
                    item.result
                }
                Err(error) => Err(StoreError::Io(error.to_string())),
            };
            let _ = item.reply.send(answer);
        }
    }

    fn apply_batch(
        &self,
        batch: Vec<Command>,
        deferred: &mut Vec<Deferred>,
    ) -> Result<(), StoreError> {
        let mut txn = self.store.db.begin_write().map_err(io_error)?;
        txn.set_durability(redb::Durability::Immediate)
            .map_err(io_error)?;
        {
            let mut table = txn.open_table(RECORDS).map_err(io_error)?;
            let mut seen = txn.open_table(PHANTOM_SEEN).map_err(io_error)?;
            let mut ops = Ops {
                table: &mut table,
                seen: &mut seen,
                keys: &self.store.keys,
                phantom: self.phantom,
            };
            for Command { change, reply } in batch {
                let (result, effects) = ops.apply(change)?;
                deferred.push(Deferred {
                    reply,
                    result,
                    effects,
                });
            }
        }
        txn.commit().map_err(io_error)
    }
}
