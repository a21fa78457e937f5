//! Real storage servers for backend tests: `s3s-fs` (S3, with signature checks) and
//! `rclone serve webdav` (WebDAV with basic auth), each on 127.0.0.1 with a free port,
//! started per test and killed when dropped.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use haven_repo::BackendOptions;

pub const S3_INSTALL: &str =
    "cargo install s3s-fs@0.14.1 --features binary --locked (or run scripts/test-servers.sh)";
pub const RCLONE_INSTALL: &str =
    "apt-get update && apt-get install -y rclone (or run scripts/test-servers.sh)";

pub const ACCESS_KEY: &str = "haven-test-key";
pub const SECRET_KEY: &str = "haven-test-secret-0123456789";
pub const BUCKET: &str = "backups";
pub const DAV_USER: &str = "haven";
pub const DAV_PASSWORD: &str = "dav-password-42";

/// A server process that is killed when dropped.
pub struct Server {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn find_binary(name: &str, install: &str) -> PathBuf {
    let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(name))
                .collect()
        })
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cargo/bin").join(name));
    }
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not installed; install it with: {install}"))
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_until_listening(server: &mut Server, name: &str) {
    let addr: SocketAddr = format!("127.0.0.1:{}", server.port).parse().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return;
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            panic!("{name} exited with {status} before listening on {addr}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{name} did not listen on {addr} within 20 s");
}

/// Starts `s3s-fs` with bucket [`BUCKET`] and the test key pair.
pub fn start_s3() -> Server {
    let binary = find_binary("s3s-fs", S3_INSTALL);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(BUCKET)).unwrap();
    let port = free_port();
    let child = Command::new(binary)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start s3s-fs");
    let mut server = Server { child, port, dir };
    wait_until_listening(&mut server, "s3s-fs");
    server
}

/// Starts `rclone serve webdav` with the test user and password.
pub fn start_webdav() -> Server {
    let binary = find_binary("rclone", RCLONE_INSTALL);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let port = free_port();
    let child = Command::new(binary)
        .args(["serve", "webdav", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--user", DAV_USER, "--pass", DAV_PASSWORD])
        .arg("--config")
        .arg(dir.path().join("rclone.conf"))
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rclone");
    let mut server = Server { child, port, dir };
    wait_until_listening(&mut server, "rclone serve webdav");
    server
}

impl Server {
    pub fn s3_url(&self, prefix: &str) -> String {
        format!(
            "s3://{BUCKET}/{prefix}?endpoint=http://127.0.0.1:{}",
            self.port
        )
    }

    pub fn webdav_url(&self, path: &str) -> String {
        format!("webdav://127.0.0.1:{}/{path}", self.port)
    }
}

/// Options for tests: short timeouts and backoff, credentials for both servers.
pub fn test_options() -> BackendOptions {
    let mut environment = BTreeMap::new();
    environment.insert("AWS_ACCESS_KEY_ID".to_string(), ACCESS_KEY.to_string());
    environment.insert("AWS_SECRET_ACCESS_KEY".to_string(), SECRET_KEY.to_string());
    environment.insert("AWS_REGION".to_string(), "us-east-1".to_string());
    environment.insert("HAVEN_WEBDAV_USER".to_string(), DAV_USER.to_string());
    environment.insert(
        "HAVEN_WEBDAV_PASSWORD".to_string(),
        DAV_PASSWORD.to_string(),
    );
    BackendOptions {
        timeout: Duration::from_secs(2),
        retries: 10,
        min_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(100),
        environment,
        ..BackendOptions::default()
    }
}

/// Deterministic incompressible bytes (xorshift).
pub fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes a small tree: random and compressible files in nested folders.
pub fn make_source(root: &Path) {
    std::fs::create_dir_all(root.join("media/2024")).unwrap();
    std::fs::create_dir_all(root.join("db")).unwrap();
    std::fs::write(root.join("db/messages.bin"), random_bytes(1, 700_000)).unwrap();
    std::fs::write(root.join("db/notes.txt"), "hello haven\n".repeat(20_000)).unwrap();
    for i in 0..6 {
        std::fs::write(
            root.join(format!("media/2024/photo{i}.jpg")),
            random_bytes(10 + i, 90_000),
        )
        .unwrap();
    }
    std::fs::write(root.join("empty"), b"").unwrap();
}

/// Relative path and content of every file below `root`.
pub fn files(root: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(&path).unwrap(),
                );
            }
        }
    }
    out
}
