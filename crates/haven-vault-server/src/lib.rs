//! The Haven Backup Key Vault server.
//!
//! The vault stores, per account, an OPAQUE registration record and a backup key
//! that the client wrapped under its OPAQUE export key. It releases the wrapped key
//! only after a verified OPAQUE login, counts every login start as a guess (durably,
//! before KE2 leaves the vault), and erases the record when the guesses run out.
//!
//! - [`init_vault`] creates the server secrets, wrapped by a key-encryption key.
//! - [`Vault::open`] unwraps them and opens the records database;
//!   [`Vault::serve`] serves the HTTP API described in docs/VAULT-PROTOCOL.md.
//! - [`RawRecords`] gives operators and tests raw access to a stopped vault's records.
//! - [`cluster`] replicates the records over several nodes with Raft, when
//!   [`ServerConfig::cluster`] is set.

mod api;
mod apply;
mod changes;
pub mod cluster;
mod config;
mod metrics;
mod ratelimit;
mod record;
mod secrets;
mod serve;
mod session;
mod store;
mod token_cache;
mod writer;

pub use config::{ServerConfig, TlsFiles, PHANTOM_EXPIRY_DAYS};
pub use ratelimit::Rate;
pub use secrets::{SecretsError, SECRETS_FILE};
pub use serve::{copy_secrets, init_vault, ServeError, Vault};
pub use store::{RawRecords, StoreError, DATABASE_FILE};
