//! Building a new data folder.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rusqlite::{params, Connection};

use crate::corpus::Corpus;
use crate::error::{ChatgenError, IoContext, Result, SqliteContext};
use crate::media::{self, MediaSpec};
use crate::talk::{MessageRequest, Talk, TalkConfig};
use crate::time::HISTORY_START_MS;
use crate::{people, rng, schema, Summary};

/// Share of the size target given to the database, in percent. Media gets the rest.
pub const DATABASE_PERCENT: u64 = 40;
/// Estimated database bytes per message, with indexes and FTS, used only to spread
/// media messages and sessions over the history. Measured on generated sets: about
/// 265 bytes with the FTS index.
const ESTIMATED_BYTES_PER_MESSAGE: u64 = 265;
/// FTS5 index size as a percentage of the rest of the database, estimated from
/// generated sets (about 16%) and rounded down so the first fill stays under target.
const FTS_PERCENT: u64 = 14;
/// Time the generated history spans, roughly: two years.
const HISTORY_SPAN_MS: i64 = 2 * 365 * 86_400_000;
/// Average messages per session, used to size the pause between sessions.
const MESSAGES_PER_SESSION: i64 = 4;

/// Options of [`generate`].
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Data folder to create. It must be missing or empty.
    pub out: PathBuf,
    /// Target size of database plus media, in bytes.
    pub size: u64,
    pub seed: u64,
    /// Build the FTS5 index over message text.
    pub fts: bool,
}

/// Returns the path of the message database in a data folder.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("databases").join("msgstore.db")
}

/// Builds a data folder: `databases/msgstore.db` and `media/`. The same options give
/// byte-identical files. About 40% of `size` goes to the database and 60% to media.
pub fn generate(options: &GenerateOptions) -> Result<Summary> {
    let started = Instant::now();
    if options.size < crate::size::MIN_SIZE {
        return Err(ChatgenError::InvalidOption {
            name: "size",
            value: options.size.to_string(),
            reason: "must be at least 1000000 bytes".into(),
        });
    }
    prepare_output(&options.out)?;
    let db_path = database_path(&options.out);
    let database_budget = options.size / 100 * DATABASE_PERCENT;
    let media_plan = media::plan(options.size - database_budget, options.seed);

    let mut conn = Connection::open(&db_path).on_db(&db_path)?;
    conn.execute_batch(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -131072;
         PRAGMA temp_store = MEMORY; PRAGMA locking_mode = EXCLUSIVE;",
    )
    .on_db(&db_path)?;
    schema::create(&conn, false).on_db(&db_path)?;

    let corpus = Corpus::load()?;
    let mut rng = rng::stream("generate", options.seed, 0);
    let (contacts, groups) = people::counts_for_size(options.size);
    let tx = conn.transaction().on_db(&db_path)?;
    tx.execute(
        "INSERT INTO props (key, value) VALUES ('chatgen_seed', ?1), ('chatgen_size', ?2)",
        params![options.seed.to_string(), options.size.to_string()],
    )
    .on_db(&db_path)?;
    let chats =
        people::create(&tx, &mut rng, contacts, groups, HISTORY_START_MS).on_db(&db_path)?;
    tx.commit().on_db(&db_path)?;

    let estimated_messages = (database_budget / ESTIMATED_BYTES_PER_MESSAGE).max(1);
    let sessions = (estimated_messages as i64 / MESSAGES_PER_SESSION).max(1);
    let config = TalkConfig {
        data_dir: options.out.clone(),
        database_path: db_path.clone(),
        seed: options.seed,
        media_label: "generate-media",
        session_gap_mean_ms: HISTORY_SPAN_MS / sessions,
        reply_gap_ms: crate::talk::REPLY_GAP_MS,
        read_probability: 0.97,
    };
    let mut talk = Talk::new(&conn, &mut rng, config, &corpus, &chats, HISTORY_START_MS)?;
    let mut fill = Fill {
        plan: &media_plan,
        next_media: 0,
        media_every: (estimated_messages / (media_plan.len() as u64 + 1)).max(1),
        messages: 0,
        media_bytes: 0,
        transactions: 1,
    };
    if options.fts {
        // Fill to an estimate of the size before the index, build the index in one pass,
        // then top up through the triggers if the estimate fell short.
        let before_fts = database_budget * 100 / (100 + FTS_PERCENT);
        fill_database(
            &mut conn, &db_path, &mut talk, &mut rng, &mut fill, before_fts,
        )?;
        schema::add_fts(&conn).on_db(&db_path)?;
        fill.transactions += 1;
    }
    fill_database(
        &mut conn,
        &db_path,
        &mut talk,
        &mut rng,
        &mut fill,
        database_budget,
    )?;

    let tx = conn.transaction().on_db(&db_path)?;
    for (chat, last) in chats.iter().zip(&talk.last_in_chat) {
        if let Some((id, timestamp)) = last {
            crate::store::update_chat_last(&tx, chat.chat_id, *id, *timestamp).on_db(&db_path)?;
        }
    }
    tx.commit().on_db(&db_path)?;
    let mode = schema::set_journal_mode(&conn, "WAL").on_db(&db_path)?;
    tracing::debug!(mode, "journal mode set");
    drop(conn);

    let database_bytes = fs::metadata(&db_path)
        .on_path("read size of", &db_path)?
        .len();
    Ok(Summary {
        messages_inserted: fill.messages,
        media_files_written: fill.next_media as u64,
        media_bytes_written: fill.media_bytes,
        transactions: fill.transactions + 1,
        chats: chats.len() as u64,
        database_bytes,
        elapsed: started.elapsed(),
        ..Summary::default()
    })
}

