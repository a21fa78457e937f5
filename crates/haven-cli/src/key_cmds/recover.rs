//! `haven key recover`: on a new machine, get the backup key back from the vault
//! with the password and write it to a local key file.

use anyhow::{bail, Context};
use haven_repo::Repository;

use super::slots::{choose_vault_slot, connect_to_slot, open_storage};
use super::vault::recover_key;
use super::{keyfile, RecoverArgs};

pub async fn run(args: RecoverArgs) -> anyhow::Result<()> {
    let key_file = &args.target.key_file;
    // Check before the guess is spent, not after.
    if key_file.exists() {
        bail!(
            "the key file {} already exists; choose another --key-file, or move the file \
             away if it holds no key you need",
            key_file.display()
        );
    }
    let storage = open_storage(&args.target.repo)?;
    let slot = choose_vault_slot(&storage, args.slot.as_deref()).await?;
    let client = connect_to_slot(&slot, &args.access)?;
    eprintln!(
        "Recovering the key of slot {} from the vault at {} (account {:?}).",
        slot.id,
        slot.urls.join(", "),
        slot.account
    );
    let key = recover_key(&client, &args.password).await?;

    let repo = Repository::open(storage, &key).await.with_context(|| {
        format!(
            "the vault released a key, but it does not open the repository {}; \
             the repository's vault slot may belong to an older enrollment",
            args.target.repo
        )
    })?;
    if repo.opened_slot() != slot.id {
        tracing::warn!(opened = %repo.opened_slot(), expected = %slot.id, "the released key opened another slot");
    }
    keyfile::write_new(key_file, &key)?;
    eprintln!(
        "Key recovered: {} now opens the repository {} (key slot {}).",
        key_file.display(),
        args.target.repo,
        repo.opened_slot()
    );
    Ok(())
}
