//! Finding a repository's vault key slot and connecting to the vault it names.

use anyhow::{bail, Context};
use haven_repo::{Repository, SlotId, SlotKind, Storage};
use haven_vault_client::{token_principal, ClientOptions, VaultClient};

use super::vault::{read_token, VaultAccessArgs};

/// A vault key slot: its id and the vault metadata it stores.
#[derive(Clone, Debug)]
pub struct VaultSlot {
    pub id: SlotId,
    pub urls: Vec<String>,
    pub account: String,
    pub vault_id: String,
    pub fingerprint: String,
}

/// Separator between node URLs in a slot's `vault_url` field.
pub const URL_SEPARATOR: char = ',';

/// Opens the storage at `url`.
pub fn open_storage(url: &str) -> anyhow::Result<Storage> {
    Storage::open(url).with_context(|| format!("cannot open the repository location {url}"))
}

/// Lists the repository's vault key slots (no key needed).
pub async fn vault_slots(storage: &Storage) -> anyhow::Result<Vec<VaultSlot>> {
    let list = Repository::list_slots(storage)
        .await
        .with_context(|| format!("cannot read the key slots of {}", storage.url()))?;
    for damage in &list.damaged {
        tracing::warn!(?damage, "a key slot is damaged and was skipped");
    }
    Ok(list
        .slots
        .into_iter()
        .filter_map(|slot| match slot.kind {
            SlotKind::Vault {
                vault_url,
                account,
                vault_id,
                server_fingerprint,
            } => Some(VaultSlot {
                id: slot.id,
                urls: vault_url
                    .split(URL_SEPARATOR)
                    .map(str::trim)
                    .filter(|url| !url.is_empty())
                    .map(str::to_string)
                    .collect(),
                account,
                vault_id,
                fingerprint: server_fingerprint,
            }),
            SlotKind::RecoveryKey => None,
        })
        .collect())
}

/// Picks the vault slot to use: the one named by `wanted`, or the only one.
pub async fn choose_vault_slot(
    storage: &Storage,
    wanted: Option<&str>,
) -> anyhow::Result<VaultSlot> {
    let slots = vault_slots(storage).await?;
    if let Some(wanted) = wanted {
        return slots
            .into_iter()
            .find(|slot| slot.id.to_string() == wanted.trim().to_ascii_lowercase())
            .with_context(|| {
                format!("the repository {} has no vault key slot {wanted}; `haven key show` lists the slots", storage.url())
            });
    }
    match slots.len() {
        0 => bail!(
            "the repository {} has no vault key slot, so no password opens it; \
             open it with its 64-digit key (--key-file), or add a password with \
             `haven key add-password`",
            storage.url()
        ),
        1 => Ok(slots.into_iter().next().expect("one slot")),
        n => bail!(
            "the repository {} has {n} vault key slots ({}); choose one with --slot",
            storage.url(),
            slots
                .iter()
                .map(|slot| slot.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Connects to the vault a slot names, pinned to the slot's fingerprint and vault
/// id. Rejects a token for another account before any guess is spent.
pub fn connect_to_slot(slot: &VaultSlot, access: &VaultAccessArgs) -> anyhow::Result<VaultClient> {
    let token = read_token(access.vault_token_file.as_deref())?;
    let principal = token_principal(&token)?;
    if principal.account != slot.account {
        bail!(
            "the vault token is for account {:?}, but the repository's vault key slot is \
             for account {:?}; get a token for {:?}",
            principal.account,
            slot.account,
            slot.account
        );
    }
    let mut options = ClientOptions::new(slot.urls.clone(), token, Some(slot.fingerprint.clone()));
    options.vault_id = Some(slot.vault_id.clone());
    options.ca_file = access.vault_ca_file.clone();
    options.allow_insecure_ksf = super::vault::allow_insecure_ksf();
    Ok(VaultClient::with_options(options)?)
}
