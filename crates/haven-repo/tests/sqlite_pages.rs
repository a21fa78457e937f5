//! Consistent copies keep the page layout: page sizes 512, 4096 and 65536.

mod common;
mod sqlite_support;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::{new_repo, quiet_options, random_bytes};
use sqlite_support::{integrity_check, page_hashes, restore_into};

/// Header fields that differ in the copy, because the backup API writes it as a new
/// database: the file change counter (offsets 24..28), the schema cookie (40..44), and
/// the version-valid-for number and SQLite version (92..100).
const COMMIT_FIELDS: [std::ops::Range<usize>; 3] = [24..28, 40..44, 92..100];

fn create_database(path: &Path, page_size: usize, rows: u64) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(&format!(
        "PRAGMA page_size = {page_size}; PRAGMA journal_mode = DELETE; \
         CREATE TABLE m (id INTEGER PRIMARY KEY, sender TEXT, body BLOB); \
         CREATE INDEX m_sender ON m (sender);"
    ))
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..rows {
        tx.execute(
            "INSERT INTO m (id, sender, body) VALUES (?1, ?2, ?3)",
            rusqlite::params![i, format!("user{}", i % 17), random_bytes(i, 300)],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

fn rows(path: &Path) -> Vec<(i64, String, Vec<u8>)> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut statement = conn
        .prepare("SELECT id, sender, body FROM m ORDER BY id")
        .unwrap();
    statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Asserts that two database files have the same pages, except the commit fields of
/// the header on page 1.
fn assert_same_pages(source: &Path, copy: &Path, page_size: usize) {
    let source_hashes = page_hashes(source, page_size);
    let copy_hashes = page_hashes(copy, page_size);
    assert_eq!(source_hashes.len(), copy_hashes.len(), "page counts differ");
    for (number, (a, b)) in source_hashes.iter().zip(&copy_hashes).enumerate().skip(1) {
        assert_eq!(a, b, "page {} differs", number + 1);
    }
    let mut first_source = std::fs::read(source).unwrap()[..page_size].to_vec();
    let mut first_copy = std::fs::read(copy).unwrap()[..page_size].to_vec();
    for range in COMMIT_FIELDS {
        first_source[range.clone()].fill(0);
        first_copy[range].fill(0);
    }
    assert!(
        first_source == first_copy,
        "page 1 differs outside the commit fields"
    );
}

async fn page_size_roundtrip(page_size: usize, rows_count: u64) {
    let t = new_repo().await;
    let source = t.dir.path().join("source");
    std::fs::create_dir(&source).unwrap();
    let db = source.join("chat.db");
    create_database(&db, page_size, rows_count);
    let pages = std::fs::metadata(&db).unwrap().len() / page_size as u64;
    assert!(pages >= 20, "only {pages} pages");

    let first = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    assert!(first.problems.is_empty(), "problems: {:?}", first.problems);
    let restored = restore_into(&t.repo, &first.snapshot_id, &t.dir.path().join("first")).await;
    let restored_db = restored.join("source/chat.db");
    assert_eq!(integrity_check(&restored_db), "ok");
    assert_same_pages(&db, &restored_db, page_size);
    assert_eq!(rows(&restored_db), rows(&db));
    let source_meta = std::fs::metadata(&db).unwrap();
    let restored_meta = std::fs::metadata(&restored_db).unwrap();
    assert_eq!(restored_meta.mtime(), source_meta.mtime());
    assert_eq!(restored_meta.mtime_nsec(), source_meta.mtime_nsec());
    assert_eq!(restored_meta.mode() & 0o7777, source_meta.mode() & 0o7777);

    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute(
            "UPDATE m SET body = ?1 WHERE id = ?2",
            rusqlite::params![random_bytes(7, 300), rows_count / 2],
        )
        .unwrap();
    }
    let second = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    let summary = &second.snapshot.summary;
    // New blobs: the changed data page, page 1 (its change counter), and the trees of
    // the folder and the root.
    assert!(
        summary.blobs_new <= 4,
        "{} new blobs for a one-row change",
        summary.blobs_new
    );
    let limit = 2 * page_size as u64 + 16 * 1024;
    assert!(
        summary.bytes_written <= limit,
        "wrote {} bytes for a one-row change, more than {limit}",
        summary.bytes_written
    );
    let restored = restore_into(&t.repo, &second.snapshot_id, &t.dir.path().join("second")).await;
    let restored_db = restored.join("source/chat.db");
    assert_eq!(integrity_check(&restored_db), "ok");
    assert_eq!(rows(&restored_db), rows(&db));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_size_512() {
    page_size_roundtrip(512, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_size_4096() {
    page_size_roundtrip(4096, 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn page_size_65536() {
    page_size_roundtrip(65536, 5000).await;
}
