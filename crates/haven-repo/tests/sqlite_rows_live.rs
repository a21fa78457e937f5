//! A row increment taken while a writer commits transactions.

mod common;
mod rows_support;
mod sqlite_support;

use std::path::Path;
use std::sync::Arc;

use haven_chatgen::{GenerateOptions, JournalMode};
use haven_repo::{BackupOptions, HookPoint};
use rows_support::rows_options;
use sqlite_support::{assert_writer_prefix, restore_into, LiveWriter};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_writer_increment_is_prefix() {
    let t = common::new_repo().await;
    let data = t.dir.path().join("app");
    let state = t.dir.path().join("state");
    haven_chatgen::generate(&GenerateOptions {
        out: data.clone(),
        size: 3_000_000,
        seed: 4,
        fts: true,
    })
    .unwrap();
    let first = t
        .repo
        .backup(std::slice::from_ref(&data), rows_options(&state))
        .await
        .unwrap();
    assert!(
        first
            .sqlite_bases
            .iter()
            .any(|b| b.path.ends_with("databases/msgstore.db")),
        "{:?}",
        first.sqlite_bases
    );

    let writer = Arc::new(LiveWriter::start(&data, JournalMode::Wal));
    // The writer adds its log table when it starts, a schema change, so the backup
    // after that takes a new base and the one after it is the increment under test.
    let second = t
        .repo
        .backup(std::slice::from_ref(&data), rows_options(&state))
        .await
        .unwrap();
    assert!(
        second.problems.is_empty(),
        "problems: {:?}",
        second.problems
    );
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
        ..rows_options(&state)
    };
    let third = t
        .repo
        .backup(std::slice::from_ref(&data), options)
        .await
        .unwrap();
    let after = writer.committed();
    writer.wait_for_commits(5);
    let writer = Arc::into_inner(writer).expect("the hook is dropped with the options");
    writer.stop();

    assert!(third.problems.is_empty(), "problems: {:?}", third.problems);
    assert!(
        !third
            .sqlite_bases
            .iter()
            .any(|b| b.path.ends_with("databases/msgstore.db")),
        "the backup during writes is an increment: {:?}",
        third.sqlite_bases
    );
    assert!(third.snapshot.summary.sqlite_increments >= 1);
    let target = restore_into(&t.repo, &third.snapshot_id, &t.dir.path().join("restored")).await;
    let db = target.join("app/databases/msgstore.db");
    assert_writer_prefix(&db, before + 5, after);
}
