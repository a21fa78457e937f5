//! `haven forget`, `prune` and `repair`, and two `haven backup` processes writing
//! into one repository at the same time.

mod repo_common;

use std::fs;
use std::process::{Command, Stdio};

use repo_common::*;

fn json(out: &std::process::Output) -> serde_json::Value {
    assert_success(out);
    serde_json::from_slice(&out.stdout).expect("the command prints JSON")
}

fn restore_matches(env: &Env, snapshot: &str, source: &std::path::Path, target_name: &str) {
    let target = env.path(target_name);
    let out = env.haven("restore", &[snapshot, "--target", target.to_str().unwrap()]);
    assert_success(&out);
    let name = source.file_name().unwrap();
    assert_eq!(file_contents(source), file_contents(&target.join(name)));
}

#[test]
fn forget_and_prune_commands() {
    let env = Env::init();
    let source = env.path("source");
    fs::create_dir_all(&source).unwrap();
    let mut ids = Vec::new();
    for i in 0..3u64 {
        fs::write(
            source.join(format!("file-{i}.bin")),
            random_bytes(i, 400_000),
        )
        .unwrap();
        if i > 0 {
            fs::remove_file(source.join(format!("file-{}.bin", i - 1))).unwrap();
        }
        let tag = if i == 0 { "keep-me" } else { "daily" };
        let out = env.haven(
            "backup",
            &["--json", "--tag", tag, source.to_str().unwrap()],
        );
        ids.push(json(&out)["snapshot_id"].as_str().unwrap().to_string());
    }

    let dry = json(&env.haven("forget", &["--keep-last", "1", "--dry-run", "--json"]));
    let decisions = dry["forget"]["decisions"].as_array().unwrap();
    let forgotten: Vec<&str> = decisions
        .iter()
        .filter(|d| d["keep"] == false)
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(forgotten, vec![ids[0].as_str(), ids[1].as_str()]);
    assert_eq!(dry["forget"]["removed"], 0);
    let listed = json(&env.haven("snapshots", &["--json"]));
    assert_eq!(
        listed.as_array().unwrap().len(),
        3,
        "the dry run removed snapshots"
    );

    let out = env.haven(
        "forget",
        &[
            "--keep-last",
            "1",
            "--keep-tag",
            "keep-me",
            "--prune",
            "--grace-period",
            "0",
            "--json",
        ],
    );
    let report = json(&out);
    assert_eq!(report["forget"]["removed"], 1);
    assert!(
        report["prune"]["packs_marked"].as_u64().unwrap() >= 1,
        "{report}"
    );
    assert_eq!(report["prune"]["packs_deleted"], 0);

    let pruned = json(&env.haven("prune", &["--grace-period", "0s", "--json"]));
    assert_eq!(pruned["packs_deleted"], report["prune"]["packs_marked"]);
    let out = env.haven("check", &["--read-data"]);
    assert_success(&out);

    restore_matches(&env, &ids[2], &source, "restored-latest");
    let target = env.path("restored-first");
    let out = env.haven("restore", &[&ids[0], "--target", target.to_str().unwrap()]);
    assert_success(&out);
    assert_eq!(
        fs::read(target.join("source/file-0.bin")).unwrap(),
        random_bytes(0, 400_000)
    );
}

#[test]
fn prune_rejects_bad_options() {
    let env = Env::init();
    let out = env.haven("prune", &["--grace-period", "3w"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("unknown unit"), "{}", stderr(&out));
    let out = env.haven("prune", &["--repack-threshold", "150"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("outside 0 to 100"),
        "{}",
        stderr(&out)
    );
    let out = env.haven("forget", &[]);
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("--keep-last"), "{}", stderr(&out));
}

#[test]
fn two_backup_processes_at_once() {
    let env = Env::init();
    let shared = random_bytes(77, 1_500_000);
    let mut sources = Vec::new();
    for (n, name) in ["phone", "tablet"].iter().enumerate() {
        let source = env.path(name);
        fs::create_dir_all(source.join("media")).unwrap();
        fs::write(source.join("media/shared.bin"), &shared).unwrap();
        for i in 0..6u64 {
            fs::write(
                source.join(format!("own-{i}.bin")),
                random_bytes(1000 * (n as u64 + 1) + i, 500_000),
            )
            .unwrap();
        }
        sources.push(source);
    }
    let children: Vec<_> = sources
        .iter()
        .map(|source| {
            Command::new(HAVEN)
                .args(["backup", "--json", "--repo", env.repo.to_str().unwrap()])
                .args(["--key-file", env.key_file.to_str().unwrap()])
                .arg(source)
                .env_remove("HAVEN_REPO")
                .env_remove("HAVEN_KEY")
                .env_remove("HAVEN_KEY_FILE")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|child| child.wait_with_output().unwrap())
        .collect();
    for (source, out) in sources.iter().zip(&outputs) {
        let summary = json(out);
        let id = summary["snapshot_id"].as_str().unwrap();
        let name = source.file_name().unwrap().to_str().unwrap();
        restore_matches(&env, id, source, &format!("restored-{name}"));
    }
    let listed = json(&env.haven("snapshots", &["--json"]));
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let check = json(&env.haven("check", &["--read-data", "--json"]));
    assert_eq!(check["damaged"].as_array().unwrap().len(), 0, "{check}");
    assert_eq!(
        check["unindexed_packs"].as_array().unwrap().len(),
        0,
        "{check}"
    );
}

#[test]
fn leftovers_through_check_backup_and_repair() {
    let env = Env::init();
    let source = env.path("source");
    fs::create_dir_all(&source).unwrap();
    fs::write(source.join("a.bin"), random_bytes(5, 300_000)).unwrap();
    backup_json(&env, &[&source]);
    let empty_index = format!("index/{}", "ab".repeat(32));
    fs::write(env.repo.join(&empty_index), b"").unwrap();
    fs::write(env.repo.join(".tmp/unfinished"), b"partial").unwrap();

    let out = env.haven("check", &[]);
    assert_success(&out);
    let text = stdout(&out);
    assert!(text.contains("2 leftovers of interrupted writes"), "{text}");
    assert!(text.contains(&empty_index), "{text}");

    fs::write(source.join("b.bin"), random_bytes(6, 100_000)).unwrap();
    let summary = backup_json(&env, &[&source]);
    assert_eq!(summary["damaged"].as_array().unwrap().len(), 0, "{summary}");

    let out = env.haven("repair", &[]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("younger than --min-age"),
        "{}",
        stdout(&out)
    );
    assert!(env.repo.join(&empty_index).exists());

    let out = env.haven("repair", &["--min-age", "0"]);
    assert_success(&out);
    assert!(!env.repo.join(&empty_index).exists());
    assert!(!env.repo.join(".tmp/unfinished").exists());
    let out = env.haven("check", &["--read-data"]);
    assert_success(&out);
    assert!(!stdout(&out).contains("leftovers"), "{}", stdout(&out));
}
