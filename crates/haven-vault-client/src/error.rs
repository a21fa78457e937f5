use haven_vault_proto::ProtoError;
use thiserror::Error;

/// Errors from the vault client. None of them carries a password, a key, a token or
/// any other secret: server messages are copied only after the server wrote them for
/// the user.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The password did not open the vault record. The vault charged one guess.
    #[error(
        "wrong password, or the vault holds no record for this account (the vault \
         answers both alike): {guesses_remaining} guess(es) remain before it erases a \
         record; check the password and try again, or use the 64-digit key"
    )]
    WrongPassword { guesses_remaining: u32 },

    /// The vault holds no record for this account: it was never enrolled, it was
    /// removed, or the last allowed guess was wrong and the vault erased it.
    #[error(
        "the vault holds no password record for this account ({reason}); \
         open the repository with its 64-digit key instead"
    )]
    RecordGone { reason: String },

    /// The vault's public key differs from the pinned one.
    #[error(
        "the vault at {url} has public key fingerprint {found}, but {expected} is pinned; \
         check that the URL points at your vault, and re-pin only if its operator \
         confirms a key change"
    )]
    FingerprintMismatch {
        url: String,
        expected: String,
        found: String,
    },

    /// A pinned fingerprint was malformed.
    #[error(
        "invalid vault fingerprint {value:?}: expected 64 hex digits \
         (the SHA-256 of the vault's public key, as printed by `haven vault init`)"
    )]
    InvalidFingerprint { value: String },

    /// The server answered with an error the client cannot recover from.
    #[error("the vault at {url} rejected the request ({status} {code}): {message}")]
    Server {
        url: String,
        status: u16,
        code: String,
        message: String,
    },

    /// Every vault node failed to answer.
    #[error("no vault node answered: {details}; check the URLs and that the vault is running")]
    Unavailable { details: String },

    /// The client could not be configured (bad URL, unreadable CA file, ...).
    #[error("invalid vault client configuration: {0}")]
    Config(String),

    /// The server's reply did not parse or failed a protocol check.
    #[error("invalid reply from the vault at {url}: {detail}")]
    Protocol { url: String, detail: String },

    /// The vault asked for a key stretching setting weaker than version 1.
    #[error(
        "the vault at {url} asks for key stretching version {version}, which is for \
         tests only and would let the vault operator search passwords quickly; \
         use a vault that offers version 1 or later"
    )]
    InsecureKsf { url: String, version: u32 },

    /// The vault id reported by the vault is not the one stored for this record.
    #[error(
        "the vault at {url} has id {found:?}, but the key slot names vault {expected:?}; \
         check the vault URL"
    )]
    VaultIdMismatch {
        url: String,
        expected: String,
        found: String,
    },

    /// A protocol step or a message failed (malformed message, unknown key
    /// stretching version, key that fails authentication).
    #[error(transparent)]
    Proto(#[from] ProtoError),
}
