//! Updating an external-content FTS5 index for the rows an increment changes, instead
//! of rebuilding the whole index after the increments are applied.
//!
//! For each row of the content table that an increment deletes or replaces, the old
//! values are removed from the index with FTS5's `'delete'` command, if the index has
//! the row (its `_docsize` table has it). After the change, each upserted row is
//! inserted into the index. A restore of a chain with version 1 increments checks the
//! index structure with `PRAGMA quick_check` afterwards and rebuilds the index if the
//! check fails.

use rusqlite::Connection;

use super::fts::{ExternalContent, FullTextTable};
use super::increment::TableChange;
use super::schema::{quote, sql_error, RowKey, Schema};
use super::value::Value;

/// An FTS5 index that a restore updates row by row.
pub(crate) struct IndexUpdate {
    /// The FTS5 table.
    pub name: String,
    /// The content table.
    pub content: String,
    remove_sql: String,
    add_sql: String,
}

/// Returns the FTS5 tables of `schema` that can be updated row by row: those with
/// external content in a rowid table of the schema.
pub(crate) fn plan_updates(schema: &Schema) -> Vec<IndexUpdate> {
    schema
        .rebuilt
        .iter()
        .filter_map(|table| {
            let external = table.external.as_ref()?;
            let content = schema
                .tables
                .iter()
                .find(|t| t.name.eq_ignore_ascii_case(&external.table))?;
            let RowKey::Rowid(rowid) = &content.key else {
                return None;
            };
            Some(IndexUpdate::new(table, external, &content.name, rowid))
        })
        .collect()
}

impl IndexUpdate {
    /// Prepares the SQL for `table`, whose content table `content` is read by the
    /// name `rowid` for its rowid. The index's own rowid is `content_rowid`, which
    /// need not be the same column.
    fn new(table: &FullTextTable, external: &ExternalContent, content: &str, rowid: &str) -> Self {
        let fts = quote(&table.name);
        let values: Vec<String> = external
            .columns
            .iter()
            .map(|c| format!("c.{}", quote(c)))
            .collect();
        let values = values.join(", ");
        let columns: Vec<String> = external.columns.iter().map(|c| quote(c)).collect();
        let columns = columns.join(", ");
        let key = format!("c.{}", quote(&external.rowid_column));
        let content_table = quote(content);
        let docsize = quote(&format!("{}_docsize", table.name));
        Self {
            name: table.name.clone(),
            content: content.to_string(),
            remove_sql: format!(
                "INSERT INTO {fts}({fts}, rowid, {columns}) SELECT 'delete', {key}, {values} \
                 FROM {content_table} AS c WHERE c.{rowid} = ?1 \
                 AND EXISTS (SELECT 1 FROM {docsize} WHERE id = {key})"
            ),
            add_sql: format!(
                "INSERT INTO {fts}(rowid, {columns}) SELECT {key}, {values} \
                 FROM {content_table} AS c WHERE c.{rowid} = ?1"
            ),
        }
    }

    /// Removes the rows that `change` deletes or replaces from the index. Runs before
    /// the change is applied, while the content table still has the old values.
    pub fn remove_old(&self, conn: &Connection, change: &TableChange) -> Result<(), String> {
        let mut statement = conn.prepare_cached(&self.remove_sql).map_err(sql_error)?;
        let deleted = change.deleted.iter().map(|key| key.first());
        let upserted = change.upserted.iter().map(|row| row.first());
        for rowid in deleted.chain(upserted) {
            statement.execute([rowid_of(rowid)?]).map_err(sql_error)?;
        }
        Ok(())
    }

    /// Adds the rows that `change` upserted to the index.
    pub fn add_new(&self, conn: &Connection, change: &TableChange) -> Result<(), String> {
        let mut statement = conn.prepare_cached(&self.add_sql).map_err(sql_error)?;
        for row in &change.upserted {
            statement
                .execute([rowid_of(row.first())?])
                .map_err(sql_error)?;
        }
        Ok(())
    }
}

fn rowid_of(value: Option<&Value>) -> Result<i64, String> {
    match value {
        Some(Value::Integer(rowid)) => Ok(*rowid),
        other => Err(format!("a row key is {other:?}, not an integer rowid")),
    }
}

#[cfg(test)]
mod tests {
    use haven_crypto::SecretKey;

    use super::super::apply::apply_chain;
    use super::super::increment::scan_database;
    use super::super::schema::read_schema;
    use super::*;

