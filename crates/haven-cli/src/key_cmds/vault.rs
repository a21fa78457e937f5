//! Connecting to the vault from the CLI: token, URLs, pin, and the guess warnings
//! around a recovery.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use haven_crypto::BackupKey;
use haven_vault_client::{ClientError, ClientOptions, VaultClient};
use zeroize::Zeroizing;

use super::password;

/// Environment variable that contains the vault token (a JWT) for scripts.
pub const TOKEN_ENV: &str = "HAVEN_VAULT_TOKEN";

/// Options every command that talks to the vault takes.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct VaultAccessArgs {
    /// File holding the vault token (a JWT from the messaging app's backend or from
    /// `haven vault token`). Without it the token comes from HAVEN_VAULT_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub vault_token_file: Option<PathBuf>,
    /// PEM file with extra CA certificates to trust, for a vault with a private CA.
    #[arg(long, value_name = "FILE")]
    pub vault_ca_file: Option<PathBuf>,
}

/// Reads the vault token from `file`, or else from HAVEN_VAULT_TOKEN.
pub fn read_token(file: Option<&Path>) -> anyhow::Result<Zeroizing<String>> {
    let token = match file {
        Some(path) => Zeroizing::new(
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the vault token file {}", path.display()))?,
        ),
        None => match std::env::var(TOKEN_ENV) {
            Ok(value) => Zeroizing::new(value),
            Err(_) => bail!(
                "no vault token: set {TOKEN_ENV} or pass --vault-token-file with a token \
                 from the messaging app's backend or from `haven vault token`"
            ),
        },
    };
    let trimmed = Zeroizing::new(token.trim().to_string());
    if trimmed.is_empty() {
        bail!("the vault token is empty; set {TOKEN_ENV} or --vault-token-file to a valid token");
    }
    Ok(trimmed)
}

/// Environment variable that lets the client enroll with the test-only key
/// stretching setting (KSF version 0). Only test suites set it.
pub const INSECURE_KSF_ENV: &str = "HAVEN_ALLOW_INSECURE_TEST_KSF";

/// Returns whether HAVEN_ALLOW_INSECURE_TEST_KSF is set to 1.
pub fn allow_insecure_ksf() -> bool {
    std::env::var(INSECURE_KSF_ENV).is_ok_and(|value| value == "1")
}

/// Builds a vault client for a first enrollment at `urls`, pinned to `fingerprint`
/// when given.
pub fn connect(
    urls: &[String],
    access: &VaultAccessArgs,
    fingerprint: Option<&str>,
) -> anyhow::Result<VaultClient> {
    let token = read_token(access.vault_token_file.as_deref())?;
    let mut options = ClientOptions::new(urls.to_vec(), token, fingerprint.map(str::to_string));
    options.ca_file = access.vault_ca_file.clone();
    options.allow_insecure_ksf = allow_insecure_ksf();
    Ok(VaultClient::with_options(options)?)
}

/// Password source and last-guess consent for commands that recover a key.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct PasswordArgs {
    /// File holding the vault password (first line, without the newline). Without it
    /// the password is asked on the terminal.
    #[arg(long, env = "HAVEN_PASSWORD_FILE", value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Allow a script to spend the last remaining guess. A wrong password then makes
    /// the vault erase the record for good. On a terminal haven prompts for confirmation instead.
    #[arg(long)]
    pub i_understand_last_guess: bool,
}

/// Recovers the backup key from the vault with the user's password, after warning
/// about the last guess. Errors state how many guesses remain.
pub async fn recover_key(client: &VaultClient, args: &PasswordArgs) -> anyhow::Result<BackupKey> {
    let status = client
        .status()
        .await
        .context("cannot read the vault record's guess counter")?;
    if status.guesses_remaining == 0 {
        bail!(
            "the vault allows no more guesses for this account, so it holds no usable \
             record; open the repository with its 64-digit key"
        );
    }
    if status.guesses_remaining == 1 {
        warn_last_guess(args)?;
    } else {
        eprintln!(
            "The vault allows {} more wrong password(s) before it erases the record.",
            status.guesses_remaining
        );
    }
    let password = password::read_password("Vault password: ", args.password_file.as_deref())?;
    match client.recover(password.as_bytes()).await {
        Ok(key) => Ok(key),
        Err(ClientError::WrongPassword {
            guesses_remaining: 1,
        }) => bail!(
            "wrong password: only 1 guess remains; a wrong password next time erases the \
             vault record, and only the 64-digit key can then open the repository"
        ),
        Err(error) => Err(error.into()),
    }
}

fn warn_last_guess(args: &PasswordArgs) -> anyhow::Result<()> {
    let warning = "Warning: only 1 guess remains. If this password is wrong, the vault \
                   erases the record and the password can no longer open the repository.";
    eprintln!("{warning}");
    if args.i_understand_last_guess {
        return Ok(());
    }
    if password::is_interactive() {
        if password::confirm("Spend the last guess?")? {
            return Ok(());
        }
        bail!("stopped before spending the last guess; the vault record is unchanged");
    }
    bail!(
        "only 1 guess remains; rerun with --i-understand-last-guess to spend it from a \
         script, or run the command on a terminal to confirm"
    )
}
