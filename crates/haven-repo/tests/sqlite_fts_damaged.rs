//! A database whose FTS5 index is damaged while its tables are sound: the backup
//! keeps it as a database, and its restores bring back every content row.

mod common;
mod rows_support;

use std::fs;
use std::path::Path;

use common::new_repo;
use rows_support::{restore_database, rows_options};
use rusqlite::Connection;

const SCHEMA: &str = "
    PRAGMA page_size = 4096;
    PRAGMA journal_mode = DELETE;
    CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);
    CREATE VIRTUAL TABLE docs_fts USING fts5(body, content='docs', content_rowid='id');
    CREATE TRIGGER docs_ai AFTER INSERT ON docs BEGIN
        INSERT INTO docs_fts(rowid, body) VALUES (new.id, new.body);
    END;";

/// Writes a database of 300 indexed rows and overwrites the index's leaf blocks,
/// which FTS5 keeps in `docs_fts_data` rows above id 10. The SQLite tables stay
/// well-formed, and only FTS5's own check of the index fails.
fn write_damaged(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(SCHEMA).unwrap();
    for id in 1..=300i64 {
        let body = format!("river stone word{id} harbor {}", id % 7);
        conn.execute("INSERT INTO docs(id, body) VALUES (?1, ?2)", (id, body))
            .unwrap();
    }
    let damaged = conn
        .execute(
            "UPDATE docs_fts_data SET block = zeroblob(length(block)) WHERE id > 10",
            [],
        )
        .unwrap();
    assert!(damaged > 0, "the index has no leaf blocks to damage");
    // The app stops updating the index, as one that found it broken might.
    conn.execute_batch("DROP TRIGGER docs_ai").unwrap();
    assert_ne!(
        quick_check(path),
        "ok",
        "the damage must fail FTS5's own check"
    );
}

fn quick_check(path: &Path) -> String {
    let conn = Connection::open(path).unwrap();
    conn.query_row("PRAGMA quick_check", [], |row| row.get(0))
        .unwrap()
}

/// Returns the (id, value) rows that `sql` selects from the database at `path`.
fn select_pairs<T: rusqlite::types::FromSql>(path: &Path, sql: &str) -> Vec<(i64, T)> {
    let conn = Connection::open(path).unwrap();
    let mut statement = conn.prepare(sql).unwrap();
    let rows = statement.query_map([], |row| Ok((row.get(0)?, row.get(1)?)));
    rows.unwrap().collect::<Result<_, _>>().unwrap()
}

fn rows(path: &Path) -> Vec<(i64, String)> {
    select_pairs(path, "SELECT id, body FROM docs ORDER BY id")
}

/// Returns the FTS5 index's blocks: its `docs_fts_data` rows.
fn index_blocks(path: &Path) -> Vec<(i64, Vec<u8>)> {
    select_pairs(path, "SELECT id, block FROM docs_fts_data ORDER BY id")
}

/// Backs up a database with a damaged index as a base and restores it, then changes
/// its rows with `changes`, backs up the increment and restores that.
async fn check_damaged_index(changes: &str) {
    let t = new_repo().await;
    let source = t.dir.path().join("app");
    fs::create_dir(&source).unwrap();
    let db = source.join("chat.db");
    write_damaged(&db);
    let state = t.dir.path().join("state");
    let first = t
        .repo
        .backup(std::slice::from_ref(&source), rows_options(&state))
        .await
        .unwrap();
    assert!(first.problems.is_empty(), "{:?}", first.problems);
    assert_eq!(first.snapshot.summary.sqlite_bases, 1, "day 1 is a base");
    let target = t.dir.path().join("day1");
    let restored = restore_database(&t.repo, &first.snapshot_id, &target, "app/chat.db")
        .await
        .unwrap();
    assert_eq!(rows(&restored), rows(&db));
    assert_eq!(
        index_blocks(&restored),
        index_blocks(&db),
        "the index as it was"
    );

    let conn = Connection::open(&db).unwrap();
    conn.execute_batch(changes).unwrap();
    drop(conn);
    let second = t
        .repo
        .backup(std::slice::from_ref(&source), rows_options(&state))
        .await
        .unwrap();
    assert!(second.problems.is_empty(), "{:?}", second.problems);
    assert_eq!(
        second.snapshot.summary.sqlite_increments, 1,
        "day 2 is an increment"
    );

    let target = t.dir.path().join("day2");
    let restored = restore_database(&t.repo, &second.snapshot_id, &target, "app/chat.db")
        .await
        .unwrap_or_else(|damaged| panic!("the restore reported damage: {damaged:?}"));
    assert_eq!(rows(&restored), rows(&db));
    // Updating the damaged index failed, so the restore rebuilt it from the rows.
    assert_eq!(quick_check(&restored), "ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_changes_over_damaged_index() {
    check_damaged_index(
        "UPDATE docs SET body = 'velvet ' || body WHERE id % 5 = 0;
         DELETE FROM docs WHERE id % 11 = 0;
         INSERT INTO docs(id, body) VALUES (400, 'maple delta'), (401, 'ember');",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_over_damaged_index() {
    // FTS5 writes an insert's index entries at commit, so the commit is what fails.
    check_damaged_index("INSERT INTO docs(id, body) VALUES (400, 'maple delta');").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_over_damaged_index() {
    check_damaged_index("DELETE FROM docs WHERE id = 17;").await;
}
