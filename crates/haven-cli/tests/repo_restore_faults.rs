//! `haven restore` on a full filesystem and after being killed: a clear error that
//! names the file, no partial file left behind, and a rerun that finishes the job
//! without writing the finished files again.

mod repo_common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use repo_common::*;

/// Restores `latest` into `out` inside a 2 MiB tmpfs mounted at `mount_point` in a
/// private mount namespace, and returns the script's output: the restore's stderr,
/// `haven-exit=N`, and one `file NAME SIZE` line per file left in `out`.
fn restore_on_small_filesystem(env: &Env, mount_point: &Path) -> (String, String) {
    let script = r#"
        mount -t tmpfs -o size=2m tmpfs "$1" || { echo "mount failed" >&2; exit 90; }
        "$2" restore --repo "$3" --key-file "$4" latest --target "$1/out"
        echo "haven-exit=$?"
        find "$1/out" -type f -printf 'file %P %s\n'
    "#;
    let out = Command::new("unshare")
        .args(["--mount", "--map-root-user", "sh", "-c", script, "sh"])
        .arg(mount_point)
        .arg(HAVEN)
        .arg(&env.repo)
        .arg(&env.key_file)
        .output()
        .expect("unshare (util-linux) runs");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(
        out.status.code(),
        Some(90),
        "this test needs a private mount namespace (unshare --mount --map-root-user): {stderr}"
    );
    (String::from_utf8_lossy(&out.stdout).into_owned(), stderr)
}

#[test]
fn full_filesystem_names_the_file() {
    let env = Env::init();
    let source = env.path("src");
    fs::create_dir(&source).unwrap();
    fs::write(source.join("big.bin"), random_bytes(1, 3_000_000)).unwrap();
    fs::write(source.join("small.txt"), b"fits").unwrap();
    assert_success(&env.haven("backup", &[source.to_str().unwrap()]));

    let mount_point = env.path("small-fs");
    fs::create_dir(&mount_point).unwrap();
    let (stdout, stderr) = restore_on_small_filesystem(&env, &mount_point);
    assert!(!stdout.contains("haven-exit=0"), "{stdout}\n{stderr}");
    assert!(stdout.contains("haven-exit="), "{stdout}\n{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(stderr.contains("src/big.bin"), "{stderr}");
    assert!(stderr.contains("free space on that filesystem"), "{stderr}");
    assert!(
        !stdout.contains("file src/big.bin"),
        "partial file left behind: {stdout}"
    );
}

#[test]
fn full_filesystem_with_small_files_names_the_file() {
    let env = Env::init();
    let source = env.path("src");
    fs::create_dir(&source).unwrap();
    // 4.8 MB of small files, written on the restore's finishing thread.
    for i in 0..600 {
        fs::write(source.join(format!("f{i:03}.bin")), random_bytes(i, 8000)).unwrap();
    }
    assert_success(&env.haven("backup", &[source.to_str().unwrap()]));

    let mount_point = env.path("small-fs");
    fs::create_dir(&mount_point).unwrap();
    let (stdout, stderr) = restore_on_small_filesystem(&env, &mount_point);
    assert!(!stdout.contains("haven-exit=0"), "{stdout}\n{stderr}");
    assert!(stdout.contains("haven-exit="), "{stdout}\n{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
    assert!(
        stderr.contains("src/f"),
        "the error names no file: {stderr}"
    );
    assert!(stderr.contains("free space on that filesystem"), "{stderr}");
}

/// Returns the names of the files in `dir` whose modification time equals the one
/// of the file with the same name in `source`: the files a restore finished.
fn finished_files(dir: &Path, source: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let (Ok(restored), Ok(original)) = (entry.metadata(), fs::metadata(source.join(&name)))
        else {
            continue;
        };
        let same_time =
            restored.mtime() == original.mtime() && restored.mtime_nsec() == original.mtime_nsec();
        if same_time && restored.len() == original.len() {
            names.push(name);
        }
    }
    names
}

#[test]
fn killed_restore_resumes() {
    let env = Env::init();
    let source = env.path("src");
    fs::create_dir(&source).unwrap();
    for i in 0..40 {
        fs::write(
            source.join(format!("f{i:02}.bin")),
            random_bytes(i, 2_000_000),
        )
        .unwrap();
    }
    assert_success(&env.haven("backup", &[source.to_str().unwrap()]));

    let target = env.path("target");
    let mut child = Command::new(HAVEN)
        .args(["restore", "--repo", env.repo.to_str().unwrap()])
        .args(["--key-file", env.key_file.to_str().unwrap()])
        .args(["latest", "--target", target.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let restored = target.join("src");
    let deadline = Instant::now() + Duration::from_secs(60);
    while finished_files(&restored, &source).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the restore never finished a file"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let finished = finished_files(&restored, &source);

    let out = env.haven("restore", &["latest", "--target", target.to_str().unwrap()]);
    assert_success(&out);
    let kept = format!("kept {} files that were already restored", finished.len());
    let text = stdout(&out);
    assert!(text.contains(&kept), "{text}");
    assert_eq!(file_contents(&restored), file_contents(&source));
}
