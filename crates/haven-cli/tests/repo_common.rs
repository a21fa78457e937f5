//! Helpers for the repository command tests: run the `haven` binary.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const HAVEN: &str = env!("CARGO_BIN_EXE_haven");

pub struct Env {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
    pub key_file: PathBuf,
}

impl Env {
    /// A temporary folder with `haven init` already run (1 MiB packs).
    pub fn init() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("repo");
        let key_file = dir.path().join("backup.key");
        let out = run(&[
            "init",
            "--repo",
            repo.to_str().unwrap(),
            "--key-file",
            key_file.to_str().unwrap(),
            "--pack-size-mib",
            "1",
        ]);
        assert_success(&out);
        Self {
            dir,
            repo,
            key_file,
        }
    }

    /// Runs `haven <command> --repo R --key-file F <rest>`.
    pub fn haven(&self, command: &str, rest: &[&str]) -> Output {
        let mut args = vec![
            command,
            "--repo",
            self.repo.to_str().unwrap(),
            "--key-file",
            self.key_file.to_str().unwrap(),
        ];
        args.extend_from_slice(rest);
        // The default state folder is under XDG_STATE_HOME: kept inside the test's
        // folder, so tests never write row state into the real home folder.
        Command::new(HAVEN)
            .args(&args)
            .env_remove("HAVEN_REPO")
            .env_remove("HAVEN_KEY")
            .env_remove("HAVEN_KEY_FILE")
            .env("XDG_STATE_HOME", self.dir.path().join("state-home"))
            .output()
            .expect("run haven")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

pub fn run(args: &[&str]) -> Output {
    Command::new(HAVEN)
        .args(args)
        .env_remove("HAVEN_REPO")
        .env_remove("HAVEN_KEY")
        .env_remove("HAVEN_KEY_FILE")
        .output()
        .expect("run haven")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn assert_success(out: &Output) {
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

/// Deterministic incompressible bytes (xorshift).
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Maps each file below `root` (relative path) to its content.
pub fn file_contents(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}

pub fn backup_json(env: &Env, paths: &[&Path]) -> serde_json::Value {
    let mut rest = vec!["--json"];
    let texts: Vec<String> = paths
        .iter()
        .map(|p| p.to_str().unwrap().to_string())
        .collect();
    rest.extend(texts.iter().map(|s| s.as_str()));
    let out = env.haven("backup", &rest);
    assert_success(&out);
    serde_json::from_slice(&out.stdout).expect("backup --json prints JSON")
}

/// Returns how many snapshots `haven snapshots --json` lists.
pub fn snapshot_count(env: &Env) -> usize {
    let out = env.haven("snapshots", &["--json"]);
    assert_success(&out);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list.as_array().unwrap().len()
}
