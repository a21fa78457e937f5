//! Random SQLite databases for round trips.

use std::fs;
use std::path::Path;

/// Writes a small SQLite database with `rows` random rows and returns its bytes.
pub fn random_database(path: &Path, rows: usize, seed: u64) -> Vec<u8> {
    use rand::{Rng, SeedableRng};

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let connection = rusqlite::Connection::open(path).expect("create a SQLite database");
    connection
        .execute_batch(
            "CREATE TABLE message (_id INTEGER PRIMARY KEY, chat INTEGER, text TEXT, data BLOB);",
        )
        .expect("create a table");
    for _ in 0..rows {
        let chat: i64 = rng.gen_range(0..20);
        let words: Vec<String> = (0..rng.gen_range(1..30))
            .map(|_| format!("w{}", rng.gen_range(0..500)))
            .collect();
        let data: Vec<u8> = (0..rng.gen_range(0..200)).map(|_| rng.gen()).collect();
        connection
            .execute(
                "INSERT INTO message (chat, text, data) VALUES (?1, ?2, ?3)",
                rusqlite::params![chat, words.join(" "), data],
            )
            .expect("insert a row");
    }
    drop(connection);
    fs::read(path).expect("read the database back")
}
