//! HTTP transport: several vault nodes, a bearer token, failover on connection
//! errors, lost replies, 429 and 503.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::ClientError;

/// Settings for [`crate::VaultClient`].
#[derive(Clone)]
pub struct ClientOptions {
    /// Base URLs of the vault nodes, for example `https://vault.example:8443`. The
    /// client tries them in turn.
    pub urls: Vec<String>,
    /// Bearer JWT for the account, issued by the messaging app's backend or by
    /// `haven vault token`.
    pub token: Zeroizing<String>,
    /// Lowercase hex SHA-256 of the vault's public key. Required for recovery,
    /// optional for enrollment (the client then reports the key it saw).
    pub pinned_fingerprint: Option<String>,
    /// Extra PEM CA certificates to trust, for a self-hosted vault with its own CA.
    pub ca_file: Option<PathBuf>,
    /// Time limit for one HTTP request.
    pub request_timeout: Duration,
    /// The vault id, when known (a key slot stores it). Without it the client reads
    /// it from `GET /v1/info`.
    pub vault_id: Option<String>,
    /// Enroll with the test-only key stretching setting (KSF version 0) when the vault
    /// offers it, and accept a vault that requests it. Only tests set this: a weak
    /// setting lets whoever reads the vault's records search passwords quickly.
    pub allow_insecure_ksf: bool,
}

impl ClientOptions {
    /// Options with a 30-second request timeout and no extra CA.
    pub fn new(urls: Vec<String>, token: Zeroizing<String>, pin: Option<String>) -> Self {
        Self {
            urls,
            token,
            pinned_fingerprint: pin,
            ca_file: None,
            request_timeout: Duration::from_secs(30),
            vault_id: None,
            allow_insecure_ksf: false,
        }
    }
}

/// The error body every vault endpoint returns on failure.
#[derive(Debug, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub guesses_remaining: Option<u32>,
}

/// A non-success reply from one node, with its parsed error body.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub url: String,
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl From<ApiError> for ClientError {
    fn from(error: ApiError) -> Self {
        ClientError::Server {
            url: error.url,
            status: error.status.as_u16(),
            code: error.body.error,
            message: error.body.message,
        }
    }
}

/// Either a decoded reply or the server's error reply.
pub(crate) type ApiResult<T> = Result<Result<T, ApiError>, ClientError>;

pub(crate) struct Transport {
    http: reqwest::Client,
    nodes: Vec<Url>,
    token: Zeroizing<String>,
    /// Index of the node that answered last, tried first next time.
    preferred: AtomicUsize,
}

impl Transport {
    pub fn new(options: &ClientOptions) -> Result<Self, ClientError> {
        install_crypto_provider();
        let nodes = parse_urls(&options.urls)?;
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(5))
            .timeout(options.request_timeout)
            .user_agent(concat!("haven-vault-client/", env!("CARGO_PKG_VERSION")));
        if let Some(path) = &options.ca_file {
            for cert in read_ca_file(path)? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .build()
            .map_err(|e| ClientError::Config(format!("failed to build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            nodes,
            token: options.token.clone(),
            preferred: AtomicUsize::new(0),
        })
    }

    /// The node tried first: the one that answered last.
    pub fn current_url(&self) -> String {
        let index = self.preferred.load(Ordering::Relaxed) % self.nodes.len();
        self.nodes[index].as_str().trim_end_matches('/').to_string()
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str, auth: bool) -> ApiResult<T> {
        self.call(Method::GET, path, None::<&()>, auth).await
    }

    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> ApiResult<T> {
        self.call(Method::POST, path, Some(body), true).await
    }

    /// Sends `DELETE path`; any 2xx counts as success and the body is ignored.
    pub async fn delete(&self, path: &str) -> ApiResult<()> {
        let (url, status, bytes) = self.send(Method::DELETE, path, None::<&()>, true).await?;
        if status.is_success() {
            return Ok(Ok(()));
        }
        Ok(Err(api_error(url, status, &bytes)))
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        auth: bool,
    ) -> ApiResult<T> {
        let (url, status, bytes) = self.send(method, path, body, auth).await?;
        if !status.is_success() {
            return Ok(Err(api_error(url, status, &bytes)));
        }
        let value = serde_json::from_slice(&bytes).map_err(|e| ClientError::Protocol {
            url,
            detail: format!("{path} returned invalid JSON: {e}"),
        })?;
        Ok(Ok(value))
    }

    /// Sends one request, trying each node in turn, for up to [`ROUNDS`] passes
    /// over the list with a pause between passes (long enough for a cluster to
    /// elect a new leader). A node is skipped when the connection fails, the reply
    /// does not arrive, or it returns 429 or 503. Sending a request again is safe:
    /// a repeated recover/start carries the same request id and KE1, so the vault
    /// charges it once and returns the same KE2. A repeated verified finish whose
    /// first copy was applied gets 403, which [`crate::VaultClient::recover`]
    /// handles with a new login.
    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        auth: bool,
    ) -> Result<(String, StatusCode, Vec<u8>), ClientError> {
        let start = self.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for round in 0..ROUNDS {
            if round > 0 {
                tokio::time::sleep(ROUND_PAUSE * round).await;
            }
            for offset in 0..self.nodes.len() {
                let index = (start + offset) % self.nodes.len();
                match self.send_once(index, &method, path, body, auth).await? {
                    Ok(reply) => return Ok(reply),
                    Err(failure) => failures.push(failure),
                }
            }
        }
        Err(ClientError::Unavailable {
            details: failures.join("; "),
        })
    }

