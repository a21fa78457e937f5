//! Prune on a real S3 server (`s3s-fs`) with listings split into small pages. A
//! listing that keeps failing stops the prune before it changes anything. One failed
//! page that a retry recovers changes nothing in the result.

mod backend_support;
mod common;

use std::time::Duration;

use backend_support::{start_s3, test_options};
use haven_crypto::BackupKey;
use haven_repo::{
    BackendOptions, CheckOptions, FaultPlan, PruneOptions, Repository, RestoreOptions,
    RetentionPolicy, Storage,
};

fn paged(plan: Option<&str>) -> BackendOptions {
    BackendOptions {
        faults: plan.map(|p| p.parse::<FaultPlan>().unwrap()),
        list_page_size: Some(2),
        retries: 2,
        ..test_options()
    }
}

async fn open(url: &str, key: &BackupKey, plan: Option<&str>) -> Repository {
    Repository::open(Storage::open_with(url, &paged(plan)).unwrap(), key)
        .await
        .unwrap()
}

async fn all_objects(url: &str) -> Vec<String> {
    Storage::open_with(url, &test_options())
        .unwrap()
        .list("")
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_stops_on_failed_listing() {
    let server = start_s3();
    let url = server.s3_url("pruned");
    let key = BackupKey::generate();
    let storage = Storage::open_with(&url, &test_options()).unwrap();
    let repo = Repository::init(storage, &key, common::small_options())
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    let mut last = None;
    for round in 0..4u64 {
        std::fs::write(
            source.join(format!("round-{round}.bin")),
            common::random_bytes(round, 300_000),
        )
        .unwrap();
        if round > 0 {
            std::fs::remove_file(source.join(format!("round-{}.bin", round - 1))).unwrap();
        }
        let result = repo
            .backup(std::slice::from_ref(&source), common::quiet_options())
            .await
            .unwrap();
        last = Some(result.snapshot_id);
    }
    let keep_last = RetentionPolicy {
        keep_last: 1,
        ..Default::default()
    };
    assert_eq!(repo.forget(&keep_last, false).await.unwrap().removed, 3);
    let now = PruneOptions {
        grace: Duration::ZERO,
        ..PruneOptions::default()
    };

    // Every list request from the third on fails, beyond the retries.
    let before = all_objects(&url).await;
    // Opening lists objects too: find the first failing page that opening survives,
    // so the failure hits the prune itself.
    let mut failed_prune = None;
    for first_failure in 3..60 {
        let plan = format!("list_fail_from={first_failure},kinds=500");
        let storage = Storage::open_with(&url, &paged(Some(&plan))).unwrap();
        if let Ok(failing) = Repository::open(storage, &key).await {
            failed_prune = Some(failing.prune(&now).await.unwrap_err());
            break;
        }
    }
    let error = failed_prune.expect("no failing page let the repository open");
    assert!(error.to_string().contains("list"), "{error}");
    // The failed prune deleted its lock too.
    let after = all_objects(&url).await;
    assert_eq!(
        before, after,
        "a prune whose listing failed changed the repository"
    );

    // One failed page that a retry recovers: the prune runs as without faults.
    let flaky = open(&url, &key, Some("list_fail_at=3,kinds=500")).await;
    let marked = flaky.prune(&now).await.unwrap();
    assert!(marked.packs_marked >= 3, "{marked:?}");
    assert!(flaky.storage().stats().retries >= 1);
    let deleted = flaky.prune(&now).await.unwrap();
    assert_eq!(deleted.packs_deleted, marked.packs_marked, "{deleted:?}");

    let reopened = open(&url, &key, None).await;
    let report = reopened
        .check(CheckOptions { read_data: true })
        .await
        .unwrap();
    assert!(report.is_ok(), "{report:?}");
    let target = work.path().join("restored");
    let restored = reopened
        .restore(&last.unwrap(), &target, RestoreOptions::default())
        .await
        .unwrap();
    assert!(restored.damaged.is_empty());
    assert_eq!(
        std::fs::read(target.join("source/round-3.bin")).unwrap(),
        common::random_bytes(3, 300_000)
    );
}
