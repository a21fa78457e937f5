//! Key-encryption keys (KEKs) for the vault's server keys.
//!
//! The vault's OPAQUE server setup and its record sealing key never touch disk in
//! clear: they are wrapped by a KEK. Two kinds exist:
//!
//! - a key file of 32 random bytes with mode 0600, the default for one machine;
//!   wrapping is XChaCha20-Poly1305 ([`haven_crypto::seal`]);
//! - an AES-256 key inside a PKCS#11 token (an HSM, or SoftHSM2 in tests and
//!   development) that never leaves the token; wrapping is CKM_AES_GCM inside the
//!   token.
//!
//! Both bind caller-chosen associated data, so a wrapped blob moved to another
//! purpose fails to unwrap.

mod config;
mod error;
mod key_file;
mod pkcs11;
mod pkcs11_module;

use zeroize::Zeroizing;

pub use config::{KekConfig, PinSource, DEFAULT_KEY_LABEL, DEFAULT_PKCS11_MODULE};
pub use error::KekError;
pub use key_file::{create_key_file, KeyFileKek, KEY_FILE_LEN};
pub use pkcs11::{Pkcs11Kek, GCM_IV_LEN, GCM_TAG_LEN};

/// A key-encryption key: wraps and unwraps small secrets with associated data.
pub trait Kek: Send + Sync {
    /// Encrypts `plaintext` under the KEK, binding `aad`.
    fn wrap(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KekError>;

    /// Decrypts bytes made by [`Kek::wrap`] with the same `aad`.
    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KekError>;

    /// Names the KEK for logs and errors, e.g. "key file /var/lib/haven/kek.key" or
    /// "PKCS#11 token 'vault' key 'haven-kek'". Contains no secret.
    fn describe(&self) -> String;
}

/// Opens the KEK that `config` names. With `create_if_missing`, a missing key file
/// or a missing key in the token is created; an existing one is never replaced.
pub fn open_kek(config: &KekConfig, create_if_missing: bool) -> Result<Box<dyn Kek>, KekError> {
    match config {
        KekConfig::KeyFile { path } => {
            let kek = if create_if_missing {
                KeyFileKek::open_or_create(path)?
            } else {
                KeyFileKek::open(path)?
            };
            Ok(Box::new(kek))
        }
        KekConfig::Pkcs11 {
            module,
            token_label,
            pin,
            key_label,
        } => {
            let kek = Pkcs11Kek::open(module, token_label, pin, key_label, create_if_missing)?;
            Ok(Box::new(kek))
        }
    }
}
