//! Client flows against the server half of opaque-ke run in the test (the vault
//! server's HTTP tests live in haven-cli).

use haven_crypto::BackupKey;
use haven_vault_proto::client::{
    enroll_finish, enroll_start, recover_finish, recover_start, wrong_password_request,
};
use haven_vault_proto::wire::{
    Bytes, EnrollStartResponse, RecoverFinishResponse, RecoverStartResponse,
};
use haven_vault_proto::{
    fingerprint, login_parameters, seal_release, Principal, ProtoError, Suite, KSF_TEST_INSECURE,
};
use opaque_ke::{
    CredentialFinalization, CredentialRequest, RegistrationRequest, RegistrationUpload,
    ServerLogin, ServerRegistration, ServerSetup,
};
use rand_core::OsRng;

const VAULT_ID: &str = "vault-test";

struct TestServer {
    setup: ServerSetup<Suite>,
    record: Option<(ServerRegistration<Suite>, Vec<u8>)>,
    principal: Principal,
}

impl TestServer {
    fn new() -> Self {
        Self {
            setup: ServerSetup::new(&mut OsRng),
            record: None,
            principal: Principal::new("acme", "alice"),
        }
    }

    fn enroll(
        &mut self,
        password: &[u8],
        key: &BackupKey,
        pinned: Option<&str>,
    ) -> Result<String, ProtoError> {
        let id = self.principal.credential_identifier();
        let (state, request) = enroll_start(password)?;
        let message =
            RegistrationRequest::deserialize(request.registration_request.as_slice()).unwrap();
        let start = ServerRegistration::<Suite>::start(&self.setup, message, &id).unwrap();
        let response = EnrollStartResponse {
            registration_response: Bytes(start.message.serialize().to_vec()),
            tenant: self.principal.tenant.clone(),
            account: self.principal.account.clone(),
        };
        let upload = enroll_finish(
            state,
            password,
            &response,
            VAULT_ID,
            KSF_TEST_INSECURE,
            key,
            Some(5),
            pinned,
        )?;
        assert_eq!(
            upload.request.wrapped_key.as_slice().len(),
            haven_vault_proto::WRAPPED_KEY_LEN
        );
        let upload_message =
            RegistrationUpload::<Suite>::deserialize(upload.request.registration_upload.as_slice())
                .unwrap();
        self.record = Some((
            ServerRegistration::finish(upload_message),
            upload.request.wrapped_key.0.clone(),
        ));
        Ok(upload.fingerprint)
    }

    fn recover(&self, password: &[u8]) -> Result<BackupKey, ProtoError> {
        let id = self.principal.credential_identifier();
        let (state, request) = recover_start(password)?;
        let message =
            CredentialRequest::deserialize(request.credential_request.as_slice()).unwrap();
        let password_file = self.record.as_ref().map(|(file, _)| file.clone());
        let start = ServerLogin::start(
            &mut OsRng,
            &self.setup,
            password_file,
            message,
            &id,
            login_parameters(&id, VAULT_ID),
        )
        .unwrap();
        let response = RecoverStartResponse {
            credential_response: Bytes(start.message.serialize().to_vec()),
            session: Bytes(vec![1, 2, 3]),
            ksf_version: KSF_TEST_INSECURE.version,
            guesses_remaining: 4,
            tenant: self.principal.tenant.clone(),
            account: self.principal.account.clone(),
        };
        let progress = match recover_finish(state, password, &response, VAULT_ID, None) {
            Ok(progress) => progress,
            Err(error) => {
                let request = wrong_password_request(&response);
                assert!(request.credential_finalization.is_none());
                return Err(error);
            }
        };
        let ke3 = progress.request.credential_finalization.as_ref().unwrap();
        let finalization = CredentialFinalization::deserialize(ke3.as_slice()).unwrap();
        let finish = start
            .state
            .finish(finalization, login_parameters(&id, VAULT_ID))
            .unwrap();
        let (_, wrapped) = self.record.as_ref().unwrap();
        let released = seal_release(&finish.session_key, &id, wrapped);
        progress.open(&RecoverFinishResponse {
            released_key: Bytes(released),
        })
    }
}

#[test]
fn enroll_then_recover() {
    let mut server = TestServer::new();
    let key = BackupKey::generate();
    let fingerprint_seen = server.enroll(b"correct horse", &key, None).unwrap();
    let public_key = server.setup.keypair().public().serialize();
    assert_eq!(fingerprint_seen, fingerprint(&public_key));
    assert_eq!(server.recover(b"correct horse").unwrap(), key);
}

#[test]
fn wrong_password_detected() {
    let mut server = TestServer::new();
    server
        .enroll(b"correct horse", &BackupKey::generate(), None)
        .unwrap();
    assert_eq!(
        server.recover(b"battery staple").unwrap_err(),
        ProtoError::WrongPassword
    );
}

#[test]
fn unknown_account_looks_like_wrong_password() {
    let server = TestServer::new();
    assert_eq!(
        server.recover(b"anything").unwrap_err(),
        ProtoError::WrongPassword
    );
}

#[test]
fn pinned_fingerprint_enforced() {
    let mut server = TestServer::new();
    let wrong_pin = "00".repeat(32);
    let error = server
        .enroll(b"pw", &BackupKey::generate(), Some(&wrong_pin))
        .unwrap_err();
    assert!(matches!(error, ProtoError::FingerprintMismatch { .. }));
    assert!(server.record.is_none());
    let right_pin = fingerprint(&server.setup.keypair().public().serialize()).to_uppercase();
    server
        .enroll(b"pw", &BackupKey::generate(), Some(&right_pin))
        .unwrap();
}

#[test]
fn wrapped_key_bound_to_account() {
    let key = BackupKey::generate();
    let wrapped = haven_vault_proto::wrap_backup_key(&[7; 64], b"acme\x00alice", &key);
    assert!(haven_vault_proto::unwrap_backup_key(&[7; 64], b"acme\x00alice", &wrapped).is_ok());
    assert!(haven_vault_proto::unwrap_backup_key(&[7; 64], b"acme\x00mallory", &wrapped).is_err());
    assert!(haven_vault_proto::unwrap_backup_key(&[8; 64], b"acme\x00alice", &wrapped).is_err());
}

#[test]
fn bytes_serde_base64url() {
    let json = serde_json::to_string(&Bytes(vec![0xfb, 0xff])).unwrap();
    assert_eq!(json, "\"-_8\"");
    let back: Bytes = serde_json::from_str(&json).unwrap();
    assert_eq!(back.0, vec![0xfb, 0xff]);
    let error = serde_json::from_str::<Bytes>("\"+/8=\"").unwrap_err();
    assert!(error.to_string().contains("base64url"));
}
