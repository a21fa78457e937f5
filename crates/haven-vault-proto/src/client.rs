//! Client side of enrollment and recovery. The caller moves the messages over HTTP;
//! these functions do the OPAQUE steps, the pin check and the key wrapping.
//!
//! Enrollment: [`enroll_start`] → `POST /v1/enroll/start` → [`enroll_finish`] →
//! `POST /v1/enroll/finish`.
//!
//! Recovery: [`recover_start`] → `POST /v1/recover/start` → [`recover_finish`] →
//! `POST /v1/recover/finish` with [`RecoverProgress::request`] →
//! [`RecoverProgress::open`]. On [`ProtoError::WrongPassword`] send
//! [`wrong_password_request`] instead, so the vault reports the guesses remaining.

use haven_crypto::BackupKey;
use opaque_ke::errors::ProtocolError;
use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration,
    ClientRegistrationFinishParameters, CredentialResponse, RegistrationResponse,
};
use rand_core::OsRng;
use zeroize::Zeroizing;

use crate::fingerprint::check_pin;
use crate::wire::{
    Bytes, EnrollFinishRequest, EnrollStartRequest, EnrollStartResponse, RecoverFinishRequest,
    RecoverFinishResponse, RecoverStartRequest, RecoverStartResponse,
};
use crate::{opaque_identifiers, KsfParams, Principal, ProtoError, Suite, LOGIN_CONTEXT};

/// Client state between [`enroll_start`] and [`enroll_finish`].
pub struct EnrollState(ClientRegistration<Suite>);

/// Client state between [`recover_start`] and [`recover_finish`].
pub struct RecoverState(ClientLogin<Suite>);

fn opaque_error(step: &'static str) -> impl Fn(ProtocolError) -> ProtoError {
    move |error| ProtoError::Opaque {
        step,
        reason: error.to_string(),
    }
}

fn decode_error(
    field: &'static str,
    what: &'static str,
    len: usize,
) -> impl Fn(ProtocolError) -> ProtoError {
    move |error| ProtoError::InvalidMessage {
        field,
        what,
        len,
        reason: error.to_string(),
    }
}

/// Blinds the password for `POST /v1/enroll/start`.
pub fn enroll_start(password: &[u8]) -> Result<(EnrollState, EnrollStartRequest), ProtoError> {
    let start = ClientRegistration::<Suite>::start(&mut OsRng, password)
        .map_err(opaque_error("registration start"))?;
    let request = EnrollStartRequest {
        registration_request: Bytes(start.message.serialize().to_vec()),
    };
    Ok((EnrollState(start.state), request))
}

/// Result of [`enroll_finish`].
#[derive(Debug)]
pub struct EnrollUpload {
    /// Body of `POST /v1/enroll/finish`.
    pub request: EnrollFinishRequest,
    /// Fingerprint of the vault's public key, to pin for later recoveries.
    pub fingerprint: String,
}

/// Finishes OPAQUE registration, checks the vault's public key against `pinned`
/// (when given) and wraps the backup key under the export key.
#[allow(clippy::too_many_arguments)]
pub fn enroll_finish(
    state: EnrollState,
    password: &[u8],
    response: &EnrollStartResponse,
    vault_id: &str,
    ksf: KsfParams,
    backup_key: &BackupKey,
    guess_limit: Option<u32>,
    pinned: Option<&str>,
) -> Result<EnrollUpload, ProtoError> {
    let bytes = response.registration_response.as_slice();
    let message = RegistrationResponse::<Suite>::deserialize(bytes).map_err(decode_error(
        "registration_response",
        "RegistrationResponse",
        bytes.len(),
    ))?;
    let principal = Principal::new(&response.tenant, &response.account);
    let credential_identifier = principal.credential_identifier();
    let argon2 = ksf.argon2();
    let params = ClientRegistrationFinishParameters::new(
        opaque_identifiers(&credential_identifier, vault_id),
        Some(&argon2),
    );
    let finish = state
        .0
        .finish(&mut OsRng, password, message, params)
        .map_err(opaque_error("registration finish"))?;
    let fingerprint = check_pin(&finish.server_s_pk, pinned)?;
    let export_key = Zeroizing::new(finish.export_key.to_vec());
    let wrapped_key = crate::wrap_backup_key(&export_key, &credential_identifier, backup_key);
    Ok(EnrollUpload {
        request: EnrollFinishRequest {
            registration_upload: Bytes(finish.message.serialize().to_vec()),
            wrapped_key: Bytes(wrapped_key),
            guess_limit,
            ksf_version: ksf.version,
        },
        fingerprint,
    })
}

