//! A backup to S3 (`s3s-fs` on 127.0.0.1) killed with SIGKILL mid-upload, then run
//! again: the second run reuses the packs the first one uploaded, and the
//! repository checks clean and restores identical.

mod repo_common;

#[path = "../../haven-repo/tests/backend_support/mod.rs"]
mod backend_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use backend_support::{start_s3, ACCESS_KEY, BUCKET, SECRET_KEY};
use repo_common::{assert_success, file_contents, random_bytes, HAVEN};

/// `haven` with the S3 test server's credentials.
fn haven(args: &[&str]) -> Command {
    let mut command = Command::new(HAVEN);
    command
        .args(args)
        .env_remove("HAVEN_REPO")
        .env_remove("HAVEN_KEY")
        .env_remove("HAVEN_KEY_FILE")
        .env_remove("HAVEN_FAULTS")
        .env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
        .env("AWS_REGION", "us-east-1");
    command
}

fn output(args: &[&str]) -> Output {
    haven(args).output().expect("run haven")
}

/// Total size of the pack files stored under `data` on the server.
fn pack_bytes(data: &Path) -> u64 {
    let Ok(folders) = std::fs::read_dir(data) else {
        return 0;
    };
    folders
        .flatten()
        .flat_map(|folder| std::fs::read_dir(folder.path()).into_iter().flatten())
        .flatten()
        .filter_map(|pack| pack.metadata().ok())
        .filter(|meta| meta.is_file())
        .map(|meta| meta.len())
        .sum()
}

#[test]
fn killed_s3_backup_resumes_without_reuploading() {
    let server = start_s3();
    let work = tempfile::tempdir().unwrap();
    let url = server.s3_url("resume");
    let key = work.path().join("key");
    let key_arg = key.to_str().unwrap();
    let init = [
        "init",
        "--repo",
        &url,
        "--key-file",
        key_arg,
        "--pack-size-mib",
        "1",
    ];
    assert_success(&output(&init));

    // 24 MB of incompressible data: 24 packs of 1 MiB, uploaded one after another.
    let source = work.path().join("source");
    std::fs::create_dir(&source).unwrap();
    for i in 0..6u64 {
        let file = source.join(format!("video-{i}.bin"));
        std::fs::write(file, random_bytes(40 + i, 4_000_000)).unwrap();
    }
    let total: u64 = 24_000_000;
    let source_arg = source.to_str().unwrap();
    let backup = [
        "backup",
        "--json",
        "--repo",
        &url,
        "--key-file",
        key_arg,
        source_arg,
    ];

    let data = server.dir.path().join(BUCKET).join("resume/data");
    // A killed backup cannot remove its scratch folder, so it goes in the test's.
    let scratch = work.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let mut child = haven(&backup)
        .env("TMPDIR", &scratch)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while pack_bytes(&data) < total / 3 {
        assert!(
            Instant::now() < deadline,
            "the first backup uploaded too little"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the first backup ended early"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let uploaded = pack_bytes(&data);
    assert!(
        uploaded < total,
        "the first backup finished before the kill"
    );

    let second = output(&backup);
    assert_success(&second);
    let summary: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    let written = summary["bytes_written"].as_u64().unwrap();
    assert!(summary["adopted_packs"].as_u64().unwrap() > 0, "{summary}");
    // What the first run left undone, plus 10%.
    let limit = (total.saturating_sub(uploaded)) * 11 / 10;
    assert!(
        written <= limit,
        "the second run wrote {written} bytes; at most {limit} expected ({uploaded} uploaded before the kill)"
    );

    assert_success(&output(&[
        "check",
        "--read-data",
        "--repo",
        &url,
        "--key-file",
        key_arg,
    ]));
    let target = work.path().join("restored");
    let restore = [
        "restore",
        "latest",
        "--repo",
        &url,
        "--key-file",
        key_arg,
        "--target",
    ];
    assert_success(&output(
        &[&restore[..], &[target.to_str().unwrap()]].concat(),
    ));
    assert!(file_contents(&source) == file_contents(&target.join("source")));
}
