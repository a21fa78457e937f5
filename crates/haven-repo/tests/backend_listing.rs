//! A listing whose third page fails is retried in full or fails; it is never
//! returned shorter. S3 pages are `max-keys` pages; WebDAV pages are per-folder
//! PROPFIND requests.

mod backend_support;

use backend_support::*;
use haven_repo::{BackendOptions, FaultPlan, Storage};

const OBJECTS: usize = 35;

async fn fill(url: &str) -> Vec<String> {
    let storage = Storage::open_with(url, &test_options()).unwrap();
    let mut names: Vec<String> = (0..OBJECTS)
        .map(|i| format!("index/{}/entry-{i:03}", i % 5))
        .collect();
    for name in &names {
        storage.write(name, name.as_bytes().to_vec()).await.unwrap();
    }
    names.sort();
    names
}

fn options_with(plan: &str) -> BackendOptions {
    BackendOptions {
        faults: Some(plan.parse::<FaultPlan>().unwrap()),
        list_page_size: Some(10),
        ..test_options()
    }
}

async fn check_third_page(url: &str) {
    let names = fill(url).await;

    let storage = Storage::open_with(url, &options_with("list_fail_at=3,kinds=500")).unwrap();
    let listed = storage.list("index/").await.unwrap();
    assert_eq!(listed, names, "a retried listing came back different");
    assert_eq!(storage.stats().faults.list, 1);
    assert!(storage.stats().retries >= 1);

    for kind in ["500", "reset", "truncated", "429"] {
        let mut options = options_with(&format!("list_fail_from=3,kinds={kind}"));
        options.retries = 3;
        let storage = Storage::open_with(url, &options).unwrap();
        let result = storage.list("index/").await;
        assert!(
            result.is_err(),
            "{kind}: a listing that kept failing returned {:?}",
            result.map(|l| l.len())
        );
        let message = result.unwrap_err().to_string();
        assert!(message.contains("list"), "{kind}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_third_page_failure() {
    let server = start_s3();
    check_third_page(&server.s3_url("paged")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_third_folder_failure() {
    let server = start_webdav();
    check_third_page(&server.webdav_url("paged")).await;
}
