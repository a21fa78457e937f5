//! Request extractors: the JSON body and the authenticated account.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use haven_vault_proto::wire::codes;
use haven_vault_proto::Principal;
use serde::de::DeserializeOwned;

use super::{ApiError, AppState};
use crate::store::AccountRef;

/// A JSON body with errors as [`ApiError`]: 413 over the size limit, 400 for JSON
/// that does not parse or does not match the request type.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        codes::TOO_LARGE,
                        "the request body is larger than the vault accepts; vault requests are \
                     a few hundred bytes of JSON",
                    )
                } else {
                    ApiError::bad_request(format!("failed to read the request body: {rejection}"))
                }
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|error| {
                ApiError::bad_request(format!(
                    "invalid JSON request body: {error}; see docs/VAULT-PROTOCOL.md for the fields"
                ))
            })
    }
}

/// The account named by a verified bearer token.
pub struct Authed {
    pub principal: Principal,
    pub account: AccountRef,
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "missing Authorization header; send `Authorization: Bearer <token>` with a \
                     token from your tenant",
                )
            })?
            .to_str()
            .map_err(|_| ApiError::unauthorized("the Authorization header is not ASCII"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| {
                ApiError::unauthorized(
                    "the Authorization header must have the form `Bearer <token>`",
                )
            })?
            .trim();
        let principal = match app.token_cache.get(token, super::unix_now()) {
            Some(principal) => principal,
            None => {
                let verified =
                    app.tenants
                        .verify(token, &app.secrets.vault_id)
                        .map_err(|error| {
                            tracing::debug!(%error, "token rejected");
                            ApiError::unauthorized(format!("invalid bearer token: {error}"))
                        })?;
                let principal = Principal::new(verified.tenant, verified.account);
                app.token_cache
                    .insert(token, &principal, haven_vault_auth::LEEWAY.as_secs());
                principal
            }
        };
        let account = AccountRef::new(&app.record_keys, principal.credential_identifier());
        app.account_limiter
            .check(account.table_key)
            .map_err(|wait| ApiError::rate_limited("account", wait))?;
        Ok(Self { principal, account })
    }
}
