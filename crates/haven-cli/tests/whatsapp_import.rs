//! `haven backup --import-whatsapp`: a `.crypt15` backup is decrypted and stored in
//! the snapshot. The `.crypt15` files are written by `haven whatsapp encrypt`, which
//! the wa-crypt-tools peer tests check byte for byte.

mod repo_common;

use std::path::{Path, PathBuf};
use std::process::Output;

use repo_common::{assert_exit, assert_success, run, stderr, Env};

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OTHER_KEY: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/// A real SQLite message database with a few hundred rows.
fn message_db(path: &Path) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch("CREATE TABLE message (id INTEGER PRIMARY KEY, chat INTEGER, body TEXT);")
        .unwrap();
    for i in 0..500 {
        db.execute(
            "INSERT INTO message (chat, body) VALUES (?1, ?2)",
            (i % 7, format!("message {i} with some text to fill a page")),
        )
        .unwrap();
    }
}

/// Every message row, in id order.
fn messages(path: &Path) -> Vec<(i64, i64, String)> {
    let db = rusqlite::Connection::open(path).unwrap();
    let check: String = db
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(check, "ok", "{}", path.display());
    let mut stmt = db
        .prepare("SELECT id, chat, body FROM message ORDER BY id")
        .unwrap();
    let rows = stmt
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// The restored database is a consistent SQLite copy (the backup takes it with
/// SQLite's backup API, which may renumber header counters) holding the same rows.
fn assert_same_messages(restored: &Path, original: &Path) {
    let got = messages(restored);
    assert_eq!(got.len(), 500);
    assert!(got == messages(original), "the restored rows differ");
}

/// Writes msgstore.db and msgstore.db.crypt15 (under `KEY`) in the env's folder.
fn crypt15(env: &Env) -> (PathBuf, PathBuf) {
    let db = env.path("msgstore.db");
    message_db(&db);
    let backup = env.path("msgstore.db.crypt15");
    let out = run(&[
        "whatsapp",
        "encrypt",
        "--key",
        KEY,
        db.to_str().unwrap(),
        backup.to_str().unwrap(),
    ]);
    assert_success(&out);
    (db, backup)
}

/// `haven backup` with the import, a private TMPDIR, and the given extra arguments.
fn import(env: &Env, backup: &Path, tmp: &Path, rest: &[&str]) -> Output {
    let mut args = vec![
        "backup".to_string(),
        "--repo".into(),
        env.repo.to_str().unwrap().into(),
        "--key-file".into(),
        env.key_file.to_str().unwrap().into(),
        "--import-whatsapp".into(),
        backup.to_str().unwrap().into(),
    ];
    args.extend(rest.iter().map(|s| s.to_string()));
    std::process::Command::new(repo_common::HAVEN)
        .args(&args)
        .env("TMPDIR", tmp)
        .env_remove("HAVEN_REPO")
        .env_remove("HAVEN_KEY")
        .env_remove("HAVEN_KEY_FILE")
        .env_remove("HAVEN_WHATSAPP_KEY")
        .output()
        .unwrap()
}

fn snapshot_count(env: &Env) -> usize {
    let out = env.haven("snapshots", &["--json"]);
    assert_success(&out);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list.as_array().unwrap().len()
}

#[test]
fn imported_database_restores_identical() {
    let env = Env::init();
    let (db, backup) = crypt15(&env);
    let media = env.path("media");
    std::fs::create_dir(&media).unwrap();
    std::fs::write(media.join("photo.jpg"), b"not really a photo").unwrap();
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();

    let out = import(
        &env,
        &backup,
        &tmp,
        &["--whatsapp-key", KEY, media.to_str().unwrap()],
    );
    assert_success(&out);
    assert_eq!(
        std::fs::read_dir(&tmp).unwrap().count(),
        0,
        "decrypted copy left in TMPDIR"
    );

    let out = env.haven("snapshots", &["--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let paths = list[0]["paths"].to_string();
    assert!(paths.contains("msgstore.db.crypt15"), "{paths}");
    assert!(!paths.contains("haven-import-"), "{paths}");

    let target = env.path("restored");
    assert_success(&env.haven("restore", &["latest", "--target", target.to_str().unwrap()]));
    assert_same_messages(&target.join("whatsapp/msgstore.db"), &db);
    assert!(std::fs::read(target.join("media/photo.jpg")).unwrap() == b"not really a photo");
}

#[test]
fn key_file_opens_the_import() {
    let env = Env::init();
    let (db, backup) = crypt15(&env);
    let key_file = env.path("key.txt");
    std::fs::write(&key_file, KEY).unwrap();
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = import(
        &env,
        &backup,
        &tmp,
        &["--whatsapp-key-file", key_file.to_str().unwrap()],
    );
    assert_success(&out);
    let target = env.path("restored");
    assert_success(&env.haven("restore", &["latest", "--target", target.to_str().unwrap()]));
    assert_same_messages(&target.join("whatsapp/msgstore.db"), &db);
}

#[test]
fn wrong_key_writes_no_snapshot() {
    let env = Env::init();
    let (_, backup) = crypt15(&env);
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = import(&env, &backup, &tmp, &["--whatsapp-key", OTHER_KEY]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("does not open this backup"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains(OTHER_KEY),
        "the key must not be printed"
    );
    assert_eq!(snapshot_count(&env), 0);
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn damaged_backup_exits_as_damaged() {
    let env = Env::init();
    let (_, backup) = crypt15(&env);
    let mut bytes = std::fs::read(&backup).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&backup, bytes).unwrap();
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = import(&env, &backup, &tmp, &["--whatsapp-key", KEY]);
    assert_exit(&out, 3);
    assert_eq!(snapshot_count(&env), 0);
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn missing_key_is_named() {
    let env = Env::init();
    let (_, backup) = crypt15(&env);
    let tmp = env.path("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let out = import(&env, &backup, &tmp, &[]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("--whatsapp-key-file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(snapshot_count(&env), 0);
}