/// Blinds the password and starts the key exchange for `POST /v1/recover/start`.
pub fn recover_start(password: &[u8]) -> Result<(RecoverState, RecoverStartRequest), ProtoError> {
    let start =
        ClientLogin::<Suite>::start(&mut OsRng, password).map_err(opaque_error("login start"))?;
    let mut request_id = vec![0u8; 16];
    haven_crypto::random_bytes(&mut request_id);
    let request = RecoverStartRequest {
        credential_request: Bytes(start.message.serialize().to_vec()),
        request_id: Some(Bytes(request_id)),
    };
    Ok((RecoverState(start.state), request))
}

/// A login that the client verified: the request to send and the keys to open the
/// reply with.
pub struct RecoverProgress {
    /// Body of `POST /v1/recover/finish`.
    pub request: RecoverFinishRequest,
    /// Fingerprint of the vault's public key.
    pub fingerprint: String,
    credential_identifier: Vec<u8>,
    session_key: Zeroizing<Vec<u8>>,
    export_key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for RecoverProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecoverProgress")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

impl RecoverProgress {
    /// Opens the vault's reply: decrypts the released key with the session key, then
    /// unwraps the backup key with the export key.
    pub fn open(&self, response: &RecoverFinishResponse) -> Result<BackupKey, ProtoError> {
        let wrapped = Zeroizing::new(crate::open_release(
            &self.session_key,
            &self.credential_identifier,
            response.released_key.as_slice(),
        )?);
        crate::unwrap_backup_key(&self.export_key, &self.credential_identifier, &wrapped)
    }

    /// Returns the export key and the session key. Only tests use this, to search
    /// logs for them; nothing else should read these keys.
    #[doc(hidden)]
    pub fn secret_keys_for_log_tests(&self) -> (&[u8], &[u8]) {
        (&self.export_key, &self.session_key)
    }
}

/// Finishes the OPAQUE login with the record's KSF version. Returns
/// [`ProtoError::WrongPassword`] when the password is wrong or the vault has no
/// record; then send [`wrong_password_request`].
pub fn recover_finish(
    state: RecoverState,
    password: &[u8],
    response: &RecoverStartResponse,
    vault_id: &str,
    pinned: Option<&str>,
) -> Result<RecoverProgress, ProtoError> {
    let bytes = response.credential_response.as_slice();
    let message = CredentialResponse::<Suite>::deserialize(bytes).map_err(decode_error(
        "credential_response",
        "CredentialResponse",
        bytes.len(),
    ))?;
    let ksf = KsfParams::from_version(response.ksf_version)?;
    let argon2 = ksf.argon2();
    let principal = Principal::new(&response.tenant, &response.account);
    let credential_identifier = principal.credential_identifier();
    let params = ClientLoginFinishParameters::new(
        Some(LOGIN_CONTEXT),
        opaque_identifiers(&credential_identifier, vault_id),
        Some(&argon2),
    );
    let finish = match state.0.finish(&mut OsRng, password, message, params) {
        Ok(finish) => finish,
        Err(ProtocolError::InvalidLoginError) => return Err(ProtoError::WrongPassword),
        Err(error) => return Err(opaque_error("login finish")(error)),
    };
    let fingerprint = check_pin(&finish.server_s_pk, pinned)?;
    Ok(RecoverProgress {
        request: RecoverFinishRequest {
            session: response.session.clone(),
            credential_finalization: Some(Bytes(finish.message.serialize().to_vec())),
        },
        fingerprint,
        credential_identifier,
        session_key: Zeroizing::new(finish.session_key.to_vec()),
        export_key: Zeroizing::new(finish.export_key.to_vec()),
    })
}

/// Returns the `POST /v1/recover/finish` body for a login that the client found wrong:
/// a null finalization, so the vault reports (and enforces) the guesses remaining.
pub fn wrong_password_request(response: &RecoverStartResponse) -> RecoverFinishRequest {
    RecoverFinishRequest {
        session: response.session.clone(),
        credential_finalization: None,
    }
}