    /// Sends a request to one node. `Ok(Err(text))` is a failure that the next
    /// node may not have.
    async fn send_once<B: Serialize>(
        &self,
        index: usize,
        method: &Method,
        path: &str,
        body: Option<&B>,
        auth: bool,
    ) -> Result<Result<(String, StatusCode, Vec<u8>), String>, ClientError> {
        let base = &self.nodes[index];
        let url = base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ClientError::Config(format!("invalid path {path}: {e}")))?;
        let mut request = self.http.request(method.clone(), url.clone());
        if auth {
            request = request.bearer_auth(self.token.as_str());
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(response) => response,
            Err(error) => {
                let failure = if error.is_connect() {
                    "connection failed"
                } else {
                    "request failed"
                };
                tracing::warn!(node = %base, failure, "vault node did not respond, trying the next one");
                return Ok(Err(format!("{base}: {failure} ({})", root_cause(&error))));
            }
        };
        let status = response.status();
        if status == StatusCode::SERVICE_UNAVAILABLE || status == StatusCode::TOO_MANY_REQUESTS {
            tracing::warn!(node = %base, %status, "vault node busy, trying the next one");
            return Ok(Err(format!("{base}: {status}")));
        }
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(error) => {
                return Ok(Err(format!(
                    "{url}: reading the reply failed ({})",
                    root_cause(&error)
                )))
            }
        };
        self.preferred.store(index, Ordering::Relaxed);
        let node = base.as_str().trim_end_matches('/').to_string();
        Ok(Ok((node, status, bytes.to_vec())))
    }
}

/// Passes over the node list before a request fails as unavailable.
const ROUNDS: u32 = 3;
/// Pause before the second pass; the third waits twice as long.
const ROUND_PAUSE: Duration = Duration::from_millis(700);

fn api_error(url: String, status: StatusCode, bytes: &[u8]) -> ApiError {
    let body = serde_json::from_slice(bytes).unwrap_or_else(|_| ErrorBody {
        error: "http_error".to_string(),
        message: String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned(),
        guesses_remaining: None,
    });
    ApiError { url, status, body }
}

fn parse_urls(urls: &[String]) -> Result<Vec<Url>, ClientError> {
    if urls.is_empty() {
        return Err(ClientError::Config(
            "no vault URL given; pass at least one, for example https://vault.example:8443".into(),
        ));
    }
    urls.iter()
        .map(|text| {
            let mut url = Url::parse(text.trim())
                .map_err(|e| ClientError::Config(format!("invalid vault URL {text:?}: {e}")))?;
            if url.scheme() != "https" && url.scheme() != "http" {
                return Err(ClientError::Config(format!(
                    "invalid vault URL {text:?}: the scheme must be https or http"
                )));
            }
            // A base URL must end with '/' so that joining "v1/info" keeps its path.
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
            Ok(url)
        })
        .collect()
}

fn read_ca_file(path: &Path) -> Result<Vec<reqwest::Certificate>, ClientError> {
    let pem = std::fs::read(path).map_err(|e| {
        ClientError::Config(format!("cannot read the CA file {}: {e}", path.display()))
    })?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
        ClientError::Config(format!(
            "the CA file {} is not valid PEM: {e}",
            path.display()
        ))
    })?;
    if certs.is_empty() {
        return Err(ClientError::Config(format!(
            "the CA file {} holds no certificate",
            path.display()
        )));
    }
    Ok(certs)
}

/// Installs ring as rustls's process-wide crypto provider, once. Another part of the
/// process may have installed one already, which is fine.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut source: &(dyn std::error::Error + 'static) = error;
    while let Some(next) = source.source() {
        source = next;
    }
    source.to_string()
}
