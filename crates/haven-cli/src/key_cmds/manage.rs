//! `haven key change-password`, `remove-password` and `add-password`.

use anyhow::{bail, Context};
use haven_crypto::BackupKey;
use haven_repo::{Repository, SlotKind};

use super::enroll::add_vault_slot;
use super::slots::{choose_vault_slot, connect_to_slot, open_storage, vault_slots};
use super::vault::recover_key;
use super::{keyfile, password, AddPasswordArgs, ChangePasswordArgs, RemovePasswordArgs};
use crate::common::outln;
use crate::common::RepoArgs;

/// Recovers the vault key with the current password, then enrolls the same key under
/// a new one. The vault destroys the old record when the new one is enrolled, so the
/// old password stops working; the key slot stays as it is.
pub async fn change_password(args: ChangePasswordArgs) -> anyhow::Result<()> {
    let storage = open_storage(&args.repo)?;
    let slot = choose_vault_slot(&storage, args.slot.as_deref()).await?;
    let client = connect_to_slot(&slot, &args.access)?;
    let old_limit = client.status().await?.guess_limit;
    let key = recover_key(&client, &args.password).await?;
    Repository::open(storage, &key).await.with_context(|| {
        format!(
            "the vault released a key that does not open {}; the password was not changed",
            args.repo
        )
    })?;

    let new_password =
        password::read_new_password("New vault password: ", args.new_password_file.as_deref())?;
    let limit = args.guess_limit.unwrap_or(old_limit);
    let enrollment = client
        .enroll(new_password.as_bytes(), &key, Some(limit))
        .await
        .context("enrolling the new password failed; the old password may no longer work, so run change-password again or use the 64-digit key")?;
    eprintln!(
        "Password changed for account {:?} at {} ({} wrong guesses allowed).",
        enrollment.account,
        client.current_url(),
        enrollment.guess_limit
    );
    Ok(())
}

/// Erases the vault record and removes the vault key slot. When the local key file
/// contains the vault key, a new 64-digit key slot is created first and its key
/// replaces the key file, so the repository stays open to the user.
pub async fn remove_password(args: RemovePasswordArgs) -> anyhow::Result<()> {
    let repo = open_with_local_key(&args.target).await?;
    let storage = repo.storage().clone();
    let slots = vault_slots(&storage).await?;
    if slots.is_empty() {
        bail!(
            "the repository {} has no vault key slot; there is no password to remove",
            args.target.repo
        );
    }
    // Connect to every vault first, so a missing token fails before anything changes.
    let mut clients = Vec::new();
    for slot in &slots {
        clients.push(connect_to_slot(slot, &args.access)?);
    }

    if slots.iter().any(|slot| slot.id == repo.opened_slot()) {
        let Some(key_file) = &args.target.key_file else {
            bail!(
                "the given key is the vault key, which stops working when the password is \
                 removed; pass it as --key-file, so that haven can replace the file with a \
                 new 64-digit key"
            );
        };
        let new_key = BackupKey::generate();
        let new_slot = repo
            .add_slot(&new_key, SlotKind::RecoveryKey)
            .await
            .context("cannot add a 64-digit key slot; nothing was removed")?;
        outln!(
            "New 64-digit key (key slot {new_slot}); write it down, it is shown only once:\n{}",
            new_key.to_grouped_digits().as_str()
        );
        keyfile::replace(key_file, &new_key)?;
        eprintln!(
            "The new key replaced the vault key in {}.",
            key_file.display()
        );
    }

    for (slot, client) in slots.iter().zip(&clients) {
        client.remove().await.with_context(|| {
            format!(
                "cannot erase the vault record of slot {}; run remove-password again",
                slot.id
            )
        })?;
        repo.remove_slot(slot.id)
            .await
            .with_context(|| format!("the vault record is erased, but removing key slot {} failed; run remove-password again", slot.id))?;
        eprintln!(
            "Vault record erased at {} and key slot {} removed.",
            slot.urls.join(", "),
            slot.id
        );
    }
    eprintln!("Password protection removed; the repository's 64-digit key opens it.");
    Ok(())
}

/// Enrolls a vault password for an existing repository opened with the local key.
pub async fn add_password(args: AddPasswordArgs) -> anyhow::Result<()> {
    if args.enroll.vault.is_empty() {
        bail!("add-password needs --vault URL: the vault that will hold the key");
    }
    let repo = open_with_local_key(&args.target).await?;
    let storage = repo.storage().clone();
    if let Some(slot) = vault_slots(&storage).await?.first() {
        bail!(
            "the repository {} already has a vault password (key slot {}); use \
             `haven key change-password` to change it",
            args.target.repo,
            slot.id
        );
    }
    add_vault_slot(&repo, &args.enroll).await
}

/// Opens the repository with the key from --key or --key-file.
async fn open_with_local_key(target: &RepoArgs) -> anyhow::Result<Repository> {
    let key = target.backup_key()?;
    let storage = open_storage(&target.repo)?;
    Repository::open(storage, &key)
        .await
        .with_context(|| format!("the given key does not open the repository {}", target.repo))
}
