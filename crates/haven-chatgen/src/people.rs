//! Contacts, groups and their chats.

use rand::seq::SliceRandom;
use rand::Rng;
use rusqlite::{params, Connection};

/// Largest number of contacts: the UK numbers 07700 900000 to 07700 900999, which
/// Ofcom reserves for fiction, so no generated number belongs to a real person.
pub const MAX_CONTACTS: usize = 1000;

const GROUP_WORDS: &[&str] = &[
    "Family",
    "Book club",
    "Climbing",
    "Flat",
    "Football",
    "Choir",
    "Project",
    "Running",
    "Cousins",
    "Reunion",
    "Garden",
    "Chess",
    "Holiday",
    "Parents",
    "Band",
    "Cycling",
];

/// One chat and the people in it other than the device owner.
#[derive(Debug, Clone)]
pub struct Chat {
    pub chat_id: i64,
    pub jid_id: i64,
    pub is_group: bool,
    /// `jid._id` of each other member: the contact of an individual chat, or the
    /// participants of a group.
    pub members: Vec<i64>,
}

/// Picks how many contacts and groups a data set of `size` bytes gets.
pub fn counts_for_size(size: u64) -> (usize, usize) {
    let contacts = (20 + size / 2_000_000).min(MAX_CONTACTS as u64) as usize;
    (contacts, contacts / 6 + 2)
}

/// Inserts `contacts` contacts with an individual chat each for three in four of them,
/// then `groups` groups of 3 to 12 participants, and returns the chats.
pub fn create(
    conn: &Connection,
    rng: &mut impl Rng,
    contacts: usize,
    groups: usize,
    created_ms: i64,
) -> rusqlite::Result<Vec<Chat>> {
    let contacts = contacts.clamp(1, MAX_CONTACTS);
    let mut numbers: Vec<usize> = (0..MAX_CONTACTS).collect();
    numbers.shuffle(rng);

    let mut insert_jid = conn.prepare_cached(
        "INSERT INTO jid (user, server, agent, device, type, raw_string) VALUES (?1, ?2, 0, 0, ?3, ?4)",
    )?;
    let mut contact_jids = Vec::with_capacity(contacts);
    for number in &numbers[..contacts] {
        let user = format!("447700900{number:03}");
        let raw = format!("{user}@s.whatsapp.net");
        insert_jid.execute(params![user, "s.whatsapp.net", 0, raw])?;
        contact_jids.push(conn.last_insert_rowid());
    }

    let mut chats = Vec::new();
    for &jid in &contact_jids {
        if rng.gen_bool(0.75) || chats.is_empty() {
            let chat_id = insert_chat(conn, jid, None, created_ms)?;
            chats.push(Chat {
                chat_id,
                jid_id: jid,
                is_group: false,
                members: vec![jid],
            });
        }
    }

    let mut insert_participant = conn.prepare_cached(
        "INSERT INTO group_participant_user (group_jid_row_id, user_jid_row_id, rank, pending) VALUES (?1, ?2, ?3, 0)",
    )?;
    for group in 0..groups {
        let user = format!("120363{:012}", rng.gen_range(0..1_000_000_000_000u64));
        let raw = format!("{user}@g.us");
        insert_jid.execute(params![user, "g.us", 1, raw])?;
        let jid = conn.last_insert_rowid();
        let word = GROUP_WORDS[group % GROUP_WORDS.len()];
        let subject = format!("{word} {}", group / GROUP_WORDS.len() + 1);
        let chat_id = insert_chat(conn, jid, Some(&subject), created_ms)?;

        let size = rng.gen_range(3..=12).min(contact_jids.len());
        let mut members: Vec<i64> = contact_jids.choose_multiple(rng, size).copied().collect();
        members.sort_unstable();
        for (rank, member) in members.iter().enumerate() {
            insert_participant.execute(params![jid, member, i64::from(rank == 0)])?;
        }
        chats.push(Chat {
            chat_id,
            jid_id: jid,
            is_group: true,
            members,
        });
    }
    Ok(chats)
}

fn insert_chat(
    conn: &Connection,
    jid: i64,
    subject: Option<&str>,
    created_ms: i64,
) -> rusqlite::Result<i64> {
    conn.prepare_cached(
        "INSERT INTO chat (jid_row_id, hidden, subject, created_timestamp, archived, sort_timestamp, unseen_message_count, group_type)
         VALUES (?1, 0, ?2, ?3, 0, ?3, 0, 0)",
    )?
    .execute(params![jid, subject, created_ms])?;
    Ok(conn.last_insert_rowid())
}

/// Loads the chats of an existing database, in `chat._id` order.
pub fn load(conn: &Connection) -> rusqlite::Result<Vec<Chat>> {
    let mut chats: Vec<Chat> = conn
        .prepare("SELECT chat._id, chat.jid_row_id, jid.server FROM chat JOIN jid ON jid._id = chat.jid_row_id ORDER BY chat._id")?
        .query_map([], |row| {
            let server: String = row.get(2)?;
            let jid_id: i64 = row.get(1)?;
            Ok(Chat {
                chat_id: row.get(0)?,
                jid_id,
                is_group: server == "g.us",
                members: vec![jid_id],
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut participants = conn.prepare(
        "SELECT user_jid_row_id FROM group_participant_user WHERE group_jid_row_id = ?1 ORDER BY user_jid_row_id",
    )?;
    for chat in chats.iter_mut().filter(|chat| chat.is_group) {
        chat.members = participants
            .query_map([chat.jid_id], |row| row.get(0))?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(chats)
}

/// Picks chats with a Zipf-like skew: the chat of rank `r` is chosen with weight
/// 1 / (r + 1), so a few chats get most messages, as on a real phone. Ranks are a
/// random permutation, so groups and individual chats both appear among the busiest.
#[derive(Debug)]
pub struct ChatPicker {
    cumulative: Vec<f64>,
    /// Chat index of each rank.
    chat_of_rank: Vec<usize>,
}

impl ChatPicker {
    pub fn new(chat_count: usize, rng: &mut impl Rng) -> ChatPicker {
        let mut total = 0.0;
        let cumulative = (0..chat_count)
            .map(|rank| {
                total += 1.0 / (rank as f64 + 1.0);
                total
            })
            .collect();
        let mut chat_of_rank: Vec<usize> = (0..chat_count).collect();
        chat_of_rank.shuffle(rng);
        ChatPicker {
            cumulative,
            chat_of_rank,
        }
    }

    /// Returns the index of the next chat.
    pub fn pick(&self, rng: &mut impl Rng) -> usize {
        let total = *self.cumulative.last().expect("at least one chat");
        let target = rng.gen_range(0.0..total);
        let rank = self
            .cumulative
            .partition_point(|&c| c <= target)
            .min(self.cumulative.len() - 1);
        self.chat_of_rank[rank]
    }
}
