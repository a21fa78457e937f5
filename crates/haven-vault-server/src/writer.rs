//! Group commit: one thread owns every write to the records database.
//!
//! Handlers send commands over a channel. The thread takes every command waiting
//! (up to a batch size), applies them in order inside one write transaction, commits
//! it with `Durability::Immediate`, and only then sends each reply. So a charged guess
//! is on disk before its KE2 leaves the vault, and because one thread applies the
//! commands one after another, concurrent charges on one record never interleave.

use std::sync::Arc;

use redb::{ReadableTable, Table};
use tokio::sync::{mpsc, oneshot};

use crate::metrics::{bump, Metrics};
use crate::record::{PendingSession, RealRecord, Record, RecordKeys};
use crate::store::{io_error, AccountRef, Store, StoreError, PHANTOM_SEEN, RECORDS};

/// Result of charging a login start.
#[derive(Debug)]
pub enum ChargeOutcome {
    /// A guess was charged to a real record.
    Charged {
        password_file: Vec<u8>,
        ksf_version: u32,
        guesses_remaining: u32,
        generation: [u8; 16],
    },
    /// No guess can be charged (no record, or a record with all guesses spent), so
    /// the reply is OPAQUE's dummy response.
    Dummy {
        ksf_version: u32,
        guesses_remaining: u32,
    },
}

/// Result of finishing a login session.
#[derive(Debug)]
pub enum FinishOutcome {
    /// The login verified and its session was pending: release the wrapped key.
    Released {
        wrapped_key: Vec<u8>,
    },
    Rejected {
        guesses_remaining: u32,
    },
}

type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

enum Command {
    Charge {
        account: AccountRef,
        session: PendingSession,
        now: u64,
        reply: Reply<ChargeOutcome>,
    },
    Finish {
        account: AccountRef,
        generation: [u8; 16],
        session_id: [u8; 16],
        verified: bool,
        now: u64,
        reply: Reply<FinishOutcome>,
    },
    Enroll {
        account: AccountRef,
        record: Box<RealRecord>,
        reply: Reply<()>,
    },
    Delete {
        account: AccountRef,
        reply: Reply<()>,
    },
    ExpirePhantoms {
        cutoff: u64,
        limit: usize,
        reply: Reply<u64>,
    },
}

/// Values that phantom replies imitate.
#[derive(Debug, Clone, Copy)]
pub struct PhantomPolicy {
    pub guess_limit: u32,
    pub ksf_version: u32,
}

/// Handle through which handlers send commands to the writer thread.
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

    async fn call<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(make(reply))
            .await
            .map_err(|_| StoreError::WriterStopped)?;
        answer.await.map_err(|_| StoreError::WriterStopped)?
    }

    /// Charges one guess (or a phantom guess) and records the pending session.
    pub async fn charge(
        &self,
        account: AccountRef,
        session: PendingSession,
        now: u64,
    ) -> Result<ChargeOutcome, StoreError> {
        self.call(|reply| Command::Charge {
            account,
            session,
            now,
            reply,
        })
        .await
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
        self.call(|reply| Command::Finish {
            account,
            generation,
            session_id,
            verified,
            now,
            reply,
        })
        .await
    }

    /// Replaces the account's record (the old one is destroyed in the same commit).
    pub async fn enroll(&self, account: AccountRef, record: RealRecord) -> Result<(), StoreError> {
        self.call(|reply| Command::Enroll {
            account,
            record: Box::new(record),
            reply,
        })
        .await
    }

    /// Erases the account's record.
    pub async fn delete(&self, account: AccountRef) -> Result<(), StoreError> {
        self.call(|reply| Command::Delete { account, reply }).await
    }

    /// Removes up to `limit` phantom records last written before `cutoff` (Unix
    /// seconds) and returns how many it removed.
    pub async fn expire_phantoms(&self, cutoff: u64, limit: usize) -> Result<u64, StoreError> {
        self.call(|reply| Command::ExpirePhantoms {
            cutoff,
            limit,
            reply,
        })
        .await
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
    send: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
    effects: Effects,
}

#[derive(Default, Clone, Copy)]
struct Effects {
    charged: bool,
    erased: bool,
    succeeded: bool,
    enrolled: bool,
    damaged: bool,
    phantoms_expired: u64,
}

fn defer<T: Send + 'static>(
    reply: Reply<T>,
    result: Result<T, StoreError>,
    effects: Effects,
) -> Deferred {
    Deferred {
        send: Box::new(move |commit: Result<(), StoreError>| {
            let _ = reply.send(commit.and(result));
        }),
        effects,
    }
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
                .fetch_add(count as u64, std::sync::atomic::Ordering::Relaxed);
        }
        for item in deferred {
            if result.is_ok() {
                self.count(item.effects);
            }
            let commit = match &result {
                Ok(()) => Ok(()),
                Err(error) => Err(StoreError::Io(error.to_string())),
            };
            (item.send)(commit);
        }
    }

    fn count(&self, effects: Effects) {
        let metrics = &self.metrics;
        for (flag, counter) in [
            (effects.charged, &metrics.guesses_charged),
            (effects.erased, &metrics.records_erased),
            (effects.succeeded, &metrics.logins_succeeded),
            (effects.enrolled, &metrics.records_enrolled),
            (effects.damaged, &metrics.records_damaged),
        ] {
            if flag {
                bump(counter);
            }
        }
        metrics.phantoms_expired.fetch_add(
            effects.phantoms_expired,
            std::sync::atomic::Ordering::Relaxed,
        );
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
            for command in batch {
                deferred.push(ops.apply(command)?);
            }
        }
        txn.commit().map_err(io_error)
    }
}

