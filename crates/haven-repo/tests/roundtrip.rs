//! Backup then restore on a real filesystem: every kind of entry and metadata.

mod common;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use common::*;
use filetime::FileTime;
use haven_repo::{ParentChoice, RestoreOptions};

fn build_source(root: &Path) {
    fs::create_dir_all(root.join("media/2024")).unwrap();
    fs::create_dir_all(root.join("empty/nested-empty")).unwrap();
    fs::write(
        root.join("media/2024/photo.jpg"),
        [b"\xFF\xD8\xFF".as_slice(), &random_bytes(1, 300_000)].concat(),
    )
    .unwrap();
    fs::write(root.join("notes.txt"), "hello world\n".repeat(20_000)).unwrap();
    fs::write(root.join("empty-file"), b"").unwrap();
    let script = root.join("run.sh");
    fs::write(&script, b"#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(&script, fs::Permissions::from_mode(0o750)).unwrap();
    std::os::unix::fs::symlink("media/2024/photo.jpg", root.join("link-to-photo")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", root.join("dangling")).unwrap();
    let odd_name = std::ffi::OsStr::from_bytes(b"caf\xe9-\xff.bin");
    fs::write(root.join(odd_name), random_bytes(2, 1000)).unwrap();
    fs::write(root.join("hard-a"), random_bytes(3, 50_000)).unwrap();
    fs::hard_link(root.join("hard-a"), root.join("hard-b")).unwrap();
    let sparse = fs::File::create(root.join("sparse.img")).unwrap();
    sparse.set_len(64 * 1024 * 1024).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&sparse, b"middle", 20 * 1024 * 1024).unwrap();
    drop(sparse);
    let fifo = std::ffi::CString::new(root.join("pipe").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
    // Times with nanoseconds, and one before 1970.
    filetime::set_file_mtime(
        root.join("notes.txt"),
        FileTime::from_unix_time(1_600_000_000, 123_456_789),
    )
    .unwrap();
    filetime::set_file_mtime(
        root.join("empty-file"),
        FileTime::from_unix_time(-86_400, 5),
    )
    .unwrap();
    filetime::set_file_mtime(
        root.join("empty"),
        FileTime::from_unix_time(1_500_000_000, 42),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roundtrip_keeps_content_and_metadata() {
    let t = new_repo().await;
    let source = t.dir.path().join("source");
    build_source(&source);
    let before = describe(&source);

    let result = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    assert!(result.problems.is_empty(), "{:?}", result.problems);

    let target = t.dir.path().join("restored");
    let repo = t.reopen().await;
    let report = repo
        .restore(&result.snapshot_id, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert!(report.damaged.is_empty(), "{:?}", report.damaged);
    let after = describe(&target.join("source"));
    assert_same_entries(&before, &after);

    let restored = target.join("source");
    let a = fs::metadata(restored.join("hard-a")).unwrap();
    let b = fs::metadata(restored.join("hard-b")).unwrap();
    assert_eq!(a.ino(), b.ino(), "hard links restored as one inode");
    let sparse = fs::metadata(restored.join("sparse.img")).unwrap();
    assert_eq!(sparse.len(), 64 * 1024 * 1024);
    assert!(
        sparse.blocks() * 512 < 4 * 1024 * 1024,
        "sparse file uses {} blocks",
        sparse.blocks()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_backup_skips_unchanged_files() {
    let t = new_repo().await;
    let source = t.dir.path().join("source");
    fs::create_dir_all(&source).unwrap();
    for i in 0..20 {
        fs::write(source.join(format!("file-{i}")), random_bytes(i, 40_000)).unwrap();
    }
    let first = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    assert_eq!(first.snapshot.summary.files_new, 20);

    let second = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    let summary = &second.snapshot.summary;
    assert_eq!(summary.files_unchanged, 20);
    assert_eq!(summary.bytes_read, 0);
    // No pack and no index file: only the snapshot object itself (a few hundred bytes).
    assert!(
        summary.bytes_written < 1024,
        "an unchanged folder wrote {} bytes",
        summary.bytes_written
    );
    assert_eq!(summary.blobs_new, 0);
    assert_eq!(second.snapshot.parent, Some(first.snapshot_id));

    fs::write(source.join("file-3"), random_bytes(99, 40_000)).unwrap();
    let third = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    assert_eq!(third.snapshot.summary.files_changed, 1);
    assert_eq!(third.snapshot.summary.files_unchanged, 19);
    assert_eq!(third.snapshot.summary.bytes_read, 40_000);

    let no_parent = haven_repo::BackupOptions {
        parent: ParentChoice::None,
        ..quiet_options()
    };
    let full = t
        .repo
        .backup(std::slice::from_ref(&source), no_parent)
        .await
        .unwrap();
    assert_eq!(full.snapshot.summary.files_new, 20);
    assert_eq!(
        full.snapshot.summary.blobs_new, 0,
        "all chunks deduplicated"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identical_files_are_stored_once() {
    let t = new_repo().await;
    let source = t.dir.path().join("source");
    fs::create_dir_all(source.join("a")).unwrap();
    fs::create_dir_all(source.join("b")).unwrap();
    let data = random_bytes(7, 2 * 1024 * 1024);
    fs::write(source.join("a/copy1"), &data).unwrap();
    fs::write(source.join("b/copy2"), &data).unwrap();
    let result = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    let written = result.snapshot.summary.bytes_written;
    assert!(written > 2 * 1024 * 1024, "wrote {written}");
    assert!(
        written < 2 * 1024 * 1024 + 200_000,
        "wrote {written}, expected one copy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_row_change_uploads_about_a_page() {
    let t = new_repo().await;
    let source = t.dir.path().join("source");
    fs::create_dir_all(&source).unwrap();
    let db_path = source.join("messages.db");
    {
        let db = rusqlite::Connection::open(&db_path).unwrap();
        db.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = DELETE; CREATE TABLE m (id INTEGER PRIMARY KEY, body BLOB);")
            .unwrap();
        let tx = db.unchecked_transaction().unwrap();
        for i in 0..3000u64 {
            tx.execute(
                "INSERT INTO m (id, body) VALUES (?1, ?2)",
                rusqlite::params![i, random_bytes(i, 600)],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    let size = fs::metadata(&db_path).unwrap().len();
    assert_eq!(
        haven_repo::sqlite_page_size(&fs::read(&db_path).unwrap()[..100]),
        Some(4096)
    );
    t.repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();

    {
        let db = rusqlite::Connection::open(&db_path).unwrap();
        db.execute(
            "UPDATE m SET body = ?1 WHERE id = 1500",
            rusqlite::params![random_bytes(12345, 600)],
        )
        .unwrap();
    }
    let second = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    let summary = &second.snapshot.summary;
    assert_eq!(summary.files_changed, 1);
    // One data page, the header page (change counter), the file's tree and the root
    // tree: a handful of blobs, against about 500 pages in the file.
    assert!(summary.blobs_new <= 6, "{} new blobs", summary.blobs_new);
    assert!(
        summary.bytes_written < size / 10,
        "wrote {} of a {size}-byte database",
        summary.bytes_written
    );
}
