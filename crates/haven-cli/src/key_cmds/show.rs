//! `haven key show`: the local key as 64 digits, and the key slot it opens.

use anyhow::Context;
use haven_repo::{Repository, SlotKind};

use super::slots::open_storage;
use super::ShowArgs;
use crate::common::outln;

pub async fn run(args: ShowArgs) -> anyhow::Result<()> {
    let key = args.target.backup_key()?;
    // Written straight from the zeroized buffer: no formatted copy of the key.
    crate::common::print_stdout(key.to_grouped_digits().as_str())?;
    let url = &args.target.repo;
    let storage = open_storage(url)?;
    let list = Repository::list_slots(&storage)
        .await
        .with_context(|| format!("cannot read the key slots of {url}"))?;
    let repo = Repository::open(storage, &key)
        .await
        .with_context(|| format!("the given key does not open the repository {url}"))?;
    let opened = repo.opened_slot();
    for slot in &list.slots {
        let marker = if slot.id == opened {
            "opened by this key"
        } else {
            ""
        };
        let description = match &slot.kind {
            SlotKind::RecoveryKey => "64-digit key".to_string(),
            SlotKind::Vault {
                vault_url,
                account,
                vault_id,
                server_fingerprint,
            } => format!(
                "vault password: {vault_url}, account {account:?}, vault {vault_id}, fingerprint {server_fingerprint}"
            ),
        };
        outln!("slot {} {description} {marker}", slot.id);
    }
    Ok(())
}
