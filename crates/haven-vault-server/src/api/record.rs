//! `GET /v1/record` and `DELETE /v1/record`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use haven_vault_proto::wire::RecordStatus;

use super::extract::Authed;
use super::{ApiError, AppState};
use crate::record::Record;

/// Reports the guesses left. An account without a record gets the values of its
/// phantom counter, so the reply does not tell whether a record exists.
pub async fn status(
    State(app): State<AppState>,
    auth: Authed,
) -> Result<Json<RecordStatus>, ApiError> {
    let default = app.limits.default_guess_limit;
    app.changes.read_barrier().await?;
    let status = match app.store.read(&auth.account)? {
        Some(Record::Real(record)) => RecordStatus {
            guesses_remaining: record.guesses_remaining(),
            guess_limit: record.guess_limit,
        },
        Some(Record::Phantom { guesses_used, .. }) => RecordStatus {
            guesses_remaining: default.saturating_sub(guesses_used),
            guess_limit: default,
        },
        None => RecordStatus {
            guesses_remaining: default,
            guess_limit: default,
        },
    };
    Ok(Json(status))
}

pub async fn delete(State(app): State<AppState>, auth: Authed) -> Result<StatusCode, ApiError> {
    app.changes.delete(auth.account).await?;
    Ok(StatusCode::NO_CONTENT)
}
