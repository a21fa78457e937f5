//! The repository key hierarchy: a random master key, and the keys derived from it.

use haven_crypto::{derive_key, SecretKey};

/// Keys derived from the repository master key. Each has its own HKDF label, with the
/// repository id as context, so no two repositories or purposes share a key.
pub(crate) struct KeySet {
    /// Encrypts blobs (file chunks and trees) inside packs.
    pub data: SecretKey,
    /// Keys the BLAKE3 hash that names a blob, so storage never sees plaintext hashes.
    pub chunk_id: SecretKey,
    /// Encrypts the config body, pack headers, index files and snapshots.
    pub metadata: SecretKey,
    /// Seeds the FastCDC gear table, so chunk boundaries do not reveal plaintext.
    pub chunker_seed: u64,
    /// Seals the local row state of SQLite databases kept between backups.
    pub row_state: SecretKey,
    /// Keys the 64-bit row hashes of SQLite row increments and names state files.
    pub row_hash: SecretKey,
}

impl KeySet {
    pub fn derive(master: &SecretKey, repo_id: &[u8; 32]) -> Self {
        let seed_key = derive_key(master, "repo/chunker-seed", repo_id);
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&seed_key.expose()[..8]);
        Self {
            data: derive_key(master, "repo/data", repo_id),
            chunk_id: derive_key(master, "repo/chunk-id", repo_id),
            metadata: derive_key(master, "repo/metadata", repo_id),
            chunker_seed: u64::from_le_bytes(seed),
            row_state: derive_key(master, "sqlite-rows/state", repo_id),
            row_hash: derive_key(master, "sqlite-rows/row-hash", repo_id),
        }
    }
}

/// Builds AEAD associated data: `"haven/v1/" || kind || 0x00 || id`.
pub(crate) fn associated_data(kind: &str, id: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(10 + kind.len() + id.len());
    aad.extend_from_slice(b"haven/v1/");
    aad.extend_from_slice(kind.as_bytes());
    aad.push(0);
    aad.extend_from_slice(id);
    aad
}
