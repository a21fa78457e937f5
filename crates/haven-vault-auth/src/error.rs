use std::path::PathBuf;

use thiserror::Error;

/// Reasons a bearer token is rejected. No variant carries the token or a part of
/// its signature, so the errors can be logged and returned to the client.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// The token is not three base64url parts with a JSON header and payload.
    #[error("malformed token: {reason}")]
    Malformed { reason: String },

    /// The header names the "none" algorithm or the signature part is empty.
    #[error("unsigned token: the \"none\" algorithm and empty signatures are rejected")]
    Unsigned,

    /// A required claim is missing.
    #[error("the token has no {claim:?} claim, which is required")]
    MissingClaim { claim: String },

    /// A claim has the wrong type or an invalid value.
    #[error("the token's {claim:?} claim is invalid: {reason}")]
    InvalidClaim { claim: String, reason: String },

    /// `iss` names a tenant that the tenants file does not list.
    #[error(
        "unknown tenant {tenant:?}: the token's \"iss\" claim names no tenant in the tenants file"
    )]
    UnknownTenant { tenant: String },

    /// The header's algorithm is not the one configured for the tenant.
    #[error("tenant {tenant:?} signs with {expected}, but the token header says {found:?}")]
    AlgorithmMismatch {
        tenant: String,
        expected: &'static str,
        found: String,
    },

    /// The signature does not verify under the tenant's key.
    #[error("the token signature does not verify under the key of tenant {tenant:?}")]
    BadSignature { tenant: String },

    /// `exp` is in the past (beyond the leeway).
    #[error("the token has expired; request a new one")]
    Expired,

    /// `nbf` or `iat` is in the future (beyond the leeway).
    #[error("the token is not valid yet; check the clocks of the issuer and the vault")]
    NotYetValid,

    /// `aud` does not name this vault.
    #[error("the token's audience is not this vault {expected:?}; request a token for this vault")]
    WrongAudience { expected: String },

    /// `exp - iat` exceeds the maximum lifetime.
    #[error("the token's lifetime is {seconds} s, longer than the maximum of {max} s")]
    LifetimeTooLong { seconds: u64, max: u64 },
}

/// Errors from tenants files, signing keys and minting.
#[derive(Debug, Error)]
pub enum KeyError {
    /// A file operation failed.
    #[error("failed to {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The tenants file is not valid JSON of the expected shape.
    #[error("tenants file {path} is invalid: {reason}")]
    TenantsFileSyntax { path: PathBuf, reason: String },

    /// One tenant entry is inconsistent or invalid.
    #[error("tenant {tenant:?}: {reason}")]
    InvalidTenant { tenant: String, reason: String },

    /// Two entries share one name.
    #[error("tenant {tenant:?} is listed twice; tenant names must be unique")]
    DuplicateTenant { tenant: String },

    /// A file holding a secret can be read by the group or by other users.
    #[error(
        "{path} holds a secret but has mode {mode:03o}, so other users can read it; \
         run `chmod 600 {path}`"
    )]
    SecretFilePermissions { path: PathBuf, mode: u32 },

    /// A signing key or verification key could not be parsed.
    #[error("invalid {alg} key: {reason}")]
    InvalidKey { alg: &'static str, reason: String },

    /// A value for minting is out of range.
    #[error("cannot mint a token: {reason}")]
    InvalidMint { reason: String },

    /// Writing a file that already exists.
    #[error("{path} already exists; refusing to overwrite it")]
    FileExists { path: PathBuf },
}
