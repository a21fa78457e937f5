//! Sealing record changes into log entries.
//!
//! A change is encoded as JSON and sealed with XChaCha20-Poly1305 under the entry
//! key, which every node derives from the cluster's record key (shared by all nodes,
//! each node holding it wrapped under its own KEK). The account is carried as its
//! credential identifier, inside the sealed part.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use haven_crypto::SecretKey;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::types::Proposal;
use crate::apply::Change;
use crate::record::{PendingSession, RealRecord, RecordKeys};
use crate::store::AccountRef;

const ENTRY_AAD: &[u8] = b"haven/v1/vault-raft-entry";

/// The key that seals log entries and forwarded replies.
pub struct EntryKey(SecretKey);

impl EntryKey {
    pub fn derive(record_key: &SecretKey) -> Self {
        Self(haven_crypto::derive_key(
            record_key,
            "vault-raft-entry",
            b"",
        ))
    }

    pub fn seal_bytes(&self, plain: &[u8]) -> Vec<u8> {
        haven_crypto::seal(&self.0, ENTRY_AAD, plain)
    }

    pub fn open_bytes(&self, sealed: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        haven_crypto::open(&self.0, ENTRY_AAD, sealed)
            .ok()
            .map(Zeroizing::new)
    }

    pub fn seal_change(&self, change: &Change) -> Proposal {
        let plain = Zeroizing::new(
            serde_json::to_vec(&WireChange::from_change(change)).expect("change serializes"),
        );
        Proposal {
            sealed: URL_SAFE_NO_PAD.encode(self.seal_bytes(&plain)),
        }
    }

    /// Opens a proposal; `None` when it fails authentication or does not parse.
    pub fn open_change(&self, proposal: &Proposal, keys: &RecordKeys) -> Option<Change> {
        let sealed = URL_SAFE_NO_PAD.decode(&proposal.sealed).ok()?;
        let plain = self.open_bytes(&sealed)?;
        let wire: WireChange = serde_json::from_slice(&plain).ok()?;
        Some(wire.into_change(keys))
    }
}

#[derive(Serialize, Deserialize)]
struct WireRecord {
    ksf_version: u32,
    guess_limit: u32,
    guesses_used: u32,
    generation: [u8; 16],
    password_file: Vec<u8>,
    wrapped_key: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
enum WireChange {
    Charge {
        credential_identifier: Vec<u8>,
        session_id: [u8; 16],
        expires_at: u64,
        now: u64,
    },
    Finish {
        credential_identifier: Vec<u8>,
        generation: [u8; 16],
        session_id: [u8; 16],
        verified: bool,
        now: u64,
    },
    Enroll {
        credential_identifier: Vec<u8>,
        record: WireRecord,
    },
    Delete {
        credential_identifier: Vec<u8>,
    },
    ExpirePhantoms {
        cutoff: u64,
        limit: u64,
    },
}

impl WireChange {
    fn from_change(change: &Change) -> Self {
        match change {
            Change::Charge {
                account,
                session,
                now,
            } => WireChange::Charge {
                credential_identifier: account.credential_identifier.clone(),
                session_id: session.id,
                expires_at: session.expires_at,
                now: *now,
            },
            Change::Finish {
                account,
                generation,
                session_id,
                verified,
                now,
            } => WireChange::Finish {
                credential_identifier: account.credential_identifier.clone(),
                generation: *generation,
                session_id: *session_id,
                verified: *verified,
                now: *now,
            },
            Change::Enroll { account, record } => WireChange::Enroll {
                credential_identifier: account.credential_identifier.clone(),
                record: WireRecord {
                    ksf_version: record.ksf_version,
                    guess_limit: record.guess_limit,
                    guesses_used: record.guesses_used,
                    generation: record.generation,
                    password_file: record.password_file.clone(),
                    wrapped_key: record.wrapped_key.clone(),
                },
            },
            Change::Delete { account } => WireChange::Delete {
                credential_identifier: account.credential_identifier.clone(),
            },
            Change::ExpirePhantoms { cutoff, limit } => WireChange::ExpirePhantoms {
                cutoff: *cutoff,
                limit: *limit as u64,
            },
        }
    }

    fn into_change(self, keys: &RecordKeys) -> Change {
        let account = |id: Vec<u8>| AccountRef::new(keys, id);
        match self {
            WireChange::Charge {
                credential_identifier,
                session_id,
                expires_at,
                now,
            } => Change::Charge {
                account: account(credential_identifier),
                session: PendingSession {
                    id: session_id,
                    expires_at,
                },
                now,
            },
            WireChange::Finish {
                credential_identifier,
                generation,
                session_id,
                verified,
                now,
            } => Change::Finish {
                account: account(credential_identifier),
                generation,
                session_id,
                verified,
                now,
            },
            WireChange::Enroll {
                credential_identifier,
                record,
            } => Change::Enroll {
                account: account(credential_identifier),
                record: Box::new(RealRecord {
                    ksf_version: record.ksf_version,
                    guess_limit: record.guess_limit,
                    guesses_used: record.guesses_used,
                    generation: record.generation,
                    password_file: record.password_file,
                    wrapped_key: record.wrapped_key,
                    pending: Vec::new(),
                }),
            },
            WireChange::Delete {
                credential_identifier,
            } => Change::Delete {
                account: account(credential_identifier),
            },
            WireChange::ExpirePhantoms { cutoff, limit } => Change::ExpirePhantoms {
                cutoff,
                limit: usize::try_from(limit).unwrap_or(usize::MAX),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_change_roundtrip() {
        let record_key = SecretKey::generate();
        let keys = RecordKeys::derive(&record_key);
        let entry_key = EntryKey::derive(&record_key);
        let change = Change::Charge {
            account: AccountRef::new(&keys, b"acme\0alice".to_vec()),
            session: PendingSession {
                id: [7; 16],
                expires_at: 99,
            },
            now: 42,
        };
        let proposal = entry_key.seal_change(&change);
        assert!(!proposal.sealed.contains("alice"));
        let Some(Change::Charge {
            account,
            session,
            now,
        }) = entry_key.open_change(&proposal, &keys)
        else {
            panic!("the proposal did not open as a charge");
        };
        assert_eq!(account.credential_identifier, b"acme\0alice");
        assert_eq!(session.id, [7; 16]);
        assert_eq!(session.expires_at, 99);
        assert_eq!(now, 42);
    }

    #[test]
    fn foreign_entry_rejected() {
        let keys = RecordKeys::derive(&SecretKey::generate());
        let proposal = EntryKey::derive(&SecretKey::generate()).seal_change(&Change::Delete {
            account: AccountRef::new(&keys, b"acme\0alice".to_vec()),
        });
        let other = EntryKey::derive(&SecretKey::generate());
        assert!(other.open_change(&proposal, &keys).is_none());
    }
}
