//! Logs of a full run of every vault flow at debug level hold no password, backup
//! key, export key, session key or token.

mod vault_support;

use haven_crypto::BackupKey;
use haven_vault_proto::client::{recover_finish, recover_start};
use haven_vault_proto::wire::{RecoverFinishResponse, RecoverStartResponse};
use vault_support::{base64url, haven, VaultDir, TENANT, VAULT_ID};

/// Every text form in which a secret might show up in a log.
fn forms(bytes: &[u8]) -> Vec<String> {
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut out = vec![hex.clone(), hex.to_uppercase(), base64url(bytes)];
    // A debug print of a byte array: "[12, 34, ...]" (first 8 bytes suffice).
    let debug: Vec<String> = bytes.iter().take(8).map(u8::to_string).collect();
    out.push(debug.join(", "));
    out
}

#[test]
fn logs_hold_no_secrets() {
    let vault = VaultDir::new();
    let server = vault.serve(&[]);
    let token = vault.token("logged-account");
    let first_password = "first-password-7b1e";
    let second_password = "second-password-c9d2";
    let key = BackupKey::generate();
    let mut secrets: Vec<(String, String)> = vec![
        ("first password".into(), first_password.into()),
        ("second password".into(), second_password.into()),
        ("token".into(), token.clone()),
        (
            "grouped backup key".into(),
            key.to_grouped_digits().to_string(),
        ),
    ];
    for form in forms(key.secret().expose()) {
        secrets.push(("backup key".into(), form));
    }

    server.enroll(&token, first_password, &key, 10);
    // A full recovery, keeping the export and session keys to search for.
    let (state, request) = recover_start(first_password.as_bytes()).unwrap();
    let reply = server.post("/v1/recover/start", &token, &to_json!(request));
    let response = from_json!(reply, RecoverStartResponse);
    let progress = recover_finish(
        state,
        first_password.as_bytes(),
        &response,
        VAULT_ID,
        Some(&vault.fingerprint),
    )
    .unwrap();
    let (export_key, session_key) = progress.secret_keys_for_log_tests();
    for form in forms(export_key) {
        secrets.push(("export key".into(), form));
    }
    for form in forms(session_key) {
        secrets.push(("session key".into(), form));
    }
    let reply = server.post("/v1/recover/finish", &token, &to_json!(progress.request));
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        progress
            .open(&from_json!(reply, RecoverFinishResponse))
            .unwrap(),
        key
    );

    assert_eq!(server.recover(&token, second_password), Err(9));
    let _ = server.recover_start(&token, first_password);
    assert_eq!(server.status(&token).guesses_remaining, 8);
    assert_eq!(
        server
            .request("DELETE", "/v1/record", Some(&token), None)
            .status,
        204
    );
    server.enroll(&token, second_password, &key, 5);
    assert_eq!(server.recover(&token, second_password), Ok(key.clone()));
    assert_eq!(
        server.post("/v1/recover/start", &token, "{garbage").status,
        400
    );
    let tampered = format!("{token}x");
    assert_eq!(server.get("/v1/record", Some(&tampered)).status, 401);
    let cli = haven()
        .env("HAVEN_LOG", "debug")
        .args([
            "vault",
            "token",
            "--tenant",
            TENANT,
            "--account",
            "logged-account",
            "--vault-id",
            VAULT_ID,
        ])
        .arg("--tenant-key")
        .arg(vault.path("acme.key"))
        .output()
        .unwrap();
    assert!(cli.status.success());
    let cli_token = String::from_utf8(cli.stdout).unwrap().trim().to_string();
    secrets.push(("CLI token".into(), cli_token));
    drop(server);

    let mut logs = vault.logs();
    logs.push_str(&String::from_utf8_lossy(&cli.stderr));
    assert!(
        logs.contains("record enrolled"),
        "debug logs were not captured:\n{logs}"
    );
    assert!(
        logs.contains("guess charged"),
        "debug logs were not captured:\n{logs}"
    );
    for (what, secret) in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "the logs contain the {what}"
        );
    }
    // A token's signature alone must not appear either.
    let signature = token.rsplit('.').next().unwrap();
    assert!(
        !logs.contains(signature),
        "the logs contain a token signature"
    );
}
