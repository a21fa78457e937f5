//! Targets for the vault's JSON bodies and OPAQUE messages.
//!
//! The OPAQUE steps run as the vault's handlers run them, with a fixed server setup
//! and a password file enrolled once per process with the test KSF parameters.

use std::sync::OnceLock;

use haven_vault_proto::wire::{
    EnrollFinishRequest, EnrollStartRequest, EnrollStartResponse, ErrorBody, InfoResponse,
    RecordStatus, RecoverFinishRequest, RecoverFinishResponse, RecoverStartRequest,
    RecoverStartResponse,
};
use haven_vault_proto::{
    client, login_parameters, Principal, Suite, CREDENTIAL_FINALIZATION_LEN,
    CREDENTIAL_REQUEST_LEN, CREDENTIAL_RESPONSE_LEN, KSF_TEST_INSECURE, REGISTRATION_REQUEST_LEN,
    REGISTRATION_RESPONSE_LEN, REGISTRATION_UPLOAD_LEN,
};
use opaque_ke::{
    CredentialFinalization, CredentialRequest, CredentialResponse, RegistrationRequest,
    RegistrationResponse, RegistrationUpload, ServerLogin, ServerRegistration, ServerSetup,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

/// Vault id of the fixture vault.
pub const VAULT_ID: &str = "vault-fuzz";

/// A vault's OPAQUE state: its setup, one enrolled account and one started login.
pub struct Fixture {
    pub setup: ServerSetup<Suite>,
    pub credential_identifier: Vec<u8>,
    pub password_file: ServerRegistration<Suite>,
    /// Serialized `ServerLogin` state of a login started with the right password.
    pub login_state: Vec<u8>,
    /// Valid messages of each kind, for the seed corpus.
    pub messages: Vec<(u8, Vec<u8>)>,
}

pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

fn build_fixture() -> Fixture {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let setup = ServerSetup::<Suite>::new(&mut rng);
    let principal = Principal::new("tenant", "alice");
    let credential_identifier = principal.credential_identifier();
    let password = b"correct horse";
    let mut messages = Vec::new();

    let (state, request) = client::enroll_start(password).expect("enroll start");
    messages.push((0, request.registration_request.0.clone()));
    let message = RegistrationRequest::<Suite>::deserialize(&request.registration_request.0)
        .expect("registration request");
    let start = ServerRegistration::<Suite>::start(&setup, message, &credential_identifier)
        .expect("registration start");
    let response = EnrollStartResponse {
        registration_response: start.message.serialize().to_vec().into(),
        tenant: principal.tenant.clone(),
        account: principal.account.clone(),
    };
    messages.push((4, response.registration_response.0.clone()));
    let backup_key = haven_crypto::BackupKey::from_bytes([9; 32]);
    let upload = client::enroll_finish(
        state,
        password,
        &response,
        VAULT_ID,
        KSF_TEST_INSECURE,
        &backup_key,
        None,
        None,
    )
    .expect("enroll finish");
    let upload_bytes = upload.request.registration_upload.0.clone();
    messages.push((1, upload_bytes.clone()));
    let upload = RegistrationUpload::<Suite>::deserialize(&upload_bytes).expect("upload");
    let password_file = ServerRegistration::<Suite>::finish(upload);

    let (_, request) = client::recover_start(password).expect("recover start");
    messages.push((2, request.credential_request.0.clone()));
    let ke1 = CredentialRequest::<Suite>::deserialize(&request.credential_request.0).expect("KE1");
    let login = ServerLogin::start(
        &mut rng,
        &setup,
        Some(password_file.clone()),
        ke1,
        &credential_identifier,
        login_parameters(&credential_identifier, VAULT_ID),
    )
    .expect("login start");
    messages.push((5, login.message.serialize().to_vec()));
    messages.push((3, vec![0x42; CREDENTIAL_FINALIZATION_LEN]));
    Fixture {
        setup,
        credential_identifier,
        password_file,
        login_state: login.state.serialize().to_vec(),
        messages,
    }
}

/// Input: one byte that picks the message kind, then the message bytes.
pub fn opaque(data: &[u8]) {
    let Some((&kind, message)) = data.split_first() else {
        return;
    };
    opaque_message(kind % 6, message);
}

/// Decodes and uses one OPAQUE message as the vault (kinds 0-3) or the client
/// (kinds 4-5) does. Lengths are checked first, as the vault's handlers do.
fn opaque_message(kind: u8, message: &[u8]) {
    let fixture = fixture();
    let id = fixture.credential_identifier.as_slice();
    match kind {
        0 if message.len() == REGISTRATION_REQUEST_LEN => {
            if let Ok(request) = RegistrationRequest::<Suite>::deserialize(message) {
                let _ = ServerRegistration::<Suite>::start(&fixture.setup, request, id);
            }
        }
        1 if message.len() == REGISTRATION_UPLOAD_LEN => {
            if let Ok(upload) = RegistrationUpload::<Suite>::deserialize(message) {
                let file = ServerRegistration::<Suite>::finish(upload);
                let _ = ServerRegistration::<Suite>::deserialize(&file.serialize());
            }
        }
        2 if message.len() == CREDENTIAL_REQUEST_LEN => {
            if let Ok(request) = CredentialRequest::<Suite>::deserialize(message) {
                let mut rng = ChaCha20Rng::seed_from_u64(u64::from(message[0]));
                for file in [Some(fixture.password_file.clone()), None] {
                    let _ = ServerLogin::start(
                        &mut rng,
                        &fixture.setup,
                        file,
                        request.clone(),
                        id,
                        login_parameters(id, VAULT_ID),
                    );
                }
            }
        }
        3 if message.len() == CREDENTIAL_FINALIZATION_LEN => {
            if let Ok(finalization) = CredentialFinalization::<Suite>::deserialize(message) {
                let state = ServerLogin::<Suite>::deserialize(&fixture.login_state)
                    .expect("fixture login state");
                let _ = state.finish(finalization, login_parameters(id, VAULT_ID));
            }
        }
        4 if message.len() == REGISTRATION_RESPONSE_LEN => {
            let _ = RegistrationResponse::<Suite>::deserialize(message);
        }
        5 if message.len() == CREDENTIAL_RESPONSE_LEN => {
            let _ = CredentialResponse::<Suite>::deserialize(message);
        }
        _ => {}
    }
}

/// Input: one byte that picks the body type, then the JSON body. Kinds 0-3 are the
/// request bodies of the `/v1` endpoints; their OPAQUE fields then go through
/// [`opaque_message`]. Kinds 4-9 are the reply bodies that the client parses.
pub fn request(data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else {
        return;
    };
    match kind % 10 {
        0 => {
            if let Ok(request) = serde_json::from_slice::<EnrollStartRequest>(body) {
                opaque_message(0, request.registration_request.as_slice());
            }
        }
        1 => {
            if let Ok(request) = serde_json::from_slice::<EnrollFinishRequest>(body) {
                opaque_message(1, request.registration_upload.as_slice());
            }
        }
        2 => {
            if let Ok(request) = serde_json::from_slice::<RecoverStartRequest>(body) {
                opaque_message(2, request.credential_request.as_slice());
            }
        }
        3 => {
            if let Ok(request) = serde_json::from_slice::<RecoverFinishRequest>(body) {
                if let Some(finalization) = &request.credential_finalization {
                    opaque_message(3, finalization.as_slice());
                }
            }
        }
        4 => drop(serde_json::from_slice::<InfoResponse>(body)),
        5 => {
            if let Ok(response) = serde_json::from_slice::<EnrollStartResponse>(body) {
                opaque_message(4, response.registration_response.as_slice());
            }
        }
        6 => {
            if let Ok(response) = serde_json::from_slice::<RecoverStartResponse>(body) {
                opaque_message(5, response.credential_response.as_slice());
            }
        }
        7 => drop(serde_json::from_slice::<RecoverFinishResponse>(body)),
        8 => drop(serde_json::from_slice::<RecordStatus>(body)),
        _ => drop(serde_json::from_slice::<ErrorBody>(body)),
    }
}
