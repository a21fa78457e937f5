//! The same `haven` backup, restore and check against a local folder, S3 (`s3s-fs`)
//! and WebDAV (`rclone serve webdav`). The remote ones also run with 10% injected
//! faults of each kind. Storage errors are checked as the command prints them.
//!
//! Faults are injected into HTTP requests only, so the local folder runs without
//! them. The `haven` binary of these tests honours `HAVEN_FAULTS` because haven-cli's
//! dev-dependencies turn on haven-repo's `fault-injection` feature.

mod repo_common;

#[path = "../../haven-repo/tests/backend_support/mod.rs"]
mod backend_support;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use backend_support::{start_s3, start_webdav, ACCESS_KEY, DAV_PASSWORD, DAV_USER, SECRET_KEY};
use repo_common::{assert_success, file_contents, stderr, stdout, HAVEN};

const FAULT_KINDS: [&str; 5] = ["429", "500", "timeout", "reset", "truncated"];

/// Runs `haven` with the test servers' credentials and short timeouts.
fn haven(args: &[&str], extra_env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(HAVEN);
    command
        .args(args)
        .env_remove("HAVEN_REPO")
        .env_remove("HAVEN_KEY")
        .env_remove("HAVEN_KEY_FILE")
        .env_remove("HAVEN_FAULTS")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1")
        .env("HAVEN_WEBDAV_USER", DAV_USER)
        .env("HAVEN_WEBDAV_PASSWORD", DAV_PASSWORD)
        .env("HAVEN_STORAGE_TIMEOUT", "1")
        .env("HAVEN_STORAGE_RETRIES", "12");
    for (name, value) in extra_env {
        command.env(name, value);
    }
    command.output().expect("run haven")
}

/// Small files (one chunk each), so restore and check send many requests.
fn make_source(root: &Path) {
    fs::create_dir_all(root.join("media")).unwrap();
    for i in 0..30u64 {
        fs::write(
            root.join(format!("media/{i:02}.bin")),
            repo_common::random_bytes(500 + i, 60_000),
        )
        .unwrap();
    }
    fs::write(root.join("notes.txt"), "hello haven\n".repeat(5000)).unwrap();
}

/// Storage counters of one run.
#[derive(Default, Debug)]
struct Counts {
    retries: u64,
    faults: u64,
}

/// init, backup, restore, check --read-data on `url`; returns the backup's counters.
fn roundtrip(url: &str, work: &Path, env: &[(&str, &str)]) -> Counts {
    let key_file = work.join("key");
    let source = work.join("source");
    make_source(&source);
    let key = key_file.to_str().unwrap();
    let repo_args = ["--repo", url, "--key-file", key];
    let out = haven(
        &[&["init", "--pack-size-mib", "1"][..], &repo_args].concat(),
        env,
    );
    assert_success(&out);
    let out = haven(
        &[
            &["backup", "--json"][..],
            &repo_args,
            &[source.to_str().unwrap()],
        ]
        .concat(),
        env,
    );
    assert_success(&out);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = summary["snapshot_id"].as_str().unwrap().to_string();
    let target = work.join("restored");
    let out = haven(
        &[
            &["restore"][..],
            &repo_args,
            &[&id, "--target", target.to_str().unwrap()],
        ]
        .concat(),
        env,
    );
    assert_success(&out);
    assert_eq!(
        file_contents(&source),
        file_contents(&target.join("source")),
        "{url}: the restore differs from the source"
    );
    let out = haven(&[&["check", "--read-data"][..], &repo_args].concat(), env);
    assert_success(&out);
    assert!(stdout(&out).contains("no damage found"), "{}", stdout(&out));
    Counts {
        retries: summary["storage"]["retries"].as_u64().unwrap(),
        faults: summary["storage"]["faults_injected"].as_u64().unwrap(),
    }
}

#[test]
fn local_folder_roundtrip() {
    let work = tempfile::tempdir().unwrap();
    let url = work.path().join("repo");
    let counts = roundtrip(url.to_str().unwrap(), work.path(), &[]);
    assert_eq!(counts.faults, 0);
}

