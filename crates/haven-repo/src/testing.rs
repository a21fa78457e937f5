//! Internal encodings exposed for the format known-answer tests. Not a stable API.

use haven_crypto::{BackupKey, SecretKey};

use crate::keys::{associated_data, KeySet};

/// Returns the key check value of `key` for a repository.
pub fn key_check(key: &BackupKey, repo_id: &[u8; 32]) -> [u8; 32] {
    crate::slot::key_check(key, repo_id)
}

/// Returns the data, chunk-id and metadata keys and the chunker seed derived from a
/// master key.
pub fn derived_keys(master: &[u8; 32], repo_id: &[u8; 32]) -> ([u8; 32], [u8; 32], [u8; 32], u64) {
    let keys = KeySet::derive(&SecretKey::from_bytes(*master), repo_id);
    (
        *keys.data.expose(),
        *keys.chunk_id.expose(),
        *keys.metadata.expose(),
        keys.chunker_seed,
    )
}

/// Returns the blob id of `plaintext` under a master key.
pub fn blob_id(master: &[u8; 32], repo_id: &[u8; 32], plaintext: &[u8]) -> [u8; 32] {
    let keys = KeySet::derive(&SecretKey::from_bytes(*master), repo_id);
    crate::pack::blob_id(&keys, plaintext).0
}

/// Returns the AEAD associated data for an object kind and id.
pub fn aad(kind: &str, id: &[u8]) -> Vec<u8> {
    associated_data(kind, id)
}

/// Returns the compressed payload form (compression byte and data).
pub fn payload(data: &[u8], try_compress: bool) -> Vec<u8> {
    crate::compress::encode(data, try_compress)
}

/// Returns a whole recovery-key slot object sealed with a fixed nonce.
pub fn slot_object(
    key: &[u8; 32],
    master: &[u8; 32],
    repo_id: &[u8; 32],
    slot_id: [u8; 8],
    nonce: &[u8; 24],
) -> Vec<u8> {
    crate::slot::encode_slot_with_nonce(
        &BackupKey::from_bytes(*key),
        &SecretKey::from_bytes(*master),
        repo_id,
        crate::SlotId(slot_id),
        crate::SlotKind::RecoveryKey,
        nonce,
    )
}

/// Returns a sealed data blob (stored, not compressed) with a fixed nonce.
pub fn sealed_data_blob(
    master: &[u8; 32],
    repo_id: &[u8; 32],
    plaintext: &[u8],
    nonce: &[u8; 24],
) -> Vec<u8> {
    let keys = KeySet::derive(&SecretKey::from_bytes(*master), repo_id);
    let id = crate::pack::blob_id(&keys, plaintext);
    haven_crypto::seal_with_nonce(
        &keys.data,
        nonce,
        &associated_data("blob/data", &id.0),
        &crate::compress::encode(plaintext, false),
    )
}

/// Opens a sealed data blob, as a reader of the repository does.
pub fn open_data_blob(
    master: &[u8; 32],
    repo_id: &[u8; 32],
    id: &[u8; 32],
    sealed: &[u8],
) -> Result<Vec<u8>, String> {
    let keys = KeySet::derive(&SecretKey::from_bytes(*master), repo_id);
    crate::pack::open_blob(&keys, crate::BlobType::Data, &crate::ObjectId(*id), sealed)
}

/// Takes the prune lock and keeps it, as a prune that is still running would.
/// Returns the lock object's path.
pub async fn hold_prune_lock(repo: &crate::Repository) -> crate::Result<String> {
    crate::prune::hold_lock(repo).await
}

/// Size in bytes of one entry of the in-memory blob index.
pub const INDEX_ENTRY_BYTES: usize = crate::blob_table::ENTRY_BYTES;

/// Builds the in-memory blob index for `blobs` made-up blobs and keeps it alive until
/// `measure` returns, so a caller can read the process's memory use.
pub fn with_synthetic_index<T>(blobs: usize, measure: impl FnOnce(usize) -> T) -> T {
    let (table, len) = crate::blob_table::synthetic(blobs);
    let result = measure(len);
    drop(table);
    result
}
