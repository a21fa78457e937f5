//! AEAD framing: `nonce (24 bytes) || ciphertext || tag (16 bytes)`.

use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use crate::{CryptoError, SecretKey};

/// Length of the random XChaCha20 nonce that starts every sealed message.
pub const NONCE_LEN: usize = 24;
/// Length of the Poly1305 tag that ends every sealed message.
pub const TAG_LEN: usize = 16;
/// Bytes that sealing adds to a plaintext.
pub const AEAD_OVERHEAD: usize = NONCE_LEN + TAG_LEN;

/// Encrypts `plaintext` under `key`, binding `aad`, with a fresh random nonce.
pub fn seal(key: &SecretKey, aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    crate::random_bytes(&mut nonce);
    seal_with_nonce(key, &nonce, aad, plaintext)
}

/// Encrypts with a caller-chosen nonce. Only known-answer tests use this: a
/// repeated nonce under one key breaks confidentiality and integrity.
#[doc(hidden)]
pub fn seal_with_nonce(
    key: &SecretKey,
    nonce: &[u8; NONCE_LEN],
    aad: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    // One buffer, encrypted in place: a pack's data passes through here once.
    let mut out = Vec::with_capacity(AEAD_OVERHEAD + plaintext.len());
    out.extend_from_slice(&[0; NONCE_LEN]);
    out.extend_from_slice(plaintext);
    encrypt_in_place(key, nonce, aad, &mut out);
    out
}

/// Seals `buffer[NONCE_LEN..]` in place with a fresh random nonce. The nonce goes over
/// the first [`NONCE_LEN`] bytes, which the caller leaves free, and the tag is appended,
/// so the result is the message that [`seal`] makes of the same plaintext.
///
/// # Panics
/// If `buffer` is shorter than [`NONCE_LEN`].
pub fn seal_in_place(key: &SecretKey, aad: &[u8], buffer: &mut Vec<u8>) {
    assert!(
        buffer.len() >= NONCE_LEN,
        "the buffer must start with {NONCE_LEN} bytes left for the nonce"
    );
    let mut nonce = [0u8; NONCE_LEN];
    crate::random_bytes(&mut nonce);
    encrypt_in_place(key, &nonce, aad, buffer);
}

fn encrypt_in_place(key: &SecretKey, nonce: &[u8; NONCE_LEN], aad: &[u8], buffer: &mut Vec<u8>) {
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    buffer[..NONCE_LEN].copy_from_slice(nonce);
    let tag = cipher
        .encrypt_in_place_detached(XNonce::from_slice(nonce), aad, &mut buffer[NONCE_LEN..])
        .expect("XChaCha20-Poly1305 encryption has no failure case for in-memory data");
    buffer.extend_from_slice(&tag);
}

/// Decrypts a message made by [`seal`] and checks its tag against `aad`.
pub fn open(key: &SecretKey, aad: &[u8], sealed: &[u8]) -> Result<Vec<u8>, CryptoError> {
    if sealed.len() < AEAD_OVERHEAD {
        return Err(CryptoError::TooShort {
            len: sealed.len(),
            min: AEAD_OVERHEAD,
        });
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let cipher = XChaCha20Poly1305::new(key.expose().into());
    cipher
        .decrypt(
            XNonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .map_err(|_| CryptoError::AuthenticationFailed)
}
