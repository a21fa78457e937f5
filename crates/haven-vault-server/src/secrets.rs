//! The vault's server secrets, stored only wrapped by the key-encryption key.
//!
//! `DATA/vault-secrets.json` contains the vault id, the public key fingerprint and three
//! secrets, each wrapped by the KEK with associated data
//! `"haven/v1/vault-secret" || 0x00 || name || 0x00 || vault id`:
//!
//! - `server_setup`: OPAQUE `ServerSetup` (OPRF seed, AKE key pair; 128 bytes). It
//!   must never change: the per-account OPRF keys derive from it.
//! - `record_key`: 32 bytes from which the record sealing and table index keys derive.
//! - `session_key`: 32 bytes that seal the login state sent to clients.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use haven_crypto::SecretKey;
use haven_vault_kek::{Kek, KekError};
use haven_vault_proto::{fingerprint, Suite};
use opaque_ke::ServerSetup;
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// File name of the wrapped secrets inside the data folder.
pub const SECRETS_FILE: &str = "vault-secrets.json";
const FORMAT: u32 = 1;

/// Errors of creating or loading the server secrets.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(
        "{path} not found; create the vault with `haven vault init --data {dir} ...` first",
        dir = .path.parent().map(|p| p.display().to_string()).unwrap_or_default()
    )]
    Missing { path: PathBuf },
    #[error("{path} already exists; a vault is already initialised in this folder")]
    Exists { path: PathBuf },
    #[error("failed to {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid vault secrets file: {reason}")]
    Format { path: PathBuf, reason: String },
    #[error("the key-encryption key failed: {0}")]
    Kek(#[from] KekError),
    #[error(
        "the {name} in {path} did not unwrap with {kek}: this is not the key-encryption \
         key the vault was initialised with, or the file was changed"
    )]
    Unwrap {
        name: &'static str,
        path: PathBuf,
        kek: String,
    },
    #[error("invalid vault id {vault_id:?}: use 1 to 128 characters from A-Z a-z 0-9 . _ : / -")]
    InvalidVaultId { vault_id: String },
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsFile {
    format: u32,
    vault_id: String,
    fingerprint: String,
    /// Describes the KEK used at init, for error messages; contains no secret.
    kek: String,
    server_setup: String,
    record_key: String,
    session_key: String,
}

/// The unwrapped server secrets, held in memory while the vault runs.
pub struct ServerSecrets {
    pub vault_id: String,
    pub fingerprint: String,
    pub server_setup: ServerSetup<Suite>,
    pub record_key: SecretKey,
    pub session_key: SecretKey,
}

impl fmt::Debug for ServerSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerSecrets")
            .field("vault_id", &self.vault_id)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

fn aad(name: &str, vault_id: &str) -> Vec<u8> {
    [
        b"haven/v1/vault-secret\x00".as_slice(),
        name.as_bytes(),
        b"\x00",
        vault_id.as_bytes(),
    ]
    .concat()
}

/// Checks a vault id: it becomes the JWT audience and the OPAQUE server identity.
pub fn check_vault_id(vault_id: &str) -> Result<(), SecretsError> {
    let valid = !vault_id.is_empty()
        && vault_id.len() <= 128
        && vault_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-'));
    if valid {
        Ok(())
    } else {
        Err(SecretsError::InvalidVaultId {
            vault_id: vault_id.to_string(),
        })
    }
}

/// Creates new server secrets in `data_dir`, wraps them under `kek` and returns the
/// fingerprint of the new public key. Never overwrites an existing secrets file.
pub fn init(data_dir: &Path, kek: &dyn Kek, vault_id: &str) -> Result<String, SecretsError> {
    check_vault_id(vault_id)?;
    let setup = ServerSetup::<Suite>::new(&mut OsRng);
    let secrets = ServerSecrets {
        vault_id: vault_id.to_string(),
        fingerprint: fingerprint(&setup.keypair().public().serialize()),
        server_setup: setup,
        record_key: SecretKey::generate(),
        session_key: SecretKey::generate(),
    };
    store(data_dir, kek, &secrets)?;
    Ok(secrets.fingerprint)
}

