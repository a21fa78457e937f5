//! `haven key` password management against a real vault process: guess counting
//! and the last-guess warning, change-password, remove-password and add-password.

mod key_support;

use std::process::Output;

use key_support::{run, run_ok, stderr, Machine, Vault};

/// A repository made by `haven init` and given a vault password by
/// `haven key add-password`.
fn repo_with_password(vault: &Vault, account: &str, extra: &[&str]) -> Machine {
    let phone = Machine::new(vault, account);
    run_ok(
        phone
            .haven()
            .args(["init", "--repo", &phone.repo(), "--key-file"])
            .arg(phone.path("key")),
    );
    let add = run(phone
        .haven()
        .args(["key", "add-password", "--repo", &phone.repo(), "--key-file"])
        .arg(phone.path("key"))
        .args([
            "--vault",
            &vault.url,
            "--vault-fingerprint",
            &vault.fingerprint,
        ])
        .arg("--password-file")
        .arg(phone.path("password"))
        .args(extra));
    assert!(
        add.status.success(),
        "add-password failed: {}\n{}",
        stderr(&add),
        vault.log()
    );
    phone
}

fn assert_failed_with(output: &Output, text: &str) {
    assert!(
        !output.status.success(),
        "the command succeeded; expected {text:?}"
    );
    assert!(
        stderr(output).contains(text),
        "expected {text:?} in: {}",
        stderr(output)
    );
}

/// Runs `haven snapshots` with `key_file`; succeeds only if the key opens the repository.
fn opens_repository(phone: &Machine, key_file: &std::path::Path) -> bool {
    run(phone
        .haven()
        .args(["snapshots", "--repo", &phone.repo(), "--key-file"])
        .arg(key_file))
    .status
    .success()
}

#[test]
fn add_password_then_recover() {
    let vault = Vault::start();
    let phone = repo_with_password(&vault, "erin", &[]);
    let recovered = phone.path("recovered.key");
    let recover = phone.recover(&recovered, &phone.path("password"), &[]);
    assert!(
        recover.status.success(),
        "recover failed: {}",
        stderr(&recover)
    );
    assert!(opens_repository(&phone, &recovered));

    let again = run(phone
        .haven()
        .args(["key", "add-password", "--repo", &phone.repo(), "--key-file"])
        .arg(phone.path("key"))
        .args(["--vault", &vault.url, "--password-file"])
        .arg(phone.path("password")));
    assert_failed_with(&again, "already has a vault password");
}

#[test]
fn wrong_password_counts_down_to_last_guess() {
    let vault = Vault::start();
    let phone = repo_with_password(&vault, "frank", &["--guess-limit", "3"]);
    let wrong = phone.password_file("wrong", "not the password");
    let key_file = phone.path("recovered.key");

    let first = phone.recover(&key_file, &wrong, &[]);
    assert_failed_with(&first, "2 guess(es) remain");
    let second = phone.recover(&key_file, &wrong, &[]);
    assert_failed_with(&second, "only 1 guess remains");

    // A script must opt in to spend the last guess; refusing spends nothing.
    let refused = phone.recover(&key_file, &phone.path("password"), &[]);
    assert_failed_with(&refused, "--i-understand-last-guess");
    assert!(stderr(&refused).contains("Warning: only 1 guess remains"));
    assert!(!key_file.exists());

    let last = phone.recover(
        &key_file,
        &phone.path("password"),
        &["--i-understand-last-guess"],
    );
    assert!(last.status.success(), "recover failed: {}", stderr(&last));
    assert!(opens_repository(&phone, &key_file));

    // A verified login resets the counter.
    let after = phone.recover(&phone.path("other.key"), &wrong, &[]);
    assert_failed_with(&after, "2 guess(es) remain");
}

#[test]
fn last_wrong_guess_erases_record() {
    let vault = Vault::start();
    let phone = repo_with_password(&vault, "grace", &["--guess-limit", "2"]);
    let wrong = phone.password_file("wrong", "not the password");
    let key_file = phone.path("recovered.key");

    let first = phone.recover(&key_file, &wrong, &[]);
    assert_failed_with(&first, "only 1 guess remains");
    let last = phone.recover(&key_file, &wrong, &["--i-understand-last-guess"]);
    assert_failed_with(&last, "erased the record");

    let right = phone.recover(
        &key_file,
        &phone.path("password"),
        &["--i-understand-last-guess"],
    );
    assert!(
        !right.status.success(),
        "the erased record still released a key"
    );
    assert!(!key_file.exists());
    assert!(
        opens_repository(&phone, &phone.path("key")),
        "the 64-digit key must still open"
    );
}

