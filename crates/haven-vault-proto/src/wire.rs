//! JSON bodies of the vault's HTTP API (`/v1/...`). Binary fields are base64url
//! without padding ([`Bytes`]).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Binary data, written in JSON as base64url without padding.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    pub fn as_slice(&self) -> &[u8] {
        &self.0
    }
}

impl From<Vec<u8>> for Bytes {
    fn from(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

/// Shows the length only: some fields (sealed sessions, released keys) are
/// ciphertexts that should not be copied around from logs.
impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&URL_SAFE_NO_PAD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        URL_SAFE_NO_PAD
            .decode(text.as_bytes())
            .map(Bytes)
            .map_err(|_| {
                serde::de::Error::custom(
                    "expected base64url without padding (alphabet A-Z a-z 0-9 - _)",
                )
            })
    }
}

/// `GET /v1/info` (no authentication).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InfoResponse {
    /// The vault id: the `aud` that tokens must carry, and the OPAQUE server identity.
    pub vault_id: String,
    /// The vault's AKE public key (32 bytes, ristretto255).
    pub server_public_key: Bytes,
    /// Lowercase hex SHA-256 of `server_public_key`.
    pub fingerprint: String,
    /// KSF version that new enrollments should use.
    pub ksf_version: u32,
    /// Every KSF version this vault accepts at enrollment.
    pub ksf_versions: Vec<u32>,
    pub default_guess_limit: u32,
    pub max_guess_limit: u32,
}

/// `POST /v1/enroll/start`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EnrollStartRequest {
    /// OPAQUE `RegistrationRequest` (32 bytes).
    pub registration_request: Bytes,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnrollStartResponse {
    /// OPAQUE `RegistrationResponse` (64 bytes).
    pub registration_response: Bytes,
    /// The token's tenant (`iss`), which the client needs for the credential identifier.
    pub tenant: String,
    /// The token's account (`sub`).
    pub account: String,
}

/// `POST /v1/enroll/finish`. Destroys any existing record of the account first.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EnrollFinishRequest {
    /// OPAQUE `RegistrationUpload` (192 bytes).
    pub registration_upload: Bytes,
    /// The backup key wrapped by [`crate::wrap_backup_key`] (72 bytes).
    pub wrapped_key: Bytes,
    /// Wrong guesses before the record is erased; the vault's default when absent.
    #[serde(default)]
    pub guess_limit: Option<u32>,
    /// KSF version the client used for registration.
    pub ksf_version: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnrollFinishResponse {
    pub guess_limit: u32,
}

/// `POST /v1/recover/start`. Charges one guess durably before the reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RecoverStartRequest {
    /// OPAQUE `CredentialRequest` (KE1, 96 bytes).
    pub credential_request: Bytes,
    /// 16 random bytes chosen by the client for this login attempt. A request sent
    /// again with the same id and KE1 (after a lost reply, to the same or another
    /// node) charges no second guess and gets the same KE2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<Bytes>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecoverStartResponse {
    /// OPAQUE `CredentialResponse` (KE2, 320 bytes).
    pub credential_response: Bytes,
    /// The server's login state, sealed by the vault; send it back unchanged.
    pub session: Bytes,
    /// KSF version of the record, to use in `ClientLogin::finish`.
    pub ksf_version: u32,
    /// Guesses left after this one if it turns out wrong.
    pub guesses_remaining: u32,
    pub tenant: String,
    pub account: String,
}

/// `POST /v1/recover/finish`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RecoverFinishRequest {
    /// The `session` from the start response.
    pub session: Bytes,
    /// OPAQUE `CredentialFinalization` (KE3, 64 bytes), or null when the client found
    /// the password wrong in `ClientLogin::finish`.
    pub credential_finalization: Option<Bytes>,
}

/// Reply to a verified login: the wrapped key sealed by [`crate::seal_release`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecoverFinishResponse {
    pub released_key: Bytes,
}

/// `GET /v1/record`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RecordStatus {
    pub guesses_remaining: u32,
    pub guess_limit: u32,
}

/// Body of every error reply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ErrorBody {
    /// Machine-readable code, for example `wrong_password` or `rate_limited`.
    pub error: String,
    /// A sentence naming the value at fault and the fix.
    pub message: String,
    /// Set with `wrong_password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guesses_remaining: Option<u32>,
}

/// Error codes of [`ErrorBody::error`].
pub mod codes {
    pub const BAD_REQUEST: &str = "bad_request";
    pub const INVALID_MESSAGE: &str = "invalid_message";
    pub const UNAUTHORIZED: &str = "unauthorized";
    pub const WRONG_PASSWORD: &str = "wrong_password";
    pub const SESSION_EXPIRED: &str = "session_expired";
    pub const NOT_FOUND: &str = "not_found";
    pub const TOO_LARGE: &str = "too_large";
    pub const RATE_LIMITED: &str = "rate_limited";
    pub const RECORD_DAMAGED: &str = "record_damaged";
    pub const UNAVAILABLE: &str = "unavailable";
    pub const INTERNAL: &str = "internal";
}