/// The record logic of each command, inside the batch's write transaction.
struct Ops<'t, 'txn> {
    table: &'t mut Table<'txn, &'static [u8], &'static [u8]>,
    seen: &'t mut Table<'txn, &'static [u8], u64>,
    keys: &'t RecordKeys,
    phantom: PhantomPolicy,
}

impl Ops<'_, '_> {
    fn apply(&mut self, command: Command) -> Result<Deferred, StoreError> {
        Ok(match command {
            Command::Charge {
                account,
                session,
                now,
                reply,
            } => {
                let (result, effects) = self.charge(&account, session, now)?;
                defer(reply, result, effects)
            }
            Command::Finish {
                account,
                generation,
                session_id,
                verified,
                now,
                reply,
            } => {
                let (result, effects) =
                    self.finish(&account, generation, &session_id, verified, now)?;
                defer(reply, result, effects)
            }
            Command::Enroll {
                account,
                record,
                reply,
            } => {
                let effects = self.enroll(&account, *record)?;
                defer(reply, Ok(()), effects)
            }
            Command::Delete { account, reply } => {
                let effects = self.delete(&account)?;
                defer(reply, Ok(()), effects)
            }
            Command::ExpirePhantoms {
                cutoff,
                limit,
                reply,
            } => {
                let removed = self.expire_phantoms(cutoff, limit)?;
                let effects = Effects {
                    phantoms_expired: removed,
                    ..Effects::default()
                };
                defer(reply, Ok(removed), effects)
            }
        })
    }

    /// Reads a record. `Ok(Err(Damaged))` is a record that failed authentication,
    /// which is logged here and reported to that request only.
    fn read(&self, account: &AccountRef) -> Result<Result<Option<Record>, StoreError>, StoreError> {
        let Some(value) = self
            .table
            .get(account.table_key.as_slice())
            .map_err(io_error)?
        else {
            return Ok(Ok(None));
        };
        match self
            .keys
            .open(&account.credential_identifier, value.value())
        {
            Ok(record) => Ok(Ok(Some(record))),
            Err(_) => {
                tracing::warn!(
                    account = %account.log_id,
                    "rejected a stored record that failed authentication: it was edited on \
                     disk or copied from another account; restore it from a backup or let \
                     the user enroll again"
                );
                Ok(Err(StoreError::Damaged))
            }
        }
    }

    fn write(&mut self, account: &AccountRef, record: &Record) -> Result<(), StoreError> {
        let sealed = self.keys.seal(&account.credential_identifier, record);
        self.table
            .insert(account.table_key.as_slice(), sealed.as_slice())
            .map_err(io_error)?;
        if matches!(record, Record::Real(_)) {
            self.seen
                .remove(account.table_key.as_slice())
                .map_err(io_error)?;
        }
        Ok(())
    }

    /// Writes a phantom record and notes `now` as its last use.
    fn write_phantom(
        &mut self,
        account: &AccountRef,
        guesses_used: u32,
        now: u64,
    ) -> Result<(), StoreError> {
        self.write(account, &Record::Phantom { guesses_used })?;
        self.seen
            .insert(account.table_key.as_slice(), now)
            .map_err(io_error)?;
        Ok(())
    }

    fn remove(&mut self, account: &AccountRef) -> Result<(), StoreError> {
        self.table
            .remove(account.table_key.as_slice())
            .map_err(io_error)?;
        self.seen
            .remove(account.table_key.as_slice())
            .map_err(io_error)?;
        Ok(())
    }

    /// Removes up to `limit` phantoms whose last use is before `cutoff`. A key in
    /// the phantom table always names a phantom record: writing a real record or
    /// removing the record removes the key in the same transaction.
    fn expire_phantoms(&mut self, cutoff: u64, limit: usize) -> Result<u64, StoreError> {
        let mut expired = Vec::new();
        for entry in self.seen.iter().map_err(io_error)? {
            let (key, last_used) = entry.map_err(io_error)?;
            if last_used.value() < cutoff {
                expired.push(key.value().to_vec());
                if expired.len() >= limit {
                    break;
                }
            }
        }
        for key in &expired {
            self.table.remove(key.as_slice()).map_err(io_error)?;
            self.seen.remove(key.as_slice()).map_err(io_error)?;
        }
        if !expired.is_empty() {
            tracing::info!(removed = expired.len(), "expired phantom records removed");
        }
        Ok(expired.len() as u64)
    }

    fn damaged() -> (Result<ChargeOutcome, StoreError>, Effects) {
        (
            Err(StoreError::Damaged),
            Effects {
                damaged: true,
                ..Effects::default()
            },
        )
    }

