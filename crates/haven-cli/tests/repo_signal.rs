//! `haven backup` stopped by SIGINT or SIGTERM while it copies a SQLite database:
//! it removes its temporary copy and exits with 128 + the signal number.

mod repo_common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use repo_common::*;

/// Writes a database of about 20 MB, so the backup is still running when the signal
/// arrives.
fn write_big_database(path: &Path) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch(
        "CREATE TABLE m (body BLOB);
         WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
         INSERT INTO m SELECT randomblob(1000) FROM c;",
    )
    .unwrap();
}

/// Returns whether a consistent copy of a database exists in the backup's folder.
fn copy_exists(tmp: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return false;
    };
    entries.flatten().any(|dir| {
        std::fs::read_dir(dir.path())
            .map(|files| files.flatten().count() > 0)
            .unwrap_or(false)
    })
}

/// Starts a backup of `source`, sends `signal` once its database copy exists, and
/// returns the exit code and standard error.
fn interrupt_backup(env: &Env, source: &Path, tmp: &Path, signal: &str) -> (Option<i32>, String) {
    let child = Command::new(HAVEN)
        .args(["backup", "--repo", env.repo.to_str().unwrap()])
        .args(["--key-file", env.key_file.to_str().unwrap()])
        .arg(source)
        .env("TMPDIR", tmp)
        .env("XDG_STATE_HOME", env.path("state-home"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !copy_exists(tmp) {
        assert!(
            Instant::now() < deadline,
            "the backup never copied the database"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let kill = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn signals_remove_sqlite_copy() {
    let env = Env::init();
    let source = env.path("app");
    std::fs::create_dir(&source).unwrap();
    write_big_database(&source.join("msgstore.db"));

    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let tmp = env.path(&format!("tmp{signal}"));
        std::fs::create_dir(&tmp).unwrap();
        let (status, err) = interrupt_backup(&env, &source, &tmp, signal);
        // The exit code shows that the signal handler ran, because a backup that
        // finished before the signal would also leave TMPDIR empty.
        assert_eq!(status, Some(code), "{signal}: {err}");
        assert!(
            err.contains("removed the backup's temporary files"),
            "{signal}: {err}"
        );
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().collect();
        assert!(left.is_empty(), "{signal}: left in TMPDIR: {left:?}");
    }

    // The repository is still usable after the interrupted backups.
    let out = env.haven("check", &[]);
    assert_success(&out);
    let tmp = env.path("tmp-final");
    std::fs::create_dir(&tmp).unwrap();
    let out = Command::new(HAVEN)
        .args(["backup", "--repo", env.repo.to_str().unwrap()])
        .args(["--key-file", env.key_file.to_str().unwrap()])
        .arg(&source)
        .env("TMPDIR", &tmp)
        .env("XDG_STATE_HOME", env.path("state-home"))
        .output()
        .unwrap();
    assert_success(&out);
    assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
}
