//! `haven backup --import-whatsapp`: a `.crypt15` backup is decrypted and stored in
//! the snapshot. The `.crypt15` files are written by `haven whatsapp encrypt`, which
//! the wa-crypt-tools peer tests check byte for byte.

mod repo_common;

use std::path::{Path, PathBuf};
use std::process::Output;

use repo_common::{assert_exit, assert_success, run, snapshot_count, stderr, Env};

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const OTHER_KEY: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

/// Writes a real SQLite message database with 500 rows.
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

/// Returns every message row, in id order.
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

/// Checks that the restored database contains the same rows. It is a consistent
/// copy made with SQLite's backup API, which may renumber header counters.
fn assert_same_messages(restored: &Path, original: &Path) {
    let got = messages(restored);
    assert_eq!(got.len(), 500);
    assert!(got == messages(original), "the restored rows differ");
}

/// A repository, a message database, its `.crypt15` backup under `KEY`, and an empty
/// folder that the import uses as TMPDIR.
struct Case {
    env: Env,
    db: PathBuf,
    backup: PathBuf,
    tmp: PathBuf,
}

impl Case {
    fn new() -> Self {
        let env = Env::init();
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
        let tmp = env.path("tmp");
        std::fs::create_dir(&tmp).unwrap();
        Self {
            env,
            db,
            backup,
            tmp,
        }
    }

    /// Runs `haven backup --import-whatsapp` with the case's TMPDIR and `rest`.
    fn import(&self, rest: &[&str]) -> Output {
        let env = &self.env;
        std::process::Command::new(repo_common::HAVEN)
            .args(["backup", "--repo", env.repo.to_str().unwrap()])
            .args(["--key-file", env.key_file.to_str().unwrap()])
            .args(["--import-whatsapp", self.backup.to_str().unwrap()])
            .args(rest)
            .env("TMPDIR", &self.tmp)
            .env("XDG_STATE_HOME", env.dir.path().join("state-home"))
            .env_remove("HAVEN_REPO")
            .env_remove("HAVEN_KEY")
            .env_remove("HAVEN_KEY_FILE")
            .env_remove("HAVEN_WHATSAPP_KEY")
            .output()
            .unwrap()
    }

    /// Restores the latest snapshot and returns the restore folder.
    fn restore(&self) -> PathBuf {
        let target = self.env.path("restored");
        let out = self
            .env
            .haven("restore", &["latest", "--target", target.to_str().unwrap()]);
        assert_success(&out);
        target
    }

    /// Checks that a failed import wrote no snapshot and left no decrypted copy.
    fn assert_nothing_left(&self) {
        assert_eq!(snapshot_count(&self.env), 0);
        assert_eq!(std::fs::read_dir(&self.tmp).unwrap().count(), 0);
    }
}

