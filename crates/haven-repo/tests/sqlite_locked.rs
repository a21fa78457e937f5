//! A database that another connection keeps locked during the backup.

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use common::{new_repo, quiet_options, random_bytes};
use haven_repo::{
    BackupOptions, BackupResult, LockedPolicy, ProblemKind, RestoreOptions, SqliteOptions,
};

fn write_database(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = DELETE; CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB);",
    )
    .unwrap();
    for i in 0..100u64 {
        conn.execute(
            "INSERT INTO t (id, body) VALUES (?1, ?2)",
            rusqlite::params![i, random_bytes(i, 500)],
        )
        .unwrap();
    }
}

/// Holds an exclusive write transaction on `path` for `hold`, on its own thread.
/// Returns once the lock is held.
fn hold_exclusive_lock(path: &Path, hold: Duration) -> std::thread::JoinHandle<()> {
    let path = path.to_path_buf();
    let (locked_tx, locked_rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t (id, body) VALUES (1000, x'00');")
            .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(hold);
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    thread
}

fn options(timeout: Duration, locked: LockedPolicy) -> BackupOptions {
    BackupOptions {
        sqlite: SqliteOptions {
            busy_timeout: timeout,
            locked,
            temp_dir: None,
            ..SqliteOptions::default()
        },
        ..quiet_options()
    }
}

/// A repository and a source folder with `chat.db` and `notes.txt`.
struct Case {
    t: common::TestRepo,
    source: std::path::PathBuf,
    db: std::path::PathBuf,
}

impl Case {
    async fn new() -> Self {
        let t = new_repo().await;
        let source = t.dir.path().join("source");
        std::fs::create_dir(&source).unwrap();
        let db = source.join("chat.db");
        write_database(&db);
        std::fs::write(source.join("notes.txt"), b"kept").unwrap();
        Self { t, source, db }
    }

    /// Backs up the source while another connection holds the database locked for
    /// `hold`, with the given busy timeout and policy.
    async fn backup_locked(
        &self,
        hold: Duration,
        timeout: Duration,
        locked: LockedPolicy,
    ) -> BackupResult {
        let holder = hold_exclusive_lock(&self.db, hold);
        let result = self
            .t
            .repo
            .backup(std::slice::from_ref(&self.source), options(timeout, locked))
            .await
            .unwrap();
        holder.join().unwrap();
        result
    }

    /// Restores the snapshot and returns the restored source folder.
    async fn restore(&self, result: &BackupResult) -> std::path::PathBuf {
        let target = self.t.dir.path().join("restored");
        self.t
            .repo
            .restore(&result.snapshot_id, &target, RestoreOptions::default())
            .await
            .unwrap();
        target.join("source")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_database_is_stored_plain() {
    let case = Case::new().await;
    let bytes_before = std::fs::read(&case.db).unwrap();
    let result = case
        .backup_locked(
            Duration::from_secs(3),
            Duration::from_millis(300),
            LockedPolicy::Plain,
        )
        .await;

    assert_eq!(result.problems.len(), 1, "problems: {:?}", result.problems);
    let problem = &result.problems[0];
    assert_eq!(problem.kind, ProblemKind::StoredPlain);
    assert!(
        problem.detail.contains("locked"),
        "detail {:?}",
        problem.detail
    );
    let restored = std::fs::read(case.restore(&result).await.join("chat.db")).unwrap();
    // The holder's insert stays in its page cache until COMMIT, so the file on disk
    // did not change while it was read.
    assert!(
        restored == bytes_before,
        "the plain copy differs from the file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn locked_database_is_left_out_on_fail() {
    let case = Case::new().await;
    let result = case
        .backup_locked(
            Duration::from_secs(3),
            Duration::from_millis(300),
            LockedPolicy::Fail,
        )
        .await;

    assert_eq!(result.problems.len(), 1, "problems: {:?}", result.problems);
    let problem = &result.problems[0];
    assert_eq!(problem.kind, ProblemKind::Unreadable);
    assert!(
        problem.detail.contains("left out"),
        "detail {:?}",
        problem.detail
    );
    let restored = case.restore(&result).await;
    assert!(
        !restored.join("chat.db").exists(),
        "the locked database is in the snapshot"
    );
    assert!(
        !restored.join("chat.db-journal").exists(),
        "the journal is in the snapshot"
    );
    assert_eq!(std::fs::read(restored.join("notes.txt")).unwrap(), b"kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_released_within_timeout_is_copied() {
    let case = Case::new().await;
    let result = case
        .backup_locked(
            Duration::from_millis(500),
            Duration::from_secs(20),
            LockedPolicy::Fail,
        )
        .await;

    assert!(
        result.problems.is_empty(),
        "problems: {:?}",
        result.problems
    );
    let restored = case.restore(&result).await;
    let conn = rusqlite::Connection::open(restored.join("chat.db")).unwrap();
    let count: i64 = conn
        .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
        .unwrap();
    // The copy waited for the holder's commit, so it includes the inserted row.
    assert_eq!(count, 101);
}
