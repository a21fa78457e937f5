//! Shared fixture for the vault tests: a real `haven vault serve` process on
//! 127.0.0.1 with a free port, a raw HTTP/1.1 client, and an OPAQUE client built on
//! haven-vault-proto.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use haven_crypto::BackupKey;
use haven_vault_auth::{mint, SigningKey, TenantAlg};
use haven_vault_proto::client::{
    enroll_finish, enroll_start, recover_finish, recover_start, wrong_password_request,
};
use haven_vault_proto::wire::{
    EnrollFinishResponse, EnrollStartResponse, ErrorBody, InfoResponse, RecordStatus,
    RecoverFinishResponse, RecoverStartResponse,
};
use haven_vault_proto::{ProtoError, KSF_TEST_INSECURE};

/// Parses a reply body as `$ty` (a macro, because this crate does not depend on
/// serde and so cannot name its traits in a generic bound).
#[macro_export]
macro_rules! from_json {
    ($reply:expr, $ty:ty) => {{
        let reply = &$reply;
        serde_json::from_str::<$ty>(&reply.body).unwrap_or_else(|error| {
            panic!(
                "reply {} is not a {}: {error}: {}",
                reply.status,
                stringify!($ty),
                reply.body
            )
        })
    }};
}

/// Serializes a request body to JSON.
#[macro_export]
macro_rules! to_json {
    ($value:expr) => {
        serde_json::to_string(&$value).expect("request serializes")
    };
}

pub const VAULT_ID: &str = "vault-test";
pub const TENANT: &str = "acme";

pub fn haven() -> Command {
    Command::new(env!("CARGO_BIN_EXE_haven"))
}

/// Runs a `haven` command to completion and returns its stdout; panics with its
/// stderr on failure.
pub fn run_ok(command: &mut Command) -> String {
    let output = command.output().expect("haven runs");
    assert!(
        output.status.success(),
        "haven failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8 output")
}

/// A vault data folder with a key-file KEK and one EdDSA tenant.
pub struct VaultDir {
    pub dir: tempfile::TempDir,
    pub fingerprint: String,
}

impl VaultDir {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let out = run_ok(
            haven()
                .args(["vault", "init", "--vault-id", VAULT_ID])
                .arg("--data")
                .arg(dir.path().join("data"))
                .arg("--kek-file")
                .arg(dir.path().join("kek.key")),
        );
        let fingerprint = out
            .lines()
            .find_map(|line| line.strip_prefix("fingerprint "))
            .expect("init prints the fingerprint")
            .to_string();
        run_ok(
            haven()
                .args(["vault", "tenant-key", "--tenant", TENANT])
                .arg("--key-out")
                .arg(dir.path().join("acme.key"))
                .arg("--tenants")
                .arg(dir.path().join("tenants.json")),
        );
        Self { dir, fingerprint }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn signing_key(&self) -> SigningKey {
        SigningKey::load(TenantAlg::EdDsa, &self.path("acme.key")).expect("tenant key loads")
    }

    pub fn token(&self, account: &str) -> String {
        mint(
            TENANT,
            &self.signing_key(),
            account,
            VAULT_ID,
            Duration::from_secs(600),
        )
        .expect("mint")
        .to_string()
    }

    /// Starts `haven vault serve` with the rate limits off, the test KSF as default
    /// (so phantom replies do not make the client run 64 MiB Argon2id), and
    /// `extra` arguments; logs at debug level go to `server-N.log`.
    pub fn serve(&self, extra: &[&str]) -> Server {
        let log_path = self.next_log_path();
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut args: Vec<&str> = vec!["vault", "serve", "--listen", "127.0.0.1:0"];
        args.push("--allow-insecure-test-ksf");
        // Defaults for tests, unless `extra` sets the same option.
        for (option, value) in [
            ("--ksf-version", "0"),
            ("--account-rate", "0"),
            ("--address-rate", "0"),
            ("--max-guess-limit", "5000"),
        ] {
            if !extra.contains(&option) {
                args.extend([option, value]);
            }
        }
        let mut child = haven()
            .args(&args)
            .arg("--data")
            .arg(self.path("data"))
            .arg("--kek-file")
            .arg(self.path("kek.key"))
            .arg("--tenants")
            .arg(self.path("tenants.json"))
            .args(extra)
            .env("HAVEN_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("haven vault serve starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        let addr = line.trim().strip_prefix("listening on ").and_then(|url| {
            url.strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"))
        });
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "vault did not start: stdout {line:?}, log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        };
        Server {
            child,
            addr: addr.parse().expect("socket address"),
            log_path,
        }
    }

    fn next_log_path(&self) -> PathBuf {
        (0..)
            .map(|i| self.path(&format!("server-{i}.log")))
            .find(|path| !path.exists())
            .expect("a free log name")
    }

    /// Concatenates every server log written in this folder.
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for i in 0.. {
            let path = self.path(&format!("server-{i}.log"));
            let Ok(text) = std::fs::read_to_string(&path) else {
                break;
            };
            all.push_str(&text);
        }
        all
    }
}

