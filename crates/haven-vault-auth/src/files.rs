//! Reading and writing files that hold secrets.

use std::fs::OpenOptions;
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use zeroize::Zeroizing;

use crate::KeyError;

pub(crate) fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn read_text(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|source| io_error("read", path, source))
}

/// Rejects a file that the group or other users can read.
pub(crate) fn check_owner_only(path: &Path) -> Result<(), KeyError> {
    let metadata = std::fs::metadata(path).map_err(|source| io_error("read", path, source))?;
    let mode = metadata.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::SecretFilePermissions {
            path: path.to_path_buf(),
            mode,
        });
    }
    Ok(())
}

/// Reads a secret file after checking that only its owner can read it.
pub(crate) fn read_secret_text(path: &Path) -> Result<Zeroizing<String>, KeyError> {
    check_owner_only(path)?;
    read_text(path)
}

/// Writes a new file with mode 0600; an existing file is never replaced.
pub(crate) fn write_new_secret_file(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(file) => file,
        Err(err) if err.kind() == ErrorKind::AlreadyExists => {
            return Err(KeyError::FileExists {
                path: path.to_path_buf(),
            })
        }
        Err(source) => return Err(io_error("create", path, source)),
    };
    if let Err(source) = file.write_all(contents).and_then(|()| file.sync_all()) {
        drop(file);
        // The file is new and incomplete, so removing it loses nothing.
        let _ = std::fs::remove_file(path);
        return Err(io_error("write", path, source));
    }
    Ok(())
}
