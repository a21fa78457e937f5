//! Bearer JWTs for the vault, one signing key per tenant.
//!
//! A tenant is a messaging app's backend (or a self-hoster) that vouches for its
//! accounts. It signs short-lived JWTs with `iss` = tenant name, `sub` = account,
//! `aud` = vault id. The vault loads the tenants file ([`TenantKeys::load`]) and
//! checks each request's token with [`TenantKeys::verify`].
//!
//! Tenants sign with HS256 (a shared secret of at least 32 bytes) or EdDSA
//! (Ed25519; the vault holds only the public key). The algorithm is fixed per
//! tenant, so a token cannot choose its own algorithm.

mod error;
mod files;
mod mint;
mod signing_key;
mod tenants;
mod verify;

use std::time::Duration;

pub use error::{AuthError, KeyError};
pub use mint::{generate_tenant_key, mint};
pub use signing_key::SigningKey;
pub use tenants::{TenantAlg, TenantEntry, TenantKeys, TenantsFile};

/// Longest accepted token lifetime (`exp - iat`): 24 hours.
pub const MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Clock skew allowed between issuer and vault when checking `exp`, `nbf` and `iat`.
pub const LEEWAY: Duration = Duration::from_secs(30);

/// Longest accepted account id (`sub`), in bytes.
pub const MAX_ACCOUNT_LEN: usize = 256;

/// Longest accepted tenant name (`iss`), in bytes.
pub const MAX_TENANT_LEN: usize = 128;

/// Longest accepted token, in bytes. Real tokens are a few hundred bytes.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Minimum HS256 secret length in bytes (RFC 7518 section 3.2: at least the hash size).
pub const MIN_HS256_SECRET_LEN: usize = 32;

/// The verified identity behind a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// Tenant name, from `iss`.
    pub tenant: String,
    /// Account id within the tenant, from `sub`.
    pub account: String,
}

impl Principal {
    /// Returns the OPAQUE credential identifier `tenant || 0x00 || account` (UTF-8).
    /// Neither part contains a NUL byte, so the encoding is unambiguous.
    pub fn credential_identifier(&self) -> Vec<u8> {
        let mut id = Vec::with_capacity(self.tenant.len() + 1 + self.account.len());
        id.extend_from_slice(self.tenant.as_bytes());
        id.push(0);
        id.extend_from_slice(self.account.as_bytes());
        id
    }
}

/// Checks a tenant name: non-empty, at most [`MAX_TENANT_LEN`] bytes, no control
/// characters.
pub(crate) fn check_tenant_name(name: &str) -> Result<(), String> {
    check_identifier(name, MAX_TENANT_LEN)
}

/// Checks an account id: non-empty, at most [`MAX_ACCOUNT_LEN`] bytes, no control
/// characters.
pub(crate) fn check_account(account: &str) -> Result<(), String> {
    check_identifier(account, MAX_ACCOUNT_LEN)
}

fn check_identifier(value: &str, max: usize) -> Result<(), String> {
    if value.is_empty() {
        return Err("it is empty".to_string());
    }
    if value.len() > max {
        return Err(format!(
            "it is {} bytes long, the maximum is {max}",
            value.len()
        ));
    }
    if value.chars().any(char::is_control) {
        return Err("it contains a control character".to_string());
    }
    Ok(())
}
