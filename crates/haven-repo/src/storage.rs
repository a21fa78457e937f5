//! The storage backend: six operations on whole objects, through Apache OpenDAL.
//!
//! Everything above this module uses only [`Storage`], so adding S3, WebDAV or Google
//! Drive is a new arm in [`Storage::open`], not a change to the repository code.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use opendal::{services, ErrorKind, Operator};

use crate::backend::{self, BackendOptions, StatsCounters, StorageStats};
use crate::error::{RepoError, Result};

/// One listed object: its path, size in bytes and last modification time (when the
/// service reports one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectMeta {
    pub path: String,
    pub size: u64,
    pub modified: Option<SystemTime>,
}

/// A repository's storage location. Cheap to clone: clones share the backend.
#[derive(Clone, Debug)]
pub struct Storage {
    operator: Operator,
    url: String,
    stats: Arc<StatsCounters>,
    /// Set where a write creates its parent folders with requests of its own.
    folders: Option<Arc<backend::FolderGate>>,
    /// The folder of a local-folder location, where large objects are written
    /// directly ([`backend::write_direct`]).
    local_root: Option<PathBuf>,
}

impl Storage {
    /// Opens a storage location from a URL: a plain path or `fs:///path` for a local
    /// folder, `s3://`, `webdav://`, `webdavs://` or `gdrive://` (see docs/STORAGE.md),
    /// `memory://` for a fresh in-memory store (tests only: it is empty each time).
    /// Timeouts and retries come from [`BackendOptions::from_env`].
    pub fn open(url: &str) -> Result<Self> {
        let options = BackendOptions::from_env().map_err(RepoError::InvalidInput)?;
        Self::open_with(url, &options)
    }

