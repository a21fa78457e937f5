use thiserror::Error;

/// Errors of the vault protocol's client-side steps and message decoding. None of them
/// carries a password, a key or a token.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ProtoError {
    /// A binary field was not valid base64url.
    #[error("field `{field}` is not valid base64url without padding")]
    Base64 { field: &'static str },

    /// An OPAQUE message could not be decoded.
    #[error("field `{field}` is not a valid OPAQUE {what} ({len} bytes): {reason}")]
    InvalidMessage {
        field: &'static str,
        what: &'static str,
        len: usize,
        reason: String,
    },

    /// The KSF version is not supported by this build.
    #[error(
        "unknown KSF parameter version {version}; this build supports versions {known}; \
         upgrade the client or the vault"
    )]
    UnknownKsfVersion { version: u32, known: String },

    /// The password is wrong, or the vault has no record for the account.
    #[error("wrong password, or no password is enrolled for this account")]
    WrongPassword,

    /// The vault's public key does not match the pinned fingerprint.
    #[error(
        "the vault's public key fingerprint {found} does not match the pinned \
         fingerprint {expected}; check the vault URL, or pin the new fingerprint only \
         if the vault operator announced a key change"
    )]
    FingerprintMismatch { expected: String, found: String },

    /// A wrapped or released key failed authentication or has the wrong length.
    #[error("the {what} failed authentication: it was changed, or belongs to another account")]
    KeyAuthentication { what: &'static str },

    /// An OPAQUE step failed for a reason other than a wrong password.
    #[error("OPAQUE {step} failed: {reason}")]
    Opaque { step: &'static str, reason: String },
}
