//! A conversation simulator that emits one message at a time: sessions in a chat, each
//! made of one to three corpus dialogues, with owner and contacts taking turns.

use std::path::PathBuf;

use rand::Rng;
use rusqlite::Connection;

use crate::corpus::Corpus;
use crate::error::{Result, SqliteContext};
use crate::media::{self, MediaFile, MediaSpec};
use crate::people::{Chat, ChatPicker};
use crate::store::{self, MessageWriter, NewMessage, Quote};

/// Shortest and longest pause between two messages of a session, in milliseconds.
pub const REPLY_GAP_MS: (i64, i64) = (3_000, 180_000);
/// Share of messages that quote the previous message of their session.
const QUOTE_PROBABILITY: f64 = 0.04;
/// Share of messages the owner stars.
const STAR_PROBABILITY: f64 = 0.005;

/// Settings of a simulator.
#[derive(Debug, Clone)]
pub struct TalkConfig {
    /// Data folder that media files are written under.
    pub data_dir: PathBuf,
    pub database_path: PathBuf,
    /// Seed and label of the random streams of media file contents.
    pub seed: u64,
    pub media_label: &'static str,
    /// Mean pause between sessions, in milliseconds.
    pub session_gap_mean_ms: i64,
    /// Shortest and longest pause between two messages of a session, in milliseconds.
    pub reply_gap_ms: (i64, i64),
    /// Share of the owner's messages that recipients have already read.
    pub read_probability: f64,
}

/// Request for the content of the next message.
#[derive(Debug, Default)]
pub struct MessageRequest {
    /// Attach this media file instead of the next line of text.
    pub media: Option<MediaSpec>,
    /// Use this key id instead of a random one.
    pub key_id: Option<String>,
}

/// A message as written.
#[derive(Debug)]
pub struct Emitted {
    pub id: i64,
    pub chat_id: i64,
    pub timestamp: i64,
    pub media: Option<MediaFile>,
}

#[derive(Debug)]
struct Session {
    chat_index: usize,
    /// Remaining utterances as (conversation index, utterance index), in order.
    lines: Vec<(usize, usize)>,
    next_line: usize,
    previous_speaker: Option<i64>,
    previous_message: Option<Quote>,
}

/// The simulator. Each call to [`Talk::next_message`] writes one message and its rows.
#[derive(Debug)]
pub struct Talk<'a> {
    config: TalkConfig,
    corpus: &'a Corpus,
    chats: &'a [Chat],
    picker: ChatPicker,
    writer: MessageWriter,
    session: Option<Session>,
    /// Clock of the newest message, in milliseconds since the epoch.
    pub clock_ms: i64,
    /// Newest (message id, timestamp) of each chat, by chat index.
    pub last_in_chat: Vec<Option<(i64, i64)>>,
}

