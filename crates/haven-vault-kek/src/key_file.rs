use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use haven_crypto::{SecretKey, AEAD_OVERHEAD};
use zeroize::Zeroizing;

use crate::{Kek, KekError};

/// Length of a key file: one 256-bit key, raw bytes.
pub const KEY_FILE_LEN: usize = 32;

/// Permission bits for group and others; any of them set rejects the key file.
const GROUP_OTHER_BITS: u32 = 0o077;

/// A KEK read from a key file. Wrapping is XChaCha20-Poly1305 with a random
/// 24-byte nonce, framed as `nonce || ciphertext || tag`.
pub struct KeyFileKek {
    path: PathBuf,
    key: SecretKey,
}

impl KeyFileKek {
    /// Opens an existing key file. Rejects a file that the group or others can
    /// read, and one that is not exactly 32 bytes long.
    pub fn open(path: &Path) -> Result<Self, KekError> {
        let mut file = match File::open(path) {
            Ok(file) => file,
            Err(err) if err.kind() == ErrorKind::NotFound => {
                return Err(KekError::KeyFileMissing {
                    path: path.to_path_buf(),
                })
            }
            Err(source) => return Err(io_error("open", path, source)),
        };
        let metadata = file
            .metadata()
            .map_err(|source| io_error("read the metadata of", path, source))?;
        if !metadata.is_file() {
            return Err(KekError::KeyFileNotRegular {
                path: path.to_path_buf(),
            });
        }
        let mode = metadata.mode() & 0o777;
        if mode & GROUP_OTHER_BITS != 0 {
            return Err(KekError::KeyFilePermissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        if metadata.len() != KEY_FILE_LEN as u64 {
            return Err(KekError::KeyFileLength {
                path: path.to_path_buf(),
                found: metadata.len(),
            });
        }
        let mut bytes = Zeroizing::new([0u8; KEY_FILE_LEN]);
        file.read_exact(bytes.as_mut_slice())
            .map_err(|source| io_error("read", path, source))?;
        Ok(Self {
            path: path.to_path_buf(),
            key: SecretKey::from_bytes(*bytes),
        })
    }

    /// Opens the key file, creating it first if it does not exist.
    pub fn open_or_create(path: &Path) -> Result<Self, KekError> {
        match create_key_file(path) {
            Ok(()) | Err(KekError::KeyFileExists { .. }) => Self::open(path),
            Err(err) => Err(err),
        }
    }

    /// Returns the path of the key file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Creates a key file of 32 random bytes with mode 0600 and syncs it and its
/// directory to disk. Fails with [`KekError::KeyFileExists`] if anything exists at
/// `path`; an existing key is never overwritten.
pub fn create_key_file(path: &Path) -> Result<(), KekError> {
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            return Err(KekError::KeyFileExists {
                path: path.to_path_buf(),
            })
        }
        Err(source) => return Err(io_error("create", path, source)),
    };
    let key = SecretKey::generate();
    if let Err(source) = file.write_all(key.expose()).and_then(|()| file.sync_all()) {
        // The file is new and incomplete, so removing it loses nothing and lets a
        // retry create it again.
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(io_error("write", path, source));
    }
    sync_parent_dir(path)?;
    tracing::info!(path = %path.display(), "created key file");
    Ok(())
}

fn sync_parent_dir(path: &Path) -> Result<(), KekError> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    File::open(parent)
        .and_then(|dir| dir.sync_all())
        .map_err(|source| io_error("sync the directory", parent, source))
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> KekError {
    KekError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

impl Kek for KeyFileKek {
    fn wrap(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KekError> {
        Ok(haven_crypto::seal(&self.key, aad, plaintext))
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KekError> {
        if wrapped.len() < AEAD_OVERHEAD {
            return Err(KekError::TooShort {
                len: wrapped.len(),
                min: AEAD_OVERHEAD,
            });
        }
        haven_crypto::open(&self.key, aad, wrapped)
            .map(Zeroizing::new)
            .map_err(|_| KekError::AuthenticationFailed {
                kek: self.describe(),
            })
    }

    fn describe(&self) -> String {
        format!("key file {}", self.path.display())
    }
}
