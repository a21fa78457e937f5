//! OpenDAL operators for S3, WebDAV and Google Drive, each with its own HTTP client.

use std::sync::Arc;
use std::time::Duration;

use opendal::{services, HttpTransporter, OperationContext, Operator};

use super::faults::FaultInjector;
use super::location::{parse_gdrive, parse_s3, parse_webdav, redact_url};
use super::stats::StatsCounters;
use super::transport::{ServiceKind, Transport};
use super::BackendOptions;

/// Region used with a custom endpoint when none is configured; S3-compatible
/// servers accept any region name in signatures, and most expect this one.
const DEFAULT_COMPATIBLE_REGION: &str = "us-east-1";

pub(super) fn s3(
    url: &str,
    options: &BackendOptions,
    stats: Arc<StatsCounters>,
) -> Result<Operator, String> {
    let env = |name: &str| options.var(name);
    let location = parse_s3(url, &env)?;
    let region = match (&location.region, &location.endpoint) {
        (Some(region), _) => region.clone(),
        (None, Some(_)) => DEFAULT_COMPATIBLE_REGION.to_string(),
        (None, None) => {
            return Err(
                "no region is configured; set AWS_REGION or add ?region= to the URL".into(),
            );
        }
    };
    // The instance metadata service is never asked for credentials: it is a
    // link-local address that only exists on cloud machines.
    let mut builder = services::S3::default()
        .bucket(&location.bucket)
        .root(&location.root)
        .region(&region)
        .disable_ec2_metadata();
    if let Some(endpoint) = &location.endpoint {
        builder = builder.endpoint(endpoint);
    }
    if let (Some(key_id), Some(secret)) = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
        let secret = zeroize::Zeroizing::new(secret);
        builder = builder.access_key_id(&key_id).secret_access_key(&secret);
        if let Some(token) = env("AWS_SESSION_TOKEN").filter(|t| !t.is_empty()) {
            let token = zeroize::Zeroizing::new(token);
            builder = builder.session_token(&token);
        }
    }
    if let Some(profile) = env("AWS_PROFILE").filter(|p| !p.is_empty()) {
        builder = builder.profile(&profile);
    }
    let https = location
        .endpoint
        .as_deref()
        .is_none_or(|e| e.starts_with("https://"));
    let ca_bundle = if https {
        env("AWS_CA_BUNDLE").filter(|p| !p.is_empty())
    } else {
        None
    };
    let client = http_client(options.timeout, ca_bundle.as_deref())?;
    let operator = Operator::new(builder).map_err(|e| e.to_string())?;
    Ok(with_transport(
        operator,
        url,
        client,
        ServiceKind::S3,
        options,
        stats,
    ))
}

pub(super) fn webdav(
    url: &str,
    options: &BackendOptions,
    stats: Arc<StatsCounters>,
) -> Result<Operator, String> {
    let env = |name: &str| options.var(name);
    let location = parse_webdav(url, &env)?;
    let mut builder = services::Webdav::default()
        .endpoint(&location.endpoint)
        .root(&location.root);
    if let Some(user) = &location.user {
        builder = builder.username(user);
    }
    if let Some(password) = &location.password {
        builder = builder.password(password);
    }
    let client = http_client(options.timeout, None)?;
    let operator = Operator::new(builder).map_err(|e| e.to_string())?;
    Ok(with_transport(
        operator,
        url,
        client,
        ServiceKind::Webdav,
        options,
        stats,
    ))
}

/// NOTE: OpenDAL 0.59's Drive service works in "My Drive" only; it cannot use the
/// hidden app data folder, so the repository is a visible folder.
pub(super) fn gdrive(
    url: &str,
    options: &BackendOptions,
    stats: Arc<StatsCounters>,
) -> Result<Operator, String> {
    let env = |name: &str| options.var(name);
    let location = parse_gdrive(url, &env)?;
    let builder = services::Gdrive::default()
        .root(&location.root)
        .access_token(&location.token);
    let client = http_client(options.timeout, None)?;
    let operator = Operator::new(builder).map_err(|e| e.to_string())?;
    Ok(with_transport(
        operator,
        url,
        client,
        ServiceKind::Gdrive,
        options,
        stats,
    ))
}

fn with_transport(
    operator: Operator,
    url: &str,
    client: reqwest::Client,
    service: ServiceKind,
    options: &BackendOptions,
    stats: Arc<StatsCounters>,
) -> Operator {
    let faults = options.faults.clone().map(FaultInjector::new);
    let transport = Transport::new(
        client,
        redact_url(url),
        service,
        options.timeout,
        faults,
        stats,
    );
    operator
        .with_context(OperationContext::new().with_http_transport(HttpTransporter::new(transport)))
}

/// Builds the HTTP client. `ca_bundle` is a PEM file of extra trusted roots, used
/// for HTTPS endpoints only (`AWS_CA_BUNDLE` for S3).
fn http_client(timeout: Duration, ca_bundle: Option<&str>) -> Result<reqwest::Client, String> {
    // reqwest is built without a default TLS crypto provider; the workspace uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .read_timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .user_agent(concat!("haven/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = ca_bundle {
        let pem = std::fs::read(path).map_err(|e| {
            format!("AWS_CA_BUNDLE={path:?} cannot be read ({e}); fix the path or unset it")
        })?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("AWS_CA_BUNDLE={path:?} is not a PEM certificate bundle ({e})"))?;
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))
}
