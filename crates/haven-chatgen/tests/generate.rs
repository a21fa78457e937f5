//! Generation: determinism, schema, sizes and option checks, on real files and SQLite.

mod common;

use common::{count, file_hashes, generate_into, media_file_count, open};
use haven_chatgen::{database_path, ChatgenError, GenerateOptions};

const SIZE: u64 = 3_000_000;

#[test]
fn same_seed_gives_identical_files() {
    let temp = tempfile::tempdir().unwrap();
    let (first, _) = generate_into(temp.path(), "a", SIZE, 7, true);
    let (second, _) = generate_into(temp.path(), "b", SIZE, 7, true);
    let first_hashes = file_hashes(&first);
    assert!(first_hashes.contains_key("databases/msgstore.db"));
    assert!(first_hashes.len() > 5, "only {} files", first_hashes.len());
    assert_eq!(first_hashes, file_hashes(&second));
}

#[test]
fn other_seed_gives_other_files() {
    let temp = tempfile::tempdir().unwrap();
    let (first, _) = generate_into(temp.path(), "a", SIZE, 7, true);
    let (second, _) = generate_into(temp.path(), "b", SIZE, 8, true);
    let first_hashes = file_hashes(&first);
    let second_hashes = file_hashes(&second);
    assert_ne!(
        first_hashes["databases/msgstore.db"],
        second_hashes["databases/msgstore.db"]
    );
}

#[test]
fn schema_and_fts_work() {
    let temp = tempfile::tempdir().unwrap();
    let (dir, summary) = generate_into(temp.path(), "set", SIZE, 1, true);
    let conn = open(&dir);

    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    conn.execute(
        "INSERT INTO message_fts (message_fts) VALUES ('integrity-check')",
        [],
    )
    .expect("FTS5 index matches the message table");
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");

    let hits = count(
        &conn,
        "SELECT count(*) FROM message_fts WHERE message_fts MATCH 'password'",
    );
    assert!(hits > 0, "no FTS hits for 'password'");
    let joined = count(
        &conn,
        "SELECT count(*) FROM message_fts JOIN message ON message._id = message_fts.rowid
         WHERE message_fts MATCH 'password' AND message.text_data LIKE '%password%'",
    );
    assert_eq!(joined, hits);

    let messages = count(&conn, "SELECT count(*) FROM message");
    assert_eq!(messages as u64, summary.messages_inserted);
    let chats = count(&conn, "SELECT count(*) FROM chat");
    assert_eq!(chats as u64, summary.chats);
    assert!(
        count(&conn, "SELECT count(*) FROM chat WHERE subject IS NOT NULL") > 0,
        "no groups"
    );
    assert!(
        count(&conn, "SELECT count(*) FROM receipt_user") > 0,
        "no receipts"
    );
    assert!(
        count(&conn, "SELECT count(*) FROM message_quoted") > 0,
        "no quoted messages"
    );
    assert!(
        count(
            &conn,
            "SELECT count(DISTINCT sender_jid_row_id) FROM message"
        ) > 3,
        "too few senders"
    );
    let orphan_chats = count(
        &conn,
        "SELECT count(*) FROM chat WHERE last_message_row_id IS NOT NULL
         AND last_message_row_id NOT IN (SELECT _id FROM message)",
    );
    assert_eq!(orphan_chats, 0);
}

#[test]
fn media_rows_match_files() {
    let temp = tempfile::tempdir().unwrap();
    let (dir, summary) = generate_into(temp.path(), "set", SIZE, 2, true);
    let conn = open(&dir);
    let mut statement = conn
        .prepare(
            "SELECT file_path, file_size, file_hash FROM message_media ORDER BY message_row_id",
        )
        .unwrap();
    let rows: Vec<(String, i64, String)> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();

    assert_eq!(rows.len() as u64, summary.media_files_written);
    assert_eq!(rows.len(), media_file_count(&dir));
    for (path, size, hash) in &rows {
        let bytes = std::fs::read(dir.join(path)).unwrap();
        assert_eq!(bytes.len() as i64, *size, "{path}");
        use base64::Engine;
        use sha2::Digest;
        let expected =
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&bytes));
        assert_eq!(&expected, hash, "{path}");
    }
    let media_types = count(
        &conn,
        "SELECT count(*) FROM message JOIN message_media ON message_row_id = message._id
         WHERE message_type NOT IN (1, 2, 3)",
    );
    assert_eq!(media_types, 0);
}

#[test]
fn size_split_is_near_target() {
    let temp = tempfile::tempdir().unwrap();
    let size = 6_000_000;
    let (dir, summary) = generate_into(temp.path(), "set", size, 3, true);
    let database = std::fs::metadata(database_path(&dir)).unwrap().len();
    let database_target = size * haven_chatgen::DATABASE_PERCENT / 100;
    assert_eq!(database, summary.database_bytes);
    assert!(
        database >= database_target,
        "database {database} < {database_target}"
    );
    assert!(
        database < database_target * 11 / 10,
        "database {database} overshoots"
    );
    let media_target = size - database_target;
    assert!(summary.media_bytes_written <= media_target);
    assert!(
        summary.media_bytes_written + 4096 >= media_target,
        "media {}",
        summary.media_bytes_written
    );
}

#[test]
fn no_fts_omits_index() {
    let temp = tempfile::tempdir().unwrap();
    let (dir, _) = generate_into(temp.path(), "set", 2_000_000, 1, false);
    let conn = open(&dir);
    let fts_objects = count(
        &conn,
        "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'message_fts%'",
    );
    assert_eq!(fts_objects, 0);
    assert!(count(&conn, "SELECT count(*) FROM message") > 1000);
}

#[test]
fn non_empty_output_is_rejected() {
    let temp = tempfile::tempdir().unwrap();
    std::fs::write(temp.path().join("keep.txt"), b"user data").unwrap();
    let error = haven_chatgen::generate(&GenerateOptions {
        out: temp.path().to_path_buf(),
        size: 2_000_000,
        seed: 1,
        fts: true,
    })
    .unwrap_err();
    assert!(
        matches!(error, ChatgenError::OutputNotEmpty { .. }),
        "{error}"
    );
    assert_eq!(
        std::fs::read(temp.path().join("keep.txt")).unwrap(),
        b"user data"
    );
}