    /// An external-content index whose triggers, like a chat app's, leave out rows
    /// without text. `KEY` is the index's rowid column in the content table.
    const SCHEMA: &str = "
        CREATE VIRTUAL TABLE message_fts USING fts5(text_data, content='message', content_rowid='KEY');
        CREATE TRIGGER message_ai AFTER INSERT ON message WHEN new.text_data IS NOT NULL BEGIN
            INSERT INTO message_fts(rowid, text_data) VALUES (new.KEY, new.text_data);
        END;
        CREATE TRIGGER message_ad AFTER DELETE ON message WHEN old.text_data IS NOT NULL BEGIN
            INSERT INTO message_fts(message_fts, rowid, text_data) VALUES ('delete', old.KEY, old.text_data);
        END;
        CREATE TRIGGER message_au AFTER UPDATE ON message BEGIN
            INSERT INTO message_fts(message_fts, rowid, text_data)
                SELECT 'delete', old.KEY, old.text_data WHERE old.text_data IS NOT NULL;
            INSERT INTO message_fts(rowid, text_data)
                SELECT new.KEY, new.text_data WHERE new.text_data IS NOT NULL;
        END;";

    fn matches(conn: &Connection, term: &str) -> Vec<i64> {
        let mut statement = conn
            .prepare("SELECT rowid FROM message_fts WHERE message_fts MATCH ?1 ORDER BY rowid")
            .unwrap();
        let rows = statement.query_map([term], |row| row.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    }

    fn indexed_rows(conn: &Connection) -> i64 {
        conn.query_row("SELECT count(*) FROM message_fts_docsize", [], |row| {
            row.get(0)
        })
        .unwrap()
    }

    /// Backs up a database made by `table_sql` and the index keyed by `key`, changes
    /// rows through the app's triggers, applies the increment to a copy of the base,
    /// and checks that both indexes return the same matches.
    fn check_index_update(table_sql: &str, key: &str) {
        let dir = tempfile::tempdir().unwrap();
        let source_path = dir.path().join("source.db");
        let restored_path = dir.path().join("restored.db");
        let source = Connection::open(&source_path).unwrap();
        source.execute_batch(table_sql).unwrap();
        source.execute_batch(&SCHEMA.replace("KEY", key)).unwrap();
        for id in 1..=40i64 {
            let text = (id % 4 != 0).then(|| {
                let word = if id % 3 == 0 { "beta" } else { "gamma" };
                format!("alpha word{id} {word}")
            });
            source
                .execute(
                    &format!("INSERT INTO message({key}, text_data) VALUES (?1, ?2)"),
                    rusqlite::params![id * 10, text],
                )
                .unwrap();
        }
        std::fs::copy(&source_path, &restored_path).unwrap();
        let hash_key = SecretKey::from_bytes([7; 32]);
        let schema = read_schema(&source).unwrap();
        let (base_rows, _) = scan_database(&source, None, &schema, &hash_key, None).unwrap();
        assert_eq!(plan_updates(&schema).len(), 1);

        let changes = "
            INSERT INTO message(KEY, text_data) VALUES (410, 'delta beta'), (420, 'alpha delta');
            UPDATE message SET text_data = 'gamma replaced' WHERE KEY IN (30, 60);
            UPDATE message SET text_data = 'beta from nothing' WHERE KEY = 80;
            DELETE FROM message WHERE KEY IN (10, 90, 120);
            INSERT INTO message(KEY, text_data) VALUES (430, NULL);
            UPDATE message SET text_data = NULL WHERE KEY = 110;";
        source.execute_batch(&changes.replace("KEY", key)).unwrap();
        let (_, increment) =
            scan_database(&source, None, &schema, &hash_key, Some(base_rows)).unwrap();
        apply_chain(&restored_path, &[increment.unwrap()], &hash_key).unwrap();

        let restored = Connection::open(&restored_path).unwrap();
        for term in [
            "alpha", "beta", "gamma", "delta", "replaced", "word9", "nothing",
        ] {
            assert_eq!(
                matches(&restored, term),
                matches(&source, term),
                "term {term}"
            );
        }
        // The two upserted rows without text are indexed with no terms, as a rebuild
        // indexes every row. A full rebuild would also index the ten base rows
        // without text that the triggers left out.
        assert_eq!(indexed_rows(&restored), indexed_rows(&source) + 2);
    }

    #[test]
    fn rowid_alias_key_updated() {
        check_index_update(
            "CREATE TABLE message(_id INTEGER PRIMARY KEY, text_data TEXT);",
            "_id",
        );
    }

    #[test]
    fn separate_key_column_updated() {
        // Not a rowid alias: the rowids run 1, 2, 3 while the keys run 10, 20, 30.
        check_index_update(
            "CREATE TABLE message(msg_key INTEGER UNIQUE, text_data TEXT);",
            "msg_key",
        );
    }
}
