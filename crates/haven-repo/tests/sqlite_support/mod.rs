//! Helpers shared by the SQLite backup tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use haven_chatgen::{JournalMode, WriteOptions};
use haven_repo::{ObjectId, Repository, RestoreOptions};
use rusqlite::{Connection, OpenFlags};

/// Checks that the restored database at `path` is intact and holds a prefix of a
/// live writer's transactions: at least `at_least` (committed before the copy
/// began) and at most `at_most` (committed when the backup ended).
pub fn assert_writer_prefix(path: &Path, at_least: u64, at_most: u64) {
    assert_eq!(integrity_check(path), "ok");
    let log = haven_chatgen::check_writer_log(path)
        .expect("the restored database holds a prefix of the writer's transactions");
    assert!(
        log.transactions >= at_least,
        "restored {} transactions, but {at_least} were committed before the copy began",
        log.transactions
    );
    assert!(
        log.transactions <= at_most,
        "restored {} transactions, but only {at_most} were committed when the backup ended",
        log.transactions
    );
}

/// Returns the result of `PRAGMA integrity_check` on the database at `path`.
pub fn integrity_check(path: &Path) -> String {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let rows: Vec<String> = conn
        .prepare("PRAGMA integrity_check")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.join("; ")
}

/// Returns `SELECT count(*) FROM table`.
pub fn row_count(path: &Path, table: &str) -> i64 {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get(0)
    })
    .unwrap()
}

/// BLAKE3 hashes of each `page_size` page of the file at `path`.
pub fn page_hashes(path: &Path, page_size: usize) -> Vec<[u8; 32]> {
    std::fs::read(path)
        .unwrap()
        .chunks(page_size)
        .map(|page| *blake3::hash(page).as_bytes())
        .collect()
}

/// Restores `snapshot` into a new folder under `parent` and returns the folder.
pub async fn restore_into(repo: &Repository, snapshot: &ObjectId, target: &Path) -> PathBuf {
    let report = repo
        .restore(snapshot, target, RestoreOptions::default())
        .await
        .unwrap();
    assert!(report.damaged.is_empty(), "damaged: {:?}", report.damaged);
    target.to_path_buf()
}

/// Waits until `condition` holds, for at most 60 seconds.
pub fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A chat writer (`haven_chatgen::write`) committing numbered transactions on its
/// own thread until stopped.
pub struct LiveWriter {
    pub committed: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<haven_chatgen::Result<haven_chatgen::Summary>>>,
}

impl LiveWriter {
    /// Starts writing into the data folder `dir` and waits for the first commits.
    pub fn start(dir: &Path, journal: JournalMode) -> Self {
        let committed = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let seen = committed.clone();
        let options = WriteOptions {
            dir: dir.to_path_buf(),
            seed: 3,
            transactions: 1_000_000,
            interval: Duration::from_millis(1),
            journal,
            stop: Some(stop.clone()),
            on_commit: Some(Arc::new(move |seq| seen.store(seq, Ordering::SeqCst))),
        };
        let thread = std::thread::spawn(move || haven_chatgen::write(&options));
        let writer = Self {
            committed,
            stop,
            thread: Some(thread),
        };
        writer.wait_for_commits(5);
        writer
    }

    pub fn committed(&self) -> u64 {
        self.committed.load(Ordering::SeqCst)
    }

    /// Waits until `more` transactions past the current one are committed.
    pub fn wait_for_commits(&self, more: u64) {
        let target = self.committed() + more;
        wait_for("writer commits", || self.committed() >= target);
    }

    /// Stops the writer and returns the last committed transaction.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::SeqCst);
        let summary = self.thread.take().unwrap().join().unwrap();
        summary.expect("the chat writer failed");
        self.committed()
    }
}

impl Drop for LiveWriter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
