//! `haven` repository commands given unusual input or a damaged repository: loose
//! key file modes, missing folders, mistyped paths, closed pipes, damaged snapshots
//! and index files.

mod repo_common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use repo_common::*;

#[test]
fn key_file_readable_by_others_warns() {
    let env = Env::init();
    fs::set_permissions(&env.key_file, fs::Permissions::from_mode(0o644)).unwrap();
    let out = env.haven("snapshots", &[]);
    assert_success(&out);
    let key_file = env.key_file.display().to_string();
    let expected = format!("key file {key_file} has mode 644, so other users can read it");
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("chmod 600 {key_file}")),
        "{}",
        stderr(&out)
    );

    fs::set_permissions(&env.key_file, fs::Permissions::from_mode(0o600)).unwrap();
    let out = env.haven("snapshots", &[]);
    assert_success(&out);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn mistyped_repo_path_creates_nothing() {
    let env = Env::init();
    let data = env.path("data");
    fs::create_dir_all(&data).unwrap();
    let file = env.path("plain-file");
    fs::write(&file, b"not a repository").unwrap();
    let missing = env.path("nope");
    let key_file = env.key_file.to_str().unwrap();

    for command in ["snapshots", "ls", "check"] {
        let mut args = vec![command, "--repo", "", "--key-file", key_file];
        if command == "ls" {
            args.push("latest");
        }
        args[2] = missing.to_str().unwrap();
        let out = run(&args);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("does not exist"),
            "{command}: {}",
            stderr(&out)
        );
        assert!(!missing.exists(), "{command} created {}", missing.display());

        args[2] = data.to_str().unwrap();
        let out = run(&args);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("not a haven repository"),
            "{command}: {}",
            stderr(&out)
        );
        assert!(!data.join(".tmp").exists(), "{command} created data/.tmp");

        args[2] = file.to_str().unwrap();
        let out = run(&args);
        assert_exit(&out, 1);
        assert!(
            stderr(&out).contains("is a file, not a repository folder"),
            "{command}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn restore_latest_names_damaged_newer_snapshot() {
    let env = Env::init();
    let source = env.path("source");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("a.txt"), b"first").unwrap();
    let first = backup_json(&env, &[&source]);
    fs::write(source.join("a.txt"), b"second").unwrap();
    let second = backup_json(&env, &[&source]);
    let first_id = first["snapshot_id"].as_str().unwrap();
    let second_id = second["snapshot_id"].as_str().unwrap();
    let damaged = env.repo.join("snapshots").join(second_id);
    let mut bytes = fs::read(&damaged).unwrap();
    bytes[50] ^= 1;
    fs::write(&damaged, bytes).unwrap();

    let target = env.path("restored");
    let out = env.haven("restore", &["latest", "--target", target.to_str().unwrap()]);
    assert_exit(&out, 3);
    assert!(stderr(&out).contains(second_id), "{}", stderr(&out));
    assert!(stderr(&out).contains(&first_id[..8]), "{}", stderr(&out));
    assert_eq!(fs::read(target.join("source/a.txt")).unwrap(), b"first");
}

