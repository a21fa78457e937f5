//! Shared fixture for the vault cluster tests: N `haven vault serve --node-id`
//! processes on 127.0.0.1, each with its own data folder and key-file KEK, sharing
//! one tenants file and one cluster key. Ports are chosen once, so a restarted node
//! comes back at the same URLs.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use haven_vault_auth::{mint, SigningKey, TenantAlg};

use crate::vault_support::{haven, parse_reply, run_ok, Reply, Server, TENANT, VAULT_ID};

/// Picks a free TCP port on 127.0.0.1 between 20000 and 29999, below Linux's
/// default ephemeral range (32768 to 60999), so that no outgoing connection takes it
/// before the node binds it. A port is never handed out twice in one test process,
/// but another process could still bind it first.
fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let mut random = [0u8; 2];
        haven_crypto::random_bytes(&mut random);
        let port = 20_000 + u16::from_be_bytes(random) % 10_000;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() && HANDED_OUT.lock().unwrap().insert(port)
        {
            return port;
        }
    }
}

/// One node's folder and ports.
pub struct NodeSpec {
    pub id: u64,
    pub api_port: u16,
    pub raft_port: u16,
}

impl NodeSpec {
    pub fn raft_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.raft_port)
    }

    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }
}

/// The folders of a cluster of `n` nodes, node ids 1..=n.
pub struct ClusterDir {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<NodeSpec>,
    /// Snapshot interval given to every node.
    pub snapshot_every: u64,
}

/// The status of one node, from `haven vault cluster status --json`.
pub struct NodeStatus {
    pub leader: Option<u64>,
    pub state: String,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub voters: usize,
}

impl ClusterDir {
    /// Initialises node 1's vault, a tenant and a cluster key, and copies node 1's
    /// secrets to every other node under that node's own KEK.
    pub fn new(n: u64) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let nodes: Vec<NodeSpec> = (1..=n)
            .map(|id| NodeSpec {
                id,
                api_port: free_port(),
                raft_port: free_port(),
            })
            .collect();
        for node in &nodes {
            std::fs::create_dir_all(dir.path().join(format!("node-{}", node.id)))
                .expect("node folder");
        }
        let cluster = Self {
            dir,
            nodes,
            snapshot_every: 1000,
        };
        run_ok(
            haven()
                .args(["vault", "init", "--vault-id", VAULT_ID])
                .arg("--data")
                .arg(cluster.data(1))
                .arg("--kek-file")
                .arg(cluster.kek(1)),
        );
        run_ok(
            haven()
                .args(["vault", "tenant-key", "--tenant", TENANT])
                .arg("--key-out")
                .arg(cluster.path("acme.key"))
                .arg("--tenants")
                .arg(cluster.path("tenants.json")),
        );
        run_ok(
            haven()
                .args(["vault", "cluster", "new-key", "--out"])
                .arg(cluster.path("cluster.key")),
        );
        for id in 2..=n {
            run_ok(
                haven()
                    .args(["vault", "cluster", "copy-secrets"])
                    .arg("--from-data")
                    .arg(cluster.data(1))
                    .arg("--from-kek-file")
                    .arg(cluster.kek(1))
                    .arg("--data")
                    .arg(cluster.data(id))
                    .arg("--kek-file")
                    .arg(cluster.kek(id)),
            );
        }
        cluster
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn data(&self, id: u64) -> PathBuf {
        self.path(&format!("node-{id}/data"))
    }

    pub fn kek(&self, id: u64) -> PathBuf {
        self.path(&format!("node-{id}/kek.key"))
    }

    pub fn spec(&self, id: u64) -> &NodeSpec {
        &self.nodes[(id - 1) as usize]
    }

