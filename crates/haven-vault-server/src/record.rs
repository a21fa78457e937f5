//! Vault records and their sealed form on disk.
//!
//! Each account has at most one entry in the records table, keyed by a keyed hash of
//! its credential identifier. The entry is either a real record (an OPAQUE
//! registration and a wrapped key) or a phantom: a guess counter for an account
//! without a record, written on every login start so that the disk writes and the
//! replies look the same whether or not a record exists.
//!
//! The value is sealed with XChaCha20-Poly1305 under the record sealing key, with the
//! credential identifier as associated data: a value copied under another account's
//! key, or edited on disk, fails to open.

use haven_crypto::{KeyedHash, SecretKey};
use zeroize::Zeroizing;

/// Unsealed-record format version, the first byte of the plaintext. Format 2 adds
/// the last session of a phantom; format 1 records still open.
const FORMAT: u8 = 2;
const FORMAT_1: u8 = 1;
const KIND_REAL: u8 = 1;
const KIND_PHANTOM: u8 = 2;
/// Associated-data prefix of a sealed record.
const RECORD_AAD: &[u8] = b"haven/v1/vault-record\x00";

/// Bound on the login sessions a record tracks at once; the oldest is dropped first.
pub const MAX_PENDING_SESSIONS: usize = 16;

/// A login session started on a record and not finished yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PendingSession {
    pub id: [u8; 16],
    /// Unix time in seconds after which the session can no longer finish.
    pub expires_at: u64,
}

/// An enrolled password.
#[derive(Clone, PartialEq, Eq)]
pub struct RealRecord {
    pub ksf_version: u32,
    pub guess_limit: u32,
    /// Guesses charged since the last verified login.
    pub guesses_used: u32,
    /// Random id of this enrollment; a session from an earlier enrollment of the
    /// same account does not finish on this one.
    pub generation: [u8; 16],
    /// Serialized OPAQUE `ServerRegistration` (password file, 192 bytes).
    pub password_file: Vec<u8>,
    /// The backup key as wrapped by the client; the vault cannot open it.
    pub wrapped_key: Vec<u8>,
    pub pending: Vec<PendingSession>,
}

impl std::fmt::Debug for RealRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealRecord")
            .field("ksf_version", &self.ksf_version)
            .field("guess_limit", &self.guess_limit)
            .field("guesses_used", &self.guesses_used)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

impl RealRecord {
    pub fn guesses_remaining(&self) -> u32 {
        self.guess_limit.saturating_sub(self.guesses_used)
    }

    /// Drops expired sessions.
    pub fn prune(&mut self, now: u64) {
        self.pending.retain(|session| session.expires_at >= now);
    }

    /// Adds a session, dropping the oldest when [`MAX_PENDING_SESSIONS`] are open.
    pub fn add_pending(&mut self, session: PendingSession) {
        if self.pending.len() >= MAX_PENDING_SESSIONS {
            self.pending.remove(0);
        }
        self.pending.push(session);
    }

    /// Removes the session `id`; returns whether it was pending and unexpired.
    pub fn take_pending(&mut self, id: &[u8; 16], now: u64) -> bool {
        match self.pending.iter().position(|session| &session.id == id) {
            Some(index) => self.pending.remove(index).expires_at >= now,
            None => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    Real(RealRecord),
    /// Counter for an account without a record.
    Phantom {
        guesses_used: u32,
        /// The session of the last charged start, so that the same start sent
        /// again is not charged twice (as with a real record's pending sessions).
        last_session: Option<[u8; 16]>,
    },
}

/// A sealed record that failed authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Damaged;

/// Keys that seal records and name them in the table, derived from the record key.
pub struct RecordKeys {
    seal: SecretKey,
    index: SecretKey,
    log: SecretKey,
}

impl RecordKeys {
    pub fn derive(record_key: &SecretKey) -> Self {
        Self {
            seal: haven_crypto::derive_key(record_key, "vault-record-seal", b""),
            index: haven_crypto::derive_key(record_key, "vault-record-index", b""),
            log: haven_crypto::derive_key(record_key, "vault-log-id", b""),
        }
    }

    /// Returns the table key of an account: keyed BLAKE3 of its credential identifier.
    pub fn table_key(&self, credential_identifier: &[u8]) -> [u8; 32] {
        KeyedHash::digest(&self.index, credential_identifier)
    }

    /// Returns the id that logs use for an account: 8 bytes of a keyed hash, in hex.
    /// It links log lines of one account without naming it.
    pub fn log_id(&self, credential_identifier: &[u8]) -> String {
        hex_prefix(&KeyedHash::digest(&self.log, credential_identifier))
    }

    pub fn seal(&self, credential_identifier: &[u8], record: &Record) -> Vec<u8> {
        let plain = encode(record);
        haven_crypto::seal(&self.seal, &aad(credential_identifier), &plain)
    }

    pub fn open(&self, credential_identifier: &[u8], sealed: &[u8]) -> Result<Record, Damaged> {
        let plain = Zeroizing::new(
            haven_crypto::open(&self.seal, &aad(credential_identifier), sealed)
                .map_err(|_| Damaged)?,
        );
        decode(&plain).ok_or(Damaged)
    }
}

fn hex_prefix(bytes: &[u8; 32]) -> String {
    bytes[..8].iter().map(|b| format!("{b:02x}")).collect()
}

fn aad(credential_identifier: &[u8]) -> Vec<u8> {
    [RECORD_AAD, credential_identifier].concat()
}

fn encode(record: &Record) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(400));
    out.push(FORMAT);
    match record {
        Record::Real(real) => {
            out.push(KIND_REAL);
            out.extend_from_slice(&real.ksf_version.to_be_bytes());
            out.extend_from_slice(&real.guess_limit.to_be_bytes());
            out.extend_from_slice(&real.guesses_used.to_be_bytes());
            out.extend_from_slice(&real.generation);
            put_field(&mut out, &real.password_file);
            put_field(&mut out, &real.wrapped_key);
            out.push(real.pending.len() as u8);
            for session in &real.pending {
                out.extend_from_slice(&session.id);
                out.extend_from_slice(&session.expires_at.to_be_bytes());
            }
        }
        Record::Phantom {
            guesses_used,
            last_session,
        } => {
            out.push(KIND_PHANTOM);
            out.extend_from_slice(&guesses_used.to_be_bytes());
            put_session(&mut out, *last_session);
        }
    }
    out
}

