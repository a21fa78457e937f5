//! The day mutator: what it reports is what changed, and it is deterministic.

mod common;

use common::{copy_tree, count, file_hashes, generate_into, media_file_count, open};
use haven_chatgen::{ChatgenError, DayOptions};

#[test]
fn day_changes_what_it_reports() {
    let temp = tempfile::tempdir().unwrap();
    let (dir, _) = generate_into(temp.path(), "set", 3_000_000, 4, true);
    let conn = open(&dir);
    let messages_before = count(&conn, "SELECT count(*) FROM message");
    let max_id_before = count(&conn, "SELECT max(_id) FROM message");
    let max_time_before = count(&conn, "SELECT max(timestamp) FROM message");
    let media_rows_before = count(&conn, "SELECT count(*) FROM message_media");
    drop(conn);
    let media_files_before = media_file_count(&dir);

    let options = DayOptions {
        messages: 300,
        status_updates: 50,
        deletions: 10,
        new_media: 4,
        ..DayOptions::new(&dir, 9)
    };
    let summary = haven_chatgen::day(&options).unwrap();
    assert_eq!(summary.messages_inserted, 300);
    assert_eq!(summary.status_updates, 50);
    assert_eq!(summary.messages_deleted, 10);
    assert_eq!(summary.media_files_written, 4);

    let conn = open(&dir);
    let messages_after = count(&conn, "SELECT count(*) FROM message");
    assert_eq!(messages_after, messages_before + 300 - 10);
    let new_messages = count(
        &conn,
        &format!("SELECT count(*) FROM message WHERE _id > {max_id_before}"),
    );
    assert_eq!(new_messages, 300);
    let older_new = count(
        &conn,
        &format!("SELECT count(*) FROM message WHERE _id > {max_id_before} AND timestamp <= {max_time_before}"),
    );
    assert_eq!(older_new, 0, "new messages must be later than the old ones");
    let deleted_old = max_id_before
        - count(
            &conn,
            &format!("SELECT count(*) FROM message WHERE _id <= {max_id_before}"),
        );
    assert_eq!(deleted_old, 10);

    let media_rows_after = count(&conn, "SELECT count(*) FROM message_media");
    let media_deleted = summary.media_files_deleted as i64;
    assert_eq!(media_rows_after, media_rows_before + 4 - media_deleted);
    assert_eq!(
        media_file_count(&dir) as i64,
        media_files_before as i64 + 4 - media_deleted
    );

    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    conn.execute(
        "INSERT INTO message_fts (message_fts) VALUES ('integrity-check')",
        [],
    )
    .expect("FTS5 index still matches after deletions");
    let dangling = count(
        &conn,
        "SELECT (SELECT count(*) FROM message_media WHERE message_row_id NOT IN (SELECT _id FROM message))
              + (SELECT count(*) FROM receipt_user WHERE message_row_id NOT IN (SELECT _id FROM message))
              + (SELECT count(*) FROM message_quoted WHERE message_row_id NOT IN (SELECT _id FROM message))",
    );
    assert_eq!(dangling, 0);
}

#[test]
fn status_updates_mark_sent_messages_read() {
    let temp = tempfile::tempdir().unwrap();
    let (dir, _) = generate_into(temp.path(), "set", 2_000_000, 5, false);
    let unread_sent = "SELECT count(*) FROM message WHERE from_me = 1 AND status IN (4, 5)";
    let options = DayOptions {
        messages: 100,
        status_updates: 0,
        deletions: 0,
        new_media: 0,
        ..DayOptions::new(&dir, 1)
    };
    haven_chatgen::day(&options).unwrap();
    let before = count(&open(&dir), unread_sent);
    assert!(before >= 30, "only {before} unread sent messages");

    let summary = haven_chatgen::day(&DayOptions {
        messages: 0,
        status_updates: 30,
        ..options
    })
    .unwrap();
    assert_eq!(summary.status_updates, 30);
    assert_eq!(count(&open(&dir), unread_sent), before - 30);
}

#[test]
fn day_is_deterministic() {
    let temp = tempfile::tempdir().unwrap();
    let (dir, _) = generate_into(temp.path(), "set", 2_000_000, 6, true);
    let copy = temp.path().join("copy");
    copy_tree(&dir, &copy);
    for folder in [&dir, &copy] {
        haven_chatgen::day(&DayOptions {
            messages: 200,
            ..DayOptions::new(folder, 3)
        })
        .unwrap();
    }
    assert_eq!(file_hashes(&dir), file_hashes(&copy));
}

#[test]
fn day_needs_a_database() {
    let temp = tempfile::tempdir().unwrap();
    let error = haven_chatgen::day(&DayOptions::new(temp.path(), 1)).unwrap_err();
    assert!(
        matches!(error, ChatgenError::DatabaseMissing { .. }),
        "{error}"
    );
    assert!(
        error.to_string().contains("haven-chatgen generate"),
        "{error}"
    );
}

#[test]
fn more_media_than_messages_is_rejected() {
    let temp = tempfile::tempdir().unwrap();
    let options = DayOptions {
        messages: 2,
        new_media: 3,
        ..DayOptions::new(temp.path(), 1)
    };
    let error = haven_chatgen::day(&options).unwrap_err();
    assert!(error.to_string().contains("new-media"), "{error}");
}
