//! Leftovers of interrupted writes: zero-length objects, incomplete packs, temporary
//! files and packs no index lists. Check reports them without calling them damage, a
//! later backup is not stopped by them, and repair or prune deletes them.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use haven_repo::{CheckOptions, ObjectId, PruneOptions, RepairOptions, Repository};

async fn backed_up_repo() -> (TestRepo, PathBuf) {
    let repo = new_repo().await;
    let source = repo.dir.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("a.bin"), random_bytes(1, 300_000)).unwrap();
    std::fs::write(source.join("b.txt"), "text\n".repeat(1000)).unwrap();
    repo.repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    (repo, source)
}

fn write(root: &Path, relative: &str, bytes: &[u8]) -> String {
    let path = root.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, bytes).unwrap();
    relative.to_string()
}

fn repair_now() -> RepairOptions {
    RepairOptions {
        grace: Duration::ZERO,
        dry_run: false,
    }
}

fn leftover_paths(report: &haven_repo::CheckReport) -> BTreeSet<String> {
    report.leftovers.iter().map(|l| l.path.clone()).collect()
}

/// Plants one leftover of each kind and returns their paths.
fn plant_leftovers(root: &Path) -> BTreeSet<String> {
    let hex = |seed: u64| ObjectId::of_stored_bytes(&random_bytes(seed, 64)).to_hex();
    let full = random_bytes(50, 20_000);
    let full_id = ObjectId::of_stored_bytes(&full).to_hex();
    let mut planted = BTreeSet::new();
    let empty_pack = hex(1);
    planted.insert(write(
        root,
        &format!("data/{}/{empty_pack}", &empty_pack[..2]),
        b"",
    ));
    // The first half of a pack under the name of the whole: an upload cut off.
    planted.insert(write(
        root,
        &format!("data/{}/{full_id}", &full_id[..2]),
        &full[..10_000],
    ));
    planted.insert(write(root, &format!("index/{}", hex(2)), b""));
    planted.insert(write(root, &format!("snapshots/{}", hex(3)), b""));
    planted.insert(write(root, &format!("prune/{}", hex(4)), b""));
    planted.insert(write(root, ".tmp/pack.part", &random_bytes(5, 4000)));
    planted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_are_reported_not_damage() {
    let (repo, _) = backed_up_repo().await;
    let planted = plant_leftovers(&repo.repo_path());
    let report = repo
        .reopen()
        .await
        .check(CheckOptions { read_data: true })
        .await
        .unwrap();
    assert!(report.is_ok(), "leftovers reported as damage: {report:?}");
    assert_eq!(leftover_paths(&report), planted);
    assert!(report.unindexed_packs.is_empty(), "{report:?}");
    let truncated = report.leftovers.iter().find(|l| l.size == 10_000).unwrap();
    assert!(
        truncated.reason.contains("incomplete upload"),
        "{truncated:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_do_not_stop_a_backup() {
    let (repo, source) = backed_up_repo().await;
    plant_leftovers(&repo.repo_path());
    std::fs::write(source.join("c.bin"), random_bytes(2, 200_000)).unwrap();
    let reopened = repo.reopen().await;
    let result = reopened
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    assert!(result.damaged.is_empty(), "{:?}", result.damaged);
    assert_eq!(result.adopted_packs, 0);
    let target = tempfile::tempdir().unwrap();
    let restored = reopened
        .restore(&result.snapshot_id, target.path(), Default::default())
        .await
        .unwrap();
    assert!(restored.damaged.is_empty());
    assert_eq!(describe(&source), describe(&target.path().join("source")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_deletes_old_leftovers_only() {
    let (repo, _) = backed_up_repo().await;
    let planted = plant_leftovers(&repo.repo_path());
    let reopened = repo.reopen().await;

    let young = reopened.repair(&RepairOptions::default()).await.unwrap();
    assert!(young.deleted.is_empty(), "{young:?}");
    assert_eq!(young.kept.len(), planted.len());

    let dry = reopened
        .repair(&RepairOptions {
            dry_run: true,
            ..repair_now()
        })
        .await
        .unwrap();
    assert_eq!(dry.deleted.len(), planted.len());
    for path in &planted {
        assert!(
            repo.repo_path().join(path).exists(),
            "dry run deleted {path}"
        );
    }

    let done = reopened.repair(&repair_now()).await.unwrap();
    assert_eq!(done.deleted.len(), planted.len());
    for path in &planted {
        assert!(
            !repo.repo_path().join(path).exists(),
            "{path} is still there"
        );
    }
    let report = reopened
        .check(CheckOptions { read_data: true })
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(report.leftovers.is_empty(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_leftovers() {
    let (repo, _) = backed_up_repo().await;
    let planted = plant_leftovers(&repo.repo_path());
    let report = repo
        .reopen()
        .await
        .prune(&PruneOptions {
            grace: Duration::ZERO,
            ..PruneOptions::default()
        })
        .await
        .unwrap();
    let deleted: BTreeSet<String> = report.leftovers_deleted.iter().cloned().collect();
    assert_eq!(deleted, planted);
    for path in &planted {
        assert!(
            !repo.repo_path().join(path).exists(),
            "{path} is still there"
        );
    }
}

/// Snapshot and index files written by the last backup, to undo them.
fn new_objects(repo: &TestRepo, folder: &str, before: &[PathBuf]) -> Vec<PathBuf> {
    repo.objects(folder)
        .into_iter()
        .filter(|p| !before.contains(p))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreferenced_packs_of_an_interrupted_run() {
    let (repo, source) = backed_up_repo().await;
    let indexes_before = repo.objects("index");
    let snapshots_before = repo.objects("snapshots");
    std::fs::write(source.join("new.bin"), random_bytes(9, 500_000)).unwrap();
    repo.repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    // As if the run had been killed after its packs and before its index files and
    // snapshot: packs that nothing lists or references.
    for path in new_objects(&repo, "snapshots", &snapshots_before)
        .into_iter()
        .chain(new_objects(&repo, "index", &indexes_before))
    {
        std::fs::remove_file(path).unwrap();
    }
    let reopened: Repository = repo.reopen().await;
    let report = reopened
        .check(CheckOptions { read_data: true })
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(!report.unindexed_packs.is_empty(), "{report:?}");
    assert!(report.leftovers.is_empty(), "{report:?}");

    let repaired = reopened.repair(&repair_now()).await.unwrap();
    assert_eq!(
        repaired.packs_indexed as usize,
        report.unindexed_packs.len()
    );
    let after = reopened
        .check(CheckOptions { read_data: true })
        .await
        .unwrap();
    assert!(after.is_ok(), "{after:?}");
    assert!(after.unindexed_packs.is_empty(), "{after:?}");

    // Now indexed but referenced by no snapshot: prune marks them, then deletes them.
    let now = PruneOptions {
        grace: Duration::ZERO,
        ..PruneOptions::default()
    };
    let marked = reopened.prune(&now).await.unwrap();
    assert!(marked.packs_marked >= 1, "{marked:?}");
    let deleted = reopened.prune(&now).await.unwrap();
    assert_eq!(deleted.packs_deleted, marked.packs_marked, "{deleted:?}");
}
