//! A live writer for backup tests: numbered transactions that a restored copy must
//! contain as a gap-free prefix.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use rusqlite::{params, Connection};

use crate::corpus::Corpus;
use crate::error::{ChatgenError, IoContext, Result, SqliteContext};
use crate::generate::database_path;
use crate::talk::{MessageRequest, Talk, TalkConfig};
use crate::time::HISTORY_START_MS;
use crate::{people, rng, schema, Summary};

/// Prefix of the key ids of writer messages: `HVNW-<seq>-<index>`.
const KEY_PREFIX: &str = "HVNW-";

/// Journal mode of the writer's database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalMode {
    /// Write-ahead log: commits go to `msgstore.db-wal` until a checkpoint.
    Wal,
    /// Rollback journal: commits go to the database file, `-journal` contains the undo data.
    Delete,
}

impl JournalMode {
    fn pragma(self) -> &'static str {
        match self {
            JournalMode::Wal => "WAL",
            JournalMode::Delete => "DELETE",
        }
    }
}

/// Callback run after each commit with the committed sequence number.
pub type CommitHook = Arc<dyn Fn(u64) + Send + Sync>;

/// Options of [`write`].
#[derive(Clone)]
pub struct WriteOptions {
    /// Data folder. Without a message database, an empty one with a few chats is made.
    pub dir: PathBuf,
    pub seed: u64,
    /// Transactions to commit.
    pub transactions: u64,
    /// Pause after each commit.
    pub interval: Duration,
    pub journal: JournalMode,
    /// Stops the writer after the current transaction once set.
    pub stop: Option<Arc<AtomicBool>>,
    pub on_commit: Option<CommitHook>,
}

impl fmt::Debug for WriteOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteOptions")
            .field("dir", &self.dir)
            .field("seed", &self.seed)
            .field("transactions", &self.transactions)
            .field("interval", &self.interval)
            .field("journal", &self.journal)
            .field("stop", &self.stop)
            .field("on_commit", &self.on_commit.as_ref().map(|_| "Fn(u64)"))
            .finish()
    }
}

/// Commits numbered transactions. Each inserts one to four messages and one
/// `writer_log` row (`seq`, first message id, message count), so a copy of the database
/// taken at any moment contains writer transactions 1..=n for some n and nothing else.
/// Sequence numbers continue from the database's largest `seq`.
pub fn write(options: &WriteOptions) -> Result<Summary> {
    let started = Instant::now();
    let db_path = database_path(&options.dir);
    let mut conn = open_or_create(&options.dir, &db_path, options.seed)?;
    schema::set_journal_mode(&conn, options.journal.pragma()).on_db(&db_path)?;
    conn.execute_batch(schema::WRITER_LOG).on_db(&db_path)?;

    let chats = people::load(&conn).on_db(&db_path)?;
    let last_seq: i64 = conn
        .query_row("SELECT coalesce(max(seq), 0) FROM writer_log", [], |row| {
            row.get(0)
        })
        .on_db(&db_path)?;
    let max_timestamp: Option<i64> = conn
        .query_row("SELECT max(timestamp) FROM message", [], |row| row.get(0))
        .on_db(&db_path)?;
    let mut rng = rng::stream("write", options.seed, last_seq as u64);
    let corpus = Corpus::load()?;
    let config = TalkConfig {
        data_dir: options.dir.clone(),
        database_path: db_path.clone(),
        seed: options.seed,
        media_label: "write-media",
        session_gap_mean_ms: 600_000,
        reply_gap_ms: crate::talk::REPLY_GAP_MS,
        read_probability: 0.5,
    };
    let clock = max_timestamp.unwrap_or(HISTORY_START_MS);
    let mut talk = Talk::new(&conn, &mut rng, config, &corpus, &chats, clock)?;

    let mut summary = Summary::default();
    for seq in (last_seq as u64 + 1)..=(last_seq as u64 + options.transactions) {
        if options
            .stop
            .as_ref()
            .is_some_and(|stop| stop.load(Ordering::SeqCst))
        {
            break;
        }
        let count = rng.gen_range(1..=4u64);
        let tx = conn.transaction().on_db(&db_path)?;
        let mut first = None;
        for index in 0..count {
            let request = MessageRequest {
                media: None,
                key_id: Some(format!("{KEY_PREFIX}{seq}-{index}")),
            };
            let emitted = talk.next_message(&tx, &mut rng, request)?;
            first.get_or_insert(emitted.id);
        }
        tx.execute(
            "INSERT INTO writer_log (seq, first_message_row_id, message_count, committed_timestamp) VALUES (?1, ?2, ?3, ?4)",
            params![seq as i64, first, count as i64, talk.clock_ms],
        )
        .on_db(&db_path)?;
        tx.commit().on_db(&db_path)?;
        summary.transactions += 1;
        summary.messages_inserted += count;
        if let Some(hook) = &options.on_commit {
            hook(seq);
        }
        if !options.interval.is_zero() {
            std::thread::sleep(options.interval);
        }
    }
    drop(talk);
    conn.close().map_err(|(_, source)| ChatgenError::Sqlite {
        path: db_path.clone(),
        source,
    })?;
    summary.chats = chats.len() as u64;
    summary.database_bytes = std::fs::metadata(&db_path)
        .on_path("read size of", &db_path)?
        .len();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Opens the database of `dir`, first creating an empty message store with a few
/// chats when the folder has none.
fn open_or_create(dir: &Path, db_path: &Path, seed: u64) -> Result<Connection> {
    if db_path.exists() {
        return crate::day::open_existing(db_path);
    }
    let databases = db_path.parent().expect("database path has a parent");
    std::fs::create_dir_all(databases).on_path("create folder", databases)?;
    std::fs::create_dir_all(dir.join("media")).on_path("create folder", &dir.join("media"))?;
    let mut conn = Connection::open(db_path).on_db(db_path)?;
    let tx = conn.transaction().on_db(db_path)?;
    schema::create(&tx, true).on_db(db_path)?;
    let mut rng = rng::stream("write-people", seed, 0);
    people::create(&tx, &mut rng, 8, 2, HISTORY_START_MS).on_db(db_path)?;
    tx.commit().on_db(db_path)?;
    conn.execute_batch("PRAGMA synchronous = NORMAL;")
        .on_db(db_path)?;
    Ok(conn)
}

/// Contents of a database's writer log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriterLog {
    /// Committed writer transactions: `seq` runs 1..=transactions.
    pub transactions: u64,
    /// Writer messages over all those transactions.
    pub messages: u64,
}

