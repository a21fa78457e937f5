//! Backups of a message database while a writer commits transactions.

mod common;
mod sqlite_support;

use std::path::Path;
use std::sync::Arc;

use common::{new_repo, quiet_options};
use haven_chatgen::{GenerateOptions, JournalMode};
use haven_repo::{BackupOptions, HookPoint};
use sqlite_support::{assert_writer_prefix, restore_into, LiveWriter};

async fn backup_during_writes(journal: JournalMode) {
    let t = new_repo().await;
    let data = t.dir.path().join("app");
    haven_chatgen::generate(&GenerateOptions {
        out: data.clone(),
        size: 4_000_000,
        seed: 1,
        fts: true,
    })
    .unwrap();
    let writer = Arc::new(LiveWriter::start(&data, journal));

    // The hook holds the backup right after it opens the database until the writer
    // has committed more, so commits land between the listing, the open and the copy.
    let hook_writer = writer.clone();
    let hook = Arc::new(move |path: &Path, point: HookPoint| {
        if point == HookPoint::AfterOpen && path.ends_with("databases/msgstore.db") {
            hook_writer.wait_for_commits(5);
        }
    });
    let before = writer.committed();
    let options = BackupOptions {
        hook: Some(hook),
        ..quiet_options()
    };
    let result = t
        .repo
        .backup(std::slice::from_ref(&data), options)
        .await
        .unwrap();
    let after = writer.committed();
    writer.wait_for_commits(5);
    let writer = Arc::into_inner(writer).expect("the hook is dropped with the options");
    writer.stop();

    assert!(
        result.problems.is_empty(),
        "problems: {:?}",
        result.problems
    );
    let target = restore_into(&t.repo, &result.snapshot_id, &t.dir.path().join("restored")).await;
    let databases = target.join("app/databases");
    let mut names: Vec<String> = std::fs::read_dir(&databases)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["msgstore.db"],
        "sidecars are not part of the snapshot"
    );
    let db = databases.join("msgstore.db");
    assert_writer_prefix(&db, before + 5, after);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wal_database_with_live_writer() {
    backup_during_writes(JournalMode::Wal).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_database_with_live_writer() {
    backup_during_writes(JournalMode::Delete).await;
}
