//! Client for the Haven Backup Key Vault: enroll a password, recover the backup key
//! with it, check and remove the vault record.
//!
//! The password never leaves this process. Enrollment runs OPAQUE registration
//! (RFC 9807), wraps the backup key under a key derived from OPAQUE's `export_key`
//! and uploads only the wrapped key. Recovery runs an OPAQUE login; the vault
//! releases the wrapped key encrypted under the session key, and the client unwraps
//! it with the `export_key`. Each recovery attempt costs one password guess, charged
//! by the vault before it replies. The protocol steps themselves live in
//! [`haven_vault_proto::client`]; this crate adds HTTP, failover and error mapping.
//!
//! ```no_run
//! # async fn demo() -> Result<(), haven_vault_client::ClientError> {
//! use haven_vault_client::VaultClient;
//! use zeroize::Zeroizing;
//! let client = VaultClient::new(
//!     vec!["https://vault.example:8443".into()],
//!     Zeroizing::new("<jwt>".into()),
//!     Some("<64 hex digits>".into()),
//! )?;
//! let key = client.recover(b"correct horse").await?;
//! # Ok(()) }
//! ```

mod enroll;
mod error;
mod recover;
mod token;
mod transport;

use haven_vault_proto::wire::{InfoResponse, RecordStatus as RecordBody};
use haven_vault_proto::ProtoError;
use tokio::sync::OnceCell;
use zeroize::Zeroizing;

pub use enroll::Enrollment;
pub use error::ClientError;
pub use token::token_principal;
pub use transport::ClientOptions;

use transport::Transport;

/// A client for one vault: one or more nodes that share a record store.
pub struct VaultClient {
    transport: Transport,
    pinned: Option<String>,
    expected_vault_id: Option<String>,
    vault_id: OnceCell<String>,
    allow_insecure_ksf: bool,
}

/// The guess counter of this account's record, from `GET /v1/record`. For an
/// account with no record the vault returns made-up values, so these numbers do not
/// prove that a record exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordStatus {
    pub guesses_remaining: u32,
    pub guess_limit: u32,
}

/// Public facts about a vault, from `GET /v1/info`.
#[derive(Debug, Clone)]
pub struct VaultInfo {
    pub vault_id: String,
    pub fingerprint: String,
    pub ksf_version: u32,
    /// Every KSF version the vault accepts at enrollment.
    pub ksf_versions: Vec<u32>,
    pub default_guess_limit: u32,
    pub max_guess_limit: u32,
}

impl VaultClient {
    /// Creates a client for the vault nodes at `urls` with an account token and, for
    /// anything but a first enrollment, the pinned fingerprint of the vault's key.
    pub fn new(
        urls: Vec<String>,
        token: Zeroizing<String>,
        pinned_fingerprint: Option<String>,
    ) -> Result<Self, ClientError> {
        Self::with_options(ClientOptions::new(urls, token, pinned_fingerprint))
    }

    /// Creates a client from full [`ClientOptions`].
    pub fn with_options(options: ClientOptions) -> Result<Self, ClientError> {
        let pinned = match &options.pinned_fingerprint {
            Some(text) => Some(normalize_fingerprint(text)?),
            None => None,
        };
        Ok(Self {
            transport: Transport::new(&options)?,
            pinned,
            expected_vault_id: options.vault_id.clone(),
            vault_id: OnceCell::new(),
            allow_insecure_ksf: options.allow_insecure_ksf,
        })
    }

    /// The URL of the node that answered last.
    pub fn current_url(&self) -> String {
        self.transport.current_url()
    }

    /// Fetches the vault's public facts. The pin is not checked here: the OPAQUE
    /// exchanges check the key that matters.
    pub async fn info(&self) -> Result<VaultInfo, ClientError> {
        let info: InfoResponse = self.transport.get("v1/info", false).await??;
        Ok(VaultInfo {
            vault_id: info.vault_id,
            fingerprint: info.fingerprint,
            ksf_version: info.ksf_version,
            ksf_versions: info.ksf_versions,
            default_guess_limit: info.default_guess_limit,
            max_guess_limit: info.max_guess_limit,
        })
    }

    /// Returns the guess counter of this account's record.
    pub async fn status(&self) -> Result<RecordStatus, ClientError> {
        let record: RecordBody = self.transport.get("v1/record", true).await??;
        Ok(RecordStatus {
            guesses_remaining: record.guesses_remaining,
            guess_limit: record.guess_limit,
        })
    }

    /// Erases this account's record. Erasing a record that does not exist succeeds.
    pub async fn remove(&self) -> Result<(), ClientError> {
        match self.transport.delete("v1/record").await? {
            Ok(()) => Ok(()),
            Err(error) if error.status == reqwest::StatusCode::NOT_FOUND => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    /// Returns the vault id: read once from `GET /v1/info` and checked against the
    /// expected id, if one was given.
    async fn vault_id(&self) -> Result<String, ClientError> {
        let id = self
            .vault_id
            .get_or_try_init(|| async {
                let found = self.info().await?.vault_id;
                match &self.expected_vault_id {
                    Some(expected) if *expected != found => Err(ClientError::VaultIdMismatch {
                        url: self.transport.current_url(),
                        expected: expected.clone(),
                        found,
                    }),
                    _ => Ok(found),
                }
            })
            .await?;
        Ok(id.clone())
    }

    /// Checks a public key seen in an OPAQUE message against the pin.
    fn check_server_key(&self, public_key: &[u8]) -> Result<(), ClientError> {
        let found = haven_vault_proto::fingerprint(public_key);
        match &self.pinned {
            Some(expected) if *expected != found => Err(ClientError::FingerprintMismatch {
                url: self.transport.current_url(),
                expected: expected.clone(),
                found,
            }),
            _ => Ok(()),
        }
    }

    /// Adds the node URL to a fingerprint mismatch from the protocol layer.
    fn map_proto_error(&self, error: ProtoError) -> ClientError {
        match error {
            ProtoError::FingerprintMismatch { expected, found } => {
                ClientError::FingerprintMismatch {
                    url: self.transport.current_url(),
                    expected,
                    found,
                }
            }
            other => other.into(),
        }
    }
}

/// Lowercases a fingerprint and checks that it is 64 hex digits. Colons, spaces and
/// dashes, as some tools print them, are dropped.
pub fn normalize_fingerprint(text: &str) -> Result<String, ClientError> {
    let digits: String = text
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ClientError::InvalidFingerprint {
            value: text.to_string(),
        });
    }
    Ok(digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_normalized() {
        let upper = "AB:".repeat(32);
        assert_eq!(normalize_fingerprint(&upper).unwrap(), "ab".repeat(32));
    }

    #[test]
    fn short_fingerprint_rejected() {
        let error = normalize_fingerprint("abcd").unwrap_err().to_string();
        assert!(error.contains("64 hex digits"), "{error}");
    }

    #[test]
    fn client_rejects_no_urls() {
        let error = VaultClient::new(vec![], Zeroizing::new("t".into()), None)
            .err()
            .expect("no URL must fail");
        assert!(error.to_string().contains("no vault URL"), "{error}");
    }

    #[test]
    fn client_rejects_ftp_url() {
        let error = VaultClient::new(vec!["ftp://x".into()], Zeroizing::new("t".into()), None)
            .err()
            .expect("ftp must fail");
        assert!(error.to_string().contains("https or http"), "{error}");
    }
}
