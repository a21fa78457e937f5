use hkdf::Hkdf;
use sha2::Sha256;

use crate::SecretKey;

/// Prefix of every HKDF info string, so Haven's derivations never collide with
/// another protocol's use of the same input key.
const LABEL_PREFIX: &[u8] = b"haven/v1/";

/// Derives a 256-bit key from `ikm` with HKDF-SHA256 (RFC 5869).
///
/// The salt is empty and the info string is `"haven/v1/" || label || 0x00 || context`,
/// so a label can never be extended into another label by its context.
pub fn derive_key(ikm: &SecretKey, label: &str, context: &[u8]) -> SecretKey {
    let hkdf = Hkdf::<Sha256>::new(None, ikm.expose());
    let mut out = [0u8; 32];
    let info = [LABEL_PREFIX, label.as_bytes(), &[0u8], context];
    hkdf.expand_multi_info(&info, &mut out)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    SecretKey::from_bytes(out)
}

/// Keyed BLAKE3: a MAC and a keyed hash for chunk ids and key check values.
pub struct KeyedHash {
    hasher: blake3::Hasher,
}

impl KeyedHash {
    /// Starts a keyed hash under `key`.
    pub fn new(key: &SecretKey) -> Self {
        Self {
            hasher: blake3::Hasher::new_keyed(key.expose()),
        }
    }

    /// Hashes `data` in one call.
    pub fn digest(key: &SecretKey, data: &[u8]) -> [u8; 32] {
        *blake3::keyed_hash(key.expose(), data).as_bytes()
    }

    /// Adds `data` to the hash.
    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        self.hasher.update(data);
        self
    }

    /// Returns the 32-byte hash.
    pub fn finalize(&self) -> [u8; 32] {
        *self.hasher.finalize().as_bytes()
    }
}