#[test]
fn imported_database_restores_identical() {
    let case = Case::new();
    let media = case.env.path("media");
    std::fs::create_dir(&media).unwrap();
    std::fs::write(media.join("photo.jpg"), b"not really a photo").unwrap();

    let out = case.import(&["--whatsapp-key", KEY, media.to_str().unwrap()]);
    assert_success(&out);
    assert_eq!(
        std::fs::read_dir(&case.tmp).unwrap().count(),
        0,
        "decrypted copy left in TMPDIR"
    );

    let out = case.env.haven("snapshots", &["--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let paths = list[0]["paths"].to_string();
    assert!(paths.contains("msgstore.db.crypt15"), "{paths}");
    assert!(!paths.contains("haven-backup-"), "{paths}");

    let target = case.restore();
    assert_same_messages(&target.join("whatsapp/msgstore.db"), &case.db);
    assert!(std::fs::read(target.join("media/photo.jpg")).unwrap() == b"not really a photo");
}

#[test]
fn key_file_opens_the_import() {
    let case = Case::new();
    let key_file = case.env.path("key.txt");
    std::fs::write(&key_file, KEY).unwrap();
    assert_success(&case.import(&["--whatsapp-key-file", key_file.to_str().unwrap()]));
    let target = case.restore();
    assert_same_messages(&target.join("whatsapp/msgstore.db"), &case.db);
}

#[test]
fn wrong_key_writes_no_snapshot() {
    let case = Case::new();
    let out = case.import(&["--whatsapp-key", OTHER_KEY]);
    assert_exit(&out, 1);
    let err = stderr(&out);
    assert!(err.contains("does not open this backup"), "{err}");
    assert!(!err.contains(OTHER_KEY), "the key must not be printed");
    case.assert_nothing_left();
}

#[test]
fn damaged_backup_exits_as_damaged() {
    let case = Case::new();
    let mut bytes = std::fs::read(&case.backup).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&case.backup, bytes).unwrap();
    assert_exit(&case.import(&["--whatsapp-key", KEY]), 3);
    case.assert_nothing_left();
}

#[test]
fn missing_key_is_named() {
    let case = Case::new();
    let out = case.import(&[]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("--whatsapp-key-file"),
        "{}",
        stderr(&out)
    );
    case.assert_nothing_left();
}

#[test]
fn environment_key_without_import_is_ignored() {
    let case = Case::new();
    let media = case.env.path("media");
    std::fs::create_dir(&media).unwrap();
    let out = std::process::Command::new(repo_common::HAVEN)
        .args(["backup", "--repo", case.env.repo.to_str().unwrap()])
        .args(["--key-file", case.env.key_file.to_str().unwrap()])
        .arg(&media)
        .env("HAVEN_WHATSAPP_KEY", KEY)
        .env("XDG_STATE_HOME", case.env.dir.path().join("state-home"))
        .output()
        .unwrap();
    assert_success(&out);
}

#[test]
fn folder_named_whatsapp_is_rejected_first() {
    let case = Case::new();
    let clash = case.env.path("whatsapp");
    std::fs::create_dir(&clash).unwrap();
    let out = case.import(&["--whatsapp-key", KEY, clash.to_str().unwrap()]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("back up its parent folder"),
        "{}",
        stderr(&out)
    );
    case.assert_nothing_left();
}

#[test]
fn interrupted_import_removes_decrypted_copy() {
    let case = Case::new();
    // A database large enough that the backup is still running when SIGINT arrives.
    let big = case.env.path("big.db");
    let db = rusqlite::Connection::open(&big).unwrap();
    db.execute_batch(
        "CREATE TABLE m (body BLOB);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
         INSERT INTO m SELECT randomblob(1000) FROM c;",
    )
    .unwrap();
    drop(db);
    let backup = case.env.path("big.db.crypt15");
    let args = ["whatsapp", "encrypt", "--key", KEY];
    assert_success(&run(&[
        &args[..],
        &[big.to_str().unwrap(), backup.to_str().unwrap()],
    ]
    .concat()));

    let env = &case.env;
    let child = std::process::Command::new(repo_common::HAVEN)
        .args(["backup", "--repo", env.repo.to_str().unwrap()])
        .args(["--key-file", env.key_file.to_str().unwrap()])
        .env("XDG_STATE_HOME", env.dir.path().join("state-home"))
        .args([
            "--import-whatsapp",
            backup.to_str().unwrap(),
            "--whatsapp-key",
            KEY,
        ])
        .env("TMPDIR", &case.tmp)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the decrypted database is in place, then interrupt.
    let decrypted = || {
        std::fs::read_dir(&case.tmp)
            .unwrap()
            .flatten()
            .any(|dir| dir.path().join("whatsapp/big.db").exists())
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !decrypted() {
        assert!(
            std::time::Instant::now() < deadline,
            "the import never decrypted"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("removed the backup's temporary files"),
        "{err}"
    );
    // The snapshot may or may not have been written; the decrypted copy must be gone.
    assert_eq!(std::fs::read_dir(&case.tmp).unwrap().count(), 0);
}
