//! A guess charged by recover/start survives SIGKILL of the vault before the finish.

mod vault_support;

use haven_crypto::BackupKey;
use vault_support::VaultDir;

#[test]
fn charged_guess_survives_sigkill() {
    let vault = VaultDir::new();
    let token = vault.token("erin");
    let key = BackupKey::generate();
    let mut server = vault.serve(&[]);
    server.enroll(&token, "right horse", &key, 10);
    let (state, response) = server.recover_start(&token, "right horse");
    assert_eq!(response.guesses_remaining, 9);
    // Child::kill sends SIGKILL on Unix: no shutdown code runs.
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reap");
    drop(server);

    let server = vault.serve(&[]);
    let status = server.status(&token);
    assert_eq!(status.guesses_remaining, 9, "the charged guess was lost");
    // The session sealed before the kill still finishes, and a verified login resets.
    assert_eq!(
        server.recover_finish(&token, "right horse", state, &response),
        Ok(key)
    );
    assert_eq!(server.status(&token).guesses_remaining, 10);
}

#[test]
fn replayed_session_releases_nothing() {
    let vault = VaultDir::new();
    let token = vault.token("frank");
    let key = BackupKey::generate();
    let server = vault.serve(&[]);
    server.enroll(&token, "right horse", &key, 10);
    let (state, response) = server.recover_start(&token, "right horse");
    let progress = haven_vault_proto::client::recover_finish(
        state,
        b"right horse",
        &response,
        vault_support::VAULT_ID,
        Some(&vault.fingerprint),
    )
    .unwrap();
    let body = to_json!(progress.request);
    let first = server.post("/v1/recover/finish", &token, &body);
    assert_eq!(first.status, 200, "{}", first.body);
    let replay = server.post("/v1/recover/finish", &token, &body);
    assert_eq!(replay.status, 403, "{}", replay.body);
    assert_eq!(replay.error().error, "wrong_password");
}
