//! `haven key ...` and the vault part of `haven init`: password enrollment and
//! recovery through the Backup Key Vault.
//!
//! A repository opened by password has a vault key slot: the repository master key
//! wrapped under a random "vault key", which the vault stores (wrapped again, under a
//! key only the password can derive). The slot stores the vault's URLs, the account,
//! the vault id and the pinned fingerprint, so `haven key recover` on a new machine
//! needs only the repository, a token and the password.

mod enroll;
mod keyfile;
mod manage;
mod password;
mod recover;
mod show;
mod slots;
mod vault;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::common::RepoArgs;

pub use enroll::enroll_after_init;
use vault::{PasswordArgs, VaultAccessArgs};

/// Vault options of `haven init` and `haven key add-password`.
#[derive(Args, Clone, Debug, Default)]
pub struct VaultEnrollArgs {
    /// Vault node URL. With it, a password also opens the repository. Repeat the
    /// option or separate URLs with commas for a vault with several nodes.
    #[arg(long = "vault", value_name = "URL", value_delimiter = ',')]
    pub vault: Vec<String>,
    /// Account id at the vault. It must match the token's `sub`; without it the
    /// token's account is used.
    #[arg(long, value_name = "ID", requires = "vault")]
    pub account: Option<String>,
    /// SHA-256 fingerprint (64 hex digits) of the vault's public key, as `haven vault
    /// init` prints it. Without it haven reads the key from the vault, prints its
    /// fingerprint and pins that.
    #[arg(long, value_name = "HEX", requires = "vault")]
    pub vault_fingerprint: Option<String>,
    /// Wrong passwords the vault allows before it erases the record; the vault's
    /// default (usually 10) when absent.
    #[arg(long, value_name = "N", requires = "vault")]
    pub guess_limit: Option<u32>,
    /// File holding the new vault password; the password is asked twice on the
    /// terminal when absent.
    #[arg(long, env = "HAVEN_PASSWORD_FILE", value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    #[command(flatten)]
    pub access: VaultAccessArgs,
}

/// The repository and the key file to create.
#[derive(Args, Clone, Debug)]
pub struct RepoKeyArgs {
    /// Repository location: a folder path or an fs:// URL.
    #[arg(long, env = "HAVEN_REPO", hide_env_values = true, value_name = "URL")]
    pub repo: String,
    /// New file for the recovered key (mode 0600); an existing file is never
    /// overwritten.
    #[arg(long, env = "HAVEN_KEY_FILE", value_name = "FILE")]
    pub key_file: PathBuf,
}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Recover the backup key with the vault password and write it to a new key file.
    Recover(RecoverArgs),
    /// Enroll a new vault password for the same key; the old password stops working.
    ChangePassword(ChangePasswordArgs),
    /// Erase the vault record and the vault key slot; the 64-digit key keeps working.
    RemovePassword(RemovePasswordArgs),
    /// Enroll a vault password for a repository that has none.
    AddPassword(AddPasswordArgs),
    /// Print the local key file's key as 64 digits, and the key slot it opens.
    Show(ShowArgs),
}

#[derive(Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub target: RepoKeyArgs,
    #[command(flatten)]
    pub password: PasswordArgs,
    #[command(flatten)]
    pub access: VaultAccessArgs,
    /// Vault key slot to use when the repository has several (see `haven key show`).
    #[arg(long, value_name = "SLOT")]
    pub slot: Option<String>,
}

#[derive(Args)]
pub struct ChangePasswordArgs {
    /// Repository location: a folder path or an fs:// URL.
    #[arg(long, env = "HAVEN_REPO", hide_env_values = true, value_name = "URL")]
    pub repo: String,
    /// The current password (see --password-file).
    #[command(flatten)]
    pub password: PasswordArgs,
    /// File holding the new password; asked twice on the terminal when absent.
    #[arg(long, env = "HAVEN_NEW_PASSWORD_FILE", value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
    /// Guess limit of the new record; the old record's limit when absent.
    #[arg(long, value_name = "N")]
    pub guess_limit: Option<u32>,
    #[command(flatten)]
    pub access: VaultAccessArgs,
    /// Vault key slot to use when the repository has several.
    #[arg(long, value_name = "SLOT")]
    pub slot: Option<String>,
}

#[derive(Args)]
pub struct RemovePasswordArgs {
    /// The repository and the local key; a key file is needed when the local key is
    /// the vault key, because it is replaced by a new 64-digit key.
    #[command(flatten)]
    pub target: RepoArgs,
    #[command(flatten)]
    pub access: VaultAccessArgs,
}

#[derive(Args)]
pub struct AddPasswordArgs {
    #[command(flatten)]
    pub target: RepoArgs,
    #[command(flatten)]
    pub enroll: VaultEnrollArgs,
}

#[derive(Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub target: RepoArgs,
}

pub async fn run(command: KeyCommand) -> anyhow::Result<ExitCode> {
    match command {
        KeyCommand::Recover(args) => recover::run(args).await,
        KeyCommand::ChangePassword(args) => manage::change_password(args).await,
        KeyCommand::RemovePassword(args) => manage::remove_password(args).await,
        KeyCommand::AddPassword(args) => manage::add_password(args).await,
        KeyCommand::Show(args) => show::run(args).await,
    }?;
    Ok(ExitCode::SUCCESS)
}
