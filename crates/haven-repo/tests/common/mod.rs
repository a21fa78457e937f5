//! Helpers shared by the repository integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use haven_crypto::BackupKey;
use haven_repo::{BackupOptions, InitOptions, Node, ObjectId, Repository, Storage};

/// Small packs and chunks, so a few MiB of test data spans many packs and chunks.
pub fn small_options() -> InitOptions {
    InitOptions {
        pack_size: 256 * 1024,
        chunk_min: 4 * 1024,
        chunk_avg: 16 * 1024,
        chunk_max: 64 * 1024,
    }
}

pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub url: String,
    pub key: BackupKey,
    pub repo: Repository,
}

pub async fn new_repo() -> TestRepo {
    let dir = tempfile::tempdir().unwrap();
    let url = dir.path().join("repo").to_str().unwrap().to_string();
    let key = BackupKey::generate();
    let repo = Repository::init(Storage::open(&url).unwrap(), &key, small_options())
        .await
        .unwrap();
    TestRepo {
        dir,
        url,
        key,
        repo,
    }
}

impl TestRepo {
    pub async fn reopen(&self) -> Repository {
        Repository::open(Storage::open(&self.url).unwrap(), &self.key)
            .await
            .unwrap()
    }

    pub fn repo_path(&self) -> PathBuf {
        PathBuf::from(&self.url)
    }

    /// Backs up `source` and returns the snapshot id with the node at `path` in it.
    #[allow(dead_code)]
    pub async fn backup_and_find(&self, source: &Path, path: &str) -> (ObjectId, Node) {
        let snapshot = self
            .repo
            .backup(&[source.to_path_buf()], quiet_options())
            .await
            .unwrap()
            .snapshot_id;
        let node = self
            .repo
            .list_snapshot(&snapshot, Path::new(path))
            .await
            .unwrap()
            .remove(0)
            .node;
        (snapshot, node)
    }

    /// Lists object files under a repository folder, such as `data` or `index`.
    pub fn objects(&self, folder: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        collect_files(&self.repo_path().join(folder), &mut out);
        out.sort();
        out
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

pub fn quiet_options() -> BackupOptions {
    BackupOptions {
        hostname: Some("test-host".into()),
        ..BackupOptions::default()
    }
}

/// Deterministic pseudo-random bytes (xorshift), incompressible.
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// What a restore must reproduce for one entry.
#[derive(Debug, PartialEq, Eq)]
pub struct EntryState {
    pub kind: &'static str,
    pub mode: u32,
    pub mtime_ns: Option<i64>,
    pub content: Vec<u8>,
}

/// Asserts that two results of [`describe`] list the same entries in the same state.
pub fn assert_same_entries(
    before: &BTreeMap<Vec<u8>, EntryState>,
    after: &BTreeMap<Vec<u8>, EntryState>,
) {
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>()
    );
    for (path, state) in before {
        assert_eq!(
            Some(state),
            after.get(path),
            "entry {:?}",
            String::from_utf8_lossy(path)
        );
    }
}

/// Describes every entry below `root` by relative path bytes. Directory mtimes are
/// included; symlink mtimes are not compared (not all filesystems keep them).
pub fn describe(root: &Path) -> BTreeMap<Vec<u8>, EntryState> {
    let mut out = BTreeMap::new();
    describe_into(root, root, &mut out);
    out
}

fn describe_into(root: &Path, dir: &Path, out: &mut BTreeMap<Vec<u8>, EntryState>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = fs::symlink_metadata(&path).unwrap();
        let relative = path
            .strip_prefix(root)
            .unwrap()
            .as_os_str()
            .as_bytes()
            .to_vec();
        let ft = meta.file_type();
        let mtime = meta.mtime() * 1_000_000_000 + meta.mtime_nsec();
        let (kind, content, mtime_ns) = if ft.is_dir() {
            ("dir", Vec::new(), Some(mtime))
        } else if ft.is_symlink() {
            (
                "symlink",
                fs::read_link(&path)
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec(),
                None,
            )
        } else if ft.is_fifo() {
            ("fifo", Vec::new(), Some(mtime))
        } else {
            ("file", fs::read(&path).unwrap(), Some(mtime))
        };
        out.insert(
            relative,
            EntryState {
                kind,
                mode: meta.mode() & 0o7777,
                mtime_ns,
                content,
            },
        );
        if ft.is_dir() {
            describe_into(root, &path, out);
        }
    }
}
