//! One day of app activity on an existing data folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::Rng;
use rusqlite::{params, Connection, OptionalExtension};

use crate::corpus::Corpus;
use crate::error::{ChatgenError, IoContext, Result, SqliteContext};
use crate::generate::database_path;
use crate::media::{self, MediaKind, MediaSpec, PHOTOS};
use crate::store::{STATUS_DELIVERED, STATUS_READ, STATUS_SENT};
use crate::talk::{MessageRequest, Talk, TalkConfig};
use crate::time::DAY_MS;
use crate::{people, rng, schema, Summary};

/// Hours of the day during which new messages arrive.
const ACTIVE_HOURS: i64 = 16;
/// Status updates applied per transaction, as receipts arrive in bursts.
const STATUS_BATCH: usize = 10;

/// Options of [`day`].
#[derive(Debug, Clone)]
pub struct DayOptions {
    /// Data folder made by [`crate::generate`].
    pub dir: PathBuf,
    pub seed: u64,
    /// New messages, including those that carry new media.
    pub messages: u64,
    /// Sent messages that become read.
    pub status_updates: u64,
    /// Older messages to delete, with their media files.
    pub deletions: u64,
    /// New messages that carry a new media file.
    pub new_media: u64,
}

impl DayOptions {
    /// Returns the default activity (1000 messages, 200 status updates, 20 deletions,
    /// 5 new media files) for `dir` and `seed`.
    pub fn new(dir: impl Into<PathBuf>, seed: u64) -> DayOptions {
        DayOptions {
            dir: dir.into(),
            seed,
            messages: 1000,
            status_updates: 200,
            deletions: 20,
            new_media: 5,
        }
    }
}

/// Applies one day of activity, each change in its own short transaction like an app:
/// new messages dated the day after the newest one, read receipts on recent sent
/// messages, deletions of older messages, and new media files. The random stream
/// depends on the seed and on the database's newest message id, so applying the same
/// seed twice gives two different days.
pub fn day(options: &DayOptions) -> Result<Summary> {
    let started = Instant::now();
    if options.new_media > options.messages {
        return Err(ChatgenError::InvalidOption {
            name: "new-media",
            value: options.new_media.to_string(),
            reason: format!(
                "must not exceed --messages ({}), because each new media file comes with a new message",
                options.messages
            ),
        });
    }
    let db_path = database_path(&options.dir);
    let conn = open_existing(&db_path)?;
    let chats = people::load(&conn).on_db(&db_path)?;
    if chats.is_empty() {
        return Err(unusable(&db_path, "it has no chats"));
    }
    let (max_id, max_timestamp): (Option<i64>, Option<i64>) = conn
        .query_row("SELECT max(_id), max(timestamp) FROM message", [], |row| {
            Ok((row.get(0)?, row.get(1)?))
        })
        .on_db(&db_path)?;
    let max_id = max_id.unwrap_or(0);
    let day_start = (max_timestamp.unwrap_or(0).div_euclid(DAY_MS) + 1) * DAY_MS + 7 * 3_600_000;
    let mut rng = rng::stream("day", options.seed, max_id as u64);

    // Pauses scale with the message count so the messages fill about the active hours:
    // each message waits half a pause on average, and one in four also opens a session.
    let pause = (ACTIVE_HOURS * 3_600_000 / options.messages.max(1) as i64).clamp(2_000, 3_600_000);
    let corpus = Corpus::load()?;
    let config = TalkConfig {
        data_dir: options.dir.clone(),
        database_path: db_path.clone(),
        seed: options.seed,
        media_label: "day-media",
        session_gap_mean_ms: pause,
        reply_gap_ms: (1_000, pause),
        read_probability: 0.3,
    };
    let mut summary = Summary::default();
    let mut talk = Talk::new(&conn, &mut rng, config, &corpus, &chats, day_start)?;
    insert_messages(&conn, &db_path, &mut talk, &mut rng, options, &mut summary)?;
    mark_read(
        &conn,
        &db_path,
        &mut rng,
        options.status_updates,
        &mut summary,
    )?;
    delete_messages(
        &conn,
        &options.dir,
        &mut rng,
        max_id,
        options.deletions,
        &mut summary,
    )?;
    conn.close().map_err(|(_, source)| ChatgenError::Sqlite {
        path: db_path.clone(),
        source,
    })?;

    summary.chats = chats.len() as u64;
    summary.database_bytes = fs::metadata(&db_path)
        .on_path("read size of", &db_path)?
        .len();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Opens the message database of an existing data folder in WAL mode.
pub(crate) fn open_existing(db_path: &Path) -> Result<Connection> {
    if !db_path.is_file() {
        return Err(ChatgenError::DatabaseMissing {
            path: db_path.to_path_buf(),
        });
    }
    let conn = Connection::open(db_path).on_db(db_path)?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .on_db(db_path)?;
    schema::set_journal_mode(&conn, "WAL").on_db(db_path)?;
    conn.execute_batch("PRAGMA synchronous = NORMAL;")
        .on_db(db_path)?;
    let tables: i64 = conn
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('message', 'chat', 'jid', 'message_media')",
            [],
            |row| row.get(0),
        )
        .on_db(db_path)?;
    if tables != 4 {
        return Err(unusable(
            db_path,
            "the message, chat, jid or message_media table is missing",
        ));
    }
    Ok(conn)
}

