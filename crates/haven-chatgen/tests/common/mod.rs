//! Helpers shared by the integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use haven_chatgen::{database_path, GenerateOptions, Summary};
use rusqlite::Connection;
use sha2::{Digest, Sha256};

/// Generates a data set of `size` bytes into `parent/name`.
pub fn generate_into(
    parent: &Path,
    name: &str,
    size: u64,
    seed: u64,
    fts: bool,
) -> (PathBuf, Summary) {
    let out = parent.join(name);
    let summary = haven_chatgen::generate(&GenerateOptions {
        out: out.clone(),
        size,
        seed,
        fts,
    })
    .expect("generate succeeds");
    (out, summary)
}

/// Returns the SHA-256 of every file under `root`, by path relative to `root`.
pub fn file_hashes(root: &Path) -> BTreeMap<String, [u8; 32]> {
    let mut hashes = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                hashes.insert(relative, Sha256::digest(fs::read(&path).unwrap()).into());
            }
        }
    }
    hashes
}

/// Returns the number of files under `dir/media`.
pub fn media_file_count(dir: &Path) -> usize {
    file_hashes(&dir.join("media")).len()
}

/// Opens the message database of a data folder.
pub fn open(dir: &Path) -> Connection {
    Connection::open(database_path(dir)).unwrap()
}

/// Runs a query that returns one integer.
pub fn count(conn: &Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// Copies a folder tree.
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}
