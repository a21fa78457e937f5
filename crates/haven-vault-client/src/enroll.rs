//! Enrollment: OPAQUE registration, then upload of the client-wrapped backup key.

use haven_crypto::BackupKey;
use haven_vault_proto::client::{enroll_finish, enroll_start};
use haven_vault_proto::wire::{EnrollFinishResponse, EnrollStartResponse};
use haven_vault_proto::{KsfParams, KSF_TEST_INSECURE, KSF_V1, PUBLIC_KEY_LEN};

use crate::{ClientError, VaultClient};

/// Result of a successful enrollment: what a key slot must store to recover later.
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// Fingerprint of the vault key the record was made with; pin it.
    pub fingerprint: String,
    /// The vault id (the token audience and OPAQUE server identity).
    pub vault_id: String,
    /// The tenant and account the vault filed the record under.
    pub tenant: String,
    pub account: String,
    /// Wrong guesses the vault allows before it erases the record.
    pub guess_limit: u32,
    /// Key stretching version the record uses.
    pub ksf_version: u32,
}

impl VaultClient {
    /// Enrolls `password` for this account, so that [`VaultClient::recover`] returns
    /// `backup_key`. The vault destroys an existing record of the account first.
    /// `guess_limit` of `None` takes the vault's default.
    ///
    /// The server's public key in the registration response must match the pinned
    /// fingerprint, if one is set; otherwise enrollment stops before anything is
    /// uploaded.
    pub async fn enroll(
        &self,
        password: &[u8],
        backup_key: &BackupKey,
        guess_limit: Option<u32>,
    ) -> Result<Enrollment, ClientError> {
        let info = self.info().await?;
        let vault_id = self.vault_id().await?;
        let test_version = KSF_TEST_INSECURE.version;
        let version = if self.allow_insecure_ksf && info.ksf_versions.contains(&test_version) {
            test_version
        } else {
            info.ksf_version
        };
        let ksf = KsfParams::from_version(version)?;
        if ksf.memory_kib < KSF_V1.memory_kib && !self.allow_insecure_ksf {
            return Err(ClientError::InsecureKsf {
                url: self.transport.current_url(),
                version: ksf.version,
            });
        }
        let (state, request) = enroll_start(password)?;
        let response: EnrollStartResponse =
            self.transport.post("v1/enroll/start", &request).await??;
        // Check the pin before spending the key stretching work. The response is the
        // OPRF evaluation element followed by the server's public key.
        let bytes = response.registration_response.as_slice();
        if bytes.len() < PUBLIC_KEY_LEN {
            return Err(ClientError::Protocol {
                url: self.transport.current_url(),
                detail: format!(
                    "registration response of {} bytes is too short",
                    bytes.len()
                ),
            });
        }
        self.check_server_key(&bytes[bytes.len() - PUBLIC_KEY_LEN..])?;

        let upload = enroll_finish(
            state,
            password,
            &response,
            &vault_id,
            ksf,
            backup_key,
            guess_limit,
            self.pinned.as_deref(),
        )
        .map_err(|error| self.map_proto_error(error))?;
        let reply: EnrollFinishResponse = self
            .transport
            .post("v1/enroll/finish", &upload.request)
            .await??;
        tracing::info!(
            guess_limit = reply.guess_limit,
            ksf_version = ksf.version,
            "vault enrollment finished"
        );
        Ok(Enrollment {
            fingerprint: upload.fingerprint,
            vault_id,
            tenant: response.tenant,
            account: response.account,
            guess_limit: reply.guess_limit,
            ksf_version: ksf.version,
        })
    }
}
