//! The HTTP API: routes, shared state and middleware.

mod enroll;
mod error;
mod extract;
mod record;
mod recover;
mod repeat;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use haven_vault_auth::TenantKeys;
use haven_vault_proto::wire::{codes, InfoResponse};
use haven_vault_proto::{KSF_TEST_INSECURE, KSF_V1};

pub use error::ApiError;

use crate::changes::Changes;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;
use crate::record::RecordKeys;
use crate::secrets::ServerSecrets;
use crate::store::Store;
use crate::token_cache::TokenCache;

/// Per-vault limits and policy.
#[derive(Debug, Clone)]
pub struct Limits {
    pub default_guess_limit: u32,
    pub max_guess_limit: u32,
    /// KSF version for new enrollments and for phantom replies.
    pub ksf_version: u32,
    pub allow_insecure_test_ksf: bool,
    pub session_lifetime_secs: u64,
    pub max_body_bytes: usize,
}

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub secrets: Arc<ServerSecrets>,
    pub record_keys: Arc<RecordKeys>,
    pub store: Store,
    pub changes: Changes,
    pub tenants: Arc<TenantKeys>,
    pub metrics: Arc<Metrics>,
    pub limits: Limits,
    pub account_limiter: Arc<RateLimiter>,
    pub address_limiter: Arc<RateLimiter>,
    pub token_cache: Arc<TokenCache>,
}

/// Builds the router: `/healthz`, `/metrics` and the JSON API under `/v1`.
pub fn router(app: AppState) -> Router {
    let v1 = Router::new()
        .route("/v1/info", get(info))
        .route("/v1/enroll/start", post(enroll::start))
        .route("/v1/enroll/finish", post(enroll::finish))
        .route("/v1/recover/start", post(recover::start))
        .route("/v1/recover/finish", post(recover::finish))
        .route("/v1/record", get(record::status).delete(record::delete))
        .route_layer(middleware::from_fn_with_state(app.clone(), limit_address));
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics))
        .merge(v1)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(app.limits.max_body_bytes))
        .layer(middleware::from_fn_with_state(app.clone(), count_requests))
        .with_state(app)
}

async fn info(State(app): State<AppState>) -> Json<InfoResponse> {
    let mut ksf_versions = vec![KSF_V1.version];
    if app.limits.allow_insecure_test_ksf {
        ksf_versions.push(KSF_TEST_INSECURE.version);
    }
    Json(InfoResponse {
        vault_id: app.secrets.vault_id.clone(),
        server_public_key: app
            .secrets
            .server_setup
            .keypair()
            .public()
            .serialize()
            .to_vec()
            .into(),
        fingerprint: app.secrets.fingerprint.clone(),
        ksf_version: app.limits.ksf_version,
        ksf_versions,
        default_guess_limit: app.limits.default_guess_limit,
        max_guess_limit: app.limits.max_guess_limit,
    })
}

async fn metrics(State(app): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        codes::NOT_FOUND,
        format!(
            "no endpoint {} {}; the API lives under /v1 (see docs/VAULT-PROTOCOL.md)",
            request.method(),
            request.uri().path()
        ),
    )
}

async fn count_requests(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    app.metrics.count_request(response.status().as_u16());
    response
}

async fn limit_address(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let address = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip());
    if let Some(address) = address {
        if let Err(wait) = app.address_limiter.check(address) {
            return ApiError::rate_limited("client address", wait).into_response();
        }
    }
    next.run(request).await
}

/// Decodes an OPAQUE message of exactly `expected_len` bytes (opaque-ke ignores
/// trailing bytes, so the length is checked here); failures are 400s that name the
/// field and the length.
pub(crate) fn decode_opaque<T, E: std::fmt::Display>(
    field: &str,
    what: &str,
    expected_len: usize,
    bytes: &[u8],
    decode: impl FnOnce(&[u8]) -> Result<T, E>,
) -> Result<T, ApiError> {
    if bytes.len() != expected_len {
        return Err(ApiError::invalid_message(format!(
            "field `{field}` is {} bytes, but an OPAQUE {what} is {expected_len} bytes; send \
             the message made by an opaque-ke 4 client with Haven's cipher suite",
            bytes.len()
        )));
    }
    decode(bytes).map_err(|error| invalid_opaque(field, what, error))
}

/// Maps a failure to use a decoded OPAQUE message to a 400 naming the field.
pub(crate) fn invalid_opaque(field: &str, what: &str, error: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_message(format!(
        "field `{field}` is not a valid OPAQUE {what}: {error}; a point may be invalid or \
         the identity element; send the message made by an opaque-ke 4 client"
    ))
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}