/// Runs the suite once without faults (when `plain`) and once per fault kind.
fn remote_roundtrips(url_of: impl Fn(&str) -> String, plain: bool, kinds: &[&str]) {
    let work = tempfile::tempdir().unwrap();
    if plain {
        let counts = roundtrip(&url_of("plain"), &work.path().join("plain"), &[]);
        assert_eq!(counts.faults, 0, "{counts:?}");
    }
    let mut total = Counts::default();
    for kind in kinds {
        let seed = FAULT_KINDS.iter().position(|k| k == kind).unwrap() + 11;
        let plan = format!("rate=0.1,seed={seed},kinds={kind}");
        let counts = roundtrip(
            &url_of(&format!("faults-{kind}")),
            &work.path().join(format!("faults-{kind}")),
            &[("HAVEN_FAULTS", &plan)],
        );
        eprintln!("{kind}: {counts:?}");
        total.retries += counts.retries;
        total.faults += counts.faults;
    }
    // About 40 requests per backup at 10%: at least one fault in the backups of
    // two or three kinds together is all but certain, and each one is retried.
    assert!(total.faults > 0, "{total:?}");
    assert!(total.retries >= total.faults, "{total:?}");
}

#[test]
fn s3_roundtrips_plain_and_errors() {
    let server = start_s3();
    remote_roundtrips(|prefix| server.s3_url(prefix), true, &FAULT_KINDS[..2]);
}

#[test]
fn s3_roundtrips_broken_connections() {
    let server = start_s3();
    remote_roundtrips(|prefix| server.s3_url(prefix), false, &FAULT_KINDS[2..]);
}

#[test]
fn webdav_roundtrips_plain_and_errors() {
    let server = start_webdav();
    remote_roundtrips(|path| server.webdav_url(path), true, &FAULT_KINDS[..2]);
}

#[test]
fn webdav_roundtrips_broken_connections() {
    let server = start_webdav();
    remote_roundtrips(|path| server.webdav_url(path), false, &FAULT_KINDS[2..]);
}

fn snapshots_error(url: &str, env: &[(&str, &str)]) -> (String, Duration) {
    let work = tempfile::tempdir().unwrap();
    let key_file = work.path().join("key");
    fs::write(&key_file, "0".repeat(64)).unwrap();
    let started = Instant::now();
    let out = haven(
        &[
            "snapshots",
            "--repo",
            url,
            "--key-file",
            key_file.to_str().unwrap(),
        ],
        env,
    );
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    (stderr(&out), took)
}

#[test]
fn storage_errors_name_url_and_fix() {
    let s3 = start_s3();
    let dav = start_webdav();

    let (message, took) = snapshots_error(
        &s3.s3_url("repo"),
        &[("AWS_SECRET_ACCESS_KEY", "not-the-secret-value")],
    );
    assert!(message.contains("rejected the credentials"), "{message}");
    assert!(message.contains("AWS_SECRET_ACCESS_KEY"), "{message}");
    assert!(message.contains(&s3.s3_url("repo")), "{message}");
    assert!(!message.contains("not-the-secret-value"), "{message}");
    assert!(took < Duration::from_secs(10), "took {took:?}");

    let missing = format!(
        "s3://no-such-bucket/repo?endpoint=http://127.0.0.1:{}",
        s3.port
    );
    let (message, _) = snapshots_error(&missing, &[]);
    assert!(message.contains("bucket does not exist"), "{message}");
    assert!(message.contains("s3://no-such-bucket/repo"), "{message}");

    let with_password = format!(
        "webdav://{DAV_USER}:wrong-password-77@127.0.0.1:{}/repo",
        dav.port
    );
    let (message, took) = snapshots_error(&with_password, &[]);
    assert!(message.contains("rejected the credentials"), "{message}");
    assert!(message.contains(&dav.webdav_url("repo")), "{message}");
    assert!(!message.contains("wrong-password-77"), "{message}");
    assert!(took < Duration::from_secs(10), "took {took:?}");

    let closed_port = backend_support::free_port();
    let unreachable = format!("webdav://127.0.0.1:{closed_port}/repo");
    let (message, took) = snapshots_error(&unreachable, &[("HAVEN_STORAGE_RETRIES", "2")]);
    assert!(message.contains("cannot connect"), "{message}");
    assert!(
        message.contains(&format!("127.0.0.1:{closed_port}")),
        "{message}"
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn repo_variable_is_hidden_in_help() {
    let out = Command::new(HAVEN)
        .args(["snapshots", "--help"])
        .env(
            "HAVEN_REPO",
            "webdav://alice:secret-in-env@127.0.0.1:1/repo",
        )
        .output()
        .unwrap();
    assert_success(&out);
    let help = stdout(&out);
    assert!(help.contains("HAVEN_REPO"), "{help}");
    assert!(!help.contains("secret-in-env"), "{help}");
}
