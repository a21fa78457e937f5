//! Enrolling a vault password for a repository: `haven init --vault` and
//! `haven key add-password`.

use std::path::Path;

use anyhow::{bail, Context};
use haven_crypto::BackupKey;
use haven_repo::{Repository, SlotKind};
use haven_vault_client::{normalize_fingerprint, token_principal};

use super::slots::URL_SEPARATOR;
use super::vault::{connect, read_token};
use super::{password, VaultEnrollArgs};

/// Enrolls a vault password for a repository that `haven init` just created, when
/// `--vault` was given; does nothing otherwise. `key_file` is where init wrote the
/// 64-digit key, which keeps opening the repository.
pub async fn enroll_after_init(
    repo: &Repository,
    args: &VaultEnrollArgs,
    key_file: &Path,
) -> anyhow::Result<()> {
    if args.vault.is_empty() {
        return Ok(());
    }
    add_vault_slot(repo, args).await.with_context(|| {
        format!(
            "the repository was created and its 64-digit key is in {}, but no vault \
             password was added; run `haven key add-password` to try again",
            key_file.display()
        )
    })?;
    eprintln!(
        "The 64-digit key in {} also opens the repository; keep a copy of it offline.",
        key_file.display()
    );
    Ok(())
}

/// Generates a separate random vault key, enrolls it at the vault under a new
/// password, and adds a vault key slot for it to `repo`.
pub async fn add_vault_slot(repo: &Repository, args: &VaultEnrollArgs) -> anyhow::Result<()> {
    let urls: Vec<String> = args
        .vault
        .iter()
        .map(|url| url.trim().to_string())
        .collect();
    if urls
        .iter()
        .any(|url| url.contains(URL_SEPARATOR) || url.is_empty())
    {
        bail!(
            "invalid --vault value {:?}: give one URL per node, separated by commas",
            args.vault.join(",")
        );
    }
    let token = read_token(args.access.vault_token_file.as_deref())?;
    let principal = token_principal(&token)?;
    if let Some(account) = &args.account {
        if *account != principal.account {
            bail!(
                "--account is {account:?}, but the vault token is for account {:?}; \
                 get a token for {account:?} or drop --account",
                principal.account
            );
        }
    }

    let pin = match &args.vault_fingerprint {
        Some(text) => normalize_fingerprint(text)?,
        None => {
            let info = connect(&urls, &args.access, None)?
                .info()
                .await
                .context("cannot read the vault's public key")?;
            eprintln!(
                "Vault fingerprint: {}\nNo --vault-fingerprint was given, so haven pins this \
                 key now; compare it with the fingerprint the vault operator published.",
                info.fingerprint
            );
            normalize_fingerprint(&info.fingerprint)?
        }
    };
    let client = connect(&urls, &args.access, Some(&pin))?;

    let new_password =
        password::read_new_password("New vault password: ", args.password_file.as_deref())?;
    let vault_key = BackupKey::generate();
    let enrollment = client
        .enroll(new_password.as_bytes(), &vault_key, args.guess_limit)
        .await
        .context("vault enrollment failed")?;
    let kind = SlotKind::Vault {
        vault_url: urls.join(&URL_SEPARATOR.to_string()),
        account: enrollment.account.clone(),
        vault_id: enrollment.vault_id.clone(),
        server_fingerprint: enrollment.fingerprint.clone(),
    };
    let slot = match repo.add_slot(&vault_key, kind).await {
        Ok(slot) => slot,
        Err(error) => {
            // Without the slot the record is useless; erase it so that a retry
            // starts clean.
            if let Err(cleanup) = client.remove().await {
                tracing::warn!(%cleanup, "could not erase the vault record after the slot write failed");
            }
            return Err(error)
                .context("cannot write the vault key slot; the vault record was erased");
        }
    };
    eprintln!(
        "Password enrolled at {} for account {:?} (vault {}, {} wrong guesses allowed); \
         key slot {slot} added.",
        client.current_url(),
        enrollment.account,
        enrollment.vault_id,
        enrollment.guess_limit
    );
    Ok(())
}
