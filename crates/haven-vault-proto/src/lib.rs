//! Wire format and client-side cryptography of the Haven Backup Key Vault.
//!
//! The vault stores an OPAQUE (RFC 9807) registration record and a backup key that the
//! client wrapped under a key derived from OPAQUE's `export_key`. The vault never sees
//! the password or the backup key in clear.
//!
//! - [`Suite`]: the OPAQUE cipher suite (ristretto255, TripleDH with SHA-512, Argon2id).
//! - [`KsfParams`]: versioned Argon2id parameters; the version is stored in the record.
//! - [`wire`]: the JSON request and response bodies of every endpoint.
//! - [`wrap_backup_key`], [`unwrap_backup_key`], [`seal_release`], [`open_release`]:
//!   the key wrapping and the release of the wrapped key under the session key.
//! - [`fingerprint`]: the pinned form of the vault's public key.
//! - [`client`]: the client side of enrollment and recovery, built on the above.

pub mod client;
mod error;
mod fingerprint;
mod keywrap;
mod ksf;
mod principal;
mod suite;
pub mod wire;

pub use error::ProtoError;
pub use fingerprint::{fingerprint, fingerprint_of_public_key};
pub use keywrap::{
    derive_release_key, derive_wrap_key, open_release, seal_release, unwrap_backup_key,
    wrap_backup_key, LABEL_RELEASE, LABEL_WRAP, WRAPPED_KEY_LEN,
};
pub use ksf::{KsfParams, KSF_TEST_INSECURE, KSF_V1};
pub use principal::Principal;
pub use suite::{
    login_parameters, opaque_identifiers, Suite, CREDENTIAL_FINALIZATION_LEN,
    CREDENTIAL_REQUEST_LEN, CREDENTIAL_RESPONSE_LEN, LOGIN_CONTEXT, PUBLIC_KEY_LEN,
    REGISTRATION_REQUEST_LEN, REGISTRATION_RESPONSE_LEN, REGISTRATION_UPLOAD_LEN, SERVER_SETUP_LEN,
};

/// Version prefix of every JSON API path.
pub const API_PREFIX: &str = "/v1";
/// Guess limit of a record when enrollment does not choose one.
pub const DEFAULT_GUESS_LIMIT: u32 = 10;
