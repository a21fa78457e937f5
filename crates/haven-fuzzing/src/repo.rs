//! Targets for the repository's stored objects, chunker and SQLite page reader.

use std::sync::OnceLock;

use haven_repo::fuzzing::{self, TestKeys};

fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(fuzzing::test_keys)
}

pub fn config(data: &[u8]) {
    let _ = fuzzing::config_object(keys(), data);
}

pub fn config_plain(data: &[u8]) {
    let _ = fuzzing::config_plaintext(keys(), data);
}

pub fn slot(data: &[u8]) {
    let _ = fuzzing::slot_object(data);
}

pub fn slot_body(data: &[u8]) {
    let _ = fuzzing::slot_body(data);
}

pub fn pack(data: &[u8]) {
    let _ = fuzzing::pack_object(keys(), data);
}

pub fn pack_plain(data: &[u8]) {
    let _ = fuzzing::pack_plaintext(keys(), data);
}

pub fn index(data: &[u8]) {
    let _ = fuzzing::index_object(keys(), data);
}

pub fn index_plain(data: &[u8]) {
    let _ = fuzzing::index_plaintext(keys(), data);
}

pub fn tree(data: &[u8]) {
    if let Ok(tree) = fuzzing::tree_object(keys(), data) {
        check_tree_names(&tree);
    }
}

pub fn tree_plain(data: &[u8]) {
    if let Ok(tree) = fuzzing::tree_plaintext(data) {
        check_tree_names(&tree);
    }
}

pub fn content_list_plain(data: &[u8]) {
    let _ = fuzzing::content_list_plaintext(data);
}

pub fn row_increment_plain(data: &[u8]) {
    let _ = fuzzing::row_increment_plaintext(data);
}

/// A restore joins every name to a folder, so an accepted tree must contain only
/// single, sorted path components.
fn check_tree_names(tree: &haven_repo::Tree) {
    for node in &tree.nodes {
        let name = node.name.as_slice();
        assert!(
            !name.is_empty() && name != b"." && name != b"..",
            "unsafe name accepted"
        );
        assert!(
            !name.contains(&b'/') && !name.contains(&0),
            "unsafe name accepted"
        );
    }
    assert!(tree
        .nodes
        .windows(2)
        .all(|pair| pair[0].name < pair[1].name));
}

pub fn snapshot(data: &[u8]) {
    let _ = fuzzing::snapshot_object(keys(), data);
}

pub fn snapshot_plain(data: &[u8]) {
    let _ = fuzzing::snapshot_plaintext(keys(), data);
}

/// Input: 8 bytes that pick the FastCDC sizes and seed, then the file content.
pub fn chunker(data: &[u8]) {
    let Some((params, content)) = data.split_first_chunk::<8>() else {
        return;
    };
    let min = 64 + u32::from(u16::from_le_bytes([params[0], params[1]]) % 1024);
    let avg = (256 + u32::from(u16::from_le_bytes([params[2], params[3]]) % 4096)).max(min);
    let max = (1024 + u32::from(u16::from_le_bytes([params[4], params[5]]) % 16384)).max(avg);
    let seed = u64::from(u16::from_le_bytes([params[6], params[7]]));
    let chunks = fuzzing::chunk(content, min, avg, max, seed).expect("sizes are in range");
    assert_eq!(
        chunks.concat(),
        content,
        "chunks do not join back to the input"
    );
    if haven_repo::sqlite_page_size(content).is_none() {
        for chunk in &chunks {
            assert!(chunk.len() <= max as usize, "chunk above the maximum size");
        }
        // FastCDC 3.2.1 (v2020) starts its cut search at byte 2 * (min / 2), so with an
        // odd minimum a chunk can be one byte shorter than the minimum.
        let lowest = min as usize & !1;
        for chunk in chunks.iter().rev().skip(1) {
            assert!(chunk.len() >= lowest, "chunk below the minimum size");
        }
    }
}

pub fn sqlite_pages(data: &[u8]) {
    let Some((header, pages)) = fuzzing::sqlite_pages(data) else {
        return;
    };
    assert_eq!(pages.concat(), data, "pages do not join back to the input");
    for page in pages.iter().rev().skip(1) {
        assert_eq!(page.len(), header.page_size, "page of the wrong size");
    }
}
