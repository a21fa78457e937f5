//! Backup and restore through the repository library against real S3 and WebDAV
//! servers, with and without injected faults.

mod backend_support;

use backend_support::*;
use haven_crypto::BackupKey;
use haven_repo::{
    BackendOptions, BackupOptions, FaultPlan, InitOptions, Repository, RestoreOptions, Storage,
};

fn small_packs() -> InitOptions {
    InitOptions {
        pack_size: 128 * 1024,
        chunk_min: 4 * 1024,
        chunk_avg: 16 * 1024,
        chunk_max: 64 * 1024,
    }
}

/// Backs up a small tree, restores it with a second storage handle, and compares.
/// Returns the retry count of both handles.
async fn backup_and_restore(url: &str, options: &BackendOptions) -> u64 {
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("source");
    make_source(&source);
    let key = BackupKey::generate();

    let storage = Storage::open_with(url, options).unwrap();
    let repo = Repository::init(storage.clone(), &key, small_packs())
        .await
        .unwrap();
    let backup_options = BackupOptions {
        hostname: Some("test-host".into()),
        ..BackupOptions::default()
    };
    let result = repo
        .backup(std::slice::from_ref(&source), backup_options)
        .await
        .unwrap();
    assert!(result.problems.is_empty(), "{:?}", result.problems);

    let reader = Storage::open_with(url, options).unwrap();
    let reopened = Repository::open(reader.clone(), &key).await.unwrap();
    let target = work.path().join("target");
    let report = reopened
        .restore(&result.snapshot_id, &target, RestoreOptions::default())
        .await
        .unwrap();
    assert!(report.damaged.is_empty(), "{:?}", report.damaged);
    assert_eq!(files(&source), files(&target.join("source")));
    storage.stats().retries + reader.stats().retries
}

fn with_faults(plan: &str) -> BackendOptions {
    BackendOptions {
        faults: Some(plan.parse::<FaultPlan>().unwrap()),
        ..test_options()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backup_restore_identical() {
    let server = start_s3();
    let retries = backup_and_restore(&server.s3_url("repo"), &test_options()).await;
    assert_eq!(retries, 0, "a healthy server needed retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_backup_restore_under_faults() {
    let server = start_s3();
    // The fault decisions depend on the object names, which change with the random
    // key, so the rate is high enough that about 30 requests see no fault at all
    // with a chance of about 0.1 % (0.8^30). Ten retries keep every request alive.
    let options = with_faults("rate=0.2,seed=7,kinds=all");
    let retries = backup_and_restore(&server.s3_url("faulty"), &options).await;
    assert!(retries > 0, "20% faults caused no retry");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_backup_restore_identical() {
    let server = start_webdav();
    let retries = backup_and_restore(&server.webdav_url("repo"), &test_options()).await;
    assert_eq!(retries, 0, "a healthy server needed retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_backup_restore_under_faults() {
    let server = start_webdav();
    // As for S3: a rate at which a run without any fault is unlikely (about 0.1 %).
    let options = with_faults("rate=0.2,seed=11,kinds=all");
    let retries = backup_and_restore(&server.webdav_url("faulty"), &options).await;
    assert!(retries > 0, "20% faults caused no retry");
}
