//! `haven backup` killed with SIGKILL at random points: earlier snapshots stay
//! restorable, check passes, and the next backup reuses the packs already written.

mod repo_common;

use std::fs;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use repo_common::*;

const KILL_RUNS: usize = 20;
const NEW_FILES: u64 = 24;
const NEW_FILE_SIZE: u64 = 250_000;
/// Longest kill delay of a run killed at a random time.
const MAX_DELAY_MS: u64 = 1500;

/// xorshift seeded from the clock; the seed is printed so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn killed_backups_leave_a_consistent_repository() {
    let seed = std::env::var("HAVEN_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("seed {seed} (set HAVEN_TEST_SEED to replay)");
    let mut rng = Rng(seed);

    let env = Env::init();
    let source = env.path("source");
    fs::create_dir_all(&source).unwrap();
    for i in 0..4 {
        fs::write(
            source.join(format!("old-{i}.bin")),
            random_bytes(i, 500_000),
        )
        .unwrap();
    }
    let first = backup_json(&env, &[&source]);
    let first_id = first["snapshot_id"].as_str().unwrap().to_string();
    let first_files = file_contents(&source);

    // New data for the interrupted backups: 24 files of 250 kB over 1 MiB packs.
    for i in 0..NEW_FILES {
        fs::write(
            source.join(format!("new-{i}.bin")),
            random_bytes(100 + i, NEW_FILE_SIZE as usize),
        )
        .unwrap();
    }
    let repo = env.repo.to_str().unwrap().to_string();
    let key_file = env.key_file.to_str().unwrap().to_string();
    // A killed backup cannot remove its scratch folder, so it goes in the test's.
    let scratch = env.path("tmp");
    std::fs::create_dir(&scratch).unwrap();

    let mut snapshots_before = snapshot_count(&env);
    for run in 0..KILL_RUNS {
        let mut child = Command::new(HAVEN)
            .args([
                "backup",
                "--repo",
                &repo,
                "--key-file",
                &key_file,
                source.to_str().unwrap(),
            ])
            .env("TMPDIR", &scratch)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Half the runs die at a random time, maybe before their first pack; the
        // others right after their first or second new pack, so progress is kept
        // even on a slow machine.
        if rng.next().is_multiple_of(2) {
            std::thread::sleep(Duration::from_millis(rng.next() % MAX_DELAY_MS));
        } else {
            let target = count_files(&env.repo.join("data")) + 1 + (rng.next() % 2) as usize;
            let deadline = Instant::now() + Duration::from_secs(120);
            while count_files(&env.repo.join("data")) < target
                && Instant::now() < deadline
                && child.try_wait().unwrap().is_none()
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            std::thread::sleep(Duration::from_millis(rng.next() % 200));
        }
        let _ = child.kill();
        let status = child.wait().unwrap();

        let check = env.haven("check", &[]);
        assert_success(&check);
        let count = snapshot_count(&env);
        assert!(
            count >= snapshots_before,
            "run {run}: a snapshot disappeared"
        );
        assert!(
            count <= snapshots_before + 1,
            "run {run}: more than one new snapshot"
        );
        if status.success() {
            assert_eq!(
                count,
                snapshots_before + 1,
                "run {run}: finished without a snapshot"
            );
        }
        snapshots_before = count;

        if run % 5 == 0 {
            let target = env.path(&format!("restore-{run}"));
            let restore = env.haven(
                "restore",
                &[&first_id, "--target", target.to_str().unwrap()],
            );
            assert_success(&restore);
            assert_eq!(
                file_contents(&target.join("source")),
                first_files,
                "run {run}"
            );
            fs::remove_dir_all(&target).unwrap();
        }
    }

    let last = backup_json(&env, &[&source]);
    let new_bytes = NEW_FILES * NEW_FILE_SIZE;
    assert!(
        last["bytes_written"].as_u64().unwrap() < new_bytes,
        "the final backup wrote {} bytes, expected reuse of packs written before the kills",
        last["bytes_written"]
    );
    assert_success(&env.haven("check", &["--read-data"]));
    let target = env.path("restore-final");
    assert_success(&env.haven("restore", &["latest", "--target", target.to_str().unwrap()]));
    assert_eq!(
        file_contents(&target.join("source")),
        file_contents(&source)
    );
}

fn count_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() {
                count_files(&path)
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn file_growing_during_backup_is_reported() {
    let env = Env::init();
    let source = env.path("source");
    fs::create_dir_all(&source).unwrap();
    let log = source.join("growing.log");
    fs::write(&log, random_bytes(9, 4_000_000)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let log = log.clone();
        std::thread::spawn(move || {
            let mut file = fs::OpenOptions::new().append(true).open(&log).unwrap();
            // Appends for at most 10 s, slower than any backup reads, so the
            // backup reaches the end of the file while it still grows.
            for _ in 0..2000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                file.write_all(&[b'x'; 1024]).unwrap();
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let out = env.haven("backup", &["--json", source.to_str().unwrap()]);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert_exit(&out, 3);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["problems"][0]["kind"], "changed", "{summary}");
    assert!(stderr(&out).contains("growing.log"), "{}", stderr(&out));
}
