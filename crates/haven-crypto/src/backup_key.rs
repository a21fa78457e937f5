use std::fmt;

use zeroize::Zeroizing;

use crate::{CryptoError, SecretKey};

/// The 256-bit key that opens a repository through a key slot.
///
/// Shown to users as 64 lowercase hex digits in 16 groups of 4. Parsing accepts any
/// case and ignores spaces, tabs, newlines and dashes, so a key copied from paper
/// or a password manager works as typed.
#[derive(Clone, PartialEq, Eq)]
pub struct BackupKey(SecretKey);

impl BackupKey {
    /// Generates a new key from the OS RNG.
    pub fn generate() -> Self {
        Self(SecretKey::generate())
    }

    /// Wraps raw key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretKey::from_bytes(bytes))
    }

    /// Parses the 64-digit form. Errors name the position of a bad character, never
    /// the key itself.
    pub fn parse(text: &str) -> Result<Self, CryptoError> {
        let mut digits = Zeroizing::new(Vec::with_capacity(64));
        for (position, c) in text.chars().enumerate() {
            match c {
                ' ' | '\t' | '\n' | '\r' | '-' => continue,
                c if c.is_ascii_hexdigit() => digits.push(c.to_ascii_lowercase() as u8),
                found => {
                    return Err(CryptoError::InvalidKeyCharacter {
                        found,
                        position: position + 1,
                    })
                }
            }
        }
        if digits.len() != 64 {
            return Err(CryptoError::InvalidKeyLength {
                found: digits.len(),
            });
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(digits.as_slice(), bytes.as_mut_slice())
            .expect("64 validated hex digits decode to 32 bytes");
        Ok(Self::from_bytes(*bytes))
    }

    /// Formats the key as 16 groups of 4 lowercase hex digits separated by spaces.
    /// The result is secret: show it to the user once and never log it.
    pub fn to_grouped_digits(&self) -> Zeroizing<String> {
        let digits = Zeroizing::new(hex::encode(self.0.expose()));
        let mut out = Zeroizing::new(String::with_capacity(79));
        for (i, chunk) in digits.as_bytes().chunks(4).enumerate() {
            if i > 0 {
                out.push(' ');
            }
            out.push_str(std::str::from_utf8(chunk).expect("hex is ASCII"));
        }
        out
    }

    /// Returns the key as a [`SecretKey`] for derivations.
    pub fn secret(&self) -> &SecretKey {
        &self.0
    }
}

impl fmt::Debug for BackupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BackupKey(<redacted>)")
    }
}
