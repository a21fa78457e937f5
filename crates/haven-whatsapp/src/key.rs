//! WhatsApp's 64-digit backup key (the root key) and the crypt15 file key derived from it.

use std::fmt;
use std::path::Path;

use haven_crypto::{BackupKey, SecretKey};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::Error;

/// Java serialization of a `byte[32]`: the stream header, the array class descriptor
/// `[B` with its serialVersionUID, and the array length 32. WhatsApp's
/// `encrypted_backup.key` is this prefix followed by the 32-byte root key.
pub const KEY_FILE_PREFIX: [u8; 27] = [
    0xac, 0xed, 0x00, 0x05, 0x75, 0x72, 0x00, 0x02, 0x5b, 0x42, 0xac, 0xf3, 0x17, 0xf8, 0x06, 0x08,
    0x54, 0xe0, 0x02, 0x00, 0x00, 0x78, 0x70, 0x00, 0x00, 0x00, 0x20,
];

/// Length of `encrypted_backup.key`: the prefix and the 32-byte root key.
pub const KEY_FILE_LEN: usize = KEY_FILE_PREFIX.len() + 32;

/// Length of the `key` file that crypt12 and crypt14 backups use.
const CRYPT14_KEY_FILE_LEN: usize = 158;

/// HKDF info string that turns the root key into the backup file key.
const FILE_KEY_INFO: &[u8] = b"backup encryption";

/// The 256-bit root key that the user holds as 64 hex digits. Zeroized on drop; its
/// `Debug` output hides the bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct RootKey(SecretKey);

impl RootKey {
    /// Wraps raw root key bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(SecretKey::from_bytes(bytes))
    }

    /// Generates a random root key.
    pub fn generate() -> Self {
        Self(SecretKey::generate())
    }

    /// Parses the 64-digit form. Case, spaces and dashes are ignored.
    pub fn parse_hex(text: &str) -> Result<Self, Error> {
        let key = BackupKey::parse(text).map_err(|source| Error::InvalidKey { source })?;
        Ok(Self(key.secret().clone()))
    }

    /// Parses the contents of a key file: the 59-byte `encrypted_backup.key` that
    /// WhatsApp stores, or a text file with the 64 hex digits.
    pub fn from_key_file_bytes(bytes: &[u8]) -> Result<Self, Error> {
        if bytes.len() == KEY_FILE_LEN && bytes.starts_with(&KEY_FILE_PREFIX) {
            let mut root = Zeroizing::new([0u8; 32]);
            root.copy_from_slice(&bytes[KEY_FILE_PREFIX.len()..]);
            return Ok(Self::from_bytes(*root));
        }
        if bytes.len() == CRYPT14_KEY_FILE_LEN && bytes.starts_with(&KEY_FILE_PREFIX[..4]) {
            return Err(Error::Crypt14KeyFile);
        }
        if let Ok(text) = std::str::from_utf8(bytes) {
            if text
                .trim()
                .chars()
                .all(|c| c.is_ascii_hexdigit() || " -\t\r\n".contains(c))
            {
                return Self::parse_hex(text);
            }
        }
        Err(Error::InvalidKeyFile {
            len: bytes.len(),
            expected: KEY_FILE_LEN,
        })
    }

    /// Reads a key file (see [`RootKey::from_key_file_bytes`]).
    pub fn read_key_file(path: &Path) -> Result<Self, Error> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|source| Error::Io {
            action: "read the key file",
            path: path.to_owned(),
            source,
        })?);
        Self::from_key_file_bytes(&bytes)
    }

    /// Serializes the key as WhatsApp's 59-byte `encrypted_backup.key`.
    pub fn to_key_file_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(KEY_FILE_LEN));
        out.extend_from_slice(&KEY_FILE_PREFIX);
        out.extend_from_slice(self.0.expose());
        out
    }

    /// Formats the key as 64 lowercase hex digits. The result is secret.
    pub fn to_hex(&self) -> Zeroizing<String> {
        Zeroizing::new(hex::encode(self.0.expose()))
    }

    /// Derives the key that encrypts backup files: HKDF-SHA256 with a salt of 32 zero
    /// bytes and the info string `backup encryption`.
    pub fn file_key(&self) -> FileKey {
        let hkdf = Hkdf::<Sha256>::new(Some(&[0u8; 32]), self.0.expose());
        let mut okm = Zeroizing::new([0u8; 32]);
        hkdf.expand(FILE_KEY_INFO, okm.as_mut_slice())
            .expect("32 bytes is a valid HKDF-SHA256 output length");
        FileKey(SecretKey::from_bytes(*okm))
    }
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

/// The AES-256-GCM key of a crypt15 file, derived from the root key.
#[derive(Clone)]
pub struct FileKey(SecretKey);

impl FileKey {
    pub(crate) fn expose(&self) -> &[u8; 32] {
        self.0.expose()
    }
}

impl fmt::Debug for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FileKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT_HEX: &str = "6730a595a1484d0c39c101dc0ac82ec5e401bb6f0e1b8ee2dc104a6b3687f017";
    const FILE_KEY_HEX: &str = "17ec312152f6f84fd13a3ec6b9c9279aac60bb84405f0685d1fae27293757bc7";

    #[test]
    fn file_key_matches_known_value() {
        let root = RootKey::parse_hex(ROOT_HEX).unwrap();
        assert_eq!(hex::encode(root.file_key().expose()), FILE_KEY_HEX);
    }

    #[test]
    fn key_file_round_trips() {
        let root = RootKey::generate();
        let bytes = root.to_key_file_bytes();
        assert_eq!(bytes.len(), 59);
        assert_eq!(RootKey::from_key_file_bytes(&bytes).unwrap(), root);
    }

    #[test]
    fn key_file_accepts_hex_text() {
        let text = format!("{ROOT_HEX}\n");
        let root = RootKey::from_key_file_bytes(text.as_bytes()).unwrap();
        assert_eq!(root.to_hex().as_str(), ROOT_HEX);
    }

    #[test]
    fn key_file_rejects_other_bytes() {
        let error = RootKey::from_key_file_bytes(&[0xff; 40]).unwrap_err();
        assert!(
            matches!(error, Error::InvalidKeyFile { len: 40, .. }),
            "{error}"
        );
    }

    #[test]
    fn key_file_names_crypt14_key() {
        let mut bytes = vec![0u8; 158];
        bytes[..4].copy_from_slice(&KEY_FILE_PREFIX[..4]);
        let error = RootKey::from_key_file_bytes(&bytes).unwrap_err();
        assert!(matches!(error, Error::Crypt14KeyFile), "{error}");
    }

    #[test]
    fn debug_hides_key() {
        let root = RootKey::parse_hex(ROOT_HEX).unwrap();
        assert_eq!(format!("{root:?}"), "RootKey(<redacted>)");
    }
}