    fn charge(
        &mut self,
        account: &AccountRef,
        session: PendingSession,
        now: u64,
    ) -> Result<(Result<ChargeOutcome, StoreError>, Effects), StoreError> {
        let mut effects = Effects::default();
        let existing = match self.read(account)? {
            Ok(existing) => existing,
            Err(_) => return Ok(Self::damaged()),
        };
        let phantom_used = match existing {
            Some(Record::Real(mut record)) => {
                record.prune(now);
                if record.guesses_used < record.guess_limit {
                    record.guesses_used += 1;
                    record.add_pending(session);
                    self.write(account, &Record::Real(record.clone()))?;
                    effects.charged = true;
                    tracing::debug!(account = %account.log_id, remaining = record.guesses_remaining(), "guess charged");
                    return Ok((
                        Ok(ChargeOutcome::Charged {
                            ksf_version: record.ksf_version,
                            guesses_remaining: record.guesses_remaining(),
                            generation: record.generation,
                            password_file: record.password_file,
                        }),
                        effects,
                    ));
                }
                if !record.pending.is_empty() {
                    // Every guess is spent but a charged login may still finish:
                    // keep the record for it and give this start nothing to guess.
                    let ksf_version = record.ksf_version;
                    self.write(account, &Record::Real(record))?;
                    return Ok((
                        Ok(ChargeOutcome::Dummy {
                            ksf_version,
                            guesses_remaining: 0,
                        }),
                        effects,
                    ));
                }
                tracing::info!(account = %account.log_id, "record erased: guess limit reached");
                effects.erased = true;
                0
            }
            Some(Record::Phantom { guesses_used }) => guesses_used,
            None => 0,
        };
        // A phantom counts like a record with the default limit that is erased and
        // replaced when its guesses run out.
        let used = if phantom_used >= self.phantom.guess_limit {
            1
        } else {
            phantom_used + 1
        };
        self.write_phantom(account, used, now)?;
        Ok((
            Ok(ChargeOutcome::Dummy {
                ksf_version: self.phantom.ksf_version,
                guesses_remaining: self.phantom.guess_limit.saturating_sub(used),
            }),
            effects,
        ))
    }

    fn finish(
        &mut self,
        account: &AccountRef,
        generation: [u8; 16],
        session_id: &[u8; 16],
        verified: bool,
        now: u64,
    ) -> Result<(Result<FinishOutcome, StoreError>, Effects), StoreError> {
        let mut effects = Effects::default();
        let existing = match self.read(account)? {
            Ok(existing) => existing,
            Err(error) => {
                effects.damaged = true;
                return Ok((Err(error), effects));
            }
        };
        let rejected = |guesses_remaining| Ok(FinishOutcome::Rejected { guesses_remaining });
        let outcome = match existing {
            Some(Record::Real(mut record)) if record.generation == generation => {
                let was_pending = record.take_pending(session_id, now);
                record.prune(now);
                if verified && was_pending {
                    record.guesses_used = 0;
                    self.write(account, &Record::Real(record.clone()))?;
                    effects.succeeded = true;
                    tracing::info!(account = %account.log_id, "login verified; counter reset");
                    Ok(FinishOutcome::Released {
                        wrapped_key: record.wrapped_key,
                    })
                } else {
                    if verified {
                        tracing::warn!(account = %account.log_id, "verified login with a session that is not pending (replayed, expired or dropped); nothing released");
                    }
                    if record.guesses_used >= record.guess_limit && record.pending.is_empty() {
                        self.remove(account)?;
                        effects.erased = true;
                        tracing::info!(account = %account.log_id, "record erased: guess limit reached");
                        rejected(0)
                    } else {
                        let remaining = record.guesses_remaining();
                        self.write(account, &Record::Real(record))?;
                        rejected(remaining)
                    }
                }
            }
            Some(Record::Real(record)) => {
                let remaining = record.guesses_remaining();
                self.write(account, &Record::Real(record))?;
                rejected(remaining)
            }
            Some(Record::Phantom { guesses_used }) => {
                self.write_phantom(account, guesses_used, now)?;
                rejected(self.phantom.guess_limit.saturating_sub(guesses_used))
            }
            None => rejected(self.phantom.guess_limit),
        };
        Ok((outcome, effects))
    }

    fn enroll(&mut self, account: &AccountRef, record: RealRecord) -> Result<Effects, StoreError> {
        let mut effects = Effects {
            enrolled: true,
            ..Effects::default()
        };
        let old = matches!(self.read(account)?, Ok(Some(Record::Real(_))));
        self.remove(account)?;
        effects.erased = old;
        self.write(account, &Record::Real(record))?;
        tracing::info!(account = %account.log_id, replaced = old, "record enrolled");
        Ok(effects)
    }

    fn delete(&mut self, account: &AccountRef) -> Result<Effects, StoreError> {
        let removed = matches!(self.read(account)?, Ok(Some(Record::Real(_))));
        self.remove(account)?;
        tracing::info!(account = %account.log_id, removed, "record deleted");
        Ok(Effects {
            erased: removed,
            ..Effects::default()
        })
    }
}
