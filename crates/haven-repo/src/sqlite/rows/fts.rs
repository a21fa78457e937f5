//! Full-text tables whose index a restore can rebuild from their content.
//!
//! FTS5 keeps its index in `<table>_data`, `<table>_idx` and `<table>_docsize`, and
//! FTS3/4 in `<table>_segments`, `<table>_segdir`, `<table>_docsize` and
//! `<table>_stat`. These change on every insert, so increments leave them out and a
//! restore runs `INSERT INTO t(t) VALUES('rebuild')`. A table whose content lives
//! only in the index (`content=''`), or whose tokenizer or compression functions
//! only the app defines, cannot be rebuilt outside the app: its shadow tables stay
//! in the increments like any other table.

use std::collections::HashSet;

use super::schema::SchemaEntry;

/// A full-text table that a restore rebuilds and checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct FullTextTable {
    pub name: String,
    /// For an FTS5 table over an ordinary table's rows, what a restore needs to
    /// update the index row by row instead of rebuilding it.
    pub external: Option<ExternalContent>,
}

/// The content of an FTS5 table declared with `content=<table>`: the index covers the
/// rows of `table`, keyed by `rowid_column`, with the values of `columns`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ExternalContent {
    pub table: String,
    pub rowid_column: String,
    pub columns: Vec<String>,
}

const FTS5_SHADOWS: &[&str] = &["_data", "_idx", "_docsize"];
const FTS34_SHADOWS: &[&str] = &["_segments", "_segdir", "_docsize", "_stat"];
/// Tokenizers built into SQLite 3.x's FTS5 module.
const FTS5_TOKENIZERS: &[&str] = &["unicode61", "ascii", "porter", "trigram"];
/// Tokenizers built into FTS3/4 without extra libraries (`icu` needs ICU).
const FTS34_TOKENIZERS: &[&str] = &["simple", "porter", "unicode61"];

/// Returns the rebuildable full-text tables and the names of their index tables.
pub(crate) fn derivable_shadow_tables(
    entries: &[SchemaEntry],
) -> (Vec<FullTextTable>, HashSet<String>) {
    let mut tables = Vec::new();
    let mut shadows = HashSet::new();
    for entry in entries.iter().filter(|e| e.kind == "table") {
        let Some((module, args)) = virtual_table_module(&entry.sql) else {
            continue;
        };
        let (suffixes, tokenizers) = match module.as_str() {
            "fts5" => (FTS5_SHADOWS, FTS5_TOKENIZERS),
            "fts4" | "fts3" => (FTS34_SHADOWS, FTS34_TOKENIZERS),
            _ => continue,
        };
        if !is_derivable(&args, tokenizers) {
            continue;
        }
        for suffix in suffixes {
            shadows.insert(format!("{}{suffix}", entry.name));
        }
        let external = (module == "fts5")
            .then(|| external_content(&args))
            .flatten();
        tables.push(FullTextTable {
            name: entry.name.clone(),
            external,
        });
    }
    (tables, shadows)
}

/// Returns the external content of FTS5 arguments with `content=<table>`, unless
/// `columnsize=0` leaves out the `_docsize` table that lists the rows the index contains.
fn external_content(args: &[String]) -> Option<ExternalContent> {
    let mut table = None;
    let mut rowid_column = "rowid".to_string();
    let mut columns = Vec::new();
    for arg in args {
        match arg.split_once('=') {
            Some((option, value)) => {
                let value = unquote(value.trim());
                match option.trim().to_ascii_lowercase().as_str() {
                    "content" => table = Some(value),
                    "content_rowid" => rowid_column = value,
                    "columnsize" if value.trim() == "0" => return None,
                    _ => {}
                }
            }
            None => columns.push(column_name(arg)),
        }
    }
    Some(ExternalContent {
        table: table.filter(|t| !t.is_empty())?,
        rowid_column,
        columns,
    })
}

/// Returns the column name of an FTS5 column argument such as `"a b" UNINDEXED`.
fn column_name(arg: &str) -> String {
    let arg = arg.trim();
    let quoted_end = match arg.chars().next() {
        Some(q @ ('"' | '\'' | '`')) => arg[1..].find(q).map(|i| i + 2),
        Some('[') => arg.find(']').map(|i| i + 1),
        _ => None,
    };
    let end = quoted_end.unwrap_or_else(|| arg.find(char::is_whitespace).unwrap_or(arg.len()));
    unquote(&arg[..end])
}

