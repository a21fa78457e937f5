//! Fixture for the `haven key` tests: a real `haven vault serve` process on
//! 127.0.0.1 with a free port, tokens minted by `haven vault token`, and helpers to
//! run `haven` commands in a temporary folder.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub const VAULT_ID: &str = "vault-key-tests";
pub const TENANT: &str = "acme";
pub const PASSWORD: &str = "correct horse battery staple";

/// A vault data folder, its tenant key and a running server. The server is killed
/// when this is dropped.
pub struct Vault {
    pub dir: tempfile::TempDir,
    pub fingerprint: String,
    pub url: String,
    child: Child,
}

impl Vault {
    /// Initialises a vault (key-file KEK, one EdDSA tenant) and starts it with the
    /// test KSF allowed and rate limits off.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = |name: &str| dir.path().join(name);
        let out = run_ok(
            haven()
                .args(["vault", "init", "--vault-id", VAULT_ID, "--data"])
                .arg(path("data"))
                .arg("--kek-file")
                .arg(path("kek.key")),
        );
        let fingerprint = out
            .lines()
            .find_map(|line| line.strip_prefix("fingerprint "))
            .expect("vault init prints the fingerprint")
            .to_string();
        run_ok(
            haven()
                .args(["vault", "tenant-key", "--tenant", TENANT, "--key-out"])
                .arg(path("tenant.key"))
                .arg("--tenants")
                .arg(path("tenants.json")),
        );
        let log = std::fs::File::create(path("server.log")).expect("log file");
        let mut child = haven()
            .args([
                "vault",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--allow-insecure-test-ksf",
            ])
            .args(["--account-rate", "0", "--address-rate", "0", "--data"])
            .arg(path("data"))
            .arg("--kek-file")
            .arg(path("kek.key"))
            .arg("--tenants")
            .arg(path("tenants.json"))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("haven vault serve starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout is piped");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the server's first line");
        let Some(address) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the vault did not start: stdout {line:?}, log:\n{}",
                std::fs::read_to_string(path("server.log")).unwrap_or_default()
            );
        };
        Self {
            url: address.to_string(),
            fingerprint,
            dir,
            child,
        }
    }

    /// Mints a token for `account` with `haven vault token`.
    pub fn token(&self, account: &str) -> String {
        let out = run_ok(
            haven()
                .args(["vault", "token", "--tenant", TENANT, "--account", account])
                .args(["--vault-id", VAULT_ID, "--tenant-key"])
                .arg(self.dir.path().join("tenant.key")),
        );
        out.trim().to_string()
    }

    /// Returns the server log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }
}

impl Drop for Vault {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `haven` command with no inherited HAVEN_* settings except the test KSF.
pub fn haven() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_haven"));
    for (name, _) in std::env::vars() {
        if name.starts_with("HAVEN_") {
            command.env_remove(name);
        }
    }
    command.env("HAVEN_ALLOW_INSECURE_TEST_KSF", "1");
    command.stdin(Stdio::null());
    command
}

/// Runs a command and returns its output whatever the exit status.
pub fn run(command: &mut Command) -> Output {
    command.output().expect("haven runs")
}

/// Runs a command, panics with its stderr on failure, and returns its stdout.
pub fn run_ok(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        output.status.success(),
        "haven failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// Runs a command that must fail and returns its stderr.
pub fn run_err(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        !output.status.success(),
        "haven succeeded but should have failed; stdout: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8(output.stderr).expect("utf-8 output")
}

/// A user's machine: a temporary folder with a repository path, a key file path, a
/// password file and a token for one account.
pub struct Machine {
    pub dir: tempfile::TempDir,
    pub token: String,
}

impl Machine {
    pub fn new(vault: &Vault, account: &str) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        std::fs::write(dir.path().join("password"), PASSWORD).expect("password file");
        Self {
            dir,
            token: vault.token(account),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn repo(&self) -> String {
        self.path("repo").display().to_string()
    }

    /// Writes `password` to a file named `name` and returns its path.
    pub fn password_file(&self, name: &str, password: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, password).expect("password file");
        path
    }

    /// `haven` with the token in HAVEN_VAULT_TOKEN.
    pub fn haven(&self) -> Command {
        let mut command = haven();
        command.env("HAVEN_VAULT_TOKEN", &self.token);
        // Keeps the backup's row state (default under XDG_STATE_HOME) in this machine.
        command.env("XDG_STATE_HOME", self.path("state-home"));
        command
    }

    /// `haven init --vault URL` with the pinned fingerprint and the password file.
    pub fn init_with_vault(&self, vault: &Vault, extra: &[&str]) -> Output {
        run(self
            .haven()
            .args(["init", "--repo", &self.repo(), "--key-file"])
            .arg(self.path("key"))
            .args([
                "--vault",
                &vault.url,
                "--vault-fingerprint",
                &vault.fingerprint,
            ])
            .arg("--password-file")
            .arg(self.path("password"))
            .args(extra))
    }

    /// `haven key recover` into `key_file` with the password in `password_file`.
    pub fn recover(&self, key_file: &Path, password_file: &Path, extra: &[&str]) -> Output {
        run(self
            .haven()
            .args(["key", "recover", "--repo", &self.repo(), "--key-file"])
            .arg(key_file)
            .arg("--password-file")
            .arg(password_file)
            .args(extra))
    }
}

/// Fills `dir` with a few files and a subfolder of varied content.
pub fn write_sample_files(dir: &Path) {
    std::fs::create_dir_all(dir.join("media/2024")).expect("create folders");
    std::fs::write(dir.join("notes.txt"), "hello from haven\n".repeat(100)).expect("write");
    let bytes: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("media/2024/photo.bin"), &bytes).expect("write");
    std::fs::write(dir.join("media/empty"), b"").expect("write");
}

/// Lists every file under `root` with its relative path and content.
pub fn tree_contents(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(root).expect("under root").to_path_buf();
                out.push((relative, std::fs::read(&path).expect("read file")));
            }
        }
    }
    out.sort();
    out
}

/// Returns stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
