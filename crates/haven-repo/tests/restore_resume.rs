//! A second restore into the same folder keeps the files that the first one
//! finished, and writes again every file that is missing, partial or different.

mod common;

use std::fs;

use common::*;
use filetime::FileTime;
use haven_repo::RestoreOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_keeps_finished_files() {
    let t = new_repo().await;
    let source = t.dir.path().join("src");
    fs::create_dir_all(&source).unwrap();
    for (name, seed) in [("a.bin", 1), ("b.bin", 2), ("c.bin", 3)] {
        fs::write(source.join(name), random_bytes(seed, 300_000)).unwrap();
    }
    let result = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    let target = t.dir.path().join("target");
    let first = t
        .repo
        .restore(&result.snapshot_id, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(first.unchanged, 0);
    let restored = target.join("src");

    // a.bin: same size and mtime but other bytes, so a resumed restore keeps it,
    // which shows it is not rewritten. b.bin: cut short, as a killed restore leaves
    // it, with the current time as mtime. c.bin: untouched.
    let a = restored.join("a.bin");
    let a_mtime = FileTime::from_last_modification_time(&fs::metadata(&a).unwrap());
    fs::write(&a, vec![7u8; 300_000]).unwrap();
    filetime::set_file_mtime(&a, a_mtime).unwrap();
    let b = restored.join("b.bin");
    fs::write(&b, &random_bytes(2, 300_000)[..1000]).unwrap();

    let second = t
        .repo
        .restore(&result.snapshot_id, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(second.unchanged, 2, "a.bin and c.bin are kept");
    assert_eq!(second.bytes, 300_000, "only b.bin is written");
    assert_eq!(fs::read(&b).unwrap(), random_bytes(2, 300_000));
    assert_eq!(fs::read(&a).unwrap(), vec![7u8; 300_000]);

    // overwrite_all rewrites everything, so a.bin gets its snapshot bytes back.
    let options = RestoreOptions {
        overwrite_all: true,
        ..RestoreOptions::default()
    };
    let third = t
        .repo
        .restore(&result.snapshot_id, &target, options)
        .await
        .unwrap();
    assert_eq!(third.unchanged, 0);
    assert_eq!(describe(&restored), describe(&source));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_database_loses_stale_sidecars() {
    let t = new_repo().await;
    let source = t.dir.path().join("app");
    fs::create_dir_all(&source).unwrap();
    let db = rusqlite::Connection::open(source.join("msgstore.db")).unwrap();
    db.execute_batch("CREATE TABLE m (body TEXT); INSERT INTO m VALUES ('hello');")
        .unwrap();
    drop(db);
    let result = t.repo.backup(&[source], quiet_options()).await.unwrap();
    let target = t.dir.path().join("target");
    t.repo
        .restore(&result.snapshot_id, &target, RestoreOptions::default())
        .await
        .unwrap();

    let restored = target.join("app/msgstore.db");
    let wal = target.join("app/msgstore.db-wal");
    let shm = target.join("app/msgstore.db-shm");
    fs::write(&wal, b"stale write-ahead log").unwrap();
    fs::write(&shm, b"stale shared memory").unwrap();
    let report = t
        .repo
        .restore(&result.snapshot_id, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert_eq!(report.unchanged, 1);
    assert!(!wal.exists(), "stale -wal left next to the kept database");
    assert!(!shm.exists(), "stale -shm left next to the kept database");
    let db = rusqlite::Connection::open(&restored).unwrap();
    let body: String = db
        .query_row("SELECT body FROM m", [], |r| r.get(0))
        .unwrap();
    assert_eq!(body, "hello");
}