/// Returns the lowercase module name and the arguments of `CREATE VIRTUAL TABLE`.
fn virtual_table_module(sql: &str) -> Option<(String, Vec<String>)> {
    let upper = sql.to_ascii_uppercase();
    if !upper.trim_start().starts_with("CREATE VIRTUAL TABLE") {
        return None;
    }
    let using = upper.find(" USING ")? + " USING ".len();
    let rest = &sql[using..];
    let open = rest.find('(').unwrap_or(rest.len());
    let module = rest[..open].trim().to_ascii_lowercase();
    let close = rest.rfind(')').unwrap_or(rest.len());
    let args = if open < close {
        split_arguments(&rest[open + 1..close])
    } else {
        Vec::new()
    };
    Some((module, args))
}

/// Splits module arguments at commas outside quotes and brackets.
fn split_arguments(text: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut depth = 0usize;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q || (q == '[' && c == ']') => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`' | '[') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, ',') if depth == 0 => {
                args.push(std::mem::take(&mut current).trim().to_string());
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    args.push(current.trim().to_string());
    args
}

/// Returns whether a restore can rebuild the index from the arguments' content with
/// built-in code only.
fn is_derivable(args: &[String], tokenizers: &[&str]) -> bool {
    for arg in args {
        let Some((option, value)) = arg.split_once('=') else {
            continue;
        };
        let option = option.trim().to_ascii_lowercase();
        let value = unquote(value.trim());
        match option.as_str() {
            "content" if value.is_empty() => return false,
            "compress" | "uncompress" => return false,
            "tokenize" => {
                let words: Vec<String> = value
                    .split(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                    .filter(|w| !w.is_empty())
                    .map(str::to_ascii_lowercase)
                    .collect();
                let Some(first) = words.first() else {
                    continue;
                };
                if !tokenizers.contains(&first.as_str()) {
                    return false;
                }
                // FTS5's porter wraps the tokenizer named after it.
                if first == "porter" {
                    if let Some(inner) = words.get(1) {
                        if !tokenizers.contains(&inner.as_str()) {
                            return false;
                        }
                    }
                }
            }
            _ => {}
        }
    }
    true
}

fn unquote(value: &str) -> String {
    let mut chars = value.chars();
    match (chars.next(), value.chars().last()) {
        (Some(open @ ('\'' | '"' | '`')), Some(close)) if open == close && value.len() >= 2 => {
            value[1..value.len() - 1].to_string()
        }
        (Some('['), Some(']')) => value[1..value.len() - 1].to_string(),
        _ => value.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, sql: &str) -> SchemaEntry {
        SchemaEntry {
            kind: "table".into(),
            name: name.into(),
            sql: sql.into(),
        }
    }

    #[test]
    fn built_in_tokenizers_are_rebuilt() {
        let entries = [
            entry("a", "CREATE VIRTUAL TABLE a USING fts5(body, tokenize = 'porter unicode61')"),
            entry("b", "CREATE VIRTUAL TABLE b USING fts4(body, tokenize=unicode61 \"remove_diacritics=2\")"),
            entry("c", "CREATE VIRTUAL TABLE c USING fts5(body, content='messages', content_rowid='id')"),
        ];
        let (tables, shadows) = derivable_shadow_tables(&entries);
        assert_eq!(tables.len(), 3);
        assert_eq!(tables[0].external, None);
        assert_eq!(tables[1].external, None);
        let external = ExternalContent {
            table: "messages".into(),
            rowid_column: "id".into(),
            columns: vec!["body".into()],
        };
        assert_eq!(tables[2].external, Some(external));
        assert!(shadows.contains("a_data"));
        assert!(shadows.contains("b_segdir"));
        assert!(!shadows.contains("a_content"));
    }

    #[test]
    fn external_content_options_parsed() {
        let args = split_arguments("\"a b\" UNINDEXED, c, content = 'msg', columnsize=1");
        let external = external_content(&args).unwrap();
        assert_eq!(external.table, "msg");
        assert_eq!(external.rowid_column, "rowid");
        assert_eq!(external.columns, ["a b", "c"]);
        let no_sizes = split_arguments("c, content='msg', columnsize=0");
        assert_eq!(external_content(&no_sizes), None);
        assert_eq!(external_content(&split_arguments("c")), None);
    }

    #[test]
    fn app_defined_content_is_kept() {
        let entries = [
            entry("a", "CREATE VIRTUAL TABLE a USING fts5(body, content='')"),
            entry(
                "b",
                "CREATE VIRTUAL TABLE b USING fts5(body, tokenize='app_tokenizer')",
            ),
            entry(
                "c",
                "CREATE VIRTUAL TABLE c USING fts4(body, compress=zip, uncompress=unzip)",
            ),
            entry(
                "d",
                "CREATE VIRTUAL TABLE d USING fts5(body, tokenize='porter app')",
            ),
            entry("e", "CREATE VIRTUAL TABLE e USING rtree(id, x0, x1)"),
        ];
        let (tables, shadows) = derivable_shadow_tables(&entries);
        assert!(tables.is_empty(), "{tables:?}");
        assert!(shadows.is_empty(), "{shadows:?}");
    }
}