/// A running vault process; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub log_path: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A reply: status code, lower-case headers and body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn error(&self) -> ErrorBody {
        from_json!(self, ErrorBody)
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

impl Server {
    /// Sends one HTTP/1.1 request on a new connection.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> Reply {
        let mut stream = TcpStream::connect(self.addr).expect("connect to the vault");
        stream
            .set_read_timeout(Some(Duration::from_secs(120)))
            .unwrap();
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
            self.addr
        );
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let body = body.unwrap_or_default();
        if !body.is_empty() || method == "POST" {
            head.push_str(&format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            ));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).expect("send head");
        // A server may answer (413) before reading a large body and close; ignore that.
        let _ = stream.write_all(body);
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        parse_reply(&raw)
    }

    pub fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.request("GET", path, token, None)
    }

    pub fn post(&self, path: &str, token: &str, body: &str) -> Reply {
        self.request("POST", path, Some(token), Some(body.as_bytes()))
    }

    pub fn info(&self) -> InfoResponse {
        from_json!(self.get("/v1/info", None), InfoResponse)
    }

    pub fn status(&self, token: &str) -> RecordStatus {
        let reply = self.get("/v1/record", Some(token));
        assert_eq!(reply.status, 200, "{}", reply.body);
        from_json!(reply, RecordStatus)
    }

    /// Reads one counter from /metrics.
    pub fn metric(&self, name: &str) -> u64 {
        let reply = self.get("/metrics", None);
        reply
            .body
            .lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("metric {name} missing:\n{}", reply.body))
    }

    /// Enrolls `password` for the token's account with the test KSF.
    pub fn enroll(
        &self,
        token: &str,
        password: &str,
        key: &BackupKey,
        guess_limit: u32,
    ) -> EnrollFinishResponse {
        let (state, request) = enroll_start(password.as_bytes()).unwrap();
        let reply = self.post("/v1/enroll/start", token, &to_json!(request));
        assert_eq!(reply.status, 200, "{}", reply.body);
        let response = from_json!(reply, EnrollStartResponse);
        let upload = enroll_finish(
            state,
            password.as_bytes(),
            &response,
            VAULT_ID,
            KSF_TEST_INSECURE,
            key,
            Some(guess_limit),
            None,
        )
        .unwrap();
        let reply = self.post("/v1/enroll/finish", token, &to_json!(upload.request));
        assert_eq!(reply.status, 200, "{}", reply.body);
        from_json!(reply, EnrollFinishResponse)
    }

    /// Sends recover/start only and returns the reply (a charged guess).
    pub fn recover_start(
        &self,
        token: &str,
        password: &str,
    ) -> (
        haven_vault_proto::client::RecoverState,
        RecoverStartResponse,
    ) {
        let (state, request) = recover_start(password.as_bytes()).unwrap();
        let reply = self.post("/v1/recover/start", token, &to_json!(request));
        assert_eq!(reply.status, 200, "{}", reply.body);
        (state, from_json!(reply, RecoverStartResponse))
    }

    /// Runs a whole recovery. A wrong password sends a null finalization and
    /// returns the vault's guesses remaining.
    pub fn recover(&self, token: &str, password: &str) -> Result<BackupKey, u32> {
        let (state, response) = self.recover_start(token, password);
        self.recover_finish(token, password, state, &response)
    }

    pub fn recover_finish(
        &self,
        token: &str,
        password: &str,
        state: haven_vault_proto::client::RecoverState,
        response: &RecoverStartResponse,
    ) -> Result<BackupKey, u32> {
        match recover_finish(state, password.as_bytes(), response, VAULT_ID, None) {
            Ok(progress) => {
                let reply = self.post("/v1/recover/finish", token, &to_json!(progress.request));
                if reply.status == 403 {
                    return Err(reply.error().guesses_remaining.expect("guesses_remaining"));
                }
                assert_eq!(reply.status, 200, "{}", reply.body);
                let released = from_json!(reply, RecoverFinishResponse);
                Ok(progress.open(&released).expect("released key opens"))
            }
            Err(ProtoError::WrongPassword) => {
                let reply = self.post(
                    "/v1/recover/finish",
                    token,
                    &to_json!(wrong_password_request(response)),
                );
                assert_eq!(reply.status, 403, "{}", reply.body);
                let error = reply.error();
                assert_eq!(error.error, "wrong_password");
                Err(error.guesses_remaining.expect("guesses_remaining"))
            }
            Err(other) => panic!("recovery failed: {other}"),
        }
    }
}

pub fn parse_reply(raw: &[u8]) -> Reply {
    let text = String::from_utf8_lossy(raw).to_string();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("incomplete HTTP reply: {text:?}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(key, value)| key == "transfer-encoding" && value.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Reply {
        status,
        headers,
        body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// Encodes base64url without padding (this crate has no base64 dependency).
pub fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Checks that a path exists, with a message naming it.
pub fn assert_exists(path: &Path) {
    assert!(path.exists(), "{} is missing", path.display());
}
