//! `POST /v1/recover/start` and `POST /v1/recover/finish`.

use axum::extract::State;
use axum::Json;
use haven_vault_proto::wire::{
    codes, RecoverFinishRequest, RecoverFinishResponse, RecoverStartRequest, RecoverStartResponse,
};
use haven_vault_proto::{
    login_parameters, seal_release, Suite, CREDENTIAL_FINALIZATION_LEN, CREDENTIAL_REQUEST_LEN,
};
use opaque_ke::{CredentialFinalization, CredentialRequest, ServerLogin, ServerRegistration};
use rand_core::OsRng;
use zeroize::Zeroizing;

use super::extract::{Authed, JsonBody};
use super::repeat::RepeatableStart;
use super::{decode_opaque, invalid_opaque, unix_now, ApiError, AppState};
use crate::apply::{ChargeOutcome, FinishOutcome};
use crate::metrics::bump;
use crate::record::PendingSession;
use crate::session::{self, LoginSession, SessionError};
use crate::store::StoreError;

pub async fn start(
    State(app): State<AppState>,
    auth: Authed,
    JsonBody(body): JsonBody<RecoverStartRequest>,
) -> Result<Json<RecoverStartResponse>, ApiError> {
    let bytes = body.credential_request.as_slice();
    let request = decode_opaque(
        "credential_request",
        "CredentialRequest (KE1)",
        CREDENTIAL_REQUEST_LEN,
        bytes,
        CredentialRequest::<Suite>::deserialize,
    )?;
    let credential_identifier = &auth.account.credential_identifier;
    let repeat = match &body.request_id {
        None => None,
        Some(id) => {
            let id: [u8; 16] = id.as_slice().try_into().map_err(|_| {
                ApiError::bad_request(format!(
                    "request_id is {} bytes; send 16 random bytes (base64url), the same for \
                     every retry of one login attempt",
                    id.as_slice().len()
                ))
            })?;
            Some(RepeatableStart::new(
                &app.secrets.session_key,
                credential_identifier,
                &id,
                bytes,
            ))
        }
    };
    let session_id = match &repeat {
        Some(repeat) => repeat.session_id(),
        None => {
            let mut id = [0u8; 16];
            haven_crypto::random_bytes(&mut id);
            id
        }
    };
    let now = unix_now();
    let expires_at = now + app.limits.session_lifetime_secs;
    let pending = PendingSession {
        id: session_id,
        expires_at,
    };
    // The guess is on disk when this returns; only then is KE2 computed and sent.
    let outcome = app
        .changes
        .charge(auth.account.clone(), pending, now)
        .await?;
    let (password_file, ksf_version, guesses_remaining, generation) = match outcome {
        ChargeOutcome::Charged {
            password_file,
            ksf_version,
            guesses_remaining,
            generation,
        } => {
            let file = ServerRegistration::<Suite>::deserialize(&password_file).map_err(|_| {
                tracing::warn!(account = %auth.account.log_id, "stored password file does not parse");
                ApiError::from(StoreError::Damaged)
            })?;
            (Some(file), ksf_version, guesses_remaining, generation)
        }
        ChargeOutcome::Dummy {
            ksf_version,
            guesses_remaining,
        } => {
            let generation = match &repeat {
                Some(repeat) => repeat.dummy_generation(),
                None => {
                    let mut generation = [0u8; 16];
                    haven_crypto::random_bytes(&mut generation);
                    generation
                }
            };
            (None, ksf_version, guesses_remaining, generation)
        }
    };
    let parameters = login_parameters(credential_identifier, &app.secrets.vault_id);
    let setup = &app.secrets.server_setup;
    let start = match &repeat {
        Some(repeat) => ServerLogin::start(
            &mut repeat.rng(&generation),
            setup,
            password_file,
            request,
            credential_identifier,
            parameters,
        ),
        None => ServerLogin::start(
            &mut OsRng,
            setup,
            password_file,
            request,
            credential_identifier,
            parameters,
        ),
    }
    .map_err(|error| invalid_opaque("credential_request", "CredentialRequest (KE1)", error))?;
    bump(&app.metrics.logins_started);
    let login = LoginSession {
        expires_at,
        id: session_id,
        generation,
        state: Zeroizing::new(start.state.serialize().to_vec()),
    };
    let sealed = session::seal(&app.secrets.session_key, credential_identifier, &login);
    Ok(Json(RecoverStartResponse {
        credential_response: start.message.serialize().to_vec().into(),
        session: sealed.into(),
        ksf_version,
        guesses_remaining,
        tenant: auth.principal.tenant,
        account: auth.principal.account,
    }))
}

fn open_session(
    app: &AppState,
    auth: &Authed,
    sealed: &[u8],
    now: u64,
) -> Result<LoginSession, ApiError> {
    session::open(
        &app.secrets.session_key,
        &auth.account.credential_identifier,
        sealed,
        now,
    )
    .map_err(|error| match error {
        SessionError::Invalid => ApiError::bad_request(
            "session is invalid: it was changed, or it was issued for another account or by \
             another vault; send the session from this account's recover/start reply",
        ),
        SessionError::Expired => ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            codes::SESSION_EXPIRED,
            format!(
                "the login session expired (sessions last {} s); start the recovery again",
                app.limits.session_lifetime_secs
            ),
        ),
    })
}

pub async fn finish(
    State(app): State<AppState>,
    auth: Authed,
    JsonBody(body): JsonBody<RecoverFinishRequest>,
) -> Result<Json<RecoverFinishResponse>, ApiError> {
    let now = unix_now();
    let login = open_session(&app, &auth, body.session.as_slice(), now)?;
    let credential_identifier = &auth.account.credential_identifier;
    let session_key = match &body.credential_finalization {
        None => None,
        Some(bytes) => {
            let bytes = bytes.as_slice();
            let finalization = decode_opaque(
                "credential_finalization",
                "CredentialFinalization (KE3)",
                CREDENTIAL_FINALIZATION_LEN,
                bytes,
                CredentialFinalization::<Suite>::deserialize,
            )?;
            let state = ServerLogin::<Suite>::deserialize(&login.state).map_err(|_| {
                ApiError::bad_request(
                    "the session contains an invalid login state; start the recovery again",
                )
            })?;
            state
                .finish(
                    finalization,
                    login_parameters(credential_identifier, &app.secrets.vault_id),
                )
                .ok()
                .map(|result| Zeroizing::new(result.session_key.to_vec()))
        }
    };
    let outcome = app
        .changes
        .finish(
            auth.account.clone(),
            login.generation,
            login.id,
            session_key.is_some(),
            now,
        )
        .await?;
    match (outcome, session_key) {
        (FinishOutcome::Released { wrapped_key }, Some(session_key)) => {
            let released = seal_release(&session_key, credential_identifier, &wrapped_key);
            Ok(Json(RecoverFinishResponse {
                released_key: released.into(),
            }))
        }
        (FinishOutcome::Released { .. }, None) => {
            unreachable!("the record logic releases a key only for a verified login")
        }
        (FinishOutcome::Rejected { guesses_remaining }, _) => {
            Err(ApiError::wrong_password(guesses_remaining))
        }
    }
}
