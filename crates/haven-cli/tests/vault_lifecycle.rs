//! Record lifecycle and limits: /v1/info, enrolling over an existing record, deleting
//! a record, and the per-account and per-address rate limits.

mod vault_support;

use haven_crypto::BackupKey;
use haven_vault_proto::wire::InfoResponse;
use vault_support::{VaultDir, VAULT_ID};

#[test]
fn info_describes_vault() {
    let vault = VaultDir::new();
    let server = vault.serve(&["--default-guess-limit", "7"]);
    let info = from_json!(server.get("/v1/info", None), InfoResponse);
    assert_eq!(info.vault_id, VAULT_ID);
    assert_eq!(info.fingerprint, vault.fingerprint);
    assert_eq!(
        haven_vault_proto::fingerprint(&info.server_public_key.0),
        vault.fingerprint
    );
    assert_eq!(info.default_guess_limit, 7);
    assert_eq!(info.max_guess_limit, 5000);
    assert_eq!(info.ksf_version, 0);
    assert!(info.ksf_versions.contains(&1));
}

#[test]
fn enroll_replaces_and_delete_erases() {
    let vault = VaultDir::new();
    let server = vault.serve(&[]);
    let token = vault.token("grace");
    let old_key = BackupKey::generate();
    let new_key = BackupKey::generate();
    server.enroll(&token, "old password", &old_key, 10);
    assert_eq!(server.recover(&token, "wrong"), Err(9));
    server.enroll(&token, "new password", &new_key, 4);
    let status = server.status(&token);
    assert_eq!((status.guesses_remaining, status.guess_limit), (4, 4));
    assert!(server.recover(&token, "old password").is_err());
    assert_eq!(server.recover(&token, "new password"), Ok(new_key.clone()));

    let reply = server.request("DELETE", "/v1/record", Some(&token), None);
    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(server.recover(&token, "new password").is_err());
    assert_eq!(server.metric("haven_vault_records_erased_total"), 2);
}

#[test]
fn account_rate_limit_returns_429() {
    let vault = VaultDir::new();
    let server = vault.serve(&["--account-rate", "0.5", "--account-burst", "3"]);
    let token = vault.token("henry");
    for _ in 0..3 {
        assert_eq!(server.get("/v1/record", Some(&token)).status, 200);
    }
    let limited = server.get("/v1/record", Some(&token));
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(limited.error().error, "rate_limited");
    let retry_after: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    // Another account is not limited.
    assert_eq!(
        server.get("/v1/record", Some(&vault.token("irene"))).status,
        200
    );
}

#[test]
fn address_rate_limit_returns_429() {
    let vault = VaultDir::new();
    let server = vault.serve(&["--address-rate", "0.5", "--address-burst", "4"]);
    for _ in 0..4 {
        assert_eq!(server.get("/v1/info", None).status, 200);
    }
    let limited = server.get("/v1/info", None);
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.header("retry-after").is_some());
    // Health checks and metrics are not limited.
    assert_eq!(server.get("/healthz", None).status, 200);
}
