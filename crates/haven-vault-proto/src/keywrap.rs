//! Wrapping of the backup key under the OPAQUE export key, and its release under the
//! OPAQUE session key.

use haven_crypto::{BackupKey, SecretKey, AEAD_OVERHEAD};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::ProtoError;

/// HKDF label of the key that wraps the backup key, derived from the export key.
pub const LABEL_WRAP: &str = "vault-key-wrap";
/// HKDF label of the key that encrypts the wrapped key on release, derived from the
/// session key.
pub const LABEL_RELEASE: &str = "vault-release";

/// Length of a wrapped backup key: 32 key bytes plus the AEAD nonce and tag.
pub const WRAPPED_KEY_LEN: usize = 32 + AEAD_OVERHEAD;

/// HKDF-SHA256 with an empty salt and info `"haven/v1/" || label || 0x00 || context`,
/// the same construction as `haven_crypto::derive_key`, for input keys that are not
/// 32 bytes long (OPAQUE's export and session keys are 64 bytes).
fn derive(ikm: &[u8], label: &str, context: &[u8]) -> SecretKey {
    let hkdf = Hkdf::<Sha256>::new(None, ikm);
    let mut out = Zeroizing::new([0u8; 32]);
    let info = [b"haven/v1/".as_slice(), label.as_bytes(), &[0u8], context];
    hkdf.expand_multi_info(&info, out.as_mut_slice())
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    SecretKey::from_bytes(*out)
}

/// Derives the wrap key from the OPAQUE export key: HKDF-SHA256, label
/// [`LABEL_WRAP`], context = the credential identifier.
pub fn derive_wrap_key(export_key: &[u8], credential_identifier: &[u8]) -> SecretKey {
    derive(export_key, LABEL_WRAP, credential_identifier)
}

/// Derives the release key from the OPAQUE session key: HKDF-SHA256, label
/// [`LABEL_RELEASE`], context = the credential identifier.
pub fn derive_release_key(session_key: &[u8], credential_identifier: &[u8]) -> SecretKey {
    derive(session_key, LABEL_RELEASE, credential_identifier)
}

/// Wraps the backup key for upload: XChaCha20-Poly1305 under the wrap key, with the
/// credential identifier as associated data. Returns [`WRAPPED_KEY_LEN`] bytes.
pub fn wrap_backup_key(
    export_key: &[u8],
    credential_identifier: &[u8],
    backup_key: &BackupKey,
) -> Vec<u8> {
    let key = derive_wrap_key(export_key, credential_identifier);
    haven_crypto::seal(
        &key,
        credential_identifier,
        backup_key.secret().expose().as_slice(),
    )
}

/// Unwraps a key made by [`wrap_backup_key`].
pub fn unwrap_backup_key(
    export_key: &[u8],
    credential_identifier: &[u8],
    wrapped: &[u8],
) -> Result<BackupKey, ProtoError> {
    let failed = ProtoError::KeyAuthentication {
        what: "wrapped backup key",
    };
    if wrapped.len() != WRAPPED_KEY_LEN {
        return Err(failed);
    }
    let key = derive_wrap_key(export_key, credential_identifier);
    let plain = Zeroizing::new(
        haven_crypto::open(&key, credential_identifier, wrapped).map_err(|_| failed.clone())?,
    );
    let bytes: [u8; 32] = plain.as_slice().try_into().map_err(|_| failed)?;
    Ok(BackupKey::from_bytes(bytes))
}

/// Encrypts the stored wrapped key for release after a verified login (server side):
/// XChaCha20-Poly1305 under the release key, credential identifier as associated data.
pub fn seal_release(session_key: &[u8], credential_identifier: &[u8], wrapped: &[u8]) -> Vec<u8> {
    let key = derive_release_key(session_key, credential_identifier);
    haven_crypto::seal(&key, credential_identifier, wrapped)
}

/// Decrypts a released key made by [`seal_release`] (client side) and returns the
/// wrapped key inside it.
pub fn open_release(
    session_key: &[u8],
    credential_identifier: &[u8],
    released: &[u8],
) -> Result<Vec<u8>, ProtoError> {
    let key = derive_release_key(session_key, credential_identifier);
    haven_crypto::open(&key, credential_identifier, released).map_err(|_| {
        ProtoError::KeyAuthentication {
            what: "released key",
        }
    })
}
