//! Wrong credentials, a missing bucket and an unreachable port give a clear error
//! that names the location and what to check, within the retry budget, and never
//! repeats a secret.

mod backend_support;

use std::time::{Duration, Instant};

use backend_support::*;
use haven_repo::{BackendOptions, Storage};

/// Reads an object and returns the error message and how long it took.
async fn read_error(url: &str, options: &BackendOptions) -> (String, Duration) {
    let started = Instant::now();
    let storage = Storage::open_with(url, options).unwrap();
    let error = storage
        .read("config")
        .await
        .expect_err("the read succeeded");
    (error.to_string(), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_wrong_secret_names_the_variables() {
    let server = start_s3();
    let mut options = test_options();
    options.environment.insert(
        "AWS_SECRET_ACCESS_KEY".into(),
        "not-the-secret-value".into(),
    );
    let (message, took) = read_error(&server.s3_url("repo"), &options).await;
    assert!(message.contains("rejected the credentials"), "{message}");
    assert!(message.contains("AWS_SECRET_ACCESS_KEY"), "{message}");
    assert!(
        message.contains(&format!("s3://{BUCKET}/repo")),
        "{message}"
    );
    assert!(!message.contains("not-the-secret-value"), "{message}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_missing_bucket_is_named() {
    let server = start_s3();
    let url = format!(
        "s3://no-such-bucket/repo?endpoint=http://127.0.0.1:{}",
        server.port
    );
    let storage = Storage::open_with(&url, &test_options()).unwrap();
    let started = Instant::now();
    // NOTE: s3s-fs 0.14 creates a missing bucket folder on PUT and answers GET with
    // NoSuchKey, so only a listing meets NoSuchBucket here; AWS answers all three.
    let message = storage.list("index/").await.unwrap_err().to_string();
    assert!(message.contains("bucket does not exist"), "{message}");
    assert!(message.contains("s3://no-such-bucket/repo"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_unreachable_port_fails_after_retries() {
    let port = free_port();
    let url = format!("s3://{BUCKET}/repo?endpoint=http://127.0.0.1:{port}");
    let options = BackendOptions {
        retries: 3,
        ..test_options()
    };
    let (message, took) = read_error(&url, &options).await;
    assert!(
        message.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{message}"
    );
    assert!(message.contains("server is running"), "{message}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_wrong_password_is_redacted() {
    let server = start_webdav();
    let url = format!(
        "webdav://{DAV_USER}:wrong-password-77@127.0.0.1:{}/repo",
        server.port
    );
    let (message, took) = read_error(&url, &test_options()).await;
    assert!(message.contains("rejected the credentials"), "{message}");
    assert!(message.contains("HAVEN_WEBDAV_PASSWORD"), "{message}");
    assert!(
        message.contains(&format!("webdav://127.0.0.1:{}/repo", server.port)),
        "{message}"
    );
    assert!(!message.contains("wrong-password-77"), "{message}");
    assert!(took < Duration::from_secs(5), "took {took:?}");

    let storage = Storage::open_with(&url, &test_options()).unwrap();
    assert!(
        !storage.url().contains("wrong-password-77"),
        "{}",
        storage.url()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdav_unreachable_port_fails_after_retries() {
    let port = free_port();
    let options = BackendOptions {
        retries: 3,
        ..test_options()
    };
    let (message, took) = read_error(&format!("webdav://127.0.0.1:{port}/repo"), &options).await;
    assert!(message.contains("cannot connect"), "{message}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
}

#[test]
fn bad_urls_are_rejected_without_secrets() {
    let options = test_options();
    for url in [
        "webdav://alice:topsecret@/repo",
        "s3://key:topsecret@bucket/x",
        "gdrive://",
        "ftp://alice:topsecret@host/x",
    ] {
        let message = Storage::open_with(url, &options).unwrap_err().to_string();
        assert!(!message.contains("topsecret"), "{url}: {message}");
        assert!(
            message.contains("invalid repository location"),
            "{url}: {message}"
        );
    }
}

#[test]
fn gdrive_url_and_token_configure_the_service() {
    // Google Drive is not reachable from the test machine: this checks URL and
    // token handling only, and that opening makes no request.
    let mut options = test_options();
    options
        .environment
        .insert("HAVEN_GDRIVE_TOKEN".into(), "ya29.test-token".into());
    let storage = Storage::open_with("gdrive://Backups/haven", &options).unwrap();
    assert_eq!(storage.url(), "gdrive://Backups/haven");

    let missing = Storage::open_with("gdrive://Backups/haven", &test_options())
        .unwrap_err()
        .to_string();
    assert!(missing.contains("HAVEN_GDRIVE_TOKEN"), "{missing}");
}

#[test]
fn s3_without_region_or_endpoint_asks_for_one() {
    let mut options = test_options();
    options.environment.remove("AWS_REGION");
    let message = Storage::open_with("s3://bucket/repo", &options)
        .unwrap_err()
        .to_string();
    if std::env::var_os("AWS_REGION").is_none() && std::env::var_os("AWS_DEFAULT_REGION").is_none()
    {
        assert!(message.contains("AWS_REGION"), "{message}");
    }
}
