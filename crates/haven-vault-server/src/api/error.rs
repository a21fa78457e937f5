//! JSON error replies.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use haven_vault_proto::wire::{codes, ErrorBody};

use crate::store::StoreError;

/// An error reply: status, code and a message that names the value and the fix.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub guesses_remaining: Option<u32>,
    pub retry_after: Option<Duration>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            guesses_remaining: None,
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::BAD_REQUEST, message)
    }

    pub fn invalid_message(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, codes::INVALID_MESSAGE, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, codes::UNAUTHORIZED, message)
    }

    pub fn wrong_password(guesses_remaining: u32) -> Self {
        let message = if guesses_remaining == 0 {
            "wrong password, or no record for this account; no guesses remain and any record \
             is erased or will be erased"
                .to_string()
        } else {
            format!(
                "wrong password, or no record for this account; {guesses_remaining} guesses \
                 remain before a record is erased"
            )
        };
        Self {
            guesses_remaining: Some(guesses_remaining),
            ..Self::new(StatusCode::FORBIDDEN, codes::WRONG_PASSWORD, message)
        }
    }

    pub fn rate_limited(what: &str, retry_after: Duration) -> Self {
        let seconds = retry_after.as_secs().max(1);
        Self {
            retry_after: Some(Duration::from_secs(seconds)),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                codes::RATE_LIMITED,
                format!("too many requests for this {what}; retry after {seconds} s"),
            )
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Damaged => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                codes::RECORD_DAMAGED,
                "the vault's stored record for this account failed authentication and was \
                 not used; the vault operator must restore it from a backup, or enroll the \
                 password again",
            ),
            StoreError::WriterStopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                codes::UNAVAILABLE,
                "the vault is shutting down; retry on another vault node or later",
            ),
            StoreError::Unavailable(message) => {
                tracing::warn!(%message, "request failed: the cluster is unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, codes::UNAVAILABLE, message)
            }
            other => {
                tracing::error!(error = %other, "record store failed");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    codes::UNAVAILABLE,
                    "the vault could not write its records database; retry later",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: self.code.to_string(),
            message: self.message,
            guesses_remaining: self.guesses_remaining,
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(wait) = self.retry_after {
            if let Ok(value) = HeaderValue::from_str(&wait.as_secs().to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}
