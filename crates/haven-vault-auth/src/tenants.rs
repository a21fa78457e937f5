use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::DecodePublicKey;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

use crate::files::{check_owner_only, read_secret_text, read_text, write_new_secret_file};
use crate::signing_key::decode_hs256_secret;
use crate::{check_tenant_name, KeyError};

/// The signature algorithm of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TenantAlg {
    /// HMAC-SHA256 with a shared secret.
    #[serde(rename = "HS256")]
    Hs256,
    /// Ed25519 signatures; the vault holds only the public key.
    #[serde(rename = "EdDSA")]
    EdDsa,
}

impl TenantAlg {
    /// Returns the JWS name: "HS256" or "EdDSA".
    pub fn as_str(self) -> &'static str {
        match self {
            TenantAlg::Hs256 => "HS256",
            TenantAlg::EdDsa => "EdDSA",
        }
    }

    pub(crate) fn jwt_algorithm(self) -> Algorithm {
        match self {
            TenantAlg::Hs256 => Algorithm::HS256,
            TenantAlg::EdDsa => Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for TenantAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TenantAlg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "HS256" => Ok(TenantAlg::Hs256),
            "EdDSA" => Ok(TenantAlg::EdDsa),
            other => Err(format!(
                "unknown algorithm {other:?}; expected \"HS256\" or \"EdDSA\""
            )),
        }
    }
}

/// One tenant in the tenants file. An HS256 tenant has exactly one of
/// `secret_file` and `secret_base64`; an EdDSA tenant has exactly one of
/// `public_key_pem` and `public_key_file`. Relative paths are resolved against the
/// directory of the tenants file.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantEntry {
    /// Tenant name, matched against the token's `iss` claim.
    pub name: String,
    /// Signature algorithm of the tenant's tokens.
    pub alg: TenantAlg,
    /// HS256: a file with the base64 secret, readable by its owner only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// HS256: the base64 secret inline; the tenants file must then be readable by
    /// its owner only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_base64: Option<String>,
    /// EdDSA: the Ed25519 public key as SPKI PEM ("BEGIN PUBLIC KEY").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_pem: Option<String>,
    /// EdDSA: a file with the public key PEM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_file: Option<PathBuf>,
}

impl Drop for TenantEntry {
    fn drop(&mut self) {
        if let Some(secret) = self.secret_base64.as_mut() {
            secret.zeroize();
        }
    }
}

impl fmt::Debug for TenantEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TenantEntry")
            .field("name", &self.name)
            .field("alg", &self.alg)
            .field("secret_file", &self.secret_file)
            .field(
                "secret_base64",
                &self.secret_base64.as_ref().map(|_| "<redacted>"),
            )
            .field("public_key_pem", &self.public_key_pem)
            .field("public_key_file", &self.public_key_file)
            .finish()
    }
}

/// The tenants file: `{"tenants": [TenantEntry, ...]}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantsFile {
    /// The tenants, each with a unique name.
    pub tenants: Vec<TenantEntry>,
}

impl TenantsFile {
    /// Reads and parses a tenants file without checking the keys.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let text = read_text(path)?;
        serde_json::from_str(&text).map_err(|err| KeyError::TenantsFileSyntax {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })
    }

    /// Writes the file as pretty JSON to a new file with mode 0600, since it may
    /// hold HS256 secrets; never overwrites.
    pub fn write_new(&self, path: &Path) -> Result<(), KeyError> {
        let mut json = serde_json::to_string_pretty(self).expect("tenants serialize to JSON");
        json.push('\n');
        let result = write_new_secret_file(path, json.as_bytes());
        json.zeroize();
        result
    }

    /// Adds a tenant; rejects a name already present.
    pub fn add(&mut self, entry: TenantEntry) -> Result<(), KeyError> {
        if self.tenants.iter().any(|tenant| tenant.name == entry.name) {
            return Err(KeyError::DuplicateTenant {
                tenant: entry.name.clone(),
            });
        }
        self.tenants.push(entry);
        Ok(())
    }
}

/// The verification keys of all tenants, loaded from a tenants file.
pub struct TenantKeys {
    pub(crate) tenants: HashMap<String, TenantKey>,
}

pub(crate) struct TenantKey {
    pub(crate) alg: TenantAlg,
    // NOTE: for HS256 this contains the secret; jsonwebtoken's DecodingKey does not
    // zeroize it. It lives as long as the loaded TenantKeys.
    pub(crate) key: DecodingKey,
}

