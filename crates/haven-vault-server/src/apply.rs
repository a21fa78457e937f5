//! The record logic of every change to the records database.
//!
//! Both the single-node writer thread ([`crate::writer`]) and the cluster's Raft state
//! machine apply changes through [`Ops::apply`], inside a write transaction that they
//! own. The logic is deterministic: the proposer decides `now` and every random value
//! (session ids, generations) and puts them in the [`Change`], so every node that
//! applies the same changes in the same order ends with the same records.

use std::sync::atomic::Ordering;

use redb::{ReadableTable, Table};
use serde::{Deserialize, Serialize};

use crate::metrics::{bump, Metrics};
use crate::record::{PendingSession, RealRecord, Record, RecordKeys};
use crate::store::{io_error, AccountRef, StoreError};

/// Result of charging a login start.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum FinishOutcome {
    /// The login verified and its session was pending: release the wrapped key.
    Released {
        wrapped_key: Vec<u8>,
    },
    Rejected {
        guesses_remaining: u32,
    },
}

/// One change to the records, with every input decided by the proposer.
#[derive(Clone)]
pub enum Change {
    /// Charges one guess (or a phantom guess) and records the pending session.
    Charge {
        account: AccountRef,
        session: PendingSession,
        now: u64,
    },
    /// Ends a login session: resets the counter when `verified`, otherwise erases
    /// the record if no guess is left.
    Finish {
        account: AccountRef,
        generation: [u8; 16],
        session_id: [u8; 16],
        verified: bool,
        now: u64,
    },
    /// Replaces the account's record (the old one is destroyed in the same commit).
    Enroll {
        account: AccountRef,
        record: Box<RealRecord>,
    },
    /// Erases the account's record.
    Delete { account: AccountRef },
    /// Removes up to `limit` phantom records last written before `cutoff` (Unix
    /// seconds).
    ExpirePhantoms { cutoff: u64, limit: usize },
}

/// The result of one applied change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ChangeOutcome {
    Charge(ChargeOutcome),
    Finish(FinishOutcome),
    /// An enroll or delete is done.
    Done,
    /// Number of phantom records removed.
    Expired(u64),
}

/// A change's own result: its outcome, or an error that concerns only this change
/// (a damaged record). Database failures abort the transaction instead.
pub type Applied = Result<ChangeOutcome, StoreError>;

/// Values that phantom replies imitate.
#[derive(Debug, Clone, Copy)]
pub struct PhantomPolicy {
    pub guess_limit: u32,
    pub ksf_version: u32,
}

/// The counters a change moves once its transaction commits.
#[derive(Default, Clone, Copy)]
pub(crate) struct Effects {
    pub charged: bool,
    pub erased: bool,
    pub succeeded: bool,
    pub enrolled: bool,
    pub damaged: bool,
    pub phantoms_expired: u64,
}

impl Effects {
    /// Adds these effects to the metrics; call only after the commit.
    pub fn count(self, metrics: &Metrics) {
        for (flag, counter) in [
            (self.charged, &metrics.guesses_charged),
            (self.erased, &metrics.records_erased),
            (self.succeeded, &metrics.logins_succeeded),
            (self.enrolled, &metrics.records_enrolled),
            (self.damaged, &metrics.records_damaged),
        ] {
            if flag {
                bump(counter);
            }
        }
        metrics
            .phantoms_expired
            .fetch_add(self.phantoms_expired, Ordering::Relaxed);
    }
}

/// The record logic of each change, inside the caller's write transaction.
pub(crate) struct Ops<'t, 'txn> {
    pub table: &'t mut Table<'txn, &'static [u8], &'static [u8]>,
    pub seen: &'t mut Table<'txn, &'static [u8], u64>,
    pub keys: &'t RecordKeys,
    pub phantom: PhantomPolicy,
}

impl Ops<'_, '_> {
    /// Applies one change. The outer error is a database failure that aborts the
    /// whole transaction; the inner result belongs to this change alone.
    pub(crate) fn apply(&mut self, change: Change) -> Result<(Applied, Effects), StoreError> {
        Ok(match change {
            Change::Charge {
                account,
                session,
                now,
            } => {
                let (result, effects) = self.charge(&account, session, now)?;
                (result.map(ChangeOutcome::Charge), effects)
            }
            Change::Finish {
                account,
                generation,
                session_id,
                verified,
                now,
            } => {
                let (result, effects) =
                    self.finish(&account, generation, &session_id, verified, now)?;
                (result.map(ChangeOutcome::Finish), effects)
            }
            Change::Enroll { account, record } => {
                let effects = self.enroll(&account, *record)?;
                (Ok(ChangeOutcome::Done), effects)
            }
            Change::Delete { account } => {
                let effects = self.delete(&account)?;
                (Ok(ChangeOutcome::Done), effects)
            }
            Change::ExpirePhantoms { cutoff, limit } => {
                let removed = self.expire_phantoms(cutoff, limit)?;
                let effects = Effects {
                    phantoms_expired: removed,
                    ..Effects::default()
                };
                (Ok(ChangeOutcome::Expired(removed)), effects)
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
        last_session: Option<[u8; 16]>,
        now: u64,
    ) -> Result<(), StoreError> {
        self.write(
            account,
            &Record::Phantom {
                guesses_used,
                last_session,
            },
        )?;
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
                if record
                    .pending
                    .iter()
                    .any(|pending| pending.id == session.id)
                {
                    // The same start sent again (its reply was lost): it was
                    // charged once already, so charge nothing and let the caller
                    // rebuild the same KE2.
                    self.write(account, &Record::Real(record.clone()))?;
                    tracing::debug!(account = %account.log_id, "repeated login start; no second guess charged");
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
            Some(Record::Phantom {
                guesses_used,
                last_session,
            }) => {
                if last_session == Some(session.id) {
                    // A repeated start, as for a real record above.
                    self.write_phantom(account, guesses_used, last_session, now)?;
                    return Ok((
                        Ok(ChargeOutcome::Dummy {
                            ksf_version: self.phantom.ksf_version,
                            guesses_remaining: self
                                .phantom
                                .guess_limit
                                .saturating_sub(guesses_used),
                        }),
                        effects,
                    ));
                }
                guesses_used
            }
            None => 0,
        };
        // A phantom counts like a record with the default limit that is erased and
        // replaced when its guesses run out.
        let used = if phantom_used >= self.phantom.guess_limit {
            1
        } else {
            phantom_used + 1
        };
        self.write_phantom(account, used, Some(session.id), now)?;
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
            Some(Record::Phantom {
                guesses_used,
                last_session,
            }) => {
                self.write_phantom(account, guesses_used, last_session, now)?;
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
