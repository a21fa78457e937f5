//! `haven backup` of a chat app's data folder while the app writes to its database.

mod repo_common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use haven_chatgen::{check_writer_log, GenerateOptions, JournalMode, WriteOptions};
use repo_common::{assert_exit, assert_success, file_contents, stderr, Env};

fn wait_for(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn integrity_check(path: &Path) -> String {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn app_folder_with_live_writer() {
    let env = Env::init();
    let app = env.path("app");
    haven_chatgen::generate(&GenerateOptions {
        out: app.clone(),
        size: 6_000_000,
        seed: 1,
        fts: true,
    })
    .unwrap();

    let committed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let seen = committed.clone();
    let options = WriteOptions {
        dir: app.clone(),
        seed: 3,
        transactions: 1_000_000,
        interval: Duration::from_millis(1),
        journal: JournalMode::Wal,
        stop: Some(stop.clone()),
        on_commit: Some(Arc::new(move |seq| seen.store(seq, Ordering::SeqCst))),
    };
    let writer = std::thread::spawn(move || haven_chatgen::write(&options));
    wait_for("first commits", || committed.load(Ordering::SeqCst) >= 5);

    let before = committed.load(Ordering::SeqCst);
    let out = env.haven("backup", &[app.to_str().unwrap()]);
    let after = committed.load(Ordering::SeqCst);
    let target = after + 5;
    wait_for("commits after the backup", || {
        committed.load(Ordering::SeqCst) >= target
    });
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap().expect("the chat writer failed");
    assert_success(&out);
    assert!(
        after > before,
        "the writer committed nothing during the backup"
    );

    let restored = env.path("restored");
    assert_success(&env.haven(
        "restore",
        &["latest", "--target", restored.to_str().unwrap()],
    ));
    let media = file_contents(&app.join("media"));
    assert!(!media.is_empty(), "the data set has no media files");
    assert!(
        media == file_contents(&restored.join("app/media")),
        "restored media folder differs"
    );
    let db = restored.join("app/databases/msgstore.db");
    // Checked before the database is opened, which creates the sidecars of a WAL database.
    for sidecar in ["msgstore.db-wal", "msgstore.db-shm"] {
        assert!(
            !restored.join("app/databases").join(sidecar).exists(),
            "{sidecar} was restored"
        );
    }
    assert_eq!(integrity_check(&db), "ok");
    let log = check_writer_log(&db)
        .expect("the restored database holds a prefix of the writer's transactions");
    assert!(
        log.transactions >= before,
        "restored {} transactions, {before} were committed before",
        log.transactions
    );
    assert!(
        log.transactions <= after,
        "restored {} transactions, {after} were committed after",
        log.transactions
    );
}

/// Holds an exclusive write transaction on the database at `path` until `release`
/// receives a message. Returns once the lock is held.
fn hold_exclusive_lock(path: &Path) -> (mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    let path = path.to_path_buf();
    let (locked_tx, locked_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("BEGIN EXCLUSIVE; INSERT INTO t (body) VALUES ('held');")
            .unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv();
        conn.execute_batch("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    (release_tx, thread)
}

#[test]
fn locked_database_policies() {
    let env = Env::init();
    let app = env.path("app");
    std::fs::create_dir(&app).unwrap();
    let db = app.join("chat.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA journal_mode = DELETE; CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO t (body) VALUES ('a');")
        .unwrap();
    drop(conn);
    let (release, holder) = hold_exclusive_lock(&db);

    let fail = env.haven(
        "backup",
        &[
            "--sqlite-busy-timeout",
            "300ms",
            "--sqlite-locked",
            "fail",
            app.to_str().unwrap(),
        ],
    );
    let plain = env.haven(
        "backup",
        &[
            "--sqlite-busy-timeout",
            "300ms",
            "--sqlite-locked",
            "plain",
            app.to_str().unwrap(),
        ],
    );
    release.send(()).unwrap();
    holder.join().unwrap();

    assert_exit(&fail, 3);
    assert!(
        stderr(&fail).contains("left out"),
        "stderr: {}",
        stderr(&fail)
    );
    assert_success(&plain);
    assert!(
        stderr(&plain).contains("stored as a plain file"),
        "stderr: {}",
        stderr(&plain)
    );
    let bad = env.haven(
        "backup",
        &["--sqlite-busy-timeout", "soon", app.to_str().unwrap()],
    );
    assert_exit(&bad, 2);
    assert!(stderr(&bad).contains("soon"), "stderr: {}", stderr(&bad));
}
