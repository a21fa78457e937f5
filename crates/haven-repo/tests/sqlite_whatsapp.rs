//! A real Android WhatsApp message database, backed up while rows are inserted.
//!
//! The database is `tests/res/msgstore.db` from the PyPI source distribution of
//! wa-crypt-tools 0.1.0 (GPL-3.0-or-later, so it is downloaded at test time and not
//! kept in this repository). The download is cached under the Cargo target folder.

mod common;
mod sqlite_support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{new_repo, quiet_options};
use haven_repo::{BackupOptions, HookPoint};
use sqlite_support::{integrity_check, restore_into, row_count, wait_for};

const SDIST: &str = "wa_crypt_tools-0.1.0.tar.gz";

/// Returns the path of the cached `msgstore.db`, downloading the sdist with pip once.
fn whatsapp_database() -> PathBuf {
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wa-crypt-tools-0.1.0");
    let db = cache.join("wa_crypt_tools-0.1.0/tests/res/msgstore.db");
    if db.is_file() {
        return db;
    }
    std::fs::create_dir_all(&cache).unwrap();
    let download = Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "wa-crypt-tools==0.1.0",
            "-d",
        ])
        .arg(&cache)
        .output();
    match download {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "pip could not download wa-crypt-tools 0.1.0 from PyPI (exit {}): {}\n\
             This test needs python3 with pip and access to pypi.org.",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "cannot run python3 -m pip ({e}); install python3 and pip, with access to pypi.org"
        ),
    }
    // Unpack into a fresh folder and rename it into place, so a parallel run never
    // sees a half-unpacked file.
    let unpack = tempfile::tempdir_in(&cache).unwrap();
    let status = Command::new("tar")
        .arg("xzf")
        .arg(cache.join(SDIST))
        .arg("-C")
        .arg(unpack.path())
        .status()
        .expect("cannot run tar");
    assert!(status.success(), "tar could not unpack {SDIST}");
    let _ = std::fs::rename(
        unpack.path().join("wa_crypt_tools-0.1.0"),
        cache.join("wa_crypt_tools-0.1.0"),
    );
    assert!(db.is_file(), "{SDIST} has no tests/res/msgstore.db");
    db
}

/// Inserts one message per transaction with key ids `HAVEN-1`, `HAVEN-2`, ... until stopped.
fn insert_messages(db: PathBuf, committed: Arc<AtomicU64>, stop: Arc<AtomicBool>) {
    let mut conn = rusqlite::Connection::open(&db).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    let mut seq = 0u64;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let tx = conn.transaction().unwrap();
        tx.execute(
            "INSERT INTO message (chat_row_id, from_me, key_id, status, timestamp, message_type, text_data, sort_id) \
             VALUES (1, 1, ?1, 0, ?2, 0, ?3, ?2)",
            rusqlite::params![format!("HAVEN-{seq}"), 1_700_000_000_000i64 + seq as i64, format!("message {seq}")],
        )
        .unwrap();
        tx.commit().unwrap();
        committed.store(seq, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_database_with_live_inserts() {
    let original = whatsapp_database();
    let t = new_repo().await;
    let data = t.dir.path().join("com.whatsapp");
    std::fs::create_dir_all(data.join("databases")).unwrap();
    let db = data.join("databases/msgstore.db");
    std::fs::copy(&original, &db).unwrap();
    let messages_before = row_count(&db, "message");
    let chats_before = row_count(&db, "chat");

    let committed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, committed, stop) = (db.clone(), committed.clone(), stop.clone());
        std::thread::spawn(move || insert_messages(db, committed, stop))
    };
    wait_for("first inserts", || committed.load(Ordering::SeqCst) >= 5);
    let hook_committed = committed.clone();
    let hook = Arc::new(move |path: &Path, point: HookPoint| {
        if point == HookPoint::AfterOpen && path.ends_with("databases/msgstore.db") {
            let target = hook_committed.load(Ordering::SeqCst) + 5;
            wait_for("inserts during the backup", || {
                hook_committed.load(Ordering::SeqCst) >= target
            });
        }
    });
    let before = committed.load(Ordering::SeqCst);
    let options = BackupOptions {
        hook: Some(hook),
        ..quiet_options()
    };
    let result = t
        .repo
        .backup(std::slice::from_ref(&data), options)
        .await
        .unwrap();
    let after = committed.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(
        result.problems.is_empty(),
        "problems: {:?}",
        result.problems
    );

    let target = restore_into(&t.repo, &result.snapshot_id, &t.dir.path().join("restored")).await;
    let restored = target.join("com.whatsapp/databases/msgstore.db");
    assert_eq!(integrity_check(&restored), "ok");
    assert_eq!(row_count(&restored, "chat"), chats_before);
    let conn = rusqlite::Connection::open(&restored).unwrap();
    let keys: Vec<String> = conn
        .prepare("SELECT key_id FROM message WHERE key_id GLOB 'HAVEN-*' ORDER BY _id")
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let inserted = keys.len() as u64;
    let expected: Vec<String> = (1..=inserted).map(|seq| format!("HAVEN-{seq}")).collect();
    assert_eq!(keys, expected, "the restored inserts are not a prefix");
    assert!(
        inserted >= before + 5,
        "restored {inserted} inserts, {} were committed before the copy",
        before + 5
    );
    assert!(
        inserted <= after,
        "restored {inserted} inserts, only {after} were committed at the end"
    );
    assert_eq!(
        row_count(&restored, "message"),
        messages_before + inserted as i64
    );
}
