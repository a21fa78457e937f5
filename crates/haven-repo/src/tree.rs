//! Trees: one directory's entries, stored as a blob so unchanged directories dedupe.

use serde::{Deserialize, Serialize};

use crate::id::ObjectId;

/// The type of a directory entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeKind {
    File,
    Dir,
    Symlink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    /// A SQLite database stored as a page-level base (`content` or `content_list`)
    /// followed by row increments (`row_increments`). A separate kind, so a program
    /// that predates row increments rejects the tree instead of restoring the base.
    SqliteRows,
}

/// One directory entry with its metadata. Names and symlink targets are raw bytes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    #[serde(with = "crate::id::bytes")]
    pub name: Vec<u8>,
    pub kind: NodeKind,
    /// Permission bits and file type bits, as `st_mode`.
    pub mode: u32,
    /// Modification time in nanoseconds since the Unix epoch (negative before 1970).
    pub mtime_ns: i64,
    /// Status change time in nanoseconds; compared to find unchanged files, not restored.
    pub ctime_ns: i64,
    pub uid: u32,
    pub gid: u32,
    /// File size in bytes.
    pub size: u64,
    pub inode: u64,
    pub device: u64,
    /// Hard link count at backup time. Entries with the same device and inode and a
    /// count above 1 are restored as hard links.
    pub links: u64,
    /// Device number for character and block devices.
    #[serde(default)]
    pub rdev: u64,
    #[serde(
        default,
        with = "crate::id::bytes",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub link_target: Vec<u8>,
    /// Data blobs of a file, in order, for a file that lists them inline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<ObjectId>,
    /// Content list blob that names the data blobs of a file with more chunks than
    /// fit inline. A node has either this or `content`, never both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_list: Option<ObjectId>,
    /// Row increment blobs of a [`NodeKind::SqliteRows`] database, oldest first, applied
    /// in order to the page-level base.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub row_increments: Vec<ObjectId>,
    /// Tree blob of a directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtree: Option<ObjectId>,
}

/// A directory listing, sorted by name bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    pub fn find(&self, name: &[u8]) -> Option<&Node> {
        self.nodes
            .binary_search_by(|node| node.name.as_slice().cmp(name))
            .ok()
            .map(|i| &self.nodes[i])
    }
}

/// Decodes a tree blob's plaintext and checks that every name is one safe path
/// component and that the names are sorted without repeats.
///
/// A restore joins each name to the target folder, so an empty name, `.`, `..`, or a
/// name containing `/` or NUL would write outside the entry's folder.
pub(crate) fn decode_tree(plaintext: &[u8]) -> Result<Tree, String> {
    let tree: Tree = crate::id::from_cbor(plaintext)?;
    for node in &tree.nodes {
        let name = node.name.as_slice();
        if name.is_empty()
            || name == b"."
            || name == b".."
            || name.contains(&b'/')
            || name.contains(&0)
        {
            return Err(format!(
                "entry name \"{}\" is not a single file name",
                escape_name(name)
            ));
        }
        if (node.kind == NodeKind::SqliteRows) == node.row_increments.is_empty() {
            return Err(format!(
                "entry \"{}\" has row increments that do not match its kind",
                escape_name(name)
            ));
        }
        if node.content_list.is_some() && !node.content.is_empty() {
            return Err(format!(
                "entry \"{}\" has both inline content and a content list",
                escape_name(name)
            ));
        }
    }
    if let Some(pair) = tree
        .nodes
        .windows(2)
        .find(|pair| pair[0].name >= pair[1].name)
    {
        return Err(format!(
            "entries are not sorted by name: \"{}\" comes before \"{}\"",
            escape_name(&pair[0].name),
            escape_name(&pair[1].name)
        ));
    }
    Ok(tree)
}

/// Formats a raw name for display: UTF-8 stays as it is, other bytes become `\xNN`,
/// and a backslash becomes `\\`, so the output maps back to one byte string.
pub fn escape_name(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&c.escape_default().to_string()),
                c => out.push(c),
            }
        }
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02x}"));
        }
    }
    out
}
