use std::path::{Path, PathBuf};

use haven_crypto::SecretKey;
use rusqlite::Connection;

use super::super::apply::apply_chain;
use super::super::increment::{scan_database, Increment};
use super::super::scan::table_digest;
use super::super::schema::read_schema;
use super::super::value::Value;

/// A source database and a copy of it as the restore's base.
struct Chain {
    _dir: tempfile::TempDir,
    source: Connection,
    restored: PathBuf,
    key: SecretKey,
}

impl Chain {
    fn new(schema: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let source = Connection::open(dir.path().join("source.db")).unwrap();
        source.execute_batch(schema).unwrap();
        let restored = dir.path().join("restored.db");
        Self {
            _dir: dir,
            source,
            restored,
            key: SecretKey::from_bytes([9; 32]),
        }
    }

    /// Copies the source as the base, runs each batch of SQL on the source and
    /// returns the increment of each.
    fn increments(&self, batches: &[&str]) -> Vec<Increment> {
        let source_path = self.source.path().unwrap().to_owned();
        std::fs::copy(source_path, &self.restored).unwrap();
        let schema = read_schema(&self.source).unwrap();
        let (mut rows, _) = scan_database(&self.source, None, &schema, &self.key, None).unwrap();
        let mut increments = Vec::new();
        for batch in batches {
            self.source.execute_batch(batch).unwrap();
            let (next, increment) =
                scan_database(&self.source, None, &schema, &self.key, Some(rows)).unwrap();
            rows = next;
            increments.push(increment.unwrap());
        }
        increments
    }

    fn apply(&self, increments: &[Increment]) -> Result<(), (Option<usize>, String)> {
        apply_chain(&self.restored, increments, &self.key).map_err(|e| (e.increment, e.reason))
    }

    fn rows(&self, path: &Path, sql: &str) -> Vec<(i64, String)> {
        let conn = Connection::open(path).unwrap();
        let mut statement = conn.prepare(sql).unwrap();
        let rows = statement
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }
}

const NOTES: &str = "
    CREATE TABLE note(id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT UNIQUE);
    CREATE TABLE tag(name TEXT PRIMARY KEY, uses INTEGER) WITHOUT ROWID;
    INSERT INTO note(body) VALUES ('a'), ('b'), ('c');
    INSERT INTO tag VALUES ('x', 1), ('y', 2);";

const DAY_ONE: &str = "
    INSERT INTO note(body) VALUES ('d');
    UPDATE note SET body = 'bb' WHERE id = 2;
    DELETE FROM note WHERE id = 1;
    UPDATE tag SET uses = 5 WHERE name = 'x';
    INSERT INTO tag VALUES ('z', 0);";

const DAY_TWO: &str = "
    DELETE FROM tag WHERE name = 'y';
    INSERT INTO note(body) VALUES ('e');";

#[test]
fn chain_applies_by_touched_rows() {
    let chain = Chain::new(NOTES);
    let increments = chain.increments(&[DAY_ONE, DAY_TWO]);
    assert!(increments
        .iter()
        .all(|i| i.tables.iter().all(|t| t.before.is_some())));
    chain.apply(&increments).unwrap();
    let sql = "SELECT id, body FROM note ORDER BY id";
    let source = chain.source.path().unwrap().to_owned();
    assert_eq!(
        chain.rows(&chain.restored, sql),
        chain.rows(Path::new(&source), sql)
    );
}

#[test]
fn wrong_hash_names_its_increment() {
    let chain = Chain::new(NOTES);
    let mut increments = chain.increments(&[DAY_ONE, DAY_TWO]);
    let tag = increments[1]
        .tables
        .iter_mut()
        .find(|t| t.name == "tag")
        .unwrap();
    tag.hash ^= 1;
    let (increment, reason) = chain.apply(&increments).unwrap_err();
    assert_eq!(increment, Some(1));
    assert!(reason.contains("table \"tag\""), "{reason}");
    assert!(reason.contains("do not give the increment's"), "{reason}");
}

#[test]
fn broken_chain_names_the_increment() {
    let chain = Chain::new(NOTES);
    let mut increments = chain.increments(&[DAY_ONE, DAY_TWO]);
    let note = increments[1]
        .tables
        .iter_mut()
        .find(|t| t.name == "note")
        .unwrap();
    note.before.as_mut().unwrap().rows += 1;
    let (increment, reason) = chain.apply(&increments).unwrap_err();
    assert_eq!(increment, Some(1));
    assert!(
        reason.contains("does not start where the previous"),
        "{reason}"
    );
}

#[test]
fn sequence_table_is_hashed_whole() {
    let chain = Chain::new(NOTES);
    let mut increments = chain.increments(&[DAY_ONE]);
    let sequence = increments[0].tables.last_mut().unwrap();
    assert_eq!(sequence.name, "sqlite_sequence");
    sequence.hash ^= 1;
    let (increment, reason) = chain.apply(&increments).unwrap_err();
    assert_eq!(increment, Some(0));
    assert!(reason.contains("\"sqlite_sequence\""), "{reason}");
}

