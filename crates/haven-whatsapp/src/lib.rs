//! Reads and writes WhatsApp's end-to-end encrypted backup files (`.crypt15`).
//!
//! A crypt15 file is a length byte N, an optional 0x01 feature-table byte, N bytes of a
//! protobuf header that contains a 16-byte IV, the AES-256-GCM encryption (with that IV
//! and no associated data) of zlib-compressed content, the 16-byte GCM tag, and the
//! MD5 of every byte before it. Multi-file backups (stickers, wallpapers) hold a ZIP
//! archive without compression and end with the tag, without the MD5.
//!
//! The AES key is HKDF-SHA256 of the user's 32-byte root key (the 64-digit key, or the
//! last 32 bytes of `encrypted_backup.key`) with a salt of 32 zero bytes and the info
//! string `backup encryption`.
//!
//! Files of any size pass through in constant memory: decryption uses AES-CTR and GHASH
//! directly, so the tag is checked after the last byte, and [`decrypt_file`] writes to
//! a temporary file that becomes the output only once the file verifies.

mod content;
mod decrypt;
mod diagnose;
mod encrypt;
mod error;
mod gcm;
mod header;
mod inspect;
mod key;
pub mod proto;

use std::io::{self, Read};
use std::path::Path;

pub use content::ContentKind;
pub use decrypt::{
    decrypt_file, decrypt_file_with_progress, decrypt_stream, verify_file, DecryptOptions,
    DecryptReport, Layout,
};
pub use diagnose::NEAR_BITS;
pub use encrypt::{
    encrypt_file, encrypt_file_with_progress, encrypt_stream, EncryptOptions, EncryptReport,
};
pub use error::Error;
pub use gcm::MAX_GCM_BYTES;
pub use header::{Header, FEATURE_TABLE_MARKER};
pub use inspect::{inspect_file, Inspection};
pub use key::{FileKey, RootKey, KEY_FILE_LEN};
pub use proto::BackupInfo;

/// Returns the name of the file a backup decrypts to: `msgstore.db.crypt15` gives
/// `msgstore.db`. Returns `None` when the name does not end in `.crypt15`.
pub fn decrypted_file_name(input: &Path) -> Option<std::ffi::OsString> {
    let name = input.file_name()?.to_str()?;
    let stem = name.strip_suffix(".crypt15")?;
    (!stem.is_empty()).then(|| stem.into())
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

fn stream_error(action: &'static str) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Stream { action, source }
}

/// A reader that reports the bytes read so far to a callback.
struct ProgressReader<'a, R> {
    inner: R,
    read: u64,
    progress: &'a dyn Fn(u64),
}

impl<'a, R> ProgressReader<'a, R> {
    fn new(inner: R, progress: &'a dyn Fn(u64)) -> Self {
        Self {
            inner,
            read: 0,
            progress,
        }
    }
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.inner.read(buf)?;
        self.read += len as u64;
        (self.progress)(self.read);
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decrypted_file_name_strips_suffix() {
        let name = decrypted_file_name(Path::new("/backups/msgstore.db.crypt15"));
        assert_eq!(name.as_deref(), Some(std::ffi::OsStr::new("msgstore.db")));
        assert_eq!(decrypted_file_name(Path::new("msgstore.db.crypt14")), None);
        assert_eq!(decrypted_file_name(Path::new(".crypt15")), None);
    }
}
