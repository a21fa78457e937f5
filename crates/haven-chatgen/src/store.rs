//! Row writers for messages, media, quotes and receipts.

use rand::Rng;
use rusqlite::{params, Connection, OptionalExtension};

use crate::media::MediaFile;

/// `message.status` of a received message.
pub const STATUS_RECEIVED: i64 = 0;
/// `message.status` of a sent message the server has accepted.
pub const STATUS_SENT: i64 = 4;
/// `message.status` of a sent message delivered to the recipient's device.
pub const STATUS_DELIVERED: i64 = 5;
/// `message.status` of a sent message the recipient has read.
pub const STATUS_READ: i64 = 13;
/// `message.message_type` of a text message.
pub const TYPE_TEXT: i64 = 0;

/// A message row to insert.
#[derive(Debug, Clone)]
pub struct NewMessage<'a> {
    pub chat_id: i64,
    pub from_me: bool,
    /// `jid._id` of the sender in a group, `None` for the owner and individual chats.
    pub sender_jid: Option<i64>,
    pub key_id: String,
    pub status: i64,
    pub timestamp: i64,
    pub message_type: i64,
    pub text: Option<&'a str>,
    pub starred: bool,
}

/// The copy of a replied-to message that WhatsApp keeps in `message_quoted`.
#[derive(Debug, Clone)]
pub struct Quote {
    pub chat_id: i64,
    pub from_me: bool,
    pub sender_jid: Option<i64>,
    pub key_id: String,
    pub timestamp: i64,
    pub message_type: i64,
    pub text: Option<String>,
}

impl Quote {
    /// Returns the quote of the message `message` as written.
    pub fn of(message: &NewMessage<'_>) -> Quote {
        Quote {
            chat_id: message.chat_id,
            from_me: message.from_me,
            sender_jid: message.sender_jid,
            key_id: message.key_id.clone(),
            timestamp: message.timestamp,
            message_type: message.message_type,
            text: message.text.map(str::to_string),
        }
    }
}

/// Returns a message key id in WhatsApp's style: `3EB0` and 16 hex digits.
pub fn key_id(rng: &mut impl Rng) -> String {
    format!("3EB0{:016X}", rng.gen::<u64>())
}

/// Inserts messages with explicit, increasing `_id` values so `sort_id` can equal
/// `_id` without a second write. One writer per database is assumed.
#[derive(Debug)]
pub struct MessageWriter {
    next_id: i64,
}

impl MessageWriter {
    /// Starts after the largest `_id` the message table has ever used.
    pub fn open(conn: &Connection) -> rusqlite::Result<MessageWriter> {
        let sequence: Option<i64> = conn
            .query_row(
                "SELECT seq FROM sqlite_sequence WHERE name = 'message'",
                [],
                |row| row.get(0),
            )
            .optional()?;
        let max: Option<i64> =
            conn.query_row("SELECT max(_id) FROM message", [], |row| row.get(0))?;
        let last = sequence.unwrap_or(0).max(max.unwrap_or(0));
        Ok(MessageWriter { next_id: last + 1 })
    }

    /// Inserts `message` and returns its `_id`.
    pub fn insert(&mut self, conn: &Connection, message: &NewMessage<'_>) -> rusqlite::Result<i64> {
        let id = self.next_id;
        let received = if message.from_me {
            message.timestamp
        } else {
            message.timestamp + 800
        };
        let server = message.from_me.then_some(message.timestamp + 350);
        conn.prepare_cached(
            "INSERT INTO message (_id, chat_row_id, from_me, key_id, sender_jid_row_id, status, broadcast,
                recipient_count, origin, timestamp, received_timestamp, receipt_server_timestamp,
                message_type, text_data, starred, lookup_tables, sort_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 0, 0, ?7, ?8, ?9, ?10, ?11, ?12, 0, ?1)",
        )?
        .execute(params![
            id,
            message.chat_id,
            message.from_me,
            message.key_id,
            message.sender_jid.unwrap_or(0),
            message.status,
            message.timestamp,
            received,
            server,
            message.message_type,
            message.text,
            message.starred,
        ])?;
        self.next_id += 1;
        Ok(id)
    }
}

/// Inserts the `message_quoted` row of `message_id`, which replies to `quote`.
pub fn insert_quote(conn: &Connection, message_id: i64, quote: &Quote) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO message_quoted (message_row_id, chat_row_id, parent_message_chat_row_id, from_me,
            sender_jid_row_id, key_id, timestamp, message_type, origin, text_data)
         VALUES (?1, ?2, ?2, ?3, ?4, ?5, ?6, ?7, 0, ?8)",
    )?
    .execute(params![
        message_id,
        quote.chat_id,
        quote.from_me,
        quote.sender_jid.unwrap_or(0),
        quote.key_id,
        quote.timestamp,
        quote.message_type,
        quote.text,
    ])?;
    Ok(())
}

/// Inserts the `message_media` row of `message_id`. Keys and CDN paths are random, as
/// they are per upload in WhatsApp.
pub fn insert_media(
    conn: &Connection,
    rng: &mut impl Rng,
    message_id: i64,
    chat_id: i64,
    file: &MediaFile,
    timestamp: i64,
) -> rusqlite::Result<()> {
    let mut media_key = [0u8; 32];
    rng.fill(&mut media_key);
    let mut enc_hash = [0u8; 32];
    rng.fill(&mut enc_hash);
    let direct_path = format!(
        "/v/t62.7118-24/{}_{}_n.enc?ccb=11-4&oh=01_{:016x}",
        rng.gen_range(10_000_000..99_999_999u64),
        rng.gen_range(100_000_000_000_000..999_999_999_999_999u64),
        rng.gen::<u64>()
    );
    let media_name = file.relative_path.rsplit('/').next();
    conn.prepare_cached(
        "INSERT INTO message_media (message_row_id, chat_row_id, transferred, file_path, file_size,
            media_key, media_key_timestamp, width, height, direct_path, mime_type, file_length,
            media_name, file_hash, media_duration, enc_file_hash)
         VALUES (?1, ?2, 1, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?4, ?11, ?12, ?13, ?14)",
    )?
    .execute(params![
        message_id,
        chat_id,
        file.relative_path,
        file.size as i64,
        &media_key[..],
        timestamp / 1000,
        file.width,
        file.height,
        direct_path,
        file.mime_type,
        media_name,
        file.file_hash,
        file.duration_seconds.map(|d| d as i64),
        hex_upper(&enc_hash),
    ])?;
    Ok(())
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

/// Inserts one `receipt_user` row per recipient of a sent message. `read` is the read
/// time, or `None` while the message is only delivered.
pub fn insert_receipts(
    conn: &Connection,
    message_id: i64,
    recipients: &[i64],
    delivered: i64,
    read: Option<i64>,
    played: Option<i64>,
) -> rusqlite::Result<()> {
    let mut statement = conn.prepare_cached(
        "INSERT INTO receipt_user (message_row_id, receipt_user_jid_row_id, receipt_timestamp, read_timestamp, played_timestamp)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for &recipient in recipients {
        statement.execute(params![message_id, recipient, delivered, read, played])?;
    }
    Ok(())
}

/// Points a chat at its newest message.
pub fn update_chat_last(
    conn: &Connection,
    chat_id: i64,
    message_id: i64,
    timestamp: i64,
) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE chat SET display_message_row_id = ?2, last_message_row_id = ?2,
            last_read_message_row_id = ?2, sort_timestamp = ?3 WHERE _id = ?1",
    )?
    .execute(params![chat_id, message_id, timestamp])?;
    Ok(())
}
