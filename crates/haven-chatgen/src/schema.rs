//! The message store schema: a subset of WhatsApp for Android's `msgstore.db`, with the
//! same table and column names, plus an FTS5 index over message text.

use rusqlite::Connection;

/// Page size of generated databases, as on Android.
pub const PAGE_SIZE: u32 = 4096;

/// Tables and indexes of the message store.
const TABLES: &str = "
CREATE TABLE props (_id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT UNIQUE, value TEXT);
CREATE TABLE jid (
    _id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, server TEXT NOT NULL,
    agent INTEGER, device INTEGER, type INTEGER, raw_string TEXT);
CREATE UNIQUE INDEX jid_key_index ON jid (raw_string);
CREATE TABLE chat (
    _id INTEGER PRIMARY KEY AUTOINCREMENT, jid_row_id INTEGER UNIQUE, hidden INTEGER,
    subject TEXT, created_timestamp INTEGER, display_message_row_id INTEGER,
    last_message_row_id INTEGER, last_read_message_row_id INTEGER, archived INTEGER,
    sort_timestamp INTEGER, unseen_message_count INTEGER,
    group_type INTEGER NOT NULL DEFAULT 0);
CREATE TABLE group_participant_user (
    _id INTEGER PRIMARY KEY AUTOINCREMENT, group_jid_row_id INTEGER NOT NULL,
    user_jid_row_id INTEGER NOT NULL, rank INTEGER, pending INTEGER);
CREATE UNIQUE INDEX group_participant_user_index
    ON group_participant_user (group_jid_row_id, user_jid_row_id);
CREATE TABLE message (
    _id INTEGER PRIMARY KEY AUTOINCREMENT, chat_row_id INTEGER NOT NULL,
    from_me INTEGER NOT NULL, key_id TEXT NOT NULL, sender_jid_row_id INTEGER,
    status INTEGER, broadcast INTEGER, recipient_count INTEGER, origin INTEGER,
    timestamp INTEGER, received_timestamp INTEGER, receipt_server_timestamp INTEGER,
    message_type INTEGER, text_data TEXT, starred INTEGER, lookup_tables INTEGER,
    sort_id INTEGER NOT NULL DEFAULT 0);
CREATE INDEX message_chat_sort_id_index ON message (chat_row_id, sort_id);
CREATE INDEX message_sort_id_index ON message (sort_id);
CREATE UNIQUE INDEX message_key_index
    ON message (chat_row_id, from_me, key_id, sender_jid_row_id);
CREATE INDEX message_starred_index ON message (starred);
CREATE INDEX message_type_chat_index ON message (chat_row_id, message_type);
CREATE TABLE message_quoted (
    message_row_id INTEGER PRIMARY KEY AUTOINCREMENT, chat_row_id INTEGER NOT NULL,
    parent_message_chat_row_id INTEGER NOT NULL, from_me INTEGER NOT NULL,
    sender_jid_row_id INTEGER, key_id TEXT NOT NULL, timestamp INTEGER,
    message_type INTEGER, origin INTEGER, text_data TEXT);
CREATE TABLE message_media (
    message_row_id INTEGER PRIMARY KEY, chat_row_id INTEGER, transferred INTEGER,
    file_path TEXT, file_size INTEGER, media_key BLOB, media_key_timestamp INTEGER,
    width INTEGER, height INTEGER, direct_path TEXT, mime_type TEXT, file_length INTEGER,
    media_name TEXT, file_hash TEXT, media_duration INTEGER, enc_file_hash TEXT);
CREATE INDEX message_media_chat_index ON message_media (chat_row_id);
CREATE INDEX message_media_hash_index ON message_media (file_hash);
CREATE TABLE receipt_user (
    _id INTEGER PRIMARY KEY AUTOINCREMENT, message_row_id INTEGER NOT NULL,
    receipt_user_jid_row_id INTEGER NOT NULL, receipt_timestamp INTEGER,
    read_timestamp INTEGER, played_timestamp INTEGER);
CREATE UNIQUE INDEX receipt_user_index ON receipt_user (message_row_id, receipt_user_jid_row_id);
";

/// FTS5 index over `message.text_data`. It is an external content table, so the text
/// is stored once, in `message`.
const FTS_TABLE: &str = "
CREATE VIRTUAL TABLE message_fts USING fts5(
    text_data, content='message', content_rowid='_id', tokenize='unicode61');
";

/// Triggers that keep the FTS5 index current as messages change.
const FTS_TRIGGERS: &str = "
CREATE TRIGGER message_fts_insert AFTER INSERT ON message
    WHEN new.text_data IS NOT NULL BEGIN
    INSERT INTO message_fts (rowid, text_data) VALUES (new._id, new.text_data);
END;
CREATE TRIGGER message_fts_delete AFTER DELETE ON message
    WHEN old.text_data IS NOT NULL BEGIN
    INSERT INTO message_fts (message_fts, rowid, text_data)
        VALUES ('delete', old._id, old.text_data);
END;
CREATE TRIGGER message_fts_update_delete AFTER UPDATE OF text_data ON message
    WHEN old.text_data IS NOT NULL BEGIN
    INSERT INTO message_fts (message_fts, rowid, text_data)
        VALUES ('delete', old._id, old.text_data);
END;
CREATE TRIGGER message_fts_update_insert AFTER UPDATE OF text_data ON message
    WHEN new.text_data IS NOT NULL BEGIN
    INSERT INTO message_fts (rowid, text_data) VALUES (new._id, new.text_data);
END;
";

/// Table of the live writer: one row per committed transaction.
pub const WRITER_LOG: &str = "
CREATE TABLE IF NOT EXISTS writer_log (
    seq INTEGER PRIMARY KEY, first_message_row_id INTEGER NOT NULL,
    message_count INTEGER NOT NULL, committed_timestamp INTEGER NOT NULL);
";

/// Creates the tables, indexes and, when `fts` is set, the full-text index.
pub fn create(conn: &Connection, fts: bool) -> rusqlite::Result<()> {
    conn.execute_batch(&format!("PRAGMA page_size = {PAGE_SIZE};"))?;
    conn.execute_batch(TABLES)?;
    if fts {
        add_fts(conn)?;
    }
    Ok(())
}

/// Adds the full-text index, indexes the existing messages in one pass, then adds the
/// triggers that keep it current. One pass over many rows is several times faster than
/// indexing row by row through the triggers.
pub fn add_fts(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch(FTS_TABLE)?;
    conn.execute_batch("INSERT INTO message_fts (message_fts) VALUES ('rebuild');")?;
    conn.execute_batch(FTS_TRIGGERS)
}

/// Sets the journal mode (`WAL`, `DELETE`, `OFF`, ...) and returns the mode in effect.
pub fn set_journal_mode(conn: &Connection, mode: &str) -> rusqlite::Result<String> {
    conn.query_row(&format!("PRAGMA journal_mode = {mode}"), [], |row| {
        row.get(0)
    })
}
