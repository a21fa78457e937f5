//! The embedded chat corpus and a parser for the YAML subset its files use.
//!
//! The files come from the chatterbot-corpus 1.3.3 package (BSD 3-Clause, see
//! `data/chat-corpus/LICENSE`). Each contains a `conversations:` key whose value is a list of
//! lists of strings. The parser reads exactly the forms those files contain: plain,
//! single-quoted and double-quoted scalars (folded over continuation lines) and literal
//! block scalars (`|`).

use crate::error::{ChatgenError, Result};

macro_rules! corpus_files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../data/chat-corpus/english/", $name)))),*]
    };
}

/// Embedded corpus files as (file name, contents).
const FILES: &[(&str, &str)] = corpus_files![
    "ai.yml",
    "botprofile.yml",
    "coding.yml",
    "computers.yml",
    "conversations.yml",
    "emotion.yml",
    "food.yml",
    "gossip.yml",
    "greetings.yml",
    "health.yml",
    "history.yml",
    "humor.yml",
    "literature.yml",
    "money.yml",
    "movies.yml",
    "politics.yml",
    "psychology.yml",
    "science.yml",
    "sports.yml",
    "tech_support.yml",
    "trivia.yml",
];

/// Dialogues of the corpus, each a list of utterances in speaking order.
#[derive(Debug, Clone)]
pub struct Corpus {
    pub conversations: Vec<Vec<String>>,
}

impl Corpus {
    /// Parses every embedded corpus file, in file name order.
    pub fn load() -> Result<Corpus> {
        let mut conversations = Vec::new();
        for (file, text) in FILES {
            conversations.extend(parse_conversations(file, text)?);
        }
        Ok(Corpus { conversations })
    }

    /// Returns the number of utterances over all conversations.
    pub fn utterance_count(&self) -> usize {
        self.conversations.iter().map(Vec::len).sum()
    }
}

/// One list item being collected: its first line and its continuation lines.
struct RawItem {
    line: usize,
    first: String,
    rest: Vec<String>,
}

/// Parses the `conversations:` list of one corpus file.
pub fn parse_conversations(file: &'static str, text: &str) -> Result<Vec<Vec<String>>> {
    let mut conversations: Vec<Vec<RawItem>> = Vec::new();
    let mut in_conversations = false;
    // Set while the current conversation is a bare string (`- text`) rather than a list:
    // every indented line then continues that string.
    let mut bare_conversation = false;

    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        if !line.starts_with(' ') && !line.starts_with('-') && !line.trim().is_empty() {
            in_conversations = line.trim_end() == "conversations:";
            continue;
        }
        if !in_conversations {
            continue;
        }
        let item = |first: &str| RawItem {
            line: line_number,
            first: first.to_string(),
            rest: Vec::new(),
        };
        if let Some(first) = line.strip_prefix("- - ") {
            bare_conversation = false;
            conversations.push(vec![item(first)]);
        } else if let Some(first) = line.strip_prefix("- ") {
            bare_conversation = true;
            conversations.push(vec![item(first)]);
        } else if line.starts_with(' ') && bare_conversation {
            if let Some(last) = conversations.last_mut().and_then(|c| c.last_mut()) {
                last.rest.push(line.to_string());
            }
        } else if let Some(first) = line.strip_prefix("  - ") {
            match conversations.last_mut() {
                Some(conversation) => conversation.push(item(first)),
                None => {
                    return Err(corpus_error(
                        file,
                        line_number,
                        "item before any conversation",
                    ))
                }
            }
        } else if line.starts_with("    ") || line.trim().is_empty() {
            if let Some(last) = conversations.last_mut().and_then(|c| c.last_mut()) {
                last.rest.push(line.to_string());
            }
        } else {
            return Err(corpus_error(file, line_number, "unexpected line"));
        }
    }

    conversations
        .into_iter()
        .map(|items| {
            items
                .into_iter()
                .map(|item| parse_scalar(file, &item))
                .collect::<Result<Vec<_>>>()
        })
        .collect()
}

fn corpus_error(file: &'static str, line: usize, reason: &str) -> ChatgenError {
    ChatgenError::Corpus {
        file,
        line,
        reason: reason.to_string(),
    }
}

/// Turns one item's lines into its string value.
fn parse_scalar(file: &'static str, item: &RawItem) -> Result<String> {
    let first = item.first.trim();
    let value = if first.starts_with('|') {
        literal_block(&item.rest)
    } else if first.starts_with('\'') {
        let folded = fold(first, &item.rest);
        unquote_single(&folded)
            .ok_or_else(|| corpus_error(file, item.line, "unterminated quote"))?
    } else if first.starts_with('"') {
        let folded = fold(first, &item.rest);
        unquote_double(&folded)
            .ok_or_else(|| corpus_error(file, item.line, "unterminated quote"))?
    } else {
        fold(first, &item.rest)
    };
    Ok(value.trim().to_string())
}

/// Keeps the lines of a literal block, minus the indentation of its first line.
fn literal_block(lines: &[String]) -> String {
    let indent = lines
        .iter()
        .find(|line| !line.trim().is_empty())
        .map(|line| line.len() - line.trim_start().len())
        .unwrap_or(0);
    lines
        .iter()
        .map(|line| line.get(indent..).unwrap_or("").trim_end())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Folds continuation lines as YAML flow scalars do: a line break becomes a space, and
/// each empty line becomes a newline.
fn fold(first: &str, rest: &[String]) -> String {
    let mut out = first.trim_end().to_string();
    let mut pending_newlines = 0;
    for line in rest {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            pending_newlines += 1;
            continue;
        }
        if pending_newlines > 0 {
            out.push_str(&"\n".repeat(pending_newlines));
            pending_newlines = 0;
        } else {
            out.push(' ');
        }
        out.push_str(trimmed);
    }
    out
}

fn unquote_single(text: &str) -> Option<String> {
    let inner = text.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

fn unquote_double(text: &str) -> Option<String> {
    let inner = text.strip_prefix('"')?.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next()? {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_counts_match_pyyaml() {
        // PyYAML 6.0.3 `safe_load` of the same 21 files gives 2026 conversations: 2025
        // lists holding 4331 strings and one bare string (trivia.yml line 35).
        let corpus = Corpus::load().unwrap();
        assert_eq!(corpus.conversations.len(), 2026);
        assert_eq!(corpus.utterance_count(), 4332);
    }

    #[test]
    fn scalar_forms_parse() {
        let text = "categories:\n- demo\nconversations:\n- - Hello\n  - 'It''s\n    folded'\n- - \"say \\\"hi\\\"\"\n  - |\n    line one\n      indented\n";
        let parsed = parse_conversations("demo.yml", text).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0], vec!["Hello", "It's folded"]);
        assert_eq!(parsed[1][0], "say \"hi\"");
        assert_eq!(parsed[1][1], "line one\n  indented");
    }

    #[test]
    fn stray_line_is_rejected() {
        let text = "conversations:\n- - Hello\n x\n";
        let error = parse_conversations("bad.yml", text).unwrap_err();
        assert!(error.to_string().contains("bad.yml line 3"), "{error}");
    }
}
