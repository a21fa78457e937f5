//! Key slots: the repository master key wrapped under one backup key each.
//!
//! A slot object `keys/<slot id>` is a checksummed envelope around a CBOR
//! [`SlotRecord`]. The key check value lets [`crate::Repository::open`] tell a wrong key
//! from a damaged slot before any decryption is tried.

use haven_crypto::{derive_key, BackupKey, KeyedHash, SecretKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::envelope::{self, Unwrapped};
use crate::id::{from_cbor, to_cbor, SlotId};
use crate::keys::associated_data;

pub(crate) const SLOT_MAGIC: &[u8; 8] = b"HAVNKEY\x01";
pub(crate) const SLOT_PREFIX: &str = "keys/";

/// What kind of backup key a slot is for. A vault slot's fields are stored in clear
/// and authenticated as associated data of the wrapped master key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SlotKind {
    /// The 64-digit key that the user writes down.
    RecoveryKey,
    /// A key held, wrapped, by a Backup Key Vault and released after a password login.
    Vault {
        vault_url: String,
        account: String,
        vault_id: String,
        server_fingerprint: String,
    },
}

/// A slot as listed without a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotInfo {
    pub id: SlotId,
    pub kind: SlotKind,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct SlotRecord {
    #[serde(with = "crate::id::bytes")]
    pub repo_id: Vec<u8>,
    pub slot_id: SlotId,
    pub kind: SlotKind,
    #[serde(with = "crate::id::bytes")]
    pub key_check: Vec<u8>,
    #[serde(with = "crate::id::bytes")]
    pub wrapped_master_key: Vec<u8>,
}

pub(crate) fn slot_path(id: &SlotId) -> String {
    format!("{SLOT_PREFIX}{id}")
}

/// Computes the value that shows whether `key` is the key of a slot in this repository.
pub(crate) fn key_check(key: &BackupKey, repo_id: &[u8; 32]) -> [u8; 32] {
    let check_key = derive_key(key.secret(), "key-slot/check", repo_id);
    KeyedHash::digest(&check_key, b"haven key check")
}

fn wrapping_key(key: &BackupKey, repo_id: &[u8; 32], slot_id: &SlotId) -> SecretKey {
    let mut context = repo_id.to_vec();
    context.extend_from_slice(&slot_id.0);
    derive_key(key.secret(), "key-slot/wrap", &context)
}

fn wrap_aad(repo_id: &[u8], slot_id: &SlotId, kind: &SlotKind) -> Vec<u8> {
    let mut id = repo_id.to_vec();
    id.extend_from_slice(&slot_id.0);
    id.extend_from_slice(&to_cbor(kind));
    associated_data("key-slot", &id)
}

/// Builds the stored bytes of a new slot.
pub(crate) fn encode_slot(
    key: &BackupKey,
    master: &SecretKey,
    repo_id: &[u8; 32],
    slot_id: SlotId,
    kind: SlotKind,
) -> Vec<u8> {
    let mut nonce = [0u8; haven_crypto::NONCE_LEN];
    haven_crypto::random_bytes(&mut nonce);
    encode_slot_with_nonce(key, master, repo_id, slot_id, kind, &nonce)
}

/// Builds a slot with a given nonce; only known-answer tests pass a fixed one.
pub(crate) fn encode_slot_with_nonce(
    key: &BackupKey,
    master: &SecretKey,
    repo_id: &[u8; 32],
    slot_id: SlotId,
    kind: SlotKind,
    nonce: &[u8; haven_crypto::NONCE_LEN],
) -> Vec<u8> {
    let wrapped = haven_crypto::seal_with_nonce(
        &wrapping_key(key, repo_id, &slot_id),
        nonce,
        &wrap_aad(repo_id, &slot_id, &kind),
        master.expose(),
    );
    let record = SlotRecord {
        repo_id: repo_id.to_vec(),
        slot_id,
        kind,
        key_check: key_check(key, repo_id).to_vec(),
        wrapped_master_key: wrapped,
    };
    envelope::wrap(SLOT_MAGIC, &to_cbor(&record))
}

/// Parses a slot and checks that it belongs to `repo_id` under the name `slot_id`.
/// Errors describe damage.
pub(crate) fn decode_slot(
    bytes: &[u8],
    repo_id: &[u8; 32],
    name: &SlotId,
) -> Result<SlotRecord, String> {
    let body = match envelope::unwrap(SLOT_MAGIC, bytes)? {
        Unwrapped::Body(body) => body,
        Unwrapped::OtherVersion(v) => {
            return Err(format!("key slot format version {v} is not supported"))
        }
    };
    let record: SlotRecord = from_cbor(body)?;
    if record.repo_id != repo_id {
        return Err("belongs to another repository".into());
    }
    if &record.slot_id != name {
        return Err(format!(
            "holds key slot {}, not the slot its name says",
            record.slot_id
        ));
    }
    if record.key_check.len() != 32 {
        return Err("key check value is not 32 bytes".into());
    }
    Ok(record)
}

/// Unwraps the master key from a slot whose key check matched. A failure here means
/// the slot was altered after it was written.
pub(crate) fn unwrap_master(
    key: &BackupKey,
    repo_id: &[u8; 32],
    record: &SlotRecord,
) -> Result<SecretKey, String> {
    let plain = haven_crypto::open(
        &wrapping_key(key, repo_id, &record.slot_id),
        &wrap_aad(repo_id, &record.slot_id, &record.kind),
        &record.wrapped_master_key,
    )
    .map_err(|_| "the wrapped master key failed authentication".to_string())?;
    let plain = Zeroizing::new(plain);
    let bytes: [u8; 32] = plain
        .as_slice()
        .try_into()
        .map_err(|_| "the wrapped master key is not 32 bytes".to_string())?;
    Ok(SecretKey::from_bytes(bytes))
}
