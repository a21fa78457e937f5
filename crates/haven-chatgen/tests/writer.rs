//! The live writer: copies taken while it runs hold exactly a prefix of its
//! transactions, in WAL and rollback-journal mode.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{count, generate_into, open};
use haven_chatgen::{check_writer_log, database_path, JournalMode, WriteOptions};
use rusqlite::backup::{Backup, StepResult};
use rusqlite::Connection;

fn options(dir: &std::path::Path, journal: JournalMode, transactions: u64) -> WriteOptions {
    WriteOptions {
        dir: dir.to_path_buf(),
        seed: 11,
        transactions,
        interval: Duration::from_millis(2),
        journal,
        stop: None,
        on_commit: None,
    }
}

/// Copies `source` into `target` with one backup step, which reads the whole database
/// under one read lock, retrying while the writer holds a lock.
fn copy_in_one_step(source: &Connection, target: &mut Connection) {
    let backup = Backup::new(source, target).unwrap();
    loop {
        match backup.step(-1).unwrap() {
            StepResult::Done => return,
            StepResult::Busy | StepResult::Locked => std::thread::sleep(Duration::from_millis(1)),
            other => panic!("unexpected backup step result {other:?}"),
        }
    }
}

/// Copies the database with SQLite's online backup API, in one step each, while the
/// writer runs, and checks that every copy contains a prefix no shorter than what was
/// committed before the copy started.
fn copies_hold_prefix(journal: JournalMode) {
    let temp = tempfile::tempdir().unwrap();
    let (dir, _) = generate_into(temp.path(), "set", 2_000_000, 12, true);
    let committed = Arc::new(AtomicU64::new(0));
    let mut write_options = options(&dir, journal, 150);
    write_options.interval = Duration::from_millis(5);
    let counter = committed.clone();
    write_options.on_commit = Some(Arc::new(move |seq| counter.store(seq, Ordering::SeqCst)));

    let writer = std::thread::spawn(move || haven_chatgen::write(&write_options));
    let mut copies = Vec::new();
    while !writer.is_finished() && copies.len() < 200 {
        std::thread::sleep(Duration::from_millis(20));
        let floor = committed.load(Ordering::SeqCst);
        let copy_path = temp.path().join(format!("copy-{}.db", copies.len()));
        let source = Connection::open(database_path(&dir)).unwrap();
        source.busy_timeout(Duration::from_secs(10)).unwrap();
        let mut target = Connection::open(&copy_path).unwrap();
        copy_in_one_step(&source, &mut target);
        copies.push((floor, copy_path));
    }
    let summary = writer.join().unwrap().unwrap();
    assert_eq!(summary.transactions, 150);

    let mut previous = 0;
    let mut partial_copies = 0;
    for (floor, path) in &copies {
        let log = check_writer_log(path).unwrap();
        assert!(
            log.transactions >= *floor,
            "copy has {} < {floor}",
            log.transactions
        );
        assert!(log.transactions >= previous, "copies went backwards");
        if log.transactions > 0 && log.transactions < 150 {
            partial_copies += 1;
        }
        previous = log.transactions;
    }
    assert!(
        partial_copies > 0,
        "no copy was taken mid-run: {} copies",
        copies.len()
    );
    let last = check_writer_log(&database_path(&dir)).unwrap();
    assert_eq!(last.transactions, 150);
    assert_eq!(last.messages, summary.messages_inserted);
}

#[test]
fn wal_copies_hold_prefix() {
    copies_hold_prefix(JournalMode::Wal);
}

#[test]
fn rollback_journal_copies_hold_prefix() {
    copies_hold_prefix(JournalMode::Delete);
}

#[test]
fn writer_continues_sequence() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("fresh");
    let first = haven_chatgen::write(&options(&dir, JournalMode::Wal, 5)).unwrap();
    assert_eq!(first.transactions, 5);
    haven_chatgen::write(&options(&dir, JournalMode::Delete, 7)).unwrap();
    let log = check_writer_log(&database_path(&dir)).unwrap();
    assert_eq!(log.transactions, 12);
    let conn = open(&dir);
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "delete");
}

#[test]
fn check_detects_missing_transaction() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("fresh");
    haven_chatgen::write(&options(&dir, JournalMode::Wal, 6)).unwrap();
    let conn = open(&dir);
    conn.execute("DELETE FROM writer_log WHERE seq = 3", [])
        .unwrap();
    drop(conn);
    let error = check_writer_log(&database_path(&dir)).unwrap_err();
    assert!(
        error.to_string().contains("jumps from seq 2 to 4"),
        "{error}"
    );
}

#[test]
fn check_detects_missing_message() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("fresh");
    haven_chatgen::write(&options(&dir, JournalMode::Wal, 6)).unwrap();
    let conn = open(&dir);
    let victim = count(
        &conn,
        "SELECT max(_id) FROM message WHERE key_id GLOB 'HVNW-4-*'",
    );
    conn.execute("DELETE FROM message WHERE _id = ?1", [victim])
        .unwrap();
    drop(conn);
    let error = check_writer_log(&database_path(&dir)).unwrap_err();
    assert!(error.to_string().contains("transaction 4"), "{error}");
}

#[test]
fn check_detects_uncommitted_messages() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("fresh");
    haven_chatgen::write(&options(&dir, JournalMode::Wal, 6)).unwrap();
    let conn = open(&dir);
    conn.execute("DELETE FROM writer_log WHERE seq = 6", [])
        .unwrap();
    drop(conn);
    let error = check_writer_log(&database_path(&dir)).unwrap_err();
    assert!(
        error.to_string().contains("without its writer_log row"),
        "{error}"
    );
}

#[test]
fn stop_flag_ends_writer() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("fresh");
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut write_options = options(&dir, JournalMode::Wal, 1_000_000);
    write_options.stop = Some(stop.clone());
    let flag = stop.clone();
    write_options.on_commit = Some(Arc::new(move |seq| {
        if seq == 20 {
            flag.store(true, Ordering::SeqCst);
        }
    }));
    let summary = haven_chatgen::write(&write_options).unwrap();
    assert_eq!(summary.transactions, 20);
    assert_eq!(
        check_writer_log(&database_path(&dir)).unwrap().transactions,
        20
    );
}