/// Writes an optional session id: `0`, or `1` and the 16-byte id.
fn put_session(out: &mut Vec<u8>, session: Option<[u8; 16]>) {
    match session {
        None => out.push(0),
        Some(id) => {
            out.push(1);
            out.extend_from_slice(&id);
        }
    }
}

fn put_field(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u16).to_be_bytes());
    out.extend_from_slice(field);
}

/// Reads fields off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Option<&'a [u8]> {
        if self.0.len() < len {
            return None;
        }
        let (head, tail) = self.0.split_at(len);
        self.0 = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn session(&mut self) -> Option<Option<[u8; 16]>> {
        match self.array::<1>()?[0] {
            0 => Some(None),
            1 => Some(Some(self.array()?)),
            _ => None,
        }
    }

    fn field(&mut self) -> Option<Vec<u8>> {
        let len = u16::from_be_bytes(self.array()?);
        self.take(len as usize).map(<[u8]>::to_vec)
    }
}

fn decode(plain: &[u8]) -> Option<Record> {
    let mut reader = Reader(plain);
    let format = reader.array::<1>()?[0];
    if format != FORMAT && format != FORMAT_1 {
        return None;
    }
    let session = |reader: &mut Reader| {
        if format == FORMAT_1 {
            Some(None)
        } else {
            reader.session()
        }
    };
    let record = match reader.array::<1>()?[0] {
        KIND_REAL => {
            let ksf_version = reader.u32()?;
            let guess_limit = reader.u32()?;
            let guesses_used = reader.u32()?;
            let generation = reader.array()?;
            let password_file = reader.field()?;
            let wrapped_key = reader.field()?;
            let count = reader.array::<1>()?[0] as usize;
            let mut pending = Vec::with_capacity(count);
            for _ in 0..count {
                let id = reader.array()?;
                let expires_at = u64::from_be_bytes(reader.array()?);
                pending.push(PendingSession { id, expires_at });
            }
            Record::Real(RealRecord {
                ksf_version,
                guess_limit,
                guesses_used,
                generation,
                password_file,
                wrapped_key,
                pending,
            })
        }
        KIND_PHANTOM => Record::Phantom {
            guesses_used: reader.u32()?,
            last_session: session(&mut reader)?,
        },
        _ => return None,
    };
    reader.0.is_empty().then_some(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record::Real(RealRecord {
            ksf_version: 1,
            guess_limit: 10,
            guesses_used: 3,
            generation: [9; 16],
            password_file: vec![1; 192],
            wrapped_key: vec![2; 72],
            pending: vec![PendingSession {
                id: [3; 16],
                expires_at: 1234,
            }],
        })
    }

    #[test]
    fn sealed_record_roundtrip() {
        let keys = RecordKeys::derive(&SecretKey::generate());
        let sealed = keys.seal(b"acme\0alice", &sample());
        assert_eq!(keys.open(b"acme\0alice", &sealed), Ok(sample()));
        let phantom = Record::Phantom {
            guesses_used: 4,
            last_session: Some([6; 16]),
        };
        let sealed = keys.seal(b"acme\0bob", &phantom);
        assert_eq!(keys.open(b"acme\0bob", &sealed), Ok(phantom));
    }

    #[test]
    fn format_1_record_opens() {
        let keys = RecordKeys::derive(&SecretKey::generate());
        let mut plain = encode(&Record::Phantom {
            guesses_used: 7,
            last_session: None,
        });
        plain[0] = FORMAT_1;
        plain.pop();
        let sealed = haven_crypto::seal(&keys.seal, &aad(b"acme\0bob"), &plain);
        assert_eq!(
            keys.open(b"acme\0bob", &sealed),
            Ok(Record::Phantom {
                guesses_used: 7,
                last_session: None,
            })
        );
    }

    #[test]
    fn sealed_record_bound_to_account() {
        let keys = RecordKeys::derive(&SecretKey::generate());
        let sealed = keys.seal(b"acme\0alice", &sample());
        assert_eq!(keys.open(b"acme\0mallory", &sealed), Err(Damaged));
    }

    #[test]
    fn edited_record_rejected() {
        let keys = RecordKeys::derive(&SecretKey::generate());
        let mut sealed = keys.seal(b"acme\0alice", &sample());
        let middle = sealed.len() / 2;
        sealed[middle] ^= 1;
        assert_eq!(keys.open(b"acme\0alice", &sealed), Err(Damaged));
    }

    #[test]
    fn pending_sessions_bounded() {
        let Record::Real(mut record) = sample() else {
            unreachable!()
        };
        for i in 0..40u8 {
            record.add_pending(PendingSession {
                id: [i; 16],
                expires_at: 100,
            });
        }
        assert_eq!(record.pending.len(), MAX_PENDING_SESSIONS);
        assert!(record.take_pending(&[39; 16], 50));
        assert!(!record.take_pending(&[39; 16], 50));
        assert!(!record.take_pending(&[38; 16], 101));
    }
}