/// Checks that the database at `db_path` contains exactly writer transactions
/// 1..=n: `writer_log` has no gap, and the writer messages present are exactly those
/// its rows list. Opens the database read-only.
pub fn check_writer_log(db_path: &Path) -> Result<WriterLog> {
    let conn = Connection::open_with_flags(db_path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .on_db(db_path)?;
    let log: Vec<(i64, i64, i64)> = conn
        .prepare("SELECT seq, first_message_row_id, message_count FROM writer_log ORDER BY seq")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect()
        })
        .on_db(db_path)?;

    let mut found: BTreeMap<i64, Vec<(i64, String)>> = BTreeMap::new();
    let mut statement = conn
        .prepare("SELECT _id, key_id FROM message WHERE key_id GLOB 'HVNW-*' ORDER BY _id")
        .on_db(db_path)?;
    let rows = statement
        .query_map([], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })
        .on_db(db_path)?;
    for row in rows {
        let (id, key) = row.on_db(db_path)?;
        let seq = key[KEY_PREFIX.len()..]
            .split('-')
            .next()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| {
                log_error(format!(
                    "message {id} has a malformed writer key id {key:?}"
                ))
            })?;
        found.entry(seq).or_default().push((id, key));
    }

    let mut messages = 0;
    for (position, &(seq, first, count)) in log.iter().enumerate() {
        let expected_seq = position as i64 + 1;
        if seq != expected_seq {
            return Err(log_error(format!(
                "writer_log jumps from seq {} to {seq}",
                expected_seq - 1
            )));
        }
        let rows = found.remove(&seq).unwrap_or_default();
        let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
        let expected_ids: Vec<i64> = (first..first + count).collect();
        if ids != expected_ids {
            return Err(log_error(format!(
                "transaction {seq} lists messages {expected_ids:?} but the database has {ids:?}"
            )));
        }
        messages += count as u64;
    }
    if let Some((seq, rows)) = found.into_iter().next() {
        return Err(log_error(format!(
            "{} message(s) of transaction {seq} are present without its writer_log row",
            rows.len()
        )));
    }
    Ok(WriterLog {
        transactions: log.len() as u64,
        messages,
    })
}

fn log_error(reason: String) -> ChatgenError {
    ChatgenError::WriterLog { reason }
}
