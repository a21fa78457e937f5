//! Measures the memory of the in-memory blob index: resident set size before and
//! after loading N made-up blobs (default 10 million), and the bytes per blob.
//! With `--hash-map` it measures instead a `HashMap` from 32-byte id to a location of
//! the same fields (pack id, type, offset, lengths), the layout the index used before.
//!
//! Run: cargo run --release -p haven-repo --example index_memory -- [BLOBS] [--hash-map]

use std::collections::HashMap;

/// The location fields of a blob, as a map value.
#[allow(dead_code)]
struct Location {
    pack: [u8; 32],
    blob_type: u8,
    offset: u64,
    length: u64,
    raw_length: u64,
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .expect("resident pages in /proc/self/statm");
    pages * 4096
}

fn print_growth(layout: &str, blobs: usize, before: u64) {
    let used = resident_bytes().saturating_sub(before);
    println!("layout:           {layout}");
    println!("blobs:            {blobs}");
    println!("resident growth:  {:.1} MiB", used as f64 / 1048576.0);
    println!("bytes per blob:   {:.1}", used as f64 / blobs as f64);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let hash_map = args.iter().any(|arg| arg == "--hash-map");
    let blobs: usize = args
        .iter()
        .find(|arg| !arg.starts_with("--"))
        .map(|arg| arg.parse().expect("BLOBS must be a whole number"))
        .unwrap_or(10_000_000);
    let before = resident_bytes();
    if hash_map {
        let mut map = HashMap::new();
        for n in 0..blobs as u64 {
            let location = Location {
                pack: [(n / 4096) as u8; 32],
                blob_type: 0,
                offset: n,
                length: 4200,
                raw_length: 4096,
            };
            map.insert(*blake3::hash(&n.to_le_bytes()).as_bytes(), location);
        }
        print_growth("HashMap<[u8; 32], Location>", map.len(), before);
        return;
    }
    haven_repo::testing::with_synthetic_index(blobs, |len| {
        let entry = haven_repo::testing::INDEX_ENTRY_BYTES;
        print_growth(&format!("sorted array, {entry}-byte entries"), len, before);
    });
}
