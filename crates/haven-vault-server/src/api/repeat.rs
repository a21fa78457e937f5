//! Repeatable login starts: a recover/start sent again with the same request id
//! and KE1 maps to the same session id (so the record charges it once) and to the
//! same random seed (so the vault rebuilds the same KE2). A repeated start reveals
//! nothing new, because its KE2 is the KE2 of the first request.
//!
//! Both values are keyed BLAKE3 hashes under keys derived from the session key,
//! which every node of a cluster shares, over the credential identifier, the
//! request id, KE1 and (for the seed) the record's generation.

use haven_crypto::{KeyedHash, SecretKey};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

/// The inputs of one repeatable start.
pub struct RepeatableStart {
    id_key: SecretKey,
    seed_key: SecretKey,
    input: Vec<u8>,
}

impl RepeatableStart {
    pub fn new(
        session_key: &SecretKey,
        credential_identifier: &[u8],
        request_id: &[u8; 16],
        credential_request: &[u8],
    ) -> Self {
        let mut input = Vec::with_capacity(8 + credential_identifier.len() + 16 + 96);
        input.extend_from_slice(&(credential_identifier.len() as u64).to_be_bytes());
        input.extend_from_slice(credential_identifier);
        input.extend_from_slice(request_id);
        input.extend_from_slice(credential_request);
        Self {
            id_key: haven_crypto::derive_key(session_key, "vault-login-repeat-id", b""),
            seed_key: haven_crypto::derive_key(session_key, "vault-login-repeat-seed", b""),
            input,
        }
    }

    /// Returns the session id that the record lists while the login is pending.
    pub fn session_id(&self) -> [u8; 16] {
        let digest = KeyedHash::digest(&self.id_key, &self.input);
        digest[..16].try_into().expect("16 bytes")
    }

    /// Returns the generation that a dummy reply seals into its session.
    pub fn dummy_generation(&self) -> [u8; 16] {
        let digest = KeyedHash::new(&self.seed_key)
            .update(&self.input)
            .update(b"dummy-generation")
            .finalize();
        digest[..16].try_into().expect("16 bytes")
    }

    /// Returns the random generator for `ServerLogin::start`, seeded for this
    /// request and record generation.
    pub fn rng(&self, generation: &[u8; 16]) -> ChaCha20Rng {
        let seed = KeyedHash::new(&self.seed_key)
            .update(&self.input)
            .update(generation)
            .finalize();
        ChaCha20Rng::from_seed(seed)
    }
}
