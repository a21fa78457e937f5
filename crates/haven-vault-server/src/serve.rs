//! Opening a vault and serving its API over HTTP/1.1 and HTTP/2, with TLS or (on
//! loopback only) plain HTTP.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use haven_vault_auth::{KeyError, TenantKeys};
use haven_vault_kek::{open_kek, KekConfig, KekError};

use crate::api::{self, AppState, Limits};
use crate::apply::PhantomPolicy;
use crate::changes::Changes;
use crate::cluster::{Cluster, ClusterError};
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::record::RecordKeys;
use crate::secrets::{self, SecretsError, ServerSecrets};
use crate::store::{Store, StoreError};
use crate::token_cache::TokenCache;
use crate::writer::Writer;
use crate::ServerConfig;

/// Errors that stop the vault from starting or serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "refusing to serve plain HTTP on {addr}, which is not a loopback address; give \
         --tls-cert and --tls-key, or listen on 127.0.0.1 or [::1]"
    )]
    PlainHttpNotLoopback { addr: SocketAddr },
    #[error("invalid vault configuration: {0}")]
    Config(String),
    #[error("cannot open the key-encryption key: {0}")]
    Kek(#[from] KekError),
    #[error("cannot load the server secrets: {0}")]
    Secrets(#[from] SecretsError),
    #[error("cannot load the tenants file {path}: {source}")]
    Tenants {
        path: PathBuf,
        #[source]
        source: KeyError,
    },
    #[error("cannot open the records database: {0}")]
    Store(#[from] StoreError),
    #[error("failed to start the record writer thread: {0}")]
    Writer(std::io::Error),
    #[error("cannot start the cluster node: {0}")]
    Cluster(#[from] ClusterError),
    #[error("failed to listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to load the TLS certificate {cert} or key {key}: {source}")]
    Tls {
        cert: PathBuf,
        key: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// Creates a new vault in `data_dir`: the KEK (created if missing) wraps new
/// server secrets. Returns the public key fingerprint that clients pin.
pub fn init_vault(
    data_dir: &std::path::Path,
    kek: &KekConfig,
    vault_id: &str,
) -> Result<String, ServeError> {
    secrets::check_vault_id(vault_id)?;
    let secrets_path = data_dir.join(secrets::SECRETS_FILE);
    if secrets_path.exists() {
        return Err(SecretsError::Exists { path: secrets_path }.into());
    }
    let kek = open_kek(kek, true)?;
    Ok(secrets::init(data_dir, kek.as_ref(), vault_id)?)
}

/// Copies the server secrets of the vault in `from_dir` (unwrapped with `from_kek`)
/// to a new secrets file in `to_dir`, wrapped under `to_kek` (created if missing).
/// Every node of a cluster needs the same secrets under its own KEK. Returns the
/// public key fingerprint.
pub fn copy_secrets(
    from_dir: &std::path::Path,
    from_kek: &KekConfig,
    to_dir: &std::path::Path,
    to_kek: &KekConfig,
) -> Result<String, ServeError> {
    let secrets_path = to_dir.join(secrets::SECRETS_FILE);
    if secrets_path.exists() {
        return Err(SecretsError::Exists { path: secrets_path }.into());
    }
    let source = open_kek(from_kek, false)?;
    let secrets = secrets::load(from_dir, source.as_ref())?;
    drop(source);
    let target = open_kek(to_kek, true)?;
    secrets::store(to_dir, target.as_ref(), &secrets)?;
    Ok(secrets.fingerprint)
}

/// An opened vault, ready to serve.
pub struct Vault {
    secrets: Arc<ServerSecrets>,
    record_keys: Arc<RecordKeys>,
    store: Store,
    tenants: Arc<TenantKeys>,
    metrics: Arc<Metrics>,
    limits: Limits,
    config: ServerConfig,
}

impl Vault {
    /// Checks the configuration, unwraps the server secrets with the KEK, loads the
    /// tenants and opens the records database.
    pub fn open(config: ServerConfig, kek: &KekConfig) -> Result<Self, ServeError> {
        if config.tls.is_none() && !config.listen.ip().is_loopback() {
            return Err(ServeError::PlainHttpNotLoopback {
                addr: config.listen,
            });
        }
        check_limits(&config)?;
        let kek = open_kek(kek, false)?;
        let secrets = secrets::load(&config.data_dir, kek.as_ref())?;
        drop(kek);
        let tenants =
            TenantKeys::load(&config.tenants_file).map_err(|source| ServeError::Tenants {
                path: config.tenants_file.clone(),
                source,
            })?;
        let record_keys = Arc::new(RecordKeys::derive(&secrets.record_key));
        let store = Store::open(&config.data_dir, record_keys.clone())?;
        let limits = Limits {
            default_guess_limit: config.default_guess_limit,
            max_guess_limit: config.max_guess_limit,
            ksf_version: config.ksf_version,
            allow_insecure_test_ksf: config.allow_insecure_test_ksf,
            session_lifetime_secs: config.session_lifetime.as_secs().max(1),
            max_body_bytes: config.max_body_bytes,
        };
        Ok(Self {
            secrets: Arc::new(secrets),
            record_keys,
            store,
            tenants: Arc::new(tenants),
            metrics: Arc::new(Metrics::default()),
            limits,
            config,
        })
    }

    /// Starts the committer of record changes: the writer thread, or in cluster
    /// mode the Raft node and its node-to-node listener.
    async fn start_changes(&self) -> Result<Changes, ServeError> {
        let phantom = PhantomPolicy {
            guess_limit: self.limits.default_guess_limit,
            ksf_version: self.limits.ksf_version,
        };
        match &self.config.cluster {
            None => {
                let writer = Writer::start(
                    self.store.clone(),
                    self.metrics.clone(),
                    phantom,
                    self.config.max_batch,
                )
                .map_err(ServeError::Writer)?;
                Ok(Changes::Local(writer))
            }
            Some(cluster) => {
                let cluster = Cluster::start(
                    cluster.clone(),
                    &self.config.data_dir,
                    self.store.clone(),
                    &self.secrets,
                    phantom,
                    self.metrics.clone(),
                )
                .await?;
                Ok(Changes::Cluster(cluster))
            }
        }
    }

    pub fn vault_id(&self) -> &str {
        &self.secrets.vault_id
    }

    pub fn fingerprint(&self) -> &str {
        &self.secrets.fingerprint
    }

    /// Serves until `shutdown` completes. `on_ready` gets the bound address (useful
    /// with port 0) once the socket listens.
    pub async fn serve(
        self,
        on_ready: impl FnOnce(SocketAddr),
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let addr = self.config.listen;
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|listener| listener.set_nonblocking(true).map(|()| listener))
            .map_err(|source| ServeError::Listen { addr, source })?;
        let bound = listener
            .local_addr()
            .map_err(|source| ServeError::Listen { addr, source })?;
        let changes = self.start_changes().await?;
        let app = AppState {
            secrets: self.secrets.clone(),
            record_keys: self.record_keys.clone(),
            store: self.store.clone(),
            changes: changes.clone(),
            tenants: self.tenants.clone(),
            metrics: self.metrics.clone(),
            limits: self.limits.clone(),
            account_limiter: Arc::new(RateLimiter::new(self.config.account_rate)),
            address_limiter: Arc::new(RateLimiter::new(self.config.address_rate)),
            token_cache: Arc::new(TokenCache::new()),
        };
        let service = api::router(app).into_make_service_with_connect_info::<SocketAddr>();
        let handle = axum_server::Handle::new();
        let shutdown_handle = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: finishing open requests");
            shutdown_handle.graceful_shutdown(Some(Duration::from_secs(5)));
        });
        let expiry = self
            .config
            .phantom_expiry
            .map(|expiry| tokio::spawn(expire_phantoms(changes.clone(), expiry)));
        let result = match &self.config.tls {
            Some(tls) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let rustls =
                    axum_server::tls_rustls::RustlsConfig::from_pem_file(&tls.cert, &tls.key)
                        .await
                        .map_err(|source| ServeError::Tls {
                            cert: tls.cert.clone(),
                            key: tls.key.clone(),
                            source,
                        })?;
                tracing::info!(%bound, vault_id = %self.vault_id(), "vault listening with TLS");
                on_ready(bound);
                axum_server::from_tcp_rustls(listener, rustls)
                    .handle(handle)
                    .serve(service)
                    .await
            }
            None => {
                tracing::info!(%bound, vault_id = %self.vault_id(), "vault listening with plain HTTP on loopback");
                on_ready(bound);
                axum_server::from_tcp(listener)
                    .handle(handle)
                    .serve(service)
                    .await
            }
        };
        if let Some(task) = expiry {
            task.abort();
        }
        if let Changes::Cluster(cluster) = &changes {
            cluster.shutdown().await;
        }
        result.map_err(ServeError::Serve)
    }
}

/// Maximum phantom records removed in one commit, so one pass does not hold up the
/// guess charges queued behind it for long.
const PHANTOMS_PER_COMMIT: usize = 10_000;

/// Removes phantom records unused for `expiry`, checking every eighth of `expiry`
/// (between once a second and once an hour). In cluster mode only the leader
/// proposes the removal, and every node applies it.
async fn expire_phantoms(changes: Changes, expiry: Duration) {
    let period = (expiry / 8).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        tokio::time::sleep(period).await;
        if !changes.runs_maintenance() {
            continue;
        }
        let cutoff = crate::api::unix_now().saturating_sub(expiry.as_secs());
        loop {
            match changes.expire_phantoms(cutoff, PHANTOMS_PER_COMMIT).await {
                Ok(removed) if removed as usize == PHANTOMS_PER_COMMIT => continue,
                Ok(_) => break,
                Err(error) => {
                    tracing::warn!(%error, "removing expired phantom records failed; retrying later");
                    break;
                }
            }
        }
    }
}

fn check_limits(config: &ServerConfig) -> Result<(), ServeError> {
    if config.max_guess_limit == 0 {
        return Err(ServeError::Config(
            "the maximum guess limit must be at least 1".into(),
        ));
    }
    if config.default_guess_limit == 0 || config.default_guess_limit > config.max_guess_limit {
        return Err(ServeError::Config(format!(
            "the default guess limit {} must be between 1 and the maximum guess limit {}",
            config.default_guess_limit, config.max_guess_limit
        )));
    }
    haven_vault_proto::KsfParams::from_version(config.ksf_version)
        .map_err(|error| ServeError::Config(error.to_string()))?;
    if config.ksf_version == haven_vault_proto::KSF_TEST_INSECURE.version
        && !config.allow_insecure_test_ksf
    {
        return Err(ServeError::Config(format!(
            "KSF version {} is for tests only; add --allow-insecure-test-ksf to use it",
            config.ksf_version
        )));
    }
    if config.max_body_bytes < 1024 {
        return Err(ServeError::Config(format!(
            "the body size limit {} bytes is too small for vault requests; use at least 1024",
            config.max_body_bytes
        )));
    }
    Ok(())
}
