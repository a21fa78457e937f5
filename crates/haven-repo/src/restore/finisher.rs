//! Finishing small files on a second thread.
//!
//! A small file's blobs are loaded with its neighbours', so what is left is system
//! calls: look at the path, create the file, write it, set its owner, mode and mtime,
//! close it. On one thread, the 100,000 files of the benchmark took about 3 s, nearly
//! all of it in the kernel. The restore thread now looks and creates, and this
//! thread writes and sets the metadata. Creating stays on the restore thread because
//! a folder's mtime must be set after its last file is created, and because the
//! kernel serialises creates in one folder anyway.

use std::fs::File;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use bytes::Bytes;
use filetime::FileTime;

use crate::error::{RepoError, Result};

/// Files handed over and not yet finished, at most.
const QUEUED_FILES: usize = 256;

/// A created file and what to write into it.
pub(super) struct SmallFile {
    pub file: File,
    pub target: PathBuf,
    /// The path display_path in warnings.
    pub display_path: String,
    /// Each chunk that is not all zero, at its offset.
    pub chunks: Vec<(u64, Bytes)>,
    /// The file's length; past the last chunk is a hole.
    pub length: u64,
    pub owner: Option<(u32, u32)>,
    pub mode: u32,
    pub mtime: FileTime,
}

enum Outcome {
    Warning(String),
    Failed(RepoError),
}

/// The second thread and the channels to it.
pub(super) struct Finisher {
    files: Option<SyncSender<SmallFile>>,
    outcomes: Receiver<Outcome>,
    thread: Option<JoinHandle<()>>,
}

impl Finisher {
    pub(super) fn start() -> std::io::Result<Self> {
        let (files, queued) = sync_channel::<SmallFile>(QUEUED_FILES);
        let (report, outcomes) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("haven-restore-finish".into())
            .spawn(move || {
                for file in queued {
                    if let Some(outcome) = finish(file) {
                        if report.send(outcome).is_err() {
                            break;
                        }
                    }
                }
            })?;
        Ok(Self {
            files: Some(files),
            outcomes,
            thread: Some(thread),
        })
    }

    /// Hands `file` over. Returns the warnings reported since the last call, or the
    /// first failure.
    pub(super) fn send(&mut self, file: SmallFile) -> Result<Vec<String>> {
        let warnings = self.take_outcomes()?;
        let files = self
            .files
            .as_ref()
            .expect("files are handed over until finish");
        files.send(file).map_err(|_| stopped())?;
        Ok(warnings)
    }

    /// Waits for every file handed over, and returns the warnings or the first
    /// failure.
    pub(super) fn finish(mut self) -> Result<Vec<String>> {
        drop(self.files.take());
        if let Some(thread) = self.thread.take() {
            thread.join().map_err(|_| stopped())?;
        }
        self.take_outcomes()
    }

    fn take_outcomes(&mut self) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        while let Ok(outcome) = self.outcomes.try_recv() {
            match outcome {
                Outcome::Warning(warning) => warnings.push(warning),
                Outcome::Failed(error) => return Err(error),
            }
        }
        Ok(warnings)
    }
}

impl Drop for Finisher {
    fn drop(&mut self) {
        drop(self.files.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn stopped() -> RepoError {
    RepoError::Pipeline("the restore's finishing thread stopped".into())
}

/// Writes a file and sets its metadata, the mtime last. A file that cannot be
/// written is removed, so that no partial file takes the space the rest needs.
fn finish(small: SmallFile) -> Option<Outcome> {
    let SmallFile {
        file,
        target,
        display_path,
        chunks,
        length,
        owner,
        mode,
        mtime,
    } = small;
    let mut written_end = 0;
    for (offset, data) in &chunks {
        if let Err(e) = file.write_all_at(data, *offset) {
            let _ = std::fs::remove_file(&target);
            return Some(Outcome::Failed(RepoError::io("write", target, e)));
        }
        written_end = offset + data.len() as u64;
    }
    if length != written_end {
        if let Err(e) = file.set_len(length) {
            let _ = std::fs::remove_file(&target);
            return Some(Outcome::Failed(RepoError::io("set length of", target, e)));
        }
    }
    let failures = set_metadata(&file, owner, mode, mtime);
    (!failures.is_empty()).then(|| {
        Outcome::Warning(format!(
            "{display_path}: could not set {}",
            failures.join(", ")
        ))
    })
}

/// Sets an open file's owner (when given), mode and mtime, in that order, since a
/// change of owner clears the set-user-id bit. Returns what could not be set.
pub(super) fn set_metadata(
    file: &File,
    owner: Option<(u32, u32)>,
    mode: u32,
    mtime: FileTime,
) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some((uid, gid)) = owner {
        if let Err(e) = std::os::unix::fs::fchown(file, Some(uid), Some(gid)) {
            failures.push(format!("owner: {e}"));
        }
    }
    if let Err(e) = file.set_permissions(std::fs::Permissions::from_mode(mode)) {
        failures.push(format!("permissions: {e}"));
    }
    if let Err(e) = filetime::set_file_handle_times(file, Some(mtime), Some(mtime)) {
        failures.push(format!("mtime: {e}"));
    }
    failures
}
