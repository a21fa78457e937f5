//! The backup's private temporary folder: consistent SQLite copies and decrypted
//! imports live there, and nowhere else, so one removal cleans up everything.

use std::path::{Path, PathBuf};

use anyhow::Context;

/// A private folder under `$TMPDIR`, removed on drop and by a signal handler if
/// SIGINT or SIGTERM stops the process first. SIGKILL cannot be caught, so a killed
/// backup leaves its `haven-backup-*` folder behind.
pub struct Scratch {
    dir: tempfile::TempDir,
    cleanup: tokio::task::JoinHandle<()>,
}

impl Scratch {
    /// Creates the folder and starts watching for SIGINT and SIGTERM.
    pub fn create() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("haven-backup-")
            .tempdir()
            .with_context(|| {
                format!(
                    "cannot create a temporary folder in {} for copies of SQLite databases; \
                     set TMPDIR to a writable folder with room for the largest database",
                    std::env::temp_dir().display()
                )
            })?;
        let cleanup = remove_on_signal(dir.path().to_owned())?;
        Ok(Self { dir, cleanup })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        self.cleanup.abort();
    }
}

/// Watches for SIGINT and SIGTERM from now on. On either, removes `dir` and exits
/// with 128 + the signal number, as a process killed by it would.
fn remove_on_signal(dir: PathBuf) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot watch for SIGINT")?;
    let mut terminate = signal(SignalKind::terminate()).context("cannot watch for SIGTERM")?;
    Ok(tokio::spawn(async move {
        let code = tokio::select! {
            _ = interrupt.recv() => 130,
            _ = terminate.recv() => 143,
        };
        let _ = std::fs::remove_dir_all(&dir);
        eprintln!(
            "interrupted: removed the backup's temporary files (SQLite copies and \
             decrypted imports) in {}",
            dir.display()
        );
        std::process::exit(code);
    }))
}