    pub fn peers(&self) -> String {
        self.nodes
            .iter()
            .map(|node| format!("{}={}", node.id, node.raft_url()))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn api_urls(&self) -> Vec<String> {
        self.nodes.iter().map(NodeSpec::api_url).collect()
    }

    pub fn token(&self, account: &str) -> String {
        let key = SigningKey::load(TenantAlg::EdDsa, &self.path("acme.key")).expect("tenant key");
        mint(TENANT, &key, account, VAULT_ID, Duration::from_secs(600))
            .expect("mint")
            .to_string()
    }

    /// Starts node `id`; logs go to `node-ID/server-K.log`.
    pub fn start(&self, id: u64) -> Server {
        let spec = self.spec(id);
        let log_path = (0..)
            .map(|k| self.path(&format!("node-{id}/server-{k}.log")))
            .find(|path| !path.exists())
            .expect("a free log name");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut child = haven()
            .args([
                "vault",
                "serve",
                "--allow-insecure-test-ksf",
                "--ksf-version",
                "0",
            ])
            .args(["--account-rate", "0", "--address-rate", "0"])
            .args(["--max-guess-limit", "5000"])
            .args(["--listen", &format!("127.0.0.1:{}", spec.api_port)])
            .args(["--node-id", &id.to_string()])
            .args(["--raft-listen", &format!("127.0.0.1:{}", spec.raft_port)])
            .args(["--peers", &self.peers()])
            .args(["--snapshot-every", &self.snapshot_every.to_string()])
            .args(["--commit-timeout-ms", "3000"])
            .arg("--cluster-key")
            .arg(self.path("cluster.key"))
            .arg("--data")
            .arg(self.data(id))
            .arg("--kek-file")
            .arg(self.kek(id))
            .arg("--tenants")
            .arg(self.path("tenants.json"))
            .env("HAVEN_LOG", "info,openraft=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("haven vault serve starts");
        let stdout = child.stdout.take().expect("stdout piped");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read stdout");
        if !line.starts_with("listening on ") {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "node {id} did not start: stdout {line:?}, log:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
        }
        Server {
            child,
            addr: format!("127.0.0.1:{}", spec.api_port).parse().unwrap(),
            log_path,
        }
    }

    /// Runs `haven vault cluster ARGS --node URL-of-node --cluster-key ...`.
    pub fn admin(&self, id: u64, args: &[&str]) -> std::process::Output {
        haven()
            .args(["vault", "cluster"])
            .args(args)
            .args(["--node", &self.spec(id).raft_url()])
            .arg("--cluster-key")
            .arg(self.path("cluster.key"))
            .output()
            .expect("haven runs")
    }

    /// Makes node `id` initialise the cluster with every node as a member.
    pub fn init(&self, id: u64) {
        let output = self.admin(id, &["init"]);
        assert!(
            output.status.success(),
            "cluster init failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Returns node `id`'s view of the cluster, or `None` if it does not respond.
    pub fn status(&self, id: u64) -> Option<NodeStatus> {
        let output = self.admin(id, &["status", "--json"]);
        if !output.status.success() {
            return None;
        }
        let value: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
        let index = |name: &str| value[name].as_u64();
        Some(NodeStatus {
            leader: index("leader"),
            state: value["state"].as_str().unwrap_or_default().to_string(),
            applied_index: index("applied_index"),
            snapshot_index: index("snapshot_index"),
            voters: value["members"]
                .as_array()
                .map(|members| members.iter().filter(|m| m["voter"] == true).count())
                .unwrap_or(0),
        })
    }

    /// Waits until one of `alive` reports a leader that is itself in `alive`.
    pub fn wait_leader(&self, alive: &[u64], within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        loop {
            for id in alive {
                if let Some(leader) = self.status(*id).and_then(|status| status.leader) {
                    if alive.contains(&leader)
                        && self.status(leader).map(|s| s.state) == Some("Leader".into())
                    {
                        return leader;
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "no leader among nodes {alive:?} within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until node `id` applied at least `index`.
    pub fn wait_applied(&self, id: u64, index: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let applied = self.status(id).and_then(|status| status.applied_index);
            if applied >= Some(index) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {id} applied {applied:?}, not {index}, within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Starts every node and initialises the cluster through node 1.
    pub fn start_all(&self) -> Vec<Option<Server>> {
        let servers: Vec<Option<Server>> = self
            .nodes
            .iter()
            .map(|node| Some(self.start(node.id)))
            .collect();
        self.init(1);
        let alive: Vec<u64> = self.nodes.iter().map(|node| node.id).collect();
        self.wait_leader(&alive, Duration::from_secs(20));
        servers
    }
}

/// Sends a signal to a node process with kill(1): STOP, CONT or KILL.
pub fn signal(server: &Server, name: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(server.child.id().to_string())
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} failed");
}

/// Sends one HTTP/1.1 request to `port` on 127.0.0.1. Returns `None` when no whole
/// reply arrives within `wait` (refused, reset, killed or stopped).
pub fn try_request(
    port: u16,
    method: &str,
    path: &str,
    token: &str,
    body: &str,
    wait: Duration,
) -> Option<Reply> {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpStream};
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    stream.set_write_timeout(Some(wait)).ok()?;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Authorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw);
    let (_, rest) = text.split_once("\r\n\r\n")?;
    if rest.is_empty() {
        return None;
    }
    Some(parse_reply(&raw))
}

/// Time a request may go without a definitive reply before a test fails.
pub const RESUME_WITHIN: Duration = Duration::from_secs(20);

/// Sends `body` (a GET when empty) to the nodes at `ports` in turn until one
/// returns a status in `accept`; panics after [`RESUME_WITHIN`].
pub fn call_until(ports: &[u16], path: &str, token: &str, body: &str, accept: &[u16]) -> Reply {
    let deadline = Instant::now() + RESUME_WITHIN;
    let method = if body.is_empty() { "GET" } else { "POST" };
    let mut last;
    for turn in 0.. {
        let port = ports[turn % ports.len()];
        match try_request(port, method, path, token, body, Duration::from_secs(6)) {
            Some(reply) if accept.contains(&reply.status) => return reply,
            Some(reply) => last = format!("{} {}", reply.status, reply.body),
            None => last = format!("no reply from port {port}"),
        }
        assert!(
            Instant::now() < deadline,
            "{path} got no definitive reply within {RESUME_WITHIN:?}; last: {last}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    unreachable!()
}

/// Reads the account's guesses remaining through any of `ports` (a linearizable
/// read in cluster mode).
pub fn guesses_remaining(ports: &[u16], token: &str) -> u32 {
    let reply = call_until(ports, "/v1/record", token, "", &[200]);
    let status: haven_vault_proto::wire::RecordStatus =
        serde_json::from_str(&reply.body).expect("record status");
    status.guesses_remaining
}