fn unusable(db_path: &Path, reason: &str) -> ChatgenError {
    ChatgenError::DatabaseUnusable {
        path: db_path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Inserts the day's messages, one transaction each, spreading the new media evenly.
fn insert_messages(
    conn: &Connection,
    db_path: &Path,
    talk: &mut Talk<'_>,
    rng: &mut impl Rng,
    options: &DayOptions,
    summary: &mut Summary,
) -> Result<()> {
    let mut media_done = 0;
    for index in 0..options.messages {
        // Message `index` carries media when it is the first at or past the next slot.
        let media = if media_done < options.new_media
            && index >= media_done * options.messages / options.new_media.max(1)
        {
            media_done += 1;
            Some(day_media_spec(rng))
        } else {
            None
        };
        let tx = conn.unchecked_transaction().on_db(db_path)?;
        let emitted = talk.next_message(
            &tx,
            rng,
            MessageRequest {
                media,
                key_id: None,
            },
        )?;
        crate::store::update_chat_last(&tx, emitted.chat_id, emitted.id, emitted.timestamp)
            .on_db(db_path)?;
        tx.commit().on_db(db_path)?;
        summary.messages_inserted += 1;
        summary.transactions += 1;
        if let Some(file) = emitted.media {
            summary.media_files_written += 1;
            summary.media_bytes_written += file.size;
        }
    }
    Ok(())
}

/// Picks a new media file: a forwarded photo, a voice note or a short video.
fn day_media_spec(rng: &mut impl Rng) -> MediaSpec {
    let roll: f64 = rng.gen();
    let index = rng.gen::<u64>();
    if roll < 0.4 {
        MediaSpec {
            kind: MediaKind::Image,
            content: media::Content::Photo(rng.gen_range(0..PHOTOS.len())),
        }
    } else if roll < 0.7 {
        let size = media::log_uniform(rng, 6_000, 400_000);
        media::random_spec(MediaKind::VoiceNote, size, index)
    } else {
        let size = media::log_uniform(rng, 400_000, 4_000_000);
        media::random_spec(MediaKind::Video, size, index)
    }
}

/// Marks the newest sent-but-unread messages as read, in batches.
fn mark_read(
    conn: &Connection,
    db_path: &Path,
    rng: &mut impl Rng,
    count: u64,
    summary: &mut Summary,
) -> Result<()> {
    let candidates: Vec<(i64, i64)> = conn
        .prepare(
            "SELECT _id, timestamp FROM message WHERE from_me = 1 AND status IN (?1, ?2)
             ORDER BY _id DESC LIMIT ?3",
        )
        .and_then(|mut statement| {
            statement
                .query_map(
                    params![STATUS_SENT, STATUS_DELIVERED, count as i64],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )?
                .collect()
        })
        .on_db(db_path)?;
    if (candidates.len() as u64) < count {
        tracing::warn!(
            requested = count,
            available = candidates.len(),
            "fewer unread sent messages than status updates requested"
        );
    }
    for batch in candidates.chunks(STATUS_BATCH) {
        let tx = conn.unchecked_transaction().on_db(db_path)?;
        for &(id, timestamp) in batch {
            let read_at = timestamp + rng.gen_range(60_000..7_200_000);
            tx.prepare_cached("UPDATE message SET status = ?2 WHERE _id = ?1")
                .and_then(|mut s| s.execute(params![id, STATUS_READ]))
                .on_db(db_path)?;
            tx.prepare_cached(
                "UPDATE receipt_user SET read_timestamp = ?2 WHERE message_row_id = ?1 AND read_timestamp IS NULL",
            )
            .and_then(|mut s| s.execute(params![id, read_at]))
            .on_db(db_path)?;
            summary.status_updates += 1;
        }
        tx.commit().on_db(db_path)?;
        summary.transactions += 1;
    }
    Ok(())
}

/// Deletes `count` random messages with `_id <= max_id` ("delete for me"), with their
/// rows in other tables and their media files.
fn delete_messages(
    conn: &Connection,
    data_dir: &Path,
    rng: &mut impl Rng,
    max_id: i64,
    count: u64,
    summary: &mut Summary,
) -> Result<()> {
    let db_path = database_path(data_dir);
    let mut attempts = 0;
    while summary.messages_deleted < count && max_id > 0 && attempts < count * 50 + 100 {
        attempts += 1;
        let id = rng.gen_range(1..=max_id);
        let tx = conn.unchecked_transaction().on_db(&db_path)?;
        let chat: Option<i64> = tx
            .query_row(
                "SELECT chat_row_id FROM message WHERE _id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()
            .on_db(&db_path)?;
        let Some(chat) = chat else {
            continue;
        };
        let file_path: Option<String> = tx
            .query_row(
                "SELECT file_path FROM message_media WHERE message_row_id = ?1",
                [id],
                |row| row.get(0),
            )
            .optional()
            .on_db(&db_path)?;
        tx.execute_batch(&format!(
            "DELETE FROM message_media WHERE message_row_id = {id};
             DELETE FROM message_quoted WHERE message_row_id = {id};
             DELETE FROM receipt_user WHERE message_row_id = {id};
             DELETE FROM message WHERE _id = {id};"
        ))
        .on_db(&db_path)?;
        tx.execute(
            "UPDATE chat SET last_message_row_id = (SELECT max(_id) FROM message WHERE chat_row_id = ?1),
                display_message_row_id = (SELECT max(_id) FROM message WHERE chat_row_id = ?1)
             WHERE _id = ?1 AND last_message_row_id = ?2",
            params![chat, id],
        )
        .on_db(&db_path)?;
        tx.commit().on_db(&db_path)?;
        summary.messages_deleted += 1;
        summary.transactions += 1;

        if let Some(relative) = file_path {
            let path = data_dir.join(relative);
            match fs::remove_file(&path) {
                Ok(()) => summary.media_files_deleted += 1,
                Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
                Err(error) => return Err(error).on_path("delete media file", &path),
            }
        }
    }
    Ok(())
}
