use std::path::PathBuf;

use thiserror::Error;

/// Errors from opening or using a key-encryption key. None of them carries key
/// material, a PIN or plaintext.
#[derive(Debug, Error)]
pub enum KekError {
    /// The key file does not exist and creating it was not requested.
    #[error(
        "key file {path} not found; create it with `haven vault init` \
         or point the vault at the existing key file"
    )]
    KeyFileMissing { path: PathBuf },

    /// Creating a key file where a file already exists, which would destroy the
    /// key that wraps the vault's server keys.
    #[error(
        "key file {path} already exists; refusing to overwrite it because the \
         vault's server keys are wrapped under it"
    )]
    KeyFileExists { path: PathBuf },

    /// The key file can be read by the group or by other users.
    #[error(
        "key file {path} has mode {mode:03o}, so other users can read it; \
         run `chmod 600 {path}` and check who may have copied it"
    )]
    KeyFilePermissions { path: PathBuf, mode: u32 },

    /// The key file does not hold exactly 32 bytes.
    #[error(
        "key file {path} is {found} bytes long, expected exactly 32; \
         restore the original key file from a backup"
    )]
    KeyFileLength { path: PathBuf, found: u64 },

    /// The key file path names a directory, a socket or another non-file.
    #[error("key file {path} is not a regular file; point the vault at a regular file")]
    KeyFileNotRegular { path: PathBuf },

    /// A file operation failed.
    #[error("failed to {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The PKCS#11 module file does not exist.
    #[error(
        "PKCS#11 module {module} not found; for SoftHSM2 run `apt-get install softhsm2` \
         (module /usr/lib/softhsm/libsofthsm2.so), otherwise give the path of your \
         HSM vendor's PKCS#11 library"
    )]
    ModuleNotFound { module: PathBuf },

    /// The PKCS#11 module exists but could not be loaded or initialised.
    #[error("failed to load PKCS#11 module {module}: {reason}")]
    ModuleLoad { module: PathBuf, reason: String },

    /// No initialised token carries the requested label.
    #[error(
        "no PKCS#11 token labelled {token_label:?} in module {module}; tokens present: {}; \
         for SoftHSM2 create one with `softhsm2-util --init-token --free --label {token_label}`",
        format_labels(present)
    )]
    TokenNotFound {
        module: PathBuf,
        token_label: String,
        present: Vec<String>,
    },

    /// More than one token carries the requested label.
    #[error("{count} PKCS#11 tokens are labelled {token_label:?}; give each token a unique label")]
    DuplicateToken { token_label: String, count: usize },

    /// C_Login returned CKR_PIN_INCORRECT.
    #[error("the PIN for token {token_label:?} is wrong; check the PIN file or variable")]
    WrongPin { token_label: String },

    /// C_Login returned CKR_PIN_LOCKED.
    #[error(
        "the user PIN of token {token_label:?} is locked after too many wrong PINs; \
         unlock it with the security officer PIN"
    )]
    PinLocked { token_label: String },

    /// The token holds no AES secret key with the requested label.
    #[error(
        "token {token_label:?} holds no AES key labelled {key_label:?}; create it with \
         `haven vault init`, or check the key label"
    )]
    KeyNotFound {
        token_label: String,
        key_label: String,
    },

    /// The token holds several AES keys with the requested label.
    #[error(
        "token {token_label:?} holds {count} AES keys labelled {key_label:?}; \
         the label must name exactly one key"
    )]
    DuplicateKey {
        token_label: String,
        key_label: String,
        count: usize,
    },

    /// A PKCS#11 call failed for a reason not covered above.
    #[error("PKCS#11 {operation} failed on token {token_label:?}: {source}")]
    Pkcs11 {
        operation: &'static str,
        token_label: String,
        #[source]
        source: cryptoki::error::Error,
    },

    /// The PIN could not be read from its file.
    #[error("failed to read the PIN file {path}: {source}")]
    PinFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The environment variable that should carry the PIN is not set.
    #[error("environment variable {name} with the token PIN is not set or not UTF-8")]
    PinVariableMissing { name: String },

    /// The PIN source yielded an empty PIN.
    #[error("the PIN from {source_name} is empty; put the token's user PIN there")]
    PinEmpty { source_name: String },

    /// The wrapped bytes are too short to hold the framing.
    #[error(
        "wrapped key is {len} bytes, shorter than the minimum of {min} bytes; it is truncated"
    )]
    TooShort { len: usize, min: usize },

    /// The tag did not verify.
    #[error(
        "unwrapping with {kek} failed authentication: the wrapped data or its associated \
         data was changed, or it was wrapped under a different key-encryption key"
    )]
    AuthenticationFailed { kek: String },
}

fn format_labels(labels: &[String]) -> String {
    if labels.is_empty() {
        return "none".to_string();
    }
    labels
        .iter()
        .map(|label| format!("{label:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}