impl TenantKeys {
    /// Loads and checks a tenants file. A file with inline HS256 secrets, and each
    /// secret file, must be readable by its owner only.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let file = TenantsFile::read(path)?;
        if file.tenants.iter().any(|t| t.secret_base64.is_some()) {
            check_owner_only(path)?;
        }
        let base_dir = path.parent().unwrap_or(Path::new("."));
        Self::from_entries(&file.tenants, base_dir)
    }

    /// Builds the keys from entries; relative paths are resolved against `base_dir`.
    pub fn from_entries(entries: &[TenantEntry], base_dir: &Path) -> Result<Self, KeyError> {
        let mut tenants = HashMap::new();
        for entry in entries {
            let key = load_entry(entry, base_dir)?;
            if tenants.insert(entry.name.clone(), key).is_some() {
                return Err(KeyError::DuplicateTenant {
                    tenant: entry.name.clone(),
                });
            }
        }
        Ok(Self { tenants })
    }

    /// Returns the tenant names, sorted.
    pub fn tenant_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tenants.keys().cloned().collect();
        names.sort();
        names
    }

    /// Returns the algorithm of `tenant`, if listed.
    pub fn alg(&self, tenant: &str) -> Option<TenantAlg> {
        self.tenants.get(tenant).map(|key| key.alg)
    }
}

impl fmt::Debug for TenantKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for name in self.tenant_names() {
            map.entry(&name, &self.tenants[&name].alg);
        }
        map.finish()
    }
}

fn load_entry(entry: &TenantEntry, base_dir: &Path) -> Result<TenantKey, KeyError> {
    let invalid = |reason: String| KeyError::InvalidTenant {
        tenant: entry.name.clone(),
        reason,
    };
    check_tenant_name(&entry.name).map_err(|reason| invalid(format!("invalid name: {reason}")))?;
    let has_secret = entry.secret_file.is_some() || entry.secret_base64.is_some();
    let has_public = entry.public_key_file.is_some() || entry.public_key_pem.is_some();
    let key = match entry.alg {
        TenantAlg::Hs256 => {
            if has_public {
                return Err(invalid(
                    "an HS256 tenant takes secret_file or secret_base64, not a public key".into(),
                ));
            }
            let text = match (&entry.secret_file, &entry.secret_base64) {
                (Some(file), None) => read_secret_text(&base_dir.join(file))?,
                (None, Some(inline)) => zeroize::Zeroizing::new(inline.clone()),
                _ => {
                    return Err(invalid(
                        "an HS256 tenant needs exactly one of secret_file and secret_base64".into(),
                    ))
                }
            };
            let secret = decode_hs256_secret(&text).map_err(|err| invalid(err.to_string()))?;
            DecodingKey::from_secret(&secret)
        }
        TenantAlg::EdDsa => {
            if has_secret {
                return Err(invalid(
                    "an EdDSA tenant takes public_key_pem or public_key_file, not a secret".into(),
                ));
            }
            let pem =
                match (&entry.public_key_pem, &entry.public_key_file) {
                    (Some(pem), None) => pem.clone(),
                    (None, Some(file)) => read_text(&base_dir.join(file))?.to_string(),
                    _ => return Err(invalid(
                        "an EdDSA tenant needs exactly one of public_key_pem and public_key_file"
                            .into(),
                    )),
                };
            decoding_key_from_public_pem(&pem).map_err(invalid)?
        }
    };
    Ok(TenantKey {
        alg: entry.alg,
        key,
    })
}

fn decoding_key_from_public_pem(pem: &str) -> Result<DecodingKey, String> {
    if pem.contains("PRIVATE KEY") {
        return Err(
            "the key is a private key; the tenants file takes only the public key \
             (\"BEGIN PUBLIC KEY\"), so remove the private key from it"
                .into(),
        );
    }
    let key = ed25519_dalek::VerifyingKey::from_public_key_pem(pem.trim()).map_err(|err| {
        format!("expected an Ed25519 public key in SPKI PEM (\"BEGIN PUBLIC KEY\"): {err}")
    })?;
    DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(key.to_bytes()))
        .map_err(|err| format!("jsonwebtoken rejected the Ed25519 public key: {err}"))
}