#[test]
fn init_creates_missing_key_folder() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("config/haven/key");
    let out = run(&[
        "init",
        "--repo",
        dir.path().join("repo").to_str().unwrap(),
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    assert_success(&out);
    assert!(key_file.is_file());
    let mode = fs::metadata(dir.path().join("config/haven"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);

    // The same path again: the message names the existing file.
    let out = run(&[
        "init",
        "--repo",
        dir.path().join("repo2").to_str().unwrap(),
        "--key-file",
        key_file.to_str().unwrap(),
    ]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
}

/// Runs `haven <args> --repo R --key-file F` with stdout closed at once, as `head -c1`
/// does after its first byte, and checks that it exits 0 without a panic.
fn assert_closed_pipe_is_quiet(env: &Env, args: &[&str]) {
    use std::io::Read;
    use std::process::{Command, Stdio};

    let mut child = Command::new(HAVEN)
        .args(args)
        .arg("--repo")
        .arg(&env.repo)
        .arg("--key-file")
        .arg(&env.key_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let mut errors = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut errors)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{args:?}: {errors}");
    assert!(!errors.contains("panicked"), "{args:?}: {errors}");
}

#[test]
fn listings_into_closed_pipe_exit_quietly() {
    let env = Env::init();
    let source = env.path("source");
    fs::create_dir_all(&source).unwrap();
    // Enough entries that `ls` writes more than a pipe buffer holds.
    for i in 0..2000 {
        fs::write(source.join(format!("file-{i:04}.txt")), b"content").unwrap();
    }
    let source = source.to_str().unwrap();
    assert_closed_pipe_is_quiet(&env, &["backup", "--json", source]);
    assert_closed_pipe_is_quiet(&env, &["backup", source]);
    assert_closed_pipe_is_quiet(&env, &["snapshots"]);
    assert_closed_pipe_is_quiet(&env, &["snapshots", "--json"]);
    assert_closed_pipe_is_quiet(&env, &["ls", "latest"]);
    assert_closed_pipe_is_quiet(&env, &["check"]);
    assert_closed_pipe_is_quiet(&env, &["check", "--json"]);
    assert_closed_pipe_is_quiet(&env, &["key", "show"]);
}

#[test]
fn damaged_index_is_named_by_check_and_restore() {
    let env = Env::init();
    let source = env.path("source");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("a.bin"), random_bytes(3, 100_000)).unwrap();
    backup_json(&env, &[&source]);
    let index = fs::read_dir(env.repo.join("index"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mut bytes = fs::read(&index).unwrap();
    bytes[60] ^= 1;
    fs::write(&index, bytes).unwrap();
    let name = index.file_name().unwrap().to_str().unwrap();

    let check = env.haven("check", &[]);
    let text = format!("{}{}", stdout(&check), stderr(&check));
    assert!(text.contains(name), "{text}");
    assert!(text.contains("re-index"), "{text}");
    assert!(!text.contains("interrupted backup"), "{text}");

    let target = env.path("restored");
    let restore = env.haven("restore", &["latest", "--target", target.to_str().unwrap()]);
    assert!(stderr(&restore).contains(name), "{}", stderr(&restore));
    assert!(
        stderr(&restore).contains("haven backup"),
        "{}",
        stderr(&restore)
    );
}

#[test]
fn snapshots_column_is_data_read() {
    let env = Env::init();
    let source = env.path("source");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("a.txt"), b"content").unwrap();
    backup_json(&env, &[&source]);
    backup_json(&env, &[&source]);
    let out = env.haven("snapshots", &[]);
    assert_success(&out);
    let header = stdout(&out).lines().next().unwrap_or_default().to_string();
    // An unchanged backup reads 0 bytes, so the column says what it counts.
    assert!(header.contains("data read"), "{header}");
    assert!(!header.contains("size"), "{header}");
}

#[test]
fn truncated_pack_loses_only_blobs_past_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let key = dir.path().join("key");
    let (repo_arg, key_arg) = (repo.to_str().unwrap(), key.to_str().unwrap());
    // Default packs (16 MiB) and chunks (about 1 MiB), so one pack contains the file.
    assert_success(&run(&["init", "--repo", repo_arg, "--key-file", key_arg]));
    let source = dir.path().join("source");
    fs::create_dir(&source).unwrap();
    let original = random_bytes(7, 6_000_000);
    fs::write(source.join("big.bin"), &original).unwrap();
    let source_arg = source.to_str().unwrap();
    let common = ["--repo", repo_arg, "--key-file", key_arg];
    assert_success(&run(&[&["backup"], &common[..], &[source_arg]].concat()));

    let mut packs: Vec<_> = fs::read_dir(repo.join("data"))
        .unwrap()
        .flat_map(|folder| fs::read_dir(folder.unwrap().path()).unwrap())
        .map(|pack| pack.unwrap().path())
        .collect();
    packs.sort_by_key(|p| fs::metadata(p).unwrap().len());
    let pack = packs.last().unwrap();
    let size = fs::metadata(pack).unwrap().len();
    fs::File::options()
        .write(true)
        .open(pack)
        .unwrap()
        .set_len(size / 3)
        .unwrap();

    let target = dir.path().join("restored");
    let restore = [
        &["restore"],
        &common[..],
        &["latest", "--target", target.to_str().unwrap()],
    ]
    .concat();
    let out = run(&restore);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains("pack is truncated"),
        "{}",
        stderr(&out)
    );
    let restored = fs::read(target.join("source/big.bin")).unwrap();
    // Restore must name exactly the blobs that `check --read-data`, which reads the
    // whole pack, finds past the cut: a blob before the cut restores even when a
    // merged range read crosses the cut.
    let check = run(&[&["check", "--read-data"], &common[..]].concat());
    assert_exit(&check, 3);
    assert_eq!(blob_ids(&stderr(&out)), blob_ids(&stderr(&check)));
    let lost = restored
        .chunks(4096)
        .zip(original.chunks(4096))
        .filter(|(a, b)| a != b)
        .count();
    assert!(lost > 0, "the cut damaged nothing");
}

/// Returns the short ids that follow the word `blob` in command output.
fn blob_ids(text: &str) -> std::collections::BTreeSet<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    words
        .windows(2)
        .filter(|pair| pair[0] == "blob")
        .map(|pair| pair[1].to_string())
        .collect()
}
