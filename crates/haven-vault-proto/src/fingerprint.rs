use sha2::{Digest, Sha256};

use crate::{ProtoError, PUBLIC_KEY_LEN};

/// Returns the fingerprint of a vault's AKE public key: lowercase hex of its SHA-256.
pub fn fingerprint(public_key: &[u8]) -> String {
    hex::encode(Sha256::digest(public_key))
}

/// Returns the fingerprint of a public key as opaque-ke returns it to the client.
pub fn fingerprint_of_public_key(
    public_key: &opaque_ke::keypair::PublicKey<opaque_ke::Ristretto255>,
) -> String {
    let bytes = public_key.serialize();
    debug_assert_eq!(bytes.len(), PUBLIC_KEY_LEN);
    fingerprint(&bytes)
}

/// Checks a public key against a pinned fingerprint (compared case-insensitively,
/// spaces and colons ignored).
pub(crate) fn check_pin(
    public_key: &opaque_ke::keypair::PublicKey<opaque_ke::Ristretto255>,
    pinned: Option<&str>,
) -> Result<String, ProtoError> {
    let found = fingerprint_of_public_key(public_key);
    if let Some(pinned) = pinned {
        let expected: String = pinned
            .chars()
            .filter(|c| !matches!(c, ' ' | ':'))
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if expected != found {
            return Err(ProtoError::FingerprintMismatch { expected, found });
        }
    }
    Ok(found)
}
