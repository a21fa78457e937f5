//! One enrollment and one recovery over HTTP with the caching cipher suite. The
//! steps mirror `haven_vault_proto::client`, which is fixed to the uncached suite.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use haven_crypto::BackupKey;
use haven_vault_proto::wire::{
    Bytes, EnrollFinishRequest, EnrollStartRequest, EnrollStartResponse, RecoverFinishRequest,
    RecoverFinishResponse, RecoverStartRequest, RecoverStartResponse,
};
use haven_vault_proto::{opaque_identifiers, Principal, LOGIN_CONTEXT};
use opaque_ke::{
    ClientLogin, ClientLoginFinishParameters, ClientRegistration,
    ClientRegistrationFinishParameters, CredentialResponse, RegistrationResponse,
};
use rand_core::OsRng;
use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::suite::{ksf_version, BenchSuite, CachedKsf};

/// A bench account: its token, password and the backup key it enrolled.
pub struct Account {
    pub token: Zeroizing<String>,
    pub password: Zeroizing<Vec<u8>>,
    pub backup_key: BackupKey,
}

/// An HTTP client and the vault nodes it talks to.
#[derive(Clone)]
pub struct Vault {
    pub client: reqwest::Client,
    /// Node base URLs in the order tried: a request goes to the first and moves on to
    /// the next after a connection error or a 503 (no leader, no majority).
    pub bases: Vec<Url>,
    pub vault_id: String,
    /// Requests sent again to another node, shared by every clone.
    pub retries: Arc<AtomicU64>,
}

/// Attempts per request before a run counts it as failed: every node twice.
/// NOTE: `recover/start` is sent again without a `request_id`, so a charge that timed
/// out but committed later is counted twice. The counter reset of the next finish
/// hides that from the run.
const ATTEMPTS_PER_NODE: usize = 2;

impl Vault {
    /// Returns a copy that tries node `first` (modulo the node count) first.
    pub fn starting_at(&self, first: usize) -> Self {
        let mut vault = self.clone();
        let n = vault.bases.len();
        vault.bases.rotate_left(first % n);
        vault
    }

    async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        token: &str,
        body: &B,
    ) -> anyhow::Result<T> {
        let attempts = self.bases.len() * ATTEMPTS_PER_NODE;
        let mut last_error = None;
        for attempt in 0..attempts {
            if attempt > 0 {
                self.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let url = self.bases[attempt % self.bases.len()].join(path)?;
            let response = match self
                .client
                .post(url.clone())
                .bearer_auth(token)
                .json(body)
                .send()
                .await
            {
                Ok(response) => response,
                Err(error) => {
                    last_error = Some(anyhow!(error).context(format!("POST {url} failed")));
                    continue;
                }
            };
            let status = response.status();
            let bytes = response.bytes().await?;
            let text = || String::from_utf8_lossy(&bytes).into_owned();
            if status == StatusCode::SERVICE_UNAVAILABLE {
                last_error = Some(anyhow!("POST {url} returned {status}: {}", text()));
                continue;
            }
            if !status.is_success() {
                bail!("POST {url} returned {status}: {}", text());
            }
            return serde_json::from_slice(&bytes)
                .with_context(|| format!("POST {url}: invalid JSON"));
        }
        Err(last_error.expect("at least one attempt").context(format!(
            "no node accepted POST {path} in {attempts} attempts"
        )))
    }
}

/// Enrolls `account`. The one Argon2id evaluation for the account happens here and
/// is cached for its logins.
pub async fn enroll(vault: &Vault, account: &Account) -> anyhow::Result<()> {
    let start = ClientRegistration::<BenchSuite>::start(&mut OsRng, &account.password)
        .map_err(|e| anyhow!("registration start: {e}"))?;
    let request = EnrollStartRequest {
        registration_request: Bytes(start.message.serialize().to_vec()),
    };
    let reply: EnrollStartResponse = vault
        .post("v1/enroll/start", &account.token, &request)
        .await?;

    let response =
        RegistrationResponse::<BenchSuite>::deserialize(reply.registration_response.as_slice())
            .map_err(|e| anyhow!("registration response: {e}"))?;
    let identifier = Principal::new(&reply.tenant, &reply.account).credential_identifier();
    let ksf = CachedKsf;
    let params = ClientRegistrationFinishParameters::new(
        opaque_identifiers(&identifier, &vault.vault_id),
        Some(&ksf),
    );
    let finish = start
        .state
        .finish(&mut OsRng, &account.password, response, params)
        .map_err(|e| anyhow!("registration finish: {e}"))?;

    let export_key = Zeroizing::new(finish.export_key.to_vec());
    let wrapped_key =
        haven_vault_proto::wrap_backup_key(&export_key, &identifier, &account.backup_key);
    let request = EnrollFinishRequest {
        registration_upload: Bytes(finish.message.serialize().to_vec()),
        wrapped_key: Bytes(wrapped_key),
        guess_limit: None,
        ksf_version: ksf_version(),
    };
    let _: serde_json::Value = vault
        .post("v1/enroll/finish", &account.token, &request)
        .await?;
    Ok(())
}

/// Runs one full recovery (KE1, KE2, KE3, released key) and checks that the
/// released key unwraps to the enrolled backup key.
pub async fn recover(vault: &Vault, account: &Account) -> anyhow::Result<()> {
    let start = ClientLogin::<BenchSuite>::start(&mut OsRng, &account.password)
        .map_err(|e| anyhow!("login start: {e}"))?;
    let request = RecoverStartRequest {
        credential_request: Bytes(start.message.serialize().to_vec()),
        request_id: None,
    };
    let reply: RecoverStartResponse = vault
        .post("v1/recover/start", &account.token, &request)
        .await?;
    let response =
        CredentialResponse::<BenchSuite>::deserialize(reply.credential_response.as_slice())
            .map_err(|e| anyhow!("credential response: {e}"))?;
    let identifier = Principal::new(&reply.tenant, &reply.account).credential_identifier();
    let ksf = CachedKsf;
    let params = ClientLoginFinishParameters::new(
        Some(LOGIN_CONTEXT),
        opaque_identifiers(&identifier, &vault.vault_id),
        Some(&ksf),
    );
    let finish = start
        .state
        .finish(&mut OsRng, &account.password, response, params)
        .map_err(|e| anyhow!("login finish: {e}"))?;
    let request = RecoverFinishRequest {
        session: reply.session,
        credential_finalization: Some(Bytes(finish.message.serialize().to_vec())),
    };
    let released: RecoverFinishResponse = vault
        .post("v1/recover/finish", &account.token, &request)
        .await?;
    let session_key = Zeroizing::new(finish.session_key.to_vec());
    let export_key = Zeroizing::new(finish.export_key.to_vec());
    let wrapped = Zeroizing::new(haven_vault_proto::open_release(
        &session_key,
        &identifier,
        released.released_key.as_slice(),
    )?);
    let key = haven_vault_proto::unwrap_backup_key(&export_key, &identifier, &wrapped)?;
    if key != account.backup_key {
        bail!("the recovered key differs from the enrolled key");
    }
    Ok(())
}