#[test]
fn change_password_replaces_old_one() {
    let vault = Vault::start();
    let phone = repo_with_password(&vault, "heidi", &[]);
    let new_password = phone.password_file("new-password", "a brand new passphrase");
    let change = run(phone
        .haven()
        .args([
            "key",
            "change-password",
            "--repo",
            &phone.repo(),
            "--password-file",
        ])
        .arg(phone.path("password"))
        .arg("--new-password-file")
        .arg(&new_password));
    assert!(
        change.status.success(),
        "change-password failed: {}",
        stderr(&change)
    );

    let old = phone.recover(&phone.path("old.key"), &phone.path("password"), &[]);
    assert_failed_with(&old, "wrong password");
    let new = phone.recover(&phone.path("new.key"), &new_password, &[]);
    assert!(new.status.success(), "recover failed: {}", stderr(&new));
    assert!(opens_repository(&phone, &phone.path("new.key")));
}

#[test]
fn remove_password_erases_record() {
    let vault = Vault::start();
    let phone = repo_with_password(&vault, "ivan", &[]);
    // A copy of the repository still has the vault slot, so it can ask the vault.
    let copy = phone.path("repo-copy");
    copy_dir(&phone.path("repo"), &copy);

    let remove = run(phone
        .haven()
        .args([
            "key",
            "remove-password",
            "--repo",
            &phone.repo(),
            "--key-file",
        ])
        .arg(phone.path("key")));
    assert!(
        remove.status.success(),
        "remove-password failed: {}",
        stderr(&remove)
    );
    assert!(
        opens_repository(&phone, &phone.path("key")),
        "the 64-digit key must still open"
    );

    let show = run_ok(
        phone
            .haven()
            .args(["key", "show", "--repo", &phone.repo(), "--key-file"])
            .arg(phone.path("key")),
    );
    assert!(!show.contains("vault password"), "{show}");
    let no_slot = phone.recover(&phone.path("a.key"), &phone.path("password"), &[]);
    assert_failed_with(&no_slot, "has no vault key slot");

    // The right password no longer releases anything: the record is gone.
    let from_copy = run(phone
        .haven()
        .args([
            "key",
            "recover",
            "--repo",
            &copy.display().to_string(),
            "--key-file",
        ])
        .arg(phone.path("b.key"))
        .arg("--password-file")
        .arg(phone.path("password")));
    assert_failed_with(&from_copy, "wrong password");
    assert!(!phone.path("b.key").exists());
}

#[test]
fn remove_password_replaces_vault_key_file() {
    let vault = Vault::start();
    let phone = repo_with_password(&vault, "judy", &[]);
    let vault_key = phone.path("vault.key");
    let recover = phone.recover(&vault_key, &phone.path("password"), &[]);
    assert!(
        recover.status.success(),
        "recover failed: {}",
        stderr(&recover)
    );
    let before = std::fs::read_to_string(&vault_key).unwrap();

    let remove = run(phone
        .haven()
        .args([
            "key",
            "remove-password",
            "--repo",
            &phone.repo(),
            "--key-file",
        ])
        .arg(&vault_key));
    assert!(
        remove.status.success(),
        "remove-password failed: {}",
        stderr(&remove)
    );
    let printed = String::from_utf8_lossy(&remove.stdout).into_owned();
    let after = std::fs::read_to_string(&vault_key).unwrap();
    assert_ne!(before, after, "the key file still holds the vault key");
    assert!(
        printed.contains(after.trim()),
        "the new key was not printed: {printed}"
    );
    assert!(
        opens_repository(&phone, &vault_key),
        "the new 64-digit key must open"
    );
    assert!(
        opens_repository(&phone, &phone.path("key")),
        "the first 64-digit key must still open"
    );
}

#[test]
fn recover_rejects_token_for_other_account() {
    let vault = Vault::start();
    let phone = repo_with_password(&vault, "mallory", &[]);
    let recover = run(phone
        .haven()
        .env("HAVEN_VAULT_TOKEN", vault.token("someone-else"))
        .args(["key", "recover", "--repo", &phone.repo(), "--key-file"])
        .arg(phone.path("x.key"))
        .arg("--password-file")
        .arg(phone.path("password")));
    assert_failed_with(&recover, "someone-else");
    assert!(!phone.path("x.key").exists());
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