/// Writes `secrets` wrapped under `kek` to a new secrets file in `data_dir`. A
/// cluster node gets the cluster's secrets this way, under its own KEK.
pub fn store(data_dir: &Path, kek: &dyn Kek, secrets: &ServerSecrets) -> Result<(), SecretsError> {
    let vault_id = secrets.vault_id.as_str();
    let path = data_dir.join(SECRETS_FILE);
    std::fs::create_dir_all(data_dir).map_err(|source| SecretsError::Io {
        action: "create the data folder",
        path: data_dir.to_path_buf(),
        source,
    })?;
    let setup_bytes = Zeroizing::new(secrets.server_setup.serialize().to_vec());
    let wrap = |name: &str, plain: &[u8]| -> Result<String, SecretsError> {
        Ok(URL_SAFE_NO_PAD.encode(kek.wrap(&aad(name, vault_id), plain)?))
    };
    let file = SecretsFile {
        format: FORMAT,
        vault_id: vault_id.to_string(),
        fingerprint: secrets.fingerprint.clone(),
        kek: kek.describe(),
        server_setup: wrap("server_setup", &setup_bytes)?,
        record_key: wrap("record_key", secrets.record_key.expose())?,
        session_key: wrap("session_key", secrets.session_key.expose())?,
    };
    let mut json = serde_json::to_string_pretty(&file).expect("secrets file serializes");
    json.push('\n');
    write_new(&path, json.as_bytes())
}

fn write_new(path: &Path, bytes: &[u8]) -> Result<(), SecretsError> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => SecretsError::Exists {
                path: path.to_path_buf(),
            },
            _ => SecretsError::Io {
                action: "create",
                path: path.to_path_buf(),
                source,
            },
        })?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|source| SecretsError::Io {
            action: "write",
            path: path.to_path_buf(),
            source,
        })
}

/// Loads and unwraps the server secrets of the vault in `data_dir`.
pub fn load(data_dir: &Path, kek: &dyn Kek) -> Result<ServerSecrets, SecretsError> {
    let path = data_dir.join(SECRETS_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => SecretsError::Missing { path: path.clone() },
        _ => SecretsError::Io {
            action: "read",
            path: path.clone(),
            source,
        },
    })?;
    let format_error = |reason: String| SecretsError::Format {
        path: path.clone(),
        reason,
    };
    let file: SecretsFile =
        serde_json::from_str(&text).map_err(|error| format_error(error.to_string()))?;
    if file.format != FORMAT {
        return Err(format_error(format!(
            "format {} is not supported; this build reads format {FORMAT}",
            file.format
        )));
    }
    check_vault_id(&file.vault_id)?;
    let unwrap = |name: &'static str, field: &str| -> Result<Zeroizing<Vec<u8>>, SecretsError> {
        let wrapped = URL_SAFE_NO_PAD
            .decode(field)
            .map_err(|_| format_error(format!("{name} is not base64url")))?;
        kek.unwrap(&aad(name, &file.vault_id), &wrapped)
            .map_err(|error| match error {
                KekError::AuthenticationFailed { .. } | KekError::TooShort { .. } => {
                    SecretsError::Unwrap {
                        name,
                        path: path.clone(),
                        kek: kek.describe(),
                    }
                }
                other => SecretsError::Kek(other),
            })
    };
    let setup_bytes = unwrap("server_setup", &file.server_setup)?;
    let server_setup = ServerSetup::<Suite>::deserialize(&setup_bytes)
        .map_err(|_| format_error("server_setup is not a valid OPAQUE ServerSetup".into()))?;
    let key = |name: &'static str, field: &str| -> Result<SecretKey, SecretsError> {
        let bytes = unwrap(name, field)?;
        let array: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| format_error(format!("{name} is not 32 bytes")))?;
        Ok(SecretKey::from_bytes(array))
    };
    let record_key = key("record_key", &file.record_key)?;
    let session_key = key("session_key", &file.session_key)?;
    let found = fingerprint(&server_setup.keypair().public().serialize());
    if found != file.fingerprint {
        return Err(format_error(format!(
            "the stored fingerprint {} does not match the public key's fingerprint {found}",
            file.fingerprint
        )));
    }
    Ok(ServerSecrets {
        vault_id: file.vault_id,
        fingerprint: found,
        server_setup,
        record_key,
        session_key,
    })
}
