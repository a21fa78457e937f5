//! `haven init --vault` and `haven key recover` against a real vault process: the
//! lost-phone path from backup to restore, and the fingerprint pin.

mod key_support;

use std::os::unix::fs::PermissionsExt;

use key_support::{run, run_ok, stderr, tree_contents, write_sample_files, Machine, Vault};

#[test]
fn lost_key_file_recovered_with_password() {
    let vault = Vault::start();
    let phone = Machine::new(&vault, "alice");
    let init = phone.init_with_vault(&vault, &["--account", "alice"]);
    assert!(
        init.status.success(),
        "init failed: {}\n{}",
        stderr(&init),
        vault.log()
    );

    let source = phone.path("source");
    write_sample_files(&source);
    run_ok(
        phone
            .haven()
            .args(["backup", "--repo", &phone.repo(), "--key-file"])
            .arg(phone.path("key"))
            .arg(&source),
    );

    // The phone is lost: only the repository remains.
    std::fs::remove_file(phone.path("key")).unwrap();
    let recovered_key = phone.path("recovered.key");
    let recover = phone.recover(&recovered_key, &phone.path("password"), &[]);
    assert!(
        recover.status.success(),
        "recover failed: {}",
        stderr(&recover)
    );
    let mode = std::fs::metadata(&recovered_key)
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(
        mode, 0o600,
        "the key file must be readable by its owner only"
    );

    let target = phone.path("restored");
    run_ok(
        phone
            .haven()
            .args(["restore", "--repo", &phone.repo(), "--key-file"])
            .arg(&recovered_key)
            .arg("latest")
            .arg("--target")
            .arg(&target),
    );
    assert_eq!(
        tree_contents(&source),
        tree_contents(&target.join("source"))
    );
}

#[test]
fn recover_rejects_existing_key_file() {
    let vault = Vault::start();
    let phone = Machine::new(&vault, "bob");
    let init = phone.init_with_vault(&vault, &[]);
    assert!(init.status.success(), "init failed: {}", stderr(&init));

    let before = std::fs::read(phone.path("key")).unwrap();
    let recover = phone.recover(&phone.path("key"), &phone.path("password"), &[]);
    assert!(!recover.status.success());
    assert!(
        stderr(&recover).contains("already exists"),
        "{}",
        stderr(&recover)
    );
    assert_eq!(
        std::fs::read(phone.path("key")).unwrap(),
        before,
        "the key file changed"
    );
}

#[test]
fn init_without_fingerprint_pins_vault_key() {
    let vault = Vault::start();
    let phone = Machine::new(&vault, "carol");
    let init = run(phone
        .haven()
        .args(["init", "--repo", &phone.repo(), "--key-file"])
        .arg(phone.path("key"))
        .args(["--vault", &vault.url, "--password-file"])
        .arg(phone.path("password")));
    assert!(init.status.success(), "init failed: {}", stderr(&init));
    assert!(
        stderr(&init).contains(&format!("Vault fingerprint: {}", vault.fingerprint)),
        "{}",
        stderr(&init)
    );

    let show = run_ok(
        phone
            .haven()
            .args(["key", "show", "--repo", &phone.repo(), "--key-file"])
            .arg(phone.path("key")),
    );
    assert!(show.contains(&vault.fingerprint), "{show}");
    assert!(show.contains("carol"), "{show}");
}

#[test]
fn pinned_fingerprint_mismatch_rejected() {
    let vault = Vault::start();
    let phone = Machine::new(&vault, "dave");
    let wrong = "ab".repeat(32);
    let init = run(phone
        .haven()
        .args(["init", "--repo", &phone.repo(), "--key-file"])
        .arg(phone.path("key"))
        .args(["--vault", &vault.url, "--vault-fingerprint", &wrong])
        .arg("--password-file")
        .arg(phone.path("password")));
    let message = stderr(&init);
    assert!(!init.status.success(), "init with a wrong pin succeeded");
    assert!(message.contains(&wrong), "{message}");
    assert!(message.contains(&vault.fingerprint), "{message}");

    // Nothing was enrolled: the repository has no vault slot.
    let show = run_ok(
        phone
            .haven()
            .args(["key", "show", "--repo", &phone.repo(), "--key-file"])
            .arg(phone.path("key")),
    );
    assert!(!show.contains("vault password"), "{show}");
}
