//! A database with every kind of table that row increments cover, a random day of
//! changes to it, and a dump of every row for comparing restores.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use haven_repo::{
    BackupOptions, BackupResult, ObjectId, Repository, RestoreOptions, SqliteOptions,
};
use rusqlite::types::Value;
use rusqlite::{params, Connection, OpenFlags};

/// Tables of the test database, one of each kind that increments cover. `plain` has
/// an INTEGER PRIMARY KEY and `auto` AUTOINCREMENT. `keyed` has a TEXT primary key,
/// so it is still a rowid table. `pairs` is WITHOUT ROWID and `loose` has no primary
/// key. `notes` is an FTS5 table with its own content, and `docs_fts` an FTS5 index
/// over `docs` that triggers keep up to date. `old_notes` is an FTS4 table, and
/// `tags` a contentless FTS5 table, whose index tables stay in the increments
/// because a restore cannot rebuild them. A trigger fills `audit`, so a restore
/// that ran triggers would add rows to it.
pub const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    CREATE TABLE plain(id INTEGER PRIMARY KEY, name TEXT, score REAL, data BLOB);
    CREATE TABLE auto(id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
    CREATE TABLE keyed(code TEXT PRIMARY KEY, value INTEGER UNIQUE);
    CREATE TABLE pairs(a INTEGER, b TEXT, c BLOB, PRIMARY KEY(a, b)) WITHOUT ROWID;
    CREATE TABLE loose(x, y);
    CREATE TABLE audit(id INTEGER PRIMARY KEY, note TEXT);
    CREATE TABLE docs(id INTEGER PRIMARY KEY, body TEXT);
    CREATE VIRTUAL TABLE notes USING fts5(title, body);
    CREATE VIRTUAL TABLE docs_fts USING fts5(body, content='docs', content_rowid='id');
    CREATE VIRTUAL TABLE old_notes USING fts4(body, tokenize=porter);
    CREATE VIRTUAL TABLE tags USING fts5(tag, content='');
    CREATE TRIGGER docs_ai AFTER INSERT ON docs BEGIN
        INSERT INTO docs_fts(rowid, body) VALUES (new.id, new.body);
    END;
    CREATE TRIGGER docs_ad AFTER DELETE ON docs BEGIN
        INSERT INTO docs_fts(docs_fts, rowid, body) VALUES ('delete', old.id, old.body);
    END;
    CREATE TRIGGER docs_au AFTER UPDATE ON docs BEGIN
        INSERT INTO docs_fts(docs_fts, rowid, body) VALUES ('delete', old.id, old.body);
        INSERT INTO docs_fts(rowid, body) VALUES (new.id, new.body);
    END;
    CREATE TRIGGER plain_au AFTER UPDATE ON plain BEGIN
        INSERT INTO audit(note) VALUES ('updated ' || new.id);
    END;
";

const WORDS: &[&str] = &[
    "apple", "river", "stone", "cloud", "ember", "maple", "quartz", "delta", "harbor", "velvet",
];

/// A small deterministic random number generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn text(&mut self, words: usize) -> String {
        (0..words)
            .map(|_| WORDS[self.below(WORDS.len() as u64) as usize])
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn blob(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Creates the test database at `path`.
pub fn create_database(path: &Path) {
    let conn = Connection::open(path).unwrap();
    conn.execute_batch(SCHEMA).unwrap();
}

/// Applies one day of random inserts, updates and deletes to every table.
pub fn mutate_day(path: &Path, rng: &mut Rng) {
    let mut conn = Connection::open(path).unwrap();
    let tx = conn.transaction().unwrap();
    for _ in 0..20 {
        let id = rng.below(200) as i64;
        match rng.below(4) {
            0 => {
                tx.execute("DELETE FROM plain WHERE id = ?1", [id]).unwrap();
            }
            1 => {
                tx.execute(
                    "UPDATE plain SET score = ?2, name = NULL WHERE id = ?1",
                    params![id, rng.below(1000) as f64 / 7.0],
                )
                .unwrap();
            }
            _ => {
                let len = rng.below(3000) as usize;
                let data: Option<Vec<u8>> = (rng.below(3) > 0).then(|| rng.blob(len));
                tx.execute(
                    "INSERT OR REPLACE INTO plain(id, name, score, data) VALUES (?1, ?2, ?3, ?4)",
                    params![id, rng.text(3), -(rng.below(100) as f64) / 3.0, data],
                )
                .unwrap();
            }
        }
        let text = if rng.below(10) == 0 {
            // Large text, longer than a page, so it spills into overflow pages.
            rng.text(20_000)
        } else {
            rng.text(5)
        };
        tx.execute("INSERT INTO auto(body) VALUES (?1)", [text])
            .unwrap();
        if rng.below(3) == 0 {
            tx.execute("DELETE FROM auto WHERE id = (SELECT max(id) FROM auto)", [])
                .unwrap();
        }
        let code = format!("k{}", rng.below(80));
        match rng.below(3) {
            0 => {
                tx.execute("DELETE FROM keyed WHERE code = ?1", [&code])
                    .unwrap();
            }
            _ => {
                tx.execute(
                    "INSERT OR REPLACE INTO keyed(code, value) VALUES (?1, ?2)",
                    params![code, rng.below(60) as i64],
                )
                .unwrap();
            }
        }
        let (a, b) = (rng.below(30) as i64, WORDS[rng.below(4) as usize]);
        match rng.below(3) {
            0 => {
                tx.execute("DELETE FROM pairs WHERE a = ?1 AND b = ?2", params![a, b])
                    .unwrap();
            }
            _ => {
                let c: Option<Vec<u8>> = (rng.below(2) == 0).then(|| rng.blob(40));
                tx.execute(
                    "INSERT OR REPLACE INTO pairs(a, b, c) VALUES (?1, ?2, ?3)",
                    params![a, b, c],
                )
                .unwrap();
            }
        }
        match rng.below(3) {
            0 => {
                tx.execute("DELETE FROM loose WHERE rowid IN (SELECT rowid FROM loose ORDER BY random() LIMIT 1)", [])
                    .unwrap();
            }
            1 => {
                tx.execute(
                    "UPDATE loose SET y = ?1 WHERE rowid % 7 = ?2",
                    params![rng.text(2), rng.below(7) as i64],
                )
                .unwrap();
            }
            _ => {
                let y: Value = match rng.below(4) {
                    0 => Value::Null,
                    1 => Value::Integer(rng.next() as i64),
                    2 => Value::Real(rng.below(1000) as f64 * 0.25),
                    _ => Value::Blob(rng.blob(16)),
                };
                tx.execute(
                    "INSERT INTO loose(x, y) VALUES (?1, ?2)",
                    params![rng.text(1), y],
                )
                .unwrap();
            }
        }
        let doc = rng.below(100) as i64;
        match rng.below(3) {
            0 => {
                tx.execute("DELETE FROM docs WHERE id = ?1", [doc]).unwrap();
            }
            1 => {
                tx.execute(
                    "UPDATE docs SET body = ?2 WHERE id = ?1",
                    params![doc, rng.text(8)],
                )
                .unwrap();
            }
            _ => {
                tx.execute(
                    "INSERT OR IGNORE INTO docs(id, body) VALUES (?1, ?2)",
                    params![doc, rng.text(8)],
                )
                .unwrap();
            }
        }
        match rng.below(3) {
            0 => {
                tx.execute(
                    "DELETE FROM old_notes WHERE rowid = ?1",
                    [rng.below(60) as i64],
                )
                .unwrap();
            }
            _ => {
                tx.execute(
                    "INSERT OR REPLACE INTO old_notes(rowid, body) VALUES (?1, ?2)",
                    params![rng.below(60) as i64, rng.text(10)],
                )
                .unwrap();
            }
        }
        // A contentless table takes inserts only.
        tx.execute("INSERT INTO tags(tag) VALUES (?1)", [rng.text(2)])
            .unwrap();
        match rng.below(3) {
            0 => {
                tx.execute("DELETE FROM notes WHERE rowid = ?1", [rng.below(60) as i64])
                    .unwrap();
            }
            _ => {
                tx.execute(
                    "INSERT OR REPLACE INTO notes(rowid, title, body) VALUES (?1, ?2, ?3)",
                    params![rng.below(60) as i64, rng.text(2), rng.text(12)],
                )
                .unwrap();
            }
        }
    }
    tx.commit().unwrap();
}

/// Index tables that a restore rebuilds, so their rows may differ from the source's.
const REBUILT: &[&str] = &[
    "notes_data",
    "notes_idx",
    "notes_docsize",
    "docs_fts_data",
    "docs_fts_idx",
    "docs_fts_docsize",
    "old_notes_segments",
    "old_notes_segdir",
    "old_notes_docsize",
    "old_notes_stat",
];

/// Names of the tables whose rows are content: ordinary tables, without the
/// full-text index tables that a restore rebuilds.
fn content_tables(conn: &Connection) -> Vec<(String, bool)> {
    let mut statement = conn
        .prepare("SELECT name, sql FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap();
    let rows: Vec<(String, String)> = statement
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.into_iter()
        .filter(|(name, sql)| {
            !sql.starts_with("CREATE VIRTUAL") && !REBUILT.contains(&name.as_str())
        })
        .map(|(name, sql)| (name, sql.to_ascii_uppercase().contains("WITHOUT ROWID")))
        .collect()
}

/// Returns every row of every content table, with the rowid of rowid tables, sorted,
/// plus the results of a few full-text queries.
pub fn dump(path: &Path) -> BTreeMap<String, Vec<String>> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut out = BTreeMap::new();
    for (table, without_rowid) in content_tables(&conn) {
        let select = if without_rowid { "*" } else { "rowid, *" };
        let mut statement = conn
            .prepare(&format!("SELECT {select} FROM \"{table}\""))
            .unwrap();
        let columns = statement.column_count();
        let mut rows: Vec<String> = statement
            .query_map([], |row| {
                let values: Vec<Value> =
                    (0..columns).map(|i| row.get(i)).collect::<Result<_, _>>()?;
                Ok(format!("{values:?}"))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        rows.sort();
        out.insert(table, rows);
    }
    for (table, word) in [
        ("notes", "apple"),
        ("docs_fts", "river"),
        ("docs_fts", "velvet"),
        ("old_notes", "stone"),
        ("tags", "maple"),
    ] {
        if !content_tables_has(&conn, table) {
            continue;
        }
        let mut statement = conn
            .prepare(&format!(
                "SELECT rowid FROM {table} WHERE {table} MATCH ?1 ORDER BY rowid"
            ))
            .unwrap();
        let ids: Vec<String> = statement
            .query_map([word], |row| row.get::<_, i64>(0))
            .unwrap()
            .map(|id| id.unwrap().to_string())
            .collect();
        out.insert(format!("match {table} {word}"), ids);
    }
    out
}

fn content_tables_has(conn: &Connection, table: &str) -> bool {
    conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE name = ?1",
        [table],
        |row| row.get::<_, i64>(0),
    )
    .unwrap()
        > 0
}

/// Backup options with a state folder.
pub fn rows_options(state_dir: &Path) -> BackupOptions {
    BackupOptions {
        sqlite: SqliteOptions {
            state_dir: Some(state_dir.to_path_buf()),
            ..SqliteOptions::default()
        },
        ..crate::common::quiet_options()
    }
}

/// Restores `snapshot` into `target` and returns the path of the restored database
/// at `relative` below it, or the damaged files.
pub async fn restore_database(
    repo: &Repository,
    snapshot: &ObjectId,
    target: &Path,
    relative: &str,
) -> Result<PathBuf, Vec<haven_repo::DamagedFile>> {
    let report = repo
        .restore(snapshot, target, RestoreOptions::default())
        .await
        .unwrap();
    if !report.damaged.is_empty() {
        return Err(report.damaged);
    }
    Ok(target.join(relative))
}

/// Returns the single database's base reason, or `None` for an increment.
pub fn base_reason(result: &BackupResult) -> Option<haven_repo::BaseReason> {
    let summary = &result.snapshot.summary;
    assert_eq!(
        summary.sqlite_bases + summary.sqlite_increments,
        1,
        "{summary:?}"
    );
    result.sqlite_bases.first().map(|base| base.reason)
}
