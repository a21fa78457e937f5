//! End-to-end tests of `haven init/backup/snapshots/ls/restore/check`.

mod repo_common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use repo_common::*;

#[test]
fn init_prints_key_once_and_writes_key_file() {
    let env = Env::init();
    let mode = fs::metadata(&env.key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let key_text = fs::read_to_string(&env.key_file).unwrap();
    let digits: String = key_text.chars().filter(|c| c.is_ascii_hexdigit()).collect();
    assert_eq!(digits.len(), 64);

    // The same key file again: rejected, and the file is unchanged.
    let again = run(&[
        "init",
        "--repo",
        env.path("repo2").to_str().unwrap(),
        "--key-file",
        env.key_file.to_str().unwrap(),
    ]);
    assert_exit(&again, 1);
    assert_eq!(fs::read_to_string(&env.key_file).unwrap(), key_text);

    // Over an existing repository: rejected, and no key file is left behind.
    let other_key = env.path("other.key");
    let over = run(&[
        "init",
        "--repo",
        env.repo.to_str().unwrap(),
        "--key-file",
        other_key.to_str().unwrap(),
    ]);
    assert_exit(&over, 1);
    assert!(
        stderr(&over).contains("already exists"),
        "{}",
        stderr(&over)
    );
    assert!(!other_key.exists());
}

#[test]
fn init_output_shows_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("k");
    let out = run(&[
        "init",
        "--repo",
        dir.path().join("r").to_str().unwrap(),
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    assert_success(&out);
    let text = stdout(&out);
    let key_line = fs::read_to_string(&key_file).unwrap();
    assert!(text.contains(key_line.trim()), "{text}");
    assert!(text.contains("Write this key down"), "{text}");
}

#[test]
fn backup_restore_check_end_to_end() {
    let env = Env::init();
    let source = env.path("source");
    fs::create_dir_all(source.join("media")).unwrap();
    fs::write(source.join("media/a.bin"), random_bytes(1, 3_000_000)).unwrap();
    fs::write(source.join("notes.txt"), "note\n".repeat(1000)).unwrap();

    let summary = backup_json(&env, &[&source]);
    assert_eq!(summary["files_new"], 2);
    assert_eq!(summary["bytes_read"], 3_005_000);
    assert!(summary["bytes_written"].as_u64().unwrap() > 3_000_000);
    assert!(summary["seconds"].as_f64().is_some());
    let snapshot_id = summary["snapshot_id"].as_str().unwrap().to_string();

    let second = backup_json(&env, &[&source]);
    assert_eq!(second["files_unchanged"], 2);
    assert_eq!(second["bytes_read"], 0);
    assert!(
        second["bytes_written"].as_u64().unwrap() < 4096,
        "an unchanged folder wrote {}",
        second["bytes_written"]
    );

    let listed = env.haven("snapshots", &["--json"]);
    assert_success(&listed);
    let snapshots: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(snapshots.as_array().unwrap().len(), 2);

    let ls = env.haven("ls", &[&snapshot_id[..8], "source/media"]);
    assert_success(&ls);
    assert!(
        stdout(&ls).contains("source/media/a.bin"),
        "{}",
        stdout(&ls)
    );

    let target = env.path("restored");
    let restore = env.haven("restore", &["latest", "--target", target.to_str().unwrap()]);
    assert_success(&restore);
    assert_eq!(
        file_contents(&source),
        file_contents(&target.join("source"))
    );

    let partial = env.path("partial");
    let restore = env.haven(
        "restore",
        &[
            &snapshot_id[..10],
            "--target",
            partial.to_str().unwrap(),
            "--include",
            "source/notes.txt",
        ],
    );
    assert_success(&restore);
    assert!(partial.join("source/notes.txt").exists());
    assert!(!partial.join("source/media").exists());

    assert_success(&env.haven("check", &[]));
    assert_success(&env.haven("check", &["--read-data"]));
}

#[test]
fn wrong_key_exits_1_with_clear_message() {
    let env = Env::init();
    let wrong = env.path("wrong.key");
    fs::write(&wrong, "0123 4567 89ab cdef ".repeat(4)).unwrap();
    let out = run(&[
        "snapshots",
        "--repo",
        env.repo.to_str().unwrap(),
        "--key-file",
        wrong.to_str().unwrap(),
    ]);
    assert_exit(&out, 1);
    assert!(
        stderr(&out).contains("this key does not open repository"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn env_variables_select_repo_and_key() {
    let env = Env::init();
    let out = std::process::Command::new(HAVEN)
        .args(["snapshots", "--json"])
        .env("HAVEN_REPO", &env.repo)
        .env(
            "HAVEN_KEY",
            fs::read_to_string(&env.key_file).unwrap().trim(),
        )
        .env_remove("HAVEN_KEY_FILE")
        .output()
        .unwrap();
    assert_success(&out);
}

#[test]
fn damaged_pack_gives_exit_3_and_names_files() {
    let env = Env::init();
    let source = env.path("source");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("victim.bin"), random_bytes(2, 200_000)).unwrap();
    backup_json(&env, &[&source]);

    // Flip a bit in every pack: data and tree packs alike.
    let mut packs = Vec::new();
    for sub in fs::read_dir(env.repo.join("data")).unwrap() {
        for pack in fs::read_dir(sub.unwrap().path()).unwrap() {
            packs.push(pack.unwrap().path());
        }
    }
    let largest = packs
        .iter()
        .max_by_key(|p| fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = fs::read(largest).unwrap();
    bytes[100] ^= 1;
    fs::write(largest, bytes).unwrap();

    let check = env.haven("check", &["--read-data"]);
    assert_exit(&check, 3);
    let name = largest.file_name().unwrap().to_str().unwrap();
    assert!(stderr(&check).contains(name), "{}", stderr(&check));
    assert!(stderr(&check).contains("victim.bin"), "{}", stderr(&check));

    let target = env.path("restored");
    let restore = env.haven("restore", &["latest", "--target", target.to_str().unwrap()]);
    assert_exit(&restore, 3);
    assert!(
        stderr(&restore).contains("victim.bin"),
        "{}",
        stderr(&restore)
    );
    assert!(!stderr(&restore).contains("does not open"));
}

#[test]
fn backup_of_unreadable_file_exits_3() {
    let env = Env::init();
    let source = env.path("source");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("fine.txt"), b"fine").unwrap();
    // /proc/self/mem fails to read at offset 0 with EIO, even for root.
    let out = env.haven(
        "backup",
        &["--json", source.to_str().unwrap(), "/proc/self/mem"],
    );
    assert_exit(&out, 3);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["problems"][0]["kind"], "unreadable");
    assert!(stderr(&out).contains("/proc/self/mem"), "{}", stderr(&out));
    assert_eq!(summary["files_new"], 1);
}

#[test]
fn missing_backup_path_exits_1() {
    let env = Env::init();
    let out = env.haven("backup", &[env.path("does-not-exist").to_str().unwrap()]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("does-not-exist"), "{}", stderr(&out));
}
