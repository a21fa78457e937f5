//! `POST /v1/enroll/start` and `POST /v1/enroll/finish`.

use axum::extract::State;
use axum::Json;
use haven_vault_proto::wire::{
    EnrollFinishRequest, EnrollFinishResponse, EnrollStartRequest, EnrollStartResponse,
};
use haven_vault_proto::{
    KsfParams, Suite, KSF_TEST_INSECURE, REGISTRATION_REQUEST_LEN, REGISTRATION_UPLOAD_LEN,
    WRAPPED_KEY_LEN,
};
use opaque_ke::{RegistrationRequest, RegistrationUpload, ServerRegistration};

use super::extract::{Authed, JsonBody};
use super::{decode_opaque, invalid_opaque, ApiError, AppState};
use crate::record::RealRecord;

pub async fn start(
    State(app): State<AppState>,
    auth: Authed,
    JsonBody(body): JsonBody<EnrollStartRequest>,
) -> Result<Json<EnrollStartResponse>, ApiError> {
    let bytes = body.registration_request.as_slice();
    let request = decode_opaque(
        "registration_request",
        "RegistrationRequest",
        REGISTRATION_REQUEST_LEN,
        bytes,
        RegistrationRequest::<Suite>::deserialize,
    )?;
    let start = ServerRegistration::<Suite>::start(
        &app.secrets.server_setup,
        request,
        &auth.account.credential_identifier,
    )
    .map_err(|error| invalid_opaque("registration_request", "RegistrationRequest", error))?;
    Ok(Json(EnrollStartResponse {
        registration_response: start.message.serialize().to_vec().into(),
        tenant: auth.principal.tenant,
        account: auth.principal.account,
    }))
}

fn check_ksf(app: &AppState, version: u32) -> Result<(), ApiError> {
    KsfParams::from_version(version).map_err(|error| ApiError::bad_request(error.to_string()))?;
    if version == KSF_TEST_INSECURE.version && !app.limits.allow_insecure_test_ksf {
        return Err(ApiError::bad_request(format!(
            "ksf_version {version} is for tests only and this vault rejects it; enroll with \
             ksf_version {} (GET /v1/info lists the accepted versions)",
            app.limits.ksf_version
        )));
    }
    Ok(())
}

fn check_guess_limit(app: &AppState, requested: Option<u32>) -> Result<u32, ApiError> {
    let limit = requested.unwrap_or(app.limits.default_guess_limit);
    if limit == 0 || limit > app.limits.max_guess_limit {
        return Err(ApiError::bad_request(format!(
            "guess_limit {limit} is out of range; choose 1 to {} (this vault's maximum)",
            app.limits.max_guess_limit
        )));
    }
    Ok(limit)
}

pub async fn finish(
    State(app): State<AppState>,
    auth: Authed,
    JsonBody(body): JsonBody<EnrollFinishRequest>,
) -> Result<Json<EnrollFinishResponse>, ApiError> {
    check_ksf(&app, body.ksf_version)?;
    let guess_limit = check_guess_limit(&app, body.guess_limit)?;
    let wrapped_len = body.wrapped_key.as_slice().len();
    if wrapped_len != WRAPPED_KEY_LEN {
        return Err(ApiError::bad_request(format!(
            "wrapped_key is {wrapped_len} bytes, expected {WRAPPED_KEY_LEN} (a 32-byte key \
             sealed with XChaCha20-Poly1305)"
        )));
    }
    let bytes = body.registration_upload.as_slice();
    let upload = decode_opaque(
        "registration_upload",
        "RegistrationUpload",
        REGISTRATION_UPLOAD_LEN,
        bytes,
        RegistrationUpload::<Suite>::deserialize,
    )?;
    let mut generation = [0u8; 16];
    haven_crypto::random_bytes(&mut generation);
    let record = RealRecord {
        ksf_version: body.ksf_version,
        guess_limit,
        guesses_used: 0,
        generation,
        password_file: ServerRegistration::finish(upload).serialize().to_vec(),
        wrapped_key: body.wrapped_key.0,
        pending: Vec::new(),
    };
    app.changes.enroll(auth.account, record).await?;
    Ok(Json(EnrollFinishResponse { guess_limit }))
}
