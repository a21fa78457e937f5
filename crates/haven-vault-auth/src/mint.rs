use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Header;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::{
    check_account, check_tenant_name, KeyError, SigningKey, TenantAlg, TenantEntry, MAX_LIFETIME,
};

#[derive(Serialize)]
struct MintClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    iat: u64,
    exp: u64,
}

/// Mints a token for `account` of `tenant`, valid for `vault_id` during
/// `lifetime` (at most [`MAX_LIFETIME`], whole seconds). The token is a bearer
/// secret.
pub fn mint(
    tenant: &str,
    key: &SigningKey,
    account: &str,
    vault_id: &str,
    lifetime: Duration,
) -> Result<Zeroizing<String>, KeyError> {
    let invalid = |reason: String| KeyError::InvalidMint { reason };
    check_tenant_name(tenant).map_err(|reason| invalid(format!("tenant name: {reason}")))?;
    check_account(account).map_err(|reason| invalid(format!("account: {reason}")))?;
    if vault_id.is_empty() {
        return Err(invalid("the vault id is empty".into()));
    }
    let seconds = lifetime.as_secs();
    if seconds == 0 || seconds > MAX_LIFETIME.as_secs() {
        return Err(invalid(format!(
            "the lifetime is {seconds} s; it must be between 1 s and {} s",
            MAX_LIFETIME.as_secs()
        )));
    }
    let iat = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_err(|_| invalid("the system clock is before 1970".into()))?
        .as_secs();
    let claims = MintClaims {
        iss: tenant,
        sub: account,
        aud: vault_id,
        iat,
        exp: iat + seconds,
    };
    let header = Header::new(key.alg().jwt_algorithm());
    jsonwebtoken::encode(&header, &claims, &key.encoding_key())
        .map(Zeroizing::new)
        .map_err(|err| KeyError::InvalidKey {
            alg: key.alg().as_str(),
            reason: format!("signing failed: {err}"),
        })
}

/// Generates a signing key for a new tenant and the tenants-file entry that
/// verifies it. For HS256 the entry holds the secret inline (`secret_base64`), so
/// the tenants file must stay mode 0600; for EdDSA it holds only the public key.
pub fn generate_tenant_key(
    tenant: &str,
    alg: TenantAlg,
) -> Result<(SigningKey, TenantEntry), KeyError> {
    check_tenant_name(tenant).map_err(|reason| KeyError::InvalidTenant {
        tenant: tenant.to_string(),
        reason: format!("invalid name: {reason}"),
    })?;
    let key = SigningKey::generate(alg);
    let mut entry = TenantEntry {
        name: tenant.to_string(),
        alg,
        secret_file: None,
        secret_base64: None,
        public_key_pem: None,
        public_key_file: None,
    };
    match alg {
        TenantAlg::Hs256 => entry.secret_base64 = Some(key.to_text().to_string()),
        TenantAlg::EdDsa => entry.public_key_pem = key.public_key_pem(),
    }
    Ok((key, entry))
}
