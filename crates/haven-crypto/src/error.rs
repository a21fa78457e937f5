use thiserror::Error;

/// Errors from the crypto core. None of them carries key material.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CryptoError {
    /// The AEAD tag did not verify: the key is wrong, or the bytes or the
    /// associated data were changed.
    #[error("authentication failed: the data was changed or the key is wrong")]
    AuthenticationFailed,

    /// The sealed message is shorter than a nonce and a tag.
    #[error("sealed message is {len} bytes, shorter than the minimum of {min} bytes")]
    TooShort { len: usize, min: usize },

    /// A backup key string contained a character that is not a hex digit,
    /// a space or a dash.
    #[error(
        "invalid character {found:?} at position {position} of the backup key; \
         a backup key has only the digits 0-9 and letters a-f"
    )]
    InvalidKeyCharacter { found: char, position: usize },

    /// A backup key string had the wrong number of hex digits.
    #[error(
        "the backup key has {found} hex digits, expected 64; \
         check that no group of 4 digits is missing or repeated"
    )]
    InvalidKeyLength { found: usize },
}