impl<'a> Talk<'a> {
    /// Starts a simulator whose first message comes after `clock_ms`.
    pub fn new(
        conn: &Connection,
        rng: &mut impl Rng,
        config: TalkConfig,
        corpus: &'a Corpus,
        chats: &'a [Chat],
        clock_ms: i64,
    ) -> Result<Talk<'a>> {
        let writer = MessageWriter::open(conn).on_db(&config.database_path)?;
        Ok(Talk {
            config,
            corpus,
            chats,
            picker: ChatPicker::new(chats.len(), rng),
            writer,
            session: None,
            clock_ms,
            last_in_chat: vec![None; chats.len()],
        })
    }

    /// Writes the next message, with its media, quote and receipt rows, and advances
    /// the clock. The caller owns the transaction.
    pub fn next_message(
        &mut self,
        conn: &Connection,
        rng: &mut impl Rng,
        request: MessageRequest,
    ) -> Result<Emitted> {
        if self
            .session
            .as_ref()
            .is_none_or(|s| s.next_line >= s.lines.len())
        {
            self.start_session(rng);
        }
        let session = self.session.as_mut().expect("session started above");
        let chat = &self.chats[session.chat_index];

        let speaker = pick_speaker(rng, chat, session.previous_speaker);
        let from_me = speaker == 0;
        let (conversation, line) = session.lines[session.next_line];
        let text = match request.media {
            Some(_) => None,
            None => {
                session.next_line += 1;
                Some(self.corpus.conversations[conversation][line].as_str())
            }
        };
        if session.previous_speaker.is_some() {
            let (min, max) = self.config.reply_gap_ms;
            self.clock_ms += rng.gen_range(min..max.max(min + 1));
        }
        session.previous_speaker = Some(speaker);
        let timestamp = self.clock_ms;

        let media = match &request.media {
            Some(spec) => Some(media::write_file(
                &self.config.data_dir,
                spec,
                self.config.media_label,
                self.config.seed,
                timestamp,
                from_me,
            )?),
            None => None,
        };
        let read = from_me && rng.gen_bool(self.config.read_probability);
        let status = match (from_me, read) {
            (false, _) => store::STATUS_RECEIVED,
            (true, true) => store::STATUS_READ,
            (true, false) => store::STATUS_DELIVERED,
        };
        let message = NewMessage {
            chat_id: chat.chat_id,
            from_me,
            sender_jid: (chat.is_group && !from_me).then_some(speaker),
            key_id: request.key_id.unwrap_or_else(|| store::key_id(rng)),
            status,
            timestamp,
            message_type: request
                .media
                .map_or(store::TYPE_TEXT, |spec| spec.kind.message_type()),
            text,
            starred: rng.gen_bool(STAR_PROBABILITY),
        };
        let quote = session
            .previous_message
            .take()
            .filter(|_| rng.gen_bool(QUOTE_PROBABILITY));

        let path = &self.config.database_path;
        let id = self.writer.insert(conn, &message).on_db(path)?;
        if let Some(quote) = &quote {
            store::insert_quote(conn, id, quote).on_db(path)?;
        }
        if let Some(file) = &media {
            store::insert_media(conn, rng, id, chat.chat_id, file, timestamp).on_db(path)?;
        }
        if from_me {
            let delivered = timestamp + rng.gen_range(500..30_000);
            let read_at = read.then(|| delivered + rng.gen_range(1_000..3_600_000));
            let played = read_at.filter(|_| message.message_type == 2);
            store::insert_receipts(conn, id, &chat.members, delivered, read_at, played)
                .on_db(path)?;
        }
        session.previous_message = Some(Quote::of(&message));
        self.last_in_chat[session.chat_index] = Some((id, timestamp));

        Ok(Emitted {
            id,
            chat_id: chat.chat_id,
            timestamp,
            media,
        })
    }

    fn start_session(&mut self, rng: &mut impl Rng) {
        let mean = self.config.session_gap_mean_ms.max(1);
        self.clock_ms += rng.gen_range(1_000..=2 * mean);
        let mut lines = Vec::new();
        for _ in 0..rng.gen_range(1..=3) {
            let conversation = rng.gen_range(0..self.corpus.conversations.len());
            let count = self.corpus.conversations[conversation].len();
            lines.extend((0..count).map(|line| (conversation, line)));
        }
        self.session = Some(Session {
            chat_index: self.picker.pick(rng),
            lines,
            next_line: 0,
            previous_speaker: None,
            previous_message: None,
        });
    }
}

/// Picks who speaks next: 0 for the owner, else a member's `jid._id`. In an individual
/// chat the two sides alternate, and in a group anyone but the previous speaker may talk.
fn pick_speaker(rng: &mut impl Rng, chat: &Chat, previous: Option<i64>) -> i64 {
    if !chat.is_group {
        return match previous {
            None if rng.gen_bool(0.5) => 0,
            None => chat.members[0],
            Some(0) => chat.members[0],
            Some(_) => 0,
        };
    }
    loop {
        let choice = rng.gen_range(0..=chat.members.len());
        let speaker = if choice == 0 {
            0
        } else {
            chat.members[choice - 1]
        };
        if Some(speaker) != previous || chat.members.is_empty() {
            return speaker;
        }
    }
}
