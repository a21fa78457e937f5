//! Generation speed: builds data sets of 10MB and 200MB (200MB with and without the
//! FTS index) in a temporary folder and prints time and sizes. Run with
//! `cargo bench -p haven-chatgen`; pass sizes as arguments to change them, e.g.
//! `cargo bench -p haven-chatgen -- 2GB`.

use std::time::Instant;

use haven_chatgen::{database_path, generate, parse_size, GenerateOptions};

fn main() {
    let arguments: Vec<String> = std::env::args()
        .skip(1)
        .filter(|argument| !argument.starts_with("--"))
        .collect();
    let sizes: Vec<String> = if arguments.is_empty() {
        vec!["10MB".into(), "200MB".into()]
    } else {
        arguments
    };
    for size_text in &sizes {
        let size = parse_size(size_text).expect("valid size argument");
        for fts in [true, false] {
            let temp = tempfile::tempdir().expect("temporary folder");
            let out = temp.path().join("set");
            let started = Instant::now();
            let summary = generate(&GenerateOptions {
                out: out.clone(),
                size,
                seed: 1,
                fts,
            })
            .expect("generate succeeds");
            let seconds = started.elapsed().as_secs_f64();
            let database = std::fs::metadata(database_path(&out))
                .map(|m| m.len())
                .unwrap_or(0);
            println!(
                "generate {size_text:>6} fts={fts:<5} {seconds:7.2} s  database {:>6.1} MB  media {:>7.1} MB  messages {}",
                database as f64 / 1e6,
                summary.media_bytes_written as f64 / 1e6,
                summary.messages_inserted
            );
        }
    }
}