    /// Opens a storage location with explicit timeouts, retries and credentials.
    pub fn open_with(url: &str, options: &BackendOptions) -> Result<Self> {
        let invalid = |reason: &str| RepoError::InvalidUrl {
            url: backend::redact_url(url),
            reason: reason.to_string(),
        };
        if url.is_empty() {
            return Err(invalid(
                "the location is empty; give a folder path or an fs:// URL",
            ));
        }
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (scheme, rest),
            None => ("fs", url),
        };
        match scheme {
            "fs" | "file" => {
                let path = Path::new(rest);
                if rest.is_empty() {
                    return Err(invalid("the fs:// URL has no path; write fs:///absolute/path"));
                }
                let absolute = std::path::absolute(path)
                    .map_err(|e| invalid(&format!("cannot make the path absolute: {e}")))?;
                Self::local_folder(&absolute, url, options)
            }
            "memory" => {
                let operator = Operator::new(services::Memory::default())
                    .map_err(|e| invalid(&e.to_string()))?;
                Ok(Self::layered(backend::layered(operator, options), url.to_string()))
            }
            remote if backend::is_remote_scheme(remote) => {
                let backend = backend::open_remote(remote, url, options).map_err(|reason| invalid(&reason))?;
                let mut storage = Self::layered(backend, backend::redact_url(url));
                if remote != "s3" {
                    storage.folders = Some(Arc::default());
                }
                Ok(storage)
            }
            other => Err(invalid(&format!(
                "unsupported scheme {other:?}; supported are a plain path, fs://, s3://, webdav://, webdavs://, gdrive:// and memory://"
            ))),
        }
    }

    fn layered(backend: backend::Backend, url: String) -> Self {
        Self {
            operator: backend.operator,
            url,
            stats: backend.stats,
            folders: None,
            local_root: None,
        }
    }

    fn local_folder(root: &Path, url: &str, options: &BackendOptions) -> Result<Self> {
        let root_text = root
            .to_str()
            .ok_or_else(|| RepoError::InvalidUrl {
                url: url.to_string(),
                reason: "the repository path must be valid UTF-8".into(),
            })?
            .to_string();
        // Objects are written to `.tmp/` and renamed into place, so a killed writer
        // never leaves a partial object under its final name.
        let temp_dir = root.join(".tmp");
        let builder = services::Fs::default()
            .root(&root_text)
            .atomic_write_dir(temp_dir.to_str().unwrap_or_default());
        let operator = Operator::new(builder).map_err(|e| RepoError::InvalidUrl {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        let mut storage = Self::layered(backend::layered(operator, options), url.to_string());
        storage.local_root = Some(root.to_path_buf());
        Ok(storage)
    }

    /// Returns the folder of a local repository, which some writers use directly.
    pub(crate) fn local_root(&self) -> Option<&Path> {
        self.local_root.as_deref()
    }

    /// Retries, throttling waits and injected faults since this storage was opened.
    pub fn stats(&self) -> StorageStats {
        self.stats.snapshot()
    }

    /// The location as the user gave it, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Reads a whole object. A missing object is `Ok(None)`.
    pub async fn read(&self, path: &str) -> Result<Option<Vec<u8>>> {
        match self.operator.read(path).await {
            Ok(buffer) => Ok(Some(buffer.to_vec())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RepoError::storage("read", path, e)),
        }
    }

    /// Reads `length` bytes at `offset`. A missing object is `Ok(None)`; a short
    /// read returns fewer bytes, which callers treat as damage.
    pub async fn read_range(
        &self,
        path: &str,
        offset: u64,
        length: u64,
    ) -> Result<Option<Vec<u8>>> {
        let end = offset.saturating_add(length);
        match self.operator.read_with(path).range(offset..end).await {
            Ok(buffer) => Ok(Some(buffer.to_vec())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) if e.kind() == ErrorKind::RangeNotSatisfied => Ok(Some(Vec::new())),
            Err(e) => Err(RepoError::storage("read", path, e)),
        }
    }

    /// Reads `length` bytes at `offset` into `buffer`, as [`Storage::read_range`]
    /// does, and returns the buffer with the range that contains them. A local folder
    /// reads into `buffer` directly, around the page cache; other locations return
    /// a buffer of their own.
    pub(crate) async fn read_range_into(
        &self,
        path: &str,
        offset: u64,
        length: u64,
        mut buffer: Vec<u8>,
    ) -> Result<Option<(Vec<u8>, Range<usize>)>> {
        let Some(root) = &self.local_root else {
            return Ok(whole(self.read_range(path, offset, length).await?));
        };
        let target = root.join(path);
        let (root, object) = (root.to_path_buf(), path.to_string());
        let length = usize::try_from(length).map_err(|_| {
            RepoError::InvalidInput(format!("a read of {length} bytes of {path} is too large"))
        })?;
        let read = tokio::task::spawn_blocking(move || {
            backend::read_direct(&root, &object, offset, length, &mut buffer)
                .map(|range| range.map(|range| (buffer, range)))
        })
        .await
        .map_err(|e| RepoError::Pipeline(format!("a direct read task failed: {e}")))?;
        read.map_err(|e| RepoError::io("read", target, e))
    }

    /// Reads a whole object. A missing object is `Ok(None)`. A local folder reads it
    /// into `buffer` around the page cache, as [`Storage::read_range_into`] does, so
    /// a buffer used again needs no fresh pages. Its errors name the file and are not
    /// retried. Other locations read through [`Storage::read`].
    pub(crate) async fn read_into(
        &self,
        path: &str,
        buffer: Vec<u8>,
    ) -> Result<Option<(Vec<u8>, Range<usize>)>> {
        let Some(root) = &self.local_root else {
            // The buffer goes first, so the previous object is not held during the read.
            drop(buffer);
            return Ok(whole(self.read(path).await?));
        };
        let target = root.join(path);
        let size = match tokio::fs::metadata(&target).await {
            Ok(metadata) if metadata.is_file() => metadata.len(),
            Ok(_) => {
                let error = std::io::Error::other("not a regular file");
                return Err(RepoError::io("read", target, error));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(RepoError::io("read", target, e)),
        };
        self.read_range_into(path, 0, size, buffer).await
    }

    /// Returns an object's size in bytes, or `None` when it is missing.
    pub async fn size(&self, path: &str) -> Result<Option<u64>> {
        match self.operator.stat(path).await {
            Ok(meta) => Ok(Some(meta.content_length())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(RepoError::storage("stat", path, e)),
        }
    }

    /// Writes a whole object. On a local folder it is written under `.tmp/` and
    /// renamed, so the final name never contains a partial object.
    pub async fn write(&self, path: &str, bytes: impl Into<opendal::Buffer>) -> Result<()> {
        let bytes = bytes.into();
        if let Some(root) = &self.local_root {
            if bytes.len() >= backend::MIN_DIRECT_LEN
                && self.write_direct(root, path, &bytes).await?
            {
                return Ok(());
            }
        }
        let write = || async {
            self.operator
                .write(path, bytes)
                .await
                .map(|_| ())
                .map_err(|e| RepoError::storage("write", path, e))
        };
        match &self.folders {
            Some(folders) => folders.write(path, write).await,
            None => write().await,
        }
    }

    /// Writes a large object into a local folder with `O_DIRECT`. Returns false when
    /// the folder's filesystem does not take it, and nothing was written.
    async fn write_direct(&self, root: &Path, path: &str, bytes: &opendal::Buffer) -> Result<bool> {
        let target = root.join(path);
        let (root, object, bytes) = (root.to_path_buf(), path.to_string(), bytes.to_bytes());
        let written =
            tokio::task::spawn_blocking(move || backend::write_direct(&root, &object, &bytes))
                .await
                .map_err(|e| RepoError::Pipeline(format!("a direct write task failed: {e}")))?;
        match written {
            Ok(backend::Direct::Written) => Ok(true),
            Ok(backend::Direct::Unsupported) => {
                tracing::debug!(
                    path,
                    "the local folder takes no O_DIRECT; writing through the cache"
                );
                Ok(false)
            }
            Err(e) => Err(RepoError::io("write", target, e)),
        }
    }

    /// Lists the object paths under `prefix` (for example `index/`), recursively.
    /// A failed listing is an error, never an empty list.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let entries = match self.operator.list_with(prefix).recursive(true).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RepoError::storage("list", prefix, e)),
        };
        let mut paths: Vec<String> = entries
            .into_iter()
            .filter(|entry| entry.metadata().is_file())
            .map(|entry| entry.path().to_string())
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// Lists the objects under `prefix` recursively with their size and modification
    /// time. Like [`Storage::list`], a failed listing is an error.
    pub async fn list_meta(&self, prefix: &str) -> Result<Vec<ObjectMeta>> {
        let entries = match self.operator.list_with(prefix).recursive(true).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RepoError::storage("list", prefix, e)),
        };
        let mut objects = Vec::new();
        for entry in entries {
            if !entry.metadata().is_file() {
                continue;
            }
            let path = entry.path().to_string();
            let listed = entry.metadata();
            // Some services leave size or time out of listings; a stat fills them in.
            let (size, modified) = if listed.last_modified().is_some() {
                (listed.content_length(), listed.last_modified())
            } else {
                match self.operator.stat(&path).await {
                    Ok(meta) => (meta.content_length(), meta.last_modified()),
                    Err(e) if e.kind() == ErrorKind::NotFound => continue,
                    Err(e) => return Err(RepoError::storage("stat", &path, e)),
                }
            };
            objects.push(ObjectMeta {
                path,
                size,
                modified: modified.map(SystemTime::from),
            });
        }
        objects.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(objects)
    }

    /// Deletes an object. Deleting a missing object succeeds.
    pub async fn delete(&self, path: &str) -> Result<()> {
        self.operator
            .delete(path)
            .await
            .map_err(|e| RepoError::storage("delete", path, e))
    }

    /// Returns whether an object exists.
    pub async fn exists(&self, path: &str) -> Result<bool> {
        self.operator
            .exists(path)
            .await
            .map_err(|e| RepoError::storage("stat", path, e))
    }
}

/// Pairs a buffer read by another location with the range that covers all of it.
fn whole(bytes: Option<Vec<u8>>) -> Option<(Vec<u8>, Range<usize>)> {
    bytes.map(|bytes| {
        let range = 0..bytes.len();
        (bytes, range)
    })
}

#[cfg(test)]
#[path = "storage_tests.rs"]
mod tests;
