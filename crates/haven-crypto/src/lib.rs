//! Haven's crypto core: the backup key, the key hierarchy and the AEAD framing.
//!
//! Everything that touches key material in the repository and the vault client goes
//! through this crate, and it does no I/O, so it can be audited on its own.
//!
//! - [`BackupKey`]: 32 random bytes that open a repository, written as 64 hex digits.
//! - [`SecretKey`]: a 256-bit key that is zeroized on drop and never printed.
//! - [`derive_key`]: HKDF-SHA256 with a versioned label, for every derived key.
//! - [`seal`] and [`open`]: XChaCha20-Poly1305 with a random 192-bit nonce per message.
//! - [`KeyedHash`]: keyed BLAKE3, used for chunk ids and key check values.
//!
//! The nonce is drawn from the OS RNG for each message. With 192-bit nonces the chance
//! that two of 2^40 messages under one key share a nonce is below 2^-112, so no counter
//! state is needed across devices or interrupted runs.

mod aead;
mod backup_key;
mod error;
mod kdf;
mod secret;

pub use aead::{
    open, open_in_place, seal, seal_in_place, seal_with_nonce, AEAD_OVERHEAD, NONCE_LEN, TAG_LEN,
};
pub use backup_key::BackupKey;
pub use error::CryptoError;
pub use kdf::{derive_key, KeyedHash};
pub use secret::SecretKey;

/// Fills `buf` with bytes from the operating system's RNG.
pub fn random_bytes(buf: &mut [u8]) {
    use rand_core::{OsRng, RngCore};
    OsRng.fill_bytes(buf);
}
