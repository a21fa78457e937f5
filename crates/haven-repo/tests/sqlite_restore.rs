//! Restoring a database over a folder that has stale sidecars.

mod common;
mod sqlite_support;

use std::path::Path;

use common::{new_repo, quiet_options};
use sqlite_support::{integrity_check, restore_into, row_count};

fn create_wal_database(path: &Path, first: i64, count: i64) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; \
         CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT);",
    )
    .unwrap();
    for id in first..first + count {
        conn.execute(
            "INSERT INTO t (id, body) VALUES (?1, ?2)",
            rusqlite::params![id, format!("row {id}")],
        )
        .unwrap();
    }
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_sidecars_are_removed() {
    let t = new_repo().await;
    let source = t.dir.path().join("app");
    std::fs::create_dir(&source).unwrap();
    let db = source.join("chat.db");
    drop(create_wal_database(&db, 0, 100));
    let result = t
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    assert!(
        result.problems.is_empty(),
        "problems: {:?}",
        result.problems
    );

    // The target holds another database whose latest transactions are only in its
    // write-ahead log, as after a crash: copied while its connection is open.
    let target = t.dir.path().join("target");
    let stale_dir = target.join("app");
    std::fs::create_dir_all(&stale_dir).unwrap();
    let other = t.dir.path().join("other.db");
    let conn = create_wal_database(&other, 0, 10);
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
        .unwrap();
    conn.execute("DELETE FROM t", []).unwrap();
    for id in 5000..5400 {
        conn.execute("INSERT INTO t (id, body) VALUES (?1, 'stale')", [id])
            .unwrap();
    }
    for suffix in ["", "-wal", "-shm"] {
        std::fs::copy(
            format!("{}{suffix}", other.display()),
            format!("{}/chat.db{suffix}", stale_dir.display()),
        )
        .unwrap();
    }
    drop(conn);
    let stale_wal = std::fs::metadata(stale_dir.join("chat.db-wal"))
        .unwrap()
        .len();
    assert!(stale_wal > 0, "the stale write-ahead log is empty");
    std::fs::write(stale_dir.join("chat.db-journal"), vec![0xAB; 4096]).unwrap();

    restore_into(&t.repo, &result.snapshot_id, &target).await;
    let restored = stale_dir.join("chat.db");
    for suffix in ["-wal", "-shm", "-journal"] {
        assert!(
            !stale_dir.join(format!("chat.db{suffix}")).exists(),
            "stale chat.db{suffix} is still there"
        );
    }
    assert_eq!(integrity_check(&restored), "ok");
    assert_eq!(row_count(&restored, "t"), 100);
    let conn = rusqlite::Connection::open(&restored).unwrap();
    let (min, max): (i64, i64) = conn
        .query_row("SELECT min(id), max(id) FROM t", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .unwrap();
    assert_eq!((min, max), (0, 99));
}
