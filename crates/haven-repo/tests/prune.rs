//! Forget rules, two-phase prune, repacking, and prune racing a backup that reuses a
//! chunk prune has marked.

mod common;

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use haven_repo::{
    apply_policy, BackupOptions, CheckOptions, HookPoint, ObjectId, PruneOptions, Repository,
    RestoreOptions, RetentionPolicy, Snapshot,
};

const DAY_NS: i64 = 86_400 * 1_000_000_000;
/// 2024-01-01 00:00 UTC, a Monday.
const JAN_1_2024_NS: i64 = 1_704_067_200 * 1_000_000_000;

fn synthetic(time_ns: i64, host: &str, tags: &[&str]) -> (ObjectId, Snapshot) {
    let snapshot = Snapshot {
        time_ns,
        hostname: host.into(),
        paths: vec![b"/data".to_vec()],
        tags: tags.iter().map(|t| t.to_string()).collect(),
        tree: ObjectId([0; 32]),
        parent: None,
        summary: Default::default(),
    };
    let mut id = [0u8; 32];
    id[..8].copy_from_slice(&time_ns.to_be_bytes());
    id[8] = host.len() as u8;
    (ObjectId(id), snapshot)
}

fn kept(snapshots: &[(ObjectId, Snapshot)], policy: &RetentionPolicy) -> Vec<i64> {
    apply_policy(snapshots, policy)
        .into_iter()
        .filter(|d| d.keep)
        .map(|d| (d.time_ns - JAN_1_2024_NS).div_euclid(DAY_NS))
        .collect()
}

#[test]
fn forget_rules_on_synthetic_times() {
    // Two snapshots a day (01:00 and 13:00) for 120 days from 2024-01-01.
    let mut snapshots = Vec::new();
    for day in 0..120 {
        for hour in [1, 13] {
            let time = JAN_1_2024_NS + day * DAY_NS + hour * 3_600_000_000_000;
            snapshots.push(synthetic(time, "phone", &[]));
        }
    }
    let last = RetentionPolicy {
        keep_last: 3,
        ..Default::default()
    };
    assert_eq!(kept(&snapshots, &last), vec![118, 119, 119]);

    let daily = RetentionPolicy {
        keep_daily: 4,
        ..Default::default()
    };
    let decisions = apply_policy(&snapshots, &daily);
    let kept_daily: Vec<_> = decisions.iter().filter(|d| d.keep).collect();
    assert_eq!(kept_daily.len(), 4);
    // The newest snapshot of each day: the 13:00 one.
    assert!(kept_daily
        .iter()
        .all(|d| (d.time_ns - JAN_1_2024_NS).rem_euclid(DAY_NS) == 13 * 3_600_000_000_000));
    assert_eq!(kept(&snapshots, &daily), vec![116, 117, 118, 119]);

    // Day 119 is 2024-04-29, a Monday, alone in its week; the two weeks before end
    // on Sundays, days 118 and 111.
    let weekly = RetentionPolicy {
        keep_weekly: 3,
        ..Default::default()
    };
    assert_eq!(kept(&snapshots, &weekly), vec![111, 118, 119]);

    // Months: April ends the series (day 119), then March 31 (day 90), Feb 29 (59).
    let monthly = RetentionPolicy {
        keep_monthly: 3,
        ..Default::default()
    };
    assert_eq!(kept(&snapshots, &monthly), vec![59, 90, 119]);

    let combined = RetentionPolicy {
        keep_last: 1,
        keep_monthly: 2,
        ..Default::default()
    };
    assert_eq!(kept(&snapshots, &combined), vec![90, 119]);
}

#[test]
fn forget_keeps_tags_and_groups_by_host() {
    let snapshots = vec![
        synthetic(JAN_1_2024_NS, "phone", &["monthly-archive"]),
        synthetic(JAN_1_2024_NS + DAY_NS, "phone", &[]),
        synthetic(JAN_1_2024_NS + 2 * DAY_NS, "phone", &[]),
        synthetic(JAN_1_2024_NS, "tablet", &[]),
    ];
    let policy = RetentionPolicy {
        keep_last: 1,
        keep_tags: vec!["monthly-archive".into()],
        ..Default::default()
    };
    let decisions = apply_policy(&snapshots, &policy);
    let keep: Vec<bool> = decisions.iter().map(|d| d.keep).collect();
    // The tablet's only snapshot is the newest of its own group.
    assert_eq!(keep, vec![true, false, true, true]);
    assert_eq!(
        decisions[0].reasons,
        vec!["tag:monthly-archive".to_string()]
    );
}

