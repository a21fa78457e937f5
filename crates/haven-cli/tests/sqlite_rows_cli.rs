//! `haven backup` with row increments, and `haven restore` of a damaged increment.

mod repo_common;

use std::path::Path;

use haven_crypto::BackupKey;
use haven_repo::{Repository, Storage};
use repo_common::{assert_exit, assert_success, backup_json, stderr, Env};
use rusqlite::Connection;

fn add_day(db: &Path, day: i64) {
    let conn = Connection::open(db).unwrap();
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS message(id INTEGER PRIMARY KEY, body TEXT, data BLOB)",
    )
    .unwrap();
    for n in 0..50 {
        conn.execute(
            "INSERT INTO message(body, data) VALUES (?1, zeroblob(?2))",
            rusqlite::params![format!("day {day} message {n}"), n * 10],
        )
        .unwrap();
    }
    conn.execute("DELETE FROM message WHERE id % 7 = ?1", [day % 7])
        .unwrap();
}

fn count(db: &Path) -> i64 {
    let conn = Connection::open(db).unwrap();
    conn.query_row("SELECT count(*) FROM message", [], |row| row.get(0))
        .unwrap()
}

#[test]
fn damaged_increment_exits_3() {
    let env = Env::init();
    let data = env.path("app");
    std::fs::create_dir_all(&data).unwrap();
    let db = data.join("chat.db");
    let mut counts = Vec::new();
    let mut snapshots = Vec::new();
    for day in 1..=3 {
        add_day(&db, day);
        counts.push(count(&db));
        let summary = backup_json(&env, &[&data]);
        let increments = summary["sqlite_increments"].as_u64().unwrap();
        assert_eq!(increments, u64::from(day > 1), "day {day}: {summary}");
        snapshots.push(summary["snapshot_id"].as_str().unwrap().to_string());
    }

    // Flip one byte of day 3's increment inside its pack.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let key = BackupKey::parse(&std::fs::read_to_string(&env.key_file).unwrap()).unwrap();
        let repo = Repository::open(Storage::open(env.repo.to_str().unwrap()).unwrap(), &key)
            .await
            .unwrap();
        let snapshot = haven_repo::ObjectId::from_hex(&snapshots[2]).unwrap();
        let entries = repo
            .list_snapshot(&snapshot, Path::new("app/chat.db"))
            .await
            .unwrap();
        let increment = *entries[0].node.row_increments.last().unwrap();
        let (pack, offset, length) = haven_repo::testing::blob_location(&repo, &increment).unwrap();
        let pack = env.repo.join(pack);
        let mut bytes = std::fs::read(&pack).unwrap();
        bytes[(offset + length / 2) as usize] ^= 0x01;
        std::fs::write(&pack, bytes).unwrap();
    });

    let good = env.path("good");
    let out = env.haven(
        "restore",
        &[&snapshots[1], "--target", good.to_str().unwrap()],
    );
    assert_success(&out);
    assert_eq!(count(&good.join("app/chat.db")), counts[1]);

    let bad = env.path("bad");
    let out = env.haven(
        "restore",
        &[&snapshots[2], "--target", bad.to_str().unwrap()],
    );
    assert_exit(&out, 3);
    let message = stderr(&out);
    assert!(message.contains("row increment 2 of 2"), "{message}");
    assert!(
        message.contains(&format!("snapshot {}", &snapshots[2][..8])),
        "{message}"
    );
    assert!(
        !bad.join("app/chat.db").exists(),
        "a damaged database is not put in place"
    );
}
