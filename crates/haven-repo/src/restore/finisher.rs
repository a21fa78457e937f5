//! Finishing small files on a second thread.
//!
//! A small file's blobs are loaded with its neighbours', so what is left is system
//! calls: look at the path, create the file, write it, set its owner, mode and mtime,
//! close it. On one thread, the 100,000 files of the benchmark took about 3 s, nearly
//! all of it in the kernel. The restore thread now looks and creates, and this
//! thread writes and sets the metadata. Creating stays on the restore thread because
//! a folder's mtime must be set after its last file is created, and because the
//! kernel serialises creates in one folder anyway.
//!
//! A larger file's last steps run on the direct write thread once its data is
//! written (see [`FileEnd`]), and both threads report to the restore thread on one
//! channel of [`Outcome`]s.

use std::fs::File;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use bytes::Bytes;
use filetime::FileTime;

use crate::error::{RepoError, Result};

/// Files handed over and not yet finished, at most.
const QUEUED_FILES: usize = 256;

/// A created file and what to write into it.
pub(super) struct SmallFile {
    pub file: File,
    /// Each chunk that is not all zero, at its offset.
    pub chunks: Vec<(u64, Bytes)>,
    pub end: FileEnd,
}

/// The last steps of a file once its data is written: its length and metadata.
pub(super) struct FileEnd {
    pub target: PathBuf,
    /// The path shown in warnings.
    pub display_path: String,
    /// The file's length. Past the last written byte the file is a hole.
    pub length: u64,
    pub owner: Option<(u32, u32)>,
    pub mode: u32,
    pub mtime: FileTime,
}

impl FileEnd {
    /// Sets the length and metadata of `file`, whose writes ended with `written`:
    /// the end of the data written, or the first failure. The mtime goes last, so
    /// a file looks finished only once all of it is in place. A file that cannot be
    /// written is removed, so that no partial file takes the space the rest needs.
    pub(super) fn apply(self, file: &File, written: std::io::Result<u64>) -> Option<Outcome> {
        let written_end = match written {
            Ok(end) => end,
            Err(e) => {
                let _ = std::fs::remove_file(&self.target);
                return Some(Outcome::Failed(RepoError::io("write", self.target, e)));
            }
        };
        // The file is new, so only a trailing hole needs a truncate. On ext4 even a
        // truncate to the current length zeroes the last block's tail again.
        if self.length != written_end {
            if let Err(e) = file.set_len(self.length) {
                let _ = std::fs::remove_file(&self.target);
                return Some(Outcome::Failed(RepoError::io(
                    "set length of",
                    self.target,
                    e,
                )));
            }
        }
        let failures = set_metadata(file, self.owner, self.mode, self.mtime);
        (!failures.is_empty()).then(|| {
            Outcome::Warning(format!(
                "{}: could not set {}",
                self.display_path,
                failures.join(", ")
            ))
        })
    }
}

/// A report from a thread that finishes files.
pub(super) enum Outcome {
    Warning(String),
    Failed(RepoError),
}

/// The channel on which finishing threads report [`Outcome`]s.
pub(super) struct Outcomes {
    sender: Sender<Outcome>,
    received: Receiver<Outcome>,
}

impl Outcomes {
    pub(super) fn new() -> Self {
        let (sender, received) = std::sync::mpsc::channel();
        Self { sender, received }
    }

    pub(super) fn sender(&self) -> Sender<Outcome> {
        self.sender.clone()
    }

    /// Returns the warnings reported so far, or the first failure.
    pub(super) fn take(&self) -> Result<Vec<String>> {
        let mut warnings = Vec::new();
        while let Ok(outcome) = self.received.try_recv() {
            match outcome {
                Outcome::Warning(warning) => warnings.push(warning),
                Outcome::Failed(error) => return Err(error),
            }
        }
        Ok(warnings)
    }
}

/// The second thread and the channel to it.
pub(super) struct Finisher {
    files: Option<SyncSender<SmallFile>>,
    thread: Option<JoinHandle<()>>,
}

impl Finisher {
    /// Starts the thread, which reports on `report`.
    pub(super) fn start(report: Sender<Outcome>) -> std::io::Result<Self> {
        let (files, queued) = sync_channel::<SmallFile>(QUEUED_FILES);
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
            thread: Some(thread),
        })
    }

    /// Hands `file` over.
    pub(super) fn send(&mut self, file: SmallFile) -> Result<()> {
        let files = self
            .files
            .as_ref()
            .expect("files are handed over until finish");
        files.send(file).map_err(|_| stopped())
    }

    /// Waits for every file handed over.
    pub(super) fn finish(mut self) -> Result<()> {
        drop(self.files.take());
        match self.thread.take() {
            Some(thread) => thread.join().map_err(|_| stopped()),
            None => Ok(()),
        }
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

/// Writes a file, then sets its length and metadata.
fn finish(small: SmallFile) -> Option<Outcome> {
    let SmallFile { file, chunks, end } = small;
    let mut written = Ok(0);
    for (offset, data) in &chunks {
        if let Err(e) = file.write_all_at(data, *offset) {
            written = Err(e);
            break;
        }
        written = Ok(offset + data.len() as u64);
    }
    end.apply(&file, written)
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