#[tokio::test]
async fn forget_rejects_an_empty_policy() {
    let repo = new_repo().await;
    let error = repo
        .repo
        .forget(&RetentionPolicy::default(), false)
        .await
        .unwrap_err();
    assert!(error.to_string().contains("--keep-last"), "{error}");
}

fn prune_now() -> PruneOptions {
    PruneOptions {
        grace: Duration::ZERO,
        ..PruneOptions::default()
    }
}

fn forget_all() -> RetentionPolicy {
    // No snapshot carries this tag, so every snapshot is forgotten.
    RetentionPolicy {
        keep_tags: vec!["no-such-tag".into()],
        ..Default::default()
    }
}

async fn restore_matches(repo: &Repository, snapshot: &ObjectId, source: &Path) {
    let target = tempfile::tempdir().unwrap();
    let report = repo
        .restore(snapshot, target.path(), RestoreOptions::default())
        .await
        .unwrap();
    assert!(report.damaged.is_empty(), "{:?}", report.damaged);
    let name = source.file_name().unwrap();
    assert_eq!(describe(source), describe(&target.path().join(name)));
}

async fn assert_check_clean(repo: &Repository) {
    let report = repo.check(CheckOptions { read_data: true }).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(report.unindexed_packs.is_empty(), "{report:?}");
    assert!(report.leftovers.is_empty(), "{report:?}");
}

