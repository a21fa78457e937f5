//! Opening with the right key, wrong keys, and key slot management.

mod common;

use common::*;
use haven_crypto::BackupKey;
use haven_repo::{RepoError, Repository, SlotKind, Storage};

fn assert_wrong_key(result: Result<Repository, RepoError>) {
    match result {
        Err(e @ RepoError::WrongKey { .. }) => {
            let message = e.to_string();
            assert!(message.contains("does not open repository"), "{message}");
            assert!(message.contains("check the key or key file"), "{message}");
        }
        Err(other) => panic!("expected a wrong-key error, got {other}"),
        Ok(_) => panic!("a wrong key opened the repository"),
    }
}

/// Changes one hex digit of the key's 64-digit form.
fn typo(key: &BackupKey) -> BackupKey {
    let mut digits: Vec<char> = key.to_grouped_digits().chars().collect();
    let position = digits.iter().position(|c| c.is_ascii_hexdigit()).unwrap() + 5;
    digits[position] = if digits[position] == '0' { '1' } else { '0' };
    BackupKey::parse(&digits.into_iter().collect::<String>()).unwrap()
}

#[tokio::test]
async fn wrong_keys_do_not_open() {
    let t = new_repo().await;
    let storage = Storage::open(&t.url).unwrap();
    assert_wrong_key(Repository::open(storage.clone(), &BackupKey::generate()).await);
    assert_wrong_key(Repository::open(storage.clone(), &typo(&t.key)).await);

    let other = new_repo().await;
    assert_wrong_key(Repository::open(storage.clone(), &other.key).await);

    let repo = Repository::open(storage, &t.key).await.unwrap();
    assert_eq!(repo.opened_slot(), t.repo.opened_slot());
}

#[tokio::test]
async fn added_slot_opens_and_last_slot_stays() {
    let t = new_repo().await;
    let storage = Storage::open(&t.url).unwrap();
    let vault_key = BackupKey::generate();
    let kind = SlotKind::Vault {
        vault_url: "https://vault.example".into(),
        account: "alice".into(),
        vault_id: "v1".into(),
        server_fingerprint: "ab".repeat(32),
    };
    let files_before = t.objects("data").len() + t.objects("index").len();
    let vault_slot = t.repo.add_slot(&vault_key, kind.clone()).await.unwrap();
    assert_eq!(
        t.objects("data").len() + t.objects("index").len(),
        files_before
    );

    let listed = Repository::list_slots(&storage).await.unwrap();
    assert_eq!(listed.slots.len(), 2);
    assert!(listed.damaged.is_empty());
    let vault_info = listed.slots.iter().find(|s| s.id == vault_slot).unwrap();
    assert_eq!(vault_info.kind, kind);

    let by_vault = Repository::open(storage.clone(), &vault_key).await.unwrap();
    assert_eq!(by_vault.opened_slot(), vault_slot);
    assert_eq!(by_vault.id(), t.repo.id());

    let recovery_slot = t.repo.opened_slot();
    by_vault.remove_slot(recovery_slot).await.unwrap();
    assert_wrong_key(Repository::open(storage.clone(), &t.key).await);
    match by_vault.remove_slot(vault_slot).await {
        Err(RepoError::LastSlot { .. }) => {}
        other => panic!(
            "expected LastSlot, got {other:?}",
            other = other.map(|_| ())
        ),
    }
    Repository::open(storage, &vault_key).await.unwrap();
}

#[tokio::test]
async fn init_rejects_existing_repository() {
    let t = new_repo().await;
    let result = Repository::init(
        Storage::open(&t.url).unwrap(),
        &BackupKey::generate(),
        small_options(),
    )
    .await;
    assert!(matches!(result, Err(RepoError::AlreadyExists { .. })));
}

#[tokio::test]
async fn open_empty_folder_is_not_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    let result = Repository::open(
        Storage::open(dir.path().to_str().unwrap()).unwrap(),
        &BackupKey::generate(),
    )
    .await;
    assert!(matches!(result, Err(RepoError::NotARepository { .. })));
}

#[tokio::test]
async fn memory_storage_round_trip() {
    let storage = Storage::open("memory://").unwrap();
    let key = BackupKey::generate();
    Repository::init(storage.clone(), &key, small_options())
        .await
        .unwrap();
    Repository::open(storage, &key).await.unwrap();
}
