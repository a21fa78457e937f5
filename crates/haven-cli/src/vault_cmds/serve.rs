use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use haven_vault_server::cluster::{ClusterConfig, NodeId};
use haven_vault_server::{Rate, ServerConfig, TlsFiles, Vault, PHANTOM_EXPIRY_DAYS};

use super::KekArgs;

#[derive(Args)]
pub struct ServeArgs {
    /// Folder made by `haven vault init`.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    #[command(flatten)]
    kek: KekArgs,
    /// Tenants file (JSON) with each tenant's token verification key.
    #[arg(long, value_name = "FILE")]
    tenants: PathBuf,
    /// Address and port to listen on; port 0 picks a free port. Plain HTTP (no
    /// --tls-cert) is allowed on loopback addresses only.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// TLS certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Guess limit of records that enroll without one.
    #[arg(long, value_name = "N", default_value_t = haven_vault_proto::DEFAULT_GUESS_LIMIT)]
    default_guess_limit: u32,
    /// Highest guess limit an enrollment may choose.
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_guess_limit: u32,
    /// Accept KSF version 0 (Argon2id with 64 KiB, 1 pass). For tests only: it gives
    /// almost no protection against an offline password search.
    #[arg(long)]
    allow_insecure_test_ksf: bool,
    /// KSF version advertised to new enrollments and used in replies for accounts
    /// without a record (1: Argon2id 64 MiB, 3 passes; 0: tests only).
    #[arg(long, value_name = "VERSION", default_value_t = haven_vault_proto::KSF_V1.version)]
    ksf_version: u32,
    /// Seconds a login session stays valid between recover/start and recover/finish.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    session_lifetime: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 16 * 1024)]
    max_body_bytes: usize,
    /// Requests per second per account (token bucket refill); 0 turns the limit off.
    #[arg(long, value_name = "RATE", default_value_t = 1.0)]
    account_rate: f64,
    /// Burst of requests per account.
    #[arg(long, value_name = "N", default_value_t = 30)]
    account_burst: u32,
    /// Requests per second per client IP address; 0 turns the limit off.
    #[arg(long, value_name = "RATE", default_value_t = 100.0)]
    address_rate: f64,
    /// Burst of requests per client IP address.
    #[arg(long, value_name = "N", default_value_t = 400)]
    address_burst: u32,
    /// Most record changes per durable commit (group commit batch size).
    #[arg(long, value_name = "N", default_value_t = 256)]
    max_batch: usize,
    /// Seconds after which a phantom record (the guess counter the vault keeps for an
    /// account without a record) is removed if no login used it; 0 keeps phantoms.
    /// The default is 90 days.
    #[arg(long, value_name = "SECONDS", default_value_t = PHANTOM_EXPIRY_DAYS * 86_400)]
    phantom_expiry: u64,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// Cluster mode: without --node-id the vault runs as a single node.
#[derive(Args)]
pub struct ClusterArgs {
    /// This node's id in the cluster; turns on cluster mode.
    #[arg(long, value_name = "N", requires_all = ["raft_listen", "peers", "cluster_key"])]
    node_id: Option<NodeId>,
    /// Address and port of the node-to-node (Raft) listener. Clients never use it.
    #[arg(long, value_name = "ADDR", requires = "node_id")]
    raft_listen: Option<SocketAddr>,
    /// Raft listener URL of every initial node, this one included, as
    /// ID=URL,ID=URL; `haven vault cluster init` makes them the first members.
    #[arg(long, value_name = "LIST", value_parser = super::cluster::parse_peers, requires = "node_id")]
    peers: Option<BTreeMap<NodeId, String>>,
    /// File with the cluster key (64 hex digits) shared by the nodes.
    #[arg(long, value_name = "FILE", requires = "node_id")]
    cluster_key: Option<PathBuf>,
    /// Milliseconds a change may wait for a majority of nodes before the request
    /// fails with 503.
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    commit_timeout_ms: u64,
    /// Log entries between two snapshots; older entries are then purged.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    snapshot_every: u64,
    /// Milliseconds between leader heartbeats.
    #[arg(long, value_name = "MS", default_value_t = 100)]
    heartbeat_ms: u64,
    /// Minimum election timeout in milliseconds (the maximum is twice this).
    #[arg(long, value_name = "MS", default_value_t = 500)]
    election_timeout_ms: u64,
}

impl ClusterArgs {
    /// Returns the cluster settings, or `None` without --node-id.
    fn config(&self) -> anyhow::Result<Option<ClusterConfig>> {
        let Some(node_id) = self.node_id else {
            return Ok(None);
        };
        let (Some(raft_listen), Some(peers), Some(key)) =
            (self.raft_listen, &self.peers, &self.cluster_key)
        else {
            anyhow::bail!("--node-id needs --raft-listen, --peers and --cluster-key");
        };
        if !peers.contains_key(&node_id) {
            anyhow::bail!(
                "--peers does not list this node ({node_id}); add {node_id}=URL with this \
                 node's Raft listener URL"
            );
        }
        let mut config = ClusterConfig::new(node_id, raft_listen, peers.clone(), key.clone());
        config.commit_timeout = Duration::from_millis(self.commit_timeout_ms.max(1));
        config.snapshot_every = self.snapshot_every.max(2);
        config.heartbeat_interval = Duration::from_millis(self.heartbeat_ms.max(1));
        config.election_timeout = Duration::from_millis(self.election_timeout_ms.max(1));
        Ok(Some(config))
    }
}

impl ServeArgs {
    fn server_config(&self) -> anyhow::Result<ServerConfig> {
        let mut config = ServerConfig::new(self.listen, self.data.clone(), self.tenants.clone());
        config.tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
            }),
            _ => None,
        };
        config.default_guess_limit = self.default_guess_limit;
        config.max_guess_limit = self.max_guess_limit;
        config.allow_insecure_test_ksf = self.allow_insecure_test_ksf;
        config.ksf_version = self.ksf_version;
        config.session_lifetime = Duration::from_secs(self.session_lifetime);
        config.max_body_bytes = self.max_body_bytes;
        config.account_rate = Rate {
            per_second: self.account_rate,
            burst: self.account_burst,
        };
        config.address_rate = Rate {
            per_second: self.address_rate,
            burst: self.address_burst,
        };
        config.max_batch = self.max_batch;
        config.phantom_expiry =
            (self.phantom_expiry > 0).then(|| Duration::from_secs(self.phantom_expiry));
        config.cluster = self.cluster.config()?;
        Ok(config)
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let kek = args.kek.config()?;
    let config = args.server_config()?;
    if config.allow_insecure_test_ksf {
        tracing::warn!("KSF version 0 is accepted: use this only in tests");
    }
    let vault = tokio::task::spawn_blocking(move || Vault::open(config, &kek))
        .await
        .context("vault start-up task failed")??;
    let scheme = if args.tls_cert.is_some() {
        "https"
    } else {
        "http"
    };
    vault
        .serve(
            |bound| {
                // Tests and scripts read this line to learn the port.
                let _ = crate::common::print_stdout(&format!("listening on {scheme}://{bound}"));
                let _ = std::io::stdout().flush();
            },
            shutdown_signal(),
        )
        .await?;
    Ok(ExitCode::SUCCESS)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = match signal(SignalKind::terminate()) {
        Ok(terminate) => terminate,
        Err(error) => {
            tracing::error!(%error, "cannot listen for SIGTERM; stop the vault with Ctrl-C");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