fn pack_bytes(repo: &TestRepo) -> u64 {
    repo.objects("data")
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_racing_backup_keeps_reused_chunk() {
    let repo = new_repo().await;
    let first = repo.dir.path().join("first");
    let second = repo.dir.path().join("second");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::create_dir_all(&second).unwrap();
    let shared = random_bytes(7, 600_000);
    std::fs::write(first.join("shared.bin"), &shared).unwrap();
    std::fs::write(second.join("a-shared.bin"), &shared).unwrap();
    std::fs::write(second.join("b-own.bin"), random_bytes(8, 100_000)).unwrap();

    repo.repo
        .backup(std::slice::from_ref(&first), quiet_options())
        .await
        .unwrap();
    let forgotten = repo.repo.forget(&forget_all(), false).await.unwrap();
    assert_eq!(forgotten.removed, 1);

    // The second backup stops before its first file, after it has loaded the marks;
    // the prune marks the packs of the forgotten snapshot meanwhile.
    let (reached_tx, reached_rx) = mpsc::channel::<()>();
    let (go_tx, go_rx) = mpsc::channel::<()>();
    let go_rx = Arc::new(Mutex::new(go_rx));
    let reached_tx = Mutex::new(Some(reached_tx));
    let hook = Arc::new(move |_: &Path, point: HookPoint| {
        if point != HookPoint::BeforeOpen {
            return;
        }
        if let Some(tx) = reached_tx.lock().unwrap().take() {
            tx.send(()).unwrap();
            go_rx.lock().unwrap().recv().unwrap();
        }
    });
    let backup_repo = repo.reopen().await;
    let backup_source = second.clone();
    let backup = tokio::spawn(async move {
        let options = BackupOptions {
            hook: Some(hook),
            ..quiet_options()
        };
        backup_repo.backup(&[backup_source], options).await
    });
    tokio::task::spawn_blocking(move || reached_rx.recv().unwrap())
        .await
        .unwrap();
    let pruner = repo.reopen().await;
    let marked = pruner.prune(&prune_now()).await.unwrap();
    assert!(marked.packs_marked >= 1, "{marked:?}");
    assert_eq!(marked.packs_deleted, 0, "{marked:?}");
    go_tx.send(()).unwrap();
    let result = backup.await.unwrap().unwrap();
    // The shared chunks were reused from marked packs, so the backup copied them.
    assert!(result.rescued_blobs > 0, "no blob was rescued: {result:?}");

    // The grace period (zero here) has passed: the marked packs go, the copies stay.
    let deleted = pruner.prune(&prune_now()).await.unwrap();
    assert!(deleted.packs_deleted >= 1, "{deleted:?}");
    let repo_after = repo.reopen().await;
    restore_matches(&repo_after, &result.snapshot_id, &second).await;
    assert_check_clean(&repo_after).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_after_mark_uploads_chunk_again() {
    let repo = new_repo().await;
    let first = repo.dir.path().join("first");
    std::fs::create_dir_all(&first).unwrap();
    std::fs::write(first.join("shared.bin"), random_bytes(9, 400_000)).unwrap();
    repo.repo
        .backup(std::slice::from_ref(&first), quiet_options())
        .await
        .unwrap();
    repo.repo.forget(&forget_all(), false).await.unwrap();
    let marked = repo.repo.prune(&prune_now()).await.unwrap();
    assert!(marked.packs_marked >= 1);

    // Same content again: the chunks exist, but only in marked packs.
    let result = repo
        .repo
        .backup(std::slice::from_ref(&first), quiet_options())
        .await
        .unwrap();
    assert!(result.snapshot.summary.blobs_new > 0, "{result:?}");
    assert_eq!(result.rescued_blobs, 0);
    let deleted = repo.repo.prune(&prune_now()).await.unwrap();
    assert!(deleted.packs_deleted >= 1, "{deleted:?}");
    restore_matches(&repo.reopen().await, &result.snapshot_id, &first).await;
    assert_check_clean(&repo.reopen().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_waits_for_grace_period() {
    let repo = new_repo().await;
    let source = repo.dir.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    std::fs::write(source.join("file.bin"), random_bytes(3, 300_000)).unwrap();
    repo.repo.backup(&[source], quiet_options()).await.unwrap();
    repo.repo.forget(&forget_all(), false).await.unwrap();
    let before = pack_bytes(&repo);
    let options = PruneOptions::default();
    let first = repo.repo.prune(&options).await.unwrap();
    assert!(first.packs_marked >= 1);
    let second = repo.repo.prune(&options).await.unwrap();
    assert_eq!(second.packs_deleted, 0, "{second:?}");
    assert_eq!(second.packs_pending, first.packs_marked);
    assert_eq!(pack_bytes(&repo), before);
    let dry = repo
        .repo
        .prune(&PruneOptions {
            dry_run: true,
            ..prune_now()
        })
        .await
        .unwrap();
    assert_eq!(dry.packs_deleted, first.packs_marked);
    assert_eq!(pack_bytes(&repo), before, "a dry run deleted data");
    let third = repo.repo.prune(&prune_now()).await.unwrap();
    assert_eq!(third.packs_deleted, first.packs_marked);
    assert_eq!(pack_bytes(&repo), 0);
    assert_check_clean(&repo.reopen().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repack_reduces_size_and_restores() {
    let repo = new_repo().await;
    let source = repo.dir.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    for i in 0..12 {
        std::fs::write(
            source.join(format!("file-{i:02}.bin")),
            random_bytes(100 + i, 120_000),
        )
        .unwrap();
    }
    repo.repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    // Drop every other file, back up again and forget the first snapshot.
    for i in (0..12).step_by(2) {
        std::fs::remove_file(source.join(format!("file-{i:02}.bin"))).unwrap();
    }
    let kept = repo
        .repo
        .backup(std::slice::from_ref(&source), quiet_options())
        .await
        .unwrap();
    let keep_last = RetentionPolicy {
        keep_last: 1,
        ..Default::default()
    };
    assert_eq!(
        repo.repo.forget(&keep_last, false).await.unwrap().removed,
        1
    );
    let before = pack_bytes(&repo);

    let first = repo.repo.prune(&prune_now()).await.unwrap();
    assert!(first.packs_repacked >= 1, "{first:?}");
    assert!(first.blobs_copied >= 1, "{first:?}");
    let second = repo.repo.prune(&prune_now()).await.unwrap();
    assert!(second.packs_deleted >= first.packs_marked, "{second:?}");
    let after = pack_bytes(&repo);
    // Half the data is gone; allow for pack headers and partly filled packs.
    assert!(
        after < before * 7 / 10,
        "packs were {before} bytes before the prune and {after} after"
    );
    let reopened = repo.reopen().await;
    restore_matches(&reopened, &kept.snapshot_id, &source).await;
    assert_check_clean(&reopened).await;

    // Nothing is left to do.
    let third = reopened.prune(&prune_now()).await.unwrap();
    assert_eq!(third.packs_marked, 0, "{third:?}");
    assert_eq!(third.packs_deleted, 0, "{third:?}");
}

#[tokio::test]
async fn prune_rejects_a_held_lock() {
    let repo = new_repo().await;
    let lock_path = haven_repo::testing::hold_prune_lock(&repo.repo)
        .await
        .unwrap();
    let error = repo.repo.prune(&prune_now()).await.unwrap_err();
    let text = error.to_string();
    assert!(text.contains("is locked"), "{text}");
    assert!(text.contains(&lock_path), "{text}");
    // Only the held lock is left: the rejected prune removed its own.
    let locks = repo.objects("locks");
    assert_eq!(locks.len(), 1, "{locks:?}");
    std::fs::remove_file(repo.repo_path().join(&lock_path)).unwrap();
    repo.repo.prune(&prune_now()).await.unwrap();
    assert!(repo.objects("locks").is_empty());
}
