use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cluster::ClusterConfig;
use crate::ratelimit::Rate;

/// Default days after which an unused phantom record is removed.
pub const PHANTOM_EXPIRY_DAYS: u64 = 90;

/// Certificate and private key files (PEM) for TLS.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Settings of `haven vault serve`.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Without TLS the vault serves plain HTTP, and only on a loopback address.
    pub tls: Option<TlsFiles>,
    pub data_dir: PathBuf,
    pub tenants_file: PathBuf,
    pub default_guess_limit: u32,
    pub max_guess_limit: u32,
    pub allow_insecure_test_ksf: bool,
    /// KSF version advertised for new enrollments and imitated by phantom replies.
    pub ksf_version: u32,
    pub session_lifetime: Duration,
    pub max_body_bytes: usize,
    pub account_rate: Rate,
    pub address_rate: Rate,
    /// Most record changes per durable commit.
    pub max_batch: usize,
    /// A phantom record unused for this long is removed; `None` keeps phantoms.
    pub phantom_expiry: Option<Duration>,
    /// Cluster mode settings; `None` runs a single node.
    pub cluster: Option<ClusterConfig>,
}

impl ServerConfig {
    /// Returns a configuration with the default limits.
    pub fn new(listen: SocketAddr, data_dir: PathBuf, tenants_file: PathBuf) -> Self {
        Self {
            listen,
            tls: None,
            data_dir,
            tenants_file,
            default_guess_limit: haven_vault_proto::DEFAULT_GUESS_LIMIT,
            max_guess_limit: 100,
            allow_insecure_test_ksf: false,
            ksf_version: haven_vault_proto::KSF_V1.version,
            session_lifetime: Duration::from_secs(120),
            max_body_bytes: 16 * 1024,
            account_rate: Rate {
                per_second: 1.0,
                burst: 30,
            },
            address_rate: Rate {
                per_second: 100.0,
                burst: 400,
            },
            max_batch: 256,
            phantom_expiry: Some(Duration::from_secs(PHANTOM_EXPIRY_DAYS * 86_400)),
            cluster: None,
        }
    }
}
