//! Targets for bearer token verification (`TenantKeys::verify`).

use std::path::Path;
use std::sync::OnceLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use haven_vault_auth::{generate_tenant_key, TenantAlg, TenantEntry, TenantKeys};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Vault id that tokens must name in `aud`.
pub const VAULT_ID: &str = "vault-fuzz";
/// Tenant whose HS256 secret is [`HS256_SECRET`].
pub const HS256_TENANT: &str = "hs-tenant";
/// The HS256 secret of [`HS256_TENANT`].
pub const HS256_SECRET: [u8; 32] = [0x11; 32];

/// Returns the fixture tenants: one HS256 with a fixed secret and one EdDSA with a
/// generated key.
pub fn tenants() -> &'static TenantKeys {
    static TENANTS: OnceLock<TenantKeys> = OnceLock::new();
    TENANTS.get_or_init(|| {
        let hs256 = TenantEntry {
            name: HS256_TENANT.into(),
            alg: TenantAlg::Hs256,
            secret_file: None,
            secret_base64: Some(STANDARD.encode(HS256_SECRET)),
            public_key_pem: None,
            public_key_file: None,
        };
        let (_, eddsa) = generate_tenant_key("ed-tenant", TenantAlg::EdDsa).expect("EdDSA key");
        TenantKeys::from_entries(&[hs256, eddsa], Path::new(".")).expect("tenant keys")
    })
}

/// Input: a token, as it arrives in the Authorization header.
pub fn verify(data: &[u8]) {
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = tenants().verify(token, VAULT_ID);
    }
}

/// Input: `header JSON || 0x00 || claims JSON`, signed here with the HS256 secret,
/// so the fuzzer reaches the claim checks behind the signature.
pub fn claims(data: &[u8]) {
    let (header, claims) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (&br#"{"alg":"HS256","typ":"JWT"}"#[..], data),
    };
    let _ = tenants().verify(&sign_hs256(header, claims), VAULT_ID);
}

/// Builds an HS256 token over raw header and claims bytes.
pub fn sign_hs256(header: &[u8], claims: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(&HS256_SECRET).expect("any key length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}
