//! A database stored as a base and row increments, next to a small file that has the
//! base's bytes: the base is restored from the blobs loaded for the small files.

mod common;
mod rows_support;

use std::path::Path;

use common::{new_repo, random_bytes};
use haven_repo::{NodeKind, RestoreOptions};
use rows_support::{create_database, dump, mutate_day, rows_options, Rng};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_base_written_before_increments_apply() {
    let t = new_repo().await;
    let data = t.dir.path().join("app");
    std::fs::create_dir_all(&data).unwrap();
    let db = data.join("chat.db");
    create_database(&db);
    // A copy of the first version: its chunks are the base's chunks.
    std::fs::copy(&db, data.join("c.db")).unwrap();
    // Small files before them keep the finishing thread busy: 15.75 MB, which loads
    // in one batch with c.db.
    for i in 0..63 {
        std::fs::write(data.join(format!("b{i:03}")), random_bytes(i, 250 * 1024)).unwrap();
    }
    let state = t.dir.path().join("state");
    t.repo
        .backup(std::slice::from_ref(&data), rows_options(&state))
        .await
        .unwrap();
    mutate_day(&db, &mut Rng::new(7));
    let second = t
        .repo
        .backup(std::slice::from_ref(&data), rows_options(&state))
        .await
        .unwrap();
    let expected = dump(&db);

    let listed = |name: &'static str| {
        let repo = t.repo.clone();
        let snapshot = second.snapshot_id;
        async move {
            repo.list_snapshot(&snapshot, Path::new(name))
                .await
                .unwrap()
                .remove(0)
                .node
        }
    };
    let copy = listed("app/c.db").await;
    let chat = listed("app/chat.db").await;
    assert_eq!(copy.kind, NodeKind::File, "c.db is a plain file");
    assert_eq!(chat.kind, NodeKind::SqliteRows, "chat.db has increments");
    assert_eq!(copy.content, chat.content, "c.db holds the base's chunks");

    for round in 0..10 {
        let target = t.dir.path().join(format!("target{round}"));
        let report = t
            .repo
            .restore(&second.snapshot_id, &target, RestoreOptions::default())
            .await
            .unwrap();
        assert!(
            report.damaged.is_empty(),
            "round {round}: {:?}",
            report.damaged
        );
        assert_eq!(dump(&target.join("app/chat.db")), expected, "round {round}");
    }
}
