//! wa-crypt-tools 0.1.0 from PyPI, an independent crypt15 implementation, and its test
//! files. Downloaded once into the target folder: the sdist for `tests/res/` and a
//! virtual environment for `waencrypt` and `wadecrypt`. Fails with the fix when PyPI
//! or python3's venv module is missing; never skips.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const PACKAGE: &str = "wa-crypt-tools==0.1.0";
const SDIST_DIR: &str = "wa_crypt_tools-0.1.0";

/// The unpacked sdist and the virtual environment of wa-crypt-tools.
pub struct Peer {
    root: PathBuf,
}

/// Returns the peer, setting it up on first use. Safe across threads and processes.
pub fn peer() -> &'static Peer {
    static PEER: OnceLock<Peer> = OnceLock::new();
    PEER.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wa-crypt-tools-0.1.0");
        fs::create_dir_all(&root).expect("create the wa-crypt-tools cache folder");
        let lock = File::create(root.join(".lock")).expect("create the cache lock file");
        lock.lock().expect("lock the wa-crypt-tools cache");
        if !root.join("sdist.ok").exists() {
            fetch_sdist(&root);
        }
        if !root.join("venv.ok").exists() {
            create_venv(&root);
        }
        Peer { root }
    })
}

fn fetch_sdist(root: &Path) {
    let download = root.join("download");
    run(
        Command::new("python3")
            .args([
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                PACKAGE,
                "-d",
            ])
            .arg(&download),
        "download the wa-crypt-tools sdist from PyPI (PyPI must be reachable)",
    );
    let _ = fs::remove_dir_all(root.join(SDIST_DIR));
    run(
        Command::new("tar")
            .arg("xzf")
            .arg(download.join(format!("{SDIST_DIR}.tar.gz")))
            .arg("-C")
            .arg(root),
        "unpack the wa-crypt-tools sdist",
    );
    fs::write(root.join("sdist.ok"), b"").expect("mark the sdist as unpacked");
}

fn create_venv(root: &Path) {
    let venv = root.join("venv");
    let _ = fs::remove_dir_all(&venv);
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "create a Python virtual environment (install python3-venv)",
    );
    run(
        Command::new(venv.join("bin/pip")).args(["install", "--quiet", PACKAGE]),
        "pip install wa-crypt-tools==0.1.0 from PyPI (PyPI must be reachable)",
    );
    fs::write(root.join("venv.ok"), b"").expect("mark the venv as installed");
}

fn run(command: &mut Command, what: &str) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("failed to {what}: cannot start {command:?}: {error}"));
    assert!(
        output.status.success(),
        "failed to {what}: {command:?} exited with {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
}

impl Peer {
    /// A file from the sdist's `tests/res/` folder.
    pub fn res(&self, name: &str) -> PathBuf {
        self.root.join(SDIST_DIR).join("tests/res").join(name)
    }

    /// The sdist's unpacked folder.
    pub fn sdist(&self) -> PathBuf {
        self.root.join(SDIST_DIR)
    }

    /// The virtual environment's Python.
    pub fn python(&self) -> PathBuf {
        self.root.join("venv/bin/python")
    }

    /// Runs `waencrypt` and returns its output; asserts that it exited 0.
    pub fn waencrypt<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.script("waencrypt", args)
    }

    /// Runs `wadecrypt`. It exits 0 even when the key is wrong: compare its output file.
    pub fn wadecrypt<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.script("wadecrypt", args)
    }

    fn script<I, S>(&self, name: &str, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = Command::new(self.root.join("venv/bin").join(name));
        command.args(args);
        let output = command
            .output()
            .unwrap_or_else(|error| panic!("cannot start {command:?}: {error}"));
        assert!(
            output.status.success(),
            "{command:?} exited with {}\nstderr:\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
        );
        output
    }
}
