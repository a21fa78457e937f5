//! Files that start with the SQLite header but are not usable databases.

mod common;

use std::fs;
use std::path::Path;

use common::{new_repo, quiet_options, random_bytes};
use haven_repo::{FileProblem, ProblemKind, RestoreOptions};

/// Writes a rollback-journal database of about 50 pages of 4096 bytes.
fn write_database(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = DELETE; CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB);")
        .unwrap();
    for i in 0..150u64 {
        conn.execute(
            "INSERT INTO t (id, body) VALUES (?1, ?2)",
            rusqlite::params![i, random_bytes(i, 1200)],
        )
        .unwrap();
    }
}

/// Backs up `source` (a folder with one file), restores it, and returns the problems
/// and the restored bytes of the file.
async fn backup_and_restore(source: &Path, name: &str) -> (Vec<FileProblem>, Vec<u8>) {
    let t = new_repo().await;
    let result = t
        .repo
        .backup(&[source.to_path_buf()], quiet_options())
        .await
        .unwrap();
    let target = t.dir.path().join("restored");
    t.repo
        .restore(&result.snapshot_id, &target, RestoreOptions::default())
        .await
        .unwrap();
    let restored = fs::read(target.join(source.file_name().unwrap()).join(name)).unwrap();
    (result.problems, restored)
}

fn assert_stored_plain(problems: &[FileProblem], expected_detail: &str) {
    assert_eq!(problems.len(), 1, "problems: {problems:?}");
    assert_eq!(problems[0].kind, ProblemKind::StoredPlain);
    assert!(
        problems[0].path.ends_with("/broken.db"),
        "path {}",
        problems[0].path
    );
    assert!(
        problems[0].detail.contains(expected_detail),
        "detail {:?} does not mention {expected_detail:?}",
        problems[0].detail
    );
}

/// Writes `source/broken.db` as `damage` makes it from a healthy database, backs the
/// folder up and restores it. Checks that the file was stored plain with a warning
/// that mentions `detail`, and restored byte for byte.
async fn check_stored_plain(damage: impl FnOnce(Vec<u8>) -> Vec<u8>, detail: &str) {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("source");
    fs::create_dir(&source).unwrap();
    let db = source.join("broken.db");
    write_database(&db);
    let bytes = damage(fs::read(&db).unwrap());
    fs::write(&db, &bytes).unwrap();

    let (problems, restored) = backup_and_restore(&source, "broken.db").await;
    assert_stored_plain(&problems, detail);
    assert!(
        restored == bytes,
        "the restored file differs from the damaged source"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_page_is_stored_plain() {
    // Page 2 is the table's root page: overwriting it breaks the b-tree.
    let damage = |mut bytes: Vec<u8>| {
        bytes[4096..8192].copy_from_slice(&random_bytes(99, 4096));
        bytes
    };
    check_stored_plain(damage, "quick_check").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_mid_page_is_stored_plain() {
    let damage = |bytes: Vec<u8>| bytes[..bytes.len() / 2 + 100].to_vec();
    check_stored_plain(damage, "truncated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_at_page_boundary_is_stored_plain() {
    let damage = |bytes: Vec<u8>| bytes[..4096 * 10].to_vec();
    check_stored_plain(damage, "truncated").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_only_file_is_stored_plain() {
    let damage = |_: Vec<u8>| {
        let mut bytes = b"SQLite format 3\0".to_vec();
        bytes.extend_from_slice(b"not really a database");
        bytes
    };
    check_stored_plain(damage, "header is invalid").await;
}
