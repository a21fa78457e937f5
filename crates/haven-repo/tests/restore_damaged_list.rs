//! A file whose content list is damaged must not look finished to a later restore.

mod common;

use std::path::Path;

use common::{new_repo, random_bytes};
use haven_repo::testing;
use haven_repo::RestoreOptions;

/// Creates a database of 512-byte pages, more than a node lists inline.
fn create_database(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA page_size = 512; PRAGMA journal_mode = DELETE; \
         CREATE TABLE m (id INTEGER PRIMARY KEY, body BLOB);",
    )
    .unwrap();
    let tx = conn.unchecked_transaction().unwrap();
    for i in 0..1800u64 {
        tx.execute(
            "INSERT INTO m (id, body) VALUES (?1, ?2)",
            rusqlite::params![i, random_bytes(i, 300)],
        )
        .unwrap();
    }
    tx.commit().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_list_file_is_rewritten_on_resume() {
    let t = new_repo().await;
    let source = t.dir.path().join("source");
    std::fs::create_dir(&source).unwrap();
    create_database(&source.join("chat.db"));
    let (snapshot, node) = t.backup_and_find(&source, "source/chat.db").await;
    let list = node.content_list.expect("the database has a content list");
    let (pack, offset, length) = testing::blob_location(&t.repo, &list).unwrap();
    let pack_file = t.repo_path().join(&pack);
    let mut bytes = std::fs::read(&pack_file).unwrap();
    bytes[(offset + length / 2) as usize] ^= 0x01;
    std::fs::write(&pack_file, bytes).unwrap();
    let repo = t.reopen().await;

    let target = t.dir.path().join("restored");
    let report = repo
        .restore(&snapshot, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(report.damaged.len(), 1, "{:?}", report.damaged);

    // The next restore, with the list still damaged, must try the file again.
    let again = repo
        .restore(&snapshot, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(
        again.unchanged, 0,
        "the zero-filled file was kept as finished"
    );
    assert_eq!(again.damaged.len(), 1, "{:?}", again.damaged);
}