/// Creates the data folder layout, rejecting a folder that already has entries.
fn prepare_output(out: &Path) -> Result<()> {
    if out.exists() {
        let mut entries = fs::read_dir(out).on_path("list", out)?;
        if entries.next().is_some() {
            return Err(ChatgenError::OutputNotEmpty {
                path: out.to_path_buf(),
            });
        }
    }
    for folder in [out.join("databases"), out.join("media")] {
        fs::create_dir_all(&folder).on_path("create folder", &folder)?;
    }
    Ok(())
}

/// Progress of the message loop.
struct Fill<'p> {
    plan: &'p [MediaSpec],
    next_media: usize,
    media_every: u64,
    messages: u64,
    media_bytes: u64,
    transactions: u64,
}

/// Inserts messages in batched transactions until the database reaches `budget` bytes
/// and every planned media file has its message.
fn fill_database(
    conn: &mut Connection,
    db_path: &Path,
    talk: &mut Talk<'_>,
    rng: &mut impl rand::Rng,
    fill: &mut Fill<'_>,
    budget: u64,
) -> Result<()> {
    loop {
        let size = database_size(conn).on_db(db_path)?;
        let media_left = fill.next_media < fill.plan.len();
        if size >= budget && !media_left {
            return Ok(());
        }
        // Batches shrink near the target so the result overshoots by little. The page
        // count is read only between transactions, where it is exact.
        let batch = if size >= budget {
            fill.plan.len() - fill.next_media
        } else {
            ((budget - size) / 600).clamp(100, 20_000) as usize
        };
        let database_full = size >= budget;
        let tx = conn.transaction().on_db(db_path)?;
        for _ in 0..batch {
            let due = database_full || (fill.messages + 1).is_multiple_of(fill.media_every);
            let media = match fill.plan.get(fill.next_media) {
                Some(spec) if due => {
                    fill.next_media += 1;
                    Some(*spec)
                }
                _ => None,
            };
            let request = MessageRequest {
                media,
                key_id: None,
            };
            let emitted = talk.next_message(&tx, rng, request)?;
            if let Some(file) = emitted.media {
                fill.media_bytes += file.size;
            }
            fill.messages += 1;
        }
        tx.commit().on_db(db_path)?;
        fill.transactions += 1;
    }
}

/// Returns the database size in bytes from its page count.
pub fn database_size(conn: &Connection) -> rusqlite::Result<u64> {
    let pages: i64 = conn.query_row("PRAGMA page_count", [], |row| row.get(0))?;
    Ok(pages as u64 * u64::from(schema::PAGE_SIZE))
}