#[test]
fn version_1_chain_is_hashed_whole() {
    let chain = Chain::new(NOTES);
    let mut increments = chain.increments(&[DAY_ONE, DAY_TWO]);
    for table in increments.iter_mut().flat_map(|i| i.tables.iter_mut()) {
        table.before = None;
    }
    increments[0].version = 1;
    increments[1].version = 1;
    chain.apply(&increments).unwrap();

    let chain = Chain::new(NOTES);
    let mut tampered = chain.increments(&[DAY_ONE]);
    let note = tampered[0]
        .tables
        .iter_mut()
        .find(|t| t.name == "note")
        .unwrap();
    note.before = None;
    note.hash ^= 1;
    let (_, reason) = chain.apply(&tampered).unwrap_err();
    assert!(reason.contains("do not match the increment's"), "{reason}");
}

/// An upsert whose unique value is still held by a row the increment leaves alone
/// makes `INSERT OR REPLACE` delete that row. The touched rows still add up, so only
/// the row count finds it.
#[test]
fn rows_lost_to_replace_are_counted() {
    let chain = Chain::new(NOTES);
    let mut increments = chain.increments(&[DAY_ONE]);
    let note = increments[0]
        .tables
        .iter_mut()
        .find(|t| t.name == "note")
        .unwrap();
    let untouched = Value::Integer(3);
    assert!(!note.upserted.iter().any(|row| row[0] == untouched));
    // A new row 5 with row 3's body: applying it deletes row 3 through the unique index.
    let body = Value::Text(b"c".to_vec());
    note.upserted
        .push(vec![Value::Integer(5), Value::Integer(5), body]);
    // The digest the touched rows add up to: the source's rows and row 5, without the
    // unique index.
    let scratch = Chain::new(NOTES);
    scratch.source.execute_batch(DAY_ONE).unwrap();
    scratch
        .source
        .execute_batch(
            "CREATE TABLE plain(id INTEGER PRIMARY KEY, body TEXT);
             INSERT INTO plain SELECT id, body FROM note;
             INSERT INTO plain VALUES (5, 'c');",
        )
        .unwrap();
    let schema = read_schema(&scratch.source).unwrap();
    let plain = schema.tables.iter().find(|t| t.name == "plain").unwrap();
    let (rows, hash) = table_digest(&scratch.source, plain, &chain.key).unwrap();
    assert_eq!(rows, 4);
    note.rows = rows;
    note.hash = hash;

    let (increment, reason) = chain.apply(&increments).unwrap_err();
    assert_eq!(increment, Some(0));
    assert!(
        reason.contains("table \"note\" has 3 rows, not the increment's 4"),
        "{reason}"
    );
}

/// A NOCASE primary key renamed only in case is deleted under one key and upserted
/// under another that selects the same row, which counts once.
#[test]
fn case_only_key_rename_applies() {
    let schema =
        "CREATE TABLE tag(name TEXT COLLATE NOCASE PRIMARY KEY, uses INTEGER) WITHOUT ROWID;
         INSERT INTO tag VALUES ('x', 1), ('y', 2);";
    let rename = "UPDATE tag SET name = 'X' WHERE name = 'x';";
    let chain = Chain::new(schema);
    let increments = chain.increments(&[rename]);
    let tag = &increments[0].tables[0];
    assert_eq!(tag.deleted.len(), 1);
    assert_eq!(tag.upserted.len(), 1);
    chain.apply(&increments).unwrap();

    let chain = Chain::new(schema);
    let mut whole = chain.increments(&[rename]);
    whole[0].tables[0].before = None;
    chain.apply(&whole).unwrap();
}

/// A key column without affinity compares 1 and 1.0 as equal keys.
#[test]
fn integer_to_real_key_applies() {
    let chain = Chain::new(
        "CREATE TABLE k(id PRIMARY KEY, v TEXT) WITHOUT ROWID;
         INSERT INTO k VALUES (1, 'a'), (2, 'b');",
    );
    let increments = chain.increments(&["UPDATE k SET id = 1.0 WHERE id = 1;"]);
    chain.apply(&increments).unwrap();
}

#[test]
fn huge_row_count_is_an_error() {
    let chain = Chain::new(NOTES);
    let mut increments = chain.increments(&[DAY_ONE]);
    let tag = increments[0]
        .tables
        .iter_mut()
        .find(|t| t.name == "tag")
        .unwrap();
    tag.before.as_mut().unwrap().rows = u64::MAX;
    let (increment, _) = chain.apply(&increments).unwrap_err();
    assert_eq!(increment, Some(0));
}
