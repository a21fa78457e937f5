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

/// Encodes a full content list blob's plaintext.
pub fn full_list_plaintext(ids: &[crate::ObjectId]) -> Vec<u8> {
    crate::id::to_cbor(&crate::content_list::ContentList {
        len: ids.len() as u64,
        ids: ids.to_vec(),
        ..Default::default()
    })
}

/// Encodes a delta content list blob's plaintext: `runs` are (start, new ids).
pub fn delta_list_plaintext(
    base: crate::ObjectId,
    len: u64,
    runs: &[(u64, Vec<crate::ObjectId>)],
) -> Vec<u8> {
    crate::id::to_cbor(&crate::content_list::ContentList {
        len,
        base: Some(base),
        runs: runs
            .iter()
            .map(|(start, ids)| crate::content_list::Run {
                start: *start,
                ids: ids.clone(),
            })
            .collect(),
        ..Default::default()
    })
}

/// Seals `plaintexts` as blobs of type Tree into one new pack with its own index
/// file, as a backup stores trees and content lists. Returns their ids.
pub async fn store_tree_blobs(
    repo: &crate::Repository,
    plaintexts: &[Vec<u8>],
) -> crate::Result<Vec<crate::ObjectId>> {
    let mut writer = crate::copy::PackWriter::new(repo);
    let mut ids = Vec::new();
    for plaintext in plaintexts {
        let id = crate::pack::blob_id(&repo.keys, plaintext);
        let sealed =
            crate::pack::seal_blob(&repo.keys, crate::BlobType::Tree, &id, plaintext, true);
        writer
            .add(crate::BlobType::Tree, id, &sealed, plaintext.len() as u64)
            .await?;
        ids.push(id);
    }
    writer.finish().await?;
    Ok(ids)
}

/// A content list blob as stored: whether it is a delta, its plaintext size, and the
/// number of delta lists between it and its full list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContentListInfo {
    pub is_delta: bool,
    pub plaintext_bytes: usize,
    pub depth: usize,
}

/// Loads one content list blob and its chain.
pub async fn content_list_info(
    repo: &crate::Repository,
    id: &crate::ObjectId,
) -> crate::Result<ContentListInfo> {
    let bytes = repo.load_blob(crate::BlobType::Tree, id).await?;
    let list =
        crate::content_list::decode_content_list(&bytes).map_err(crate::RepoError::InvalidInput)?;
    let resolved = repo.load_content_list(id).await?;
    Ok(ContentListInfo {
        is_delta: list.base.is_some(),
        plaintext_bytes: bytes.len(),
        depth: resolved.depth(),
    })
}

/// Resolves a content list to its chunk ids, as a restore does.
pub async fn resolve_content_list(
    repo: &crate::Repository,
    id: &crate::ObjectId,
) -> crate::Result<Vec<crate::ObjectId>> {
    Ok(repo.load_content_list(id).await?.ids)
}

/// Files with more chunk ids than this store them in a content list blob.
pub const MAX_INLINE_IDS: usize = crate::content_list::MAX_INLINE_IDS;
/// Maximum number of delta lists between a content list and its full list.
pub const MAX_DELTA_DEPTH: usize = crate::content_list::MAX_DELTA_DEPTH;

/// Returns where a blob is stored: its pack's storage path, and the offset and length
/// of the sealed blob in that pack.
pub fn blob_location(repo: &crate::Repository, id: &crate::ObjectId) -> Option<(String, u64, u64)> {
    repo.locate(id)
        .map(|l| (crate::pack::pack_path(&l.pack), l.offset, l.length))
}
