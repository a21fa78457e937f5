//! Bearer tokens: expired, wrong-audience, wrong-tenant, unknown-tenant and unsigned
//! tokens get 401 from a real vault; tokens of an HS256 and an EdDSA tenant work.

mod vault_support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use haven_vault_auth::{mint, SigningKey, TenantAlg};
use vault_support::{base64url, haven, run_ok, Server, VaultDir, TENANT, VAULT_ID};

fn unsigned_token(alg: &str, signature: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let header = format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#);
    let claims = format!(
        r#"{{"iss":"{TENANT}","sub":"alice","aud":"{VAULT_ID}","iat":{now},"exp":{}}}"#,
        now + 600
    );
    format!(
        "{}.{}.{signature}",
        base64url(header.as_bytes()),
        base64url(claims.as_bytes())
    )
}

fn assert_401(server: &Server, token: &str, case: &str) {
    for (method, path, body) in [
        ("GET", "/v1/record", None),
        (
            "POST",
            "/v1/recover/start",
            Some(br#"{"credential_request":"AA"}"#.as_slice()),
        ),
        (
            "POST",
            "/v1/enroll/start",
            Some(br#"{"registration_request":"AA"}"#.as_slice()),
        ),
        ("DELETE", "/v1/record", None),
    ] {
        let reply = server.request(method, path, Some(token), body);
        assert_eq!(reply.status, 401, "{case} {method} {path}: {}", reply.body);
        assert_eq!(reply.error().error, "unauthorized", "{case}");
    }
}

#[test]
fn bad_tokens_get_401() {
    let vault = VaultDir::new();
    run_ok(
        haven()
            .args(["vault", "tenant-key", "--tenant", "beta", "--alg", "HS256"])
            .arg("--key-out")
            .arg(vault.path("beta.key"))
            .arg("--tenants")
            .arg(vault.path("tenants.json")),
    );
    let server = vault.serve(&[]);
    let acme_key = vault.signing_key();
    let beta_key = SigningKey::load(TenantAlg::Hs256, &vault.path("beta.key")).unwrap();
    let hour = Duration::from_secs(3600);

    // Both tenants' valid tokens pass.
    let good = mint(TENANT, &acme_key, "alice", VAULT_ID, hour).unwrap();
    assert_eq!(server.get("/v1/record", Some(&good)).status, 200);
    let beta = mint("beta", &beta_key, "alice", VAULT_ID, hour).unwrap();
    assert_eq!(server.get("/v1/record", Some(&beta)).status, 200);
    // The token minted by the CLI passes too.
    let cli_token = run_ok(
        haven()
            .args([
                "vault",
                "token",
                "--tenant",
                TENANT,
                "--account",
                "alice",
                "--vault-id",
                VAULT_ID,
            ])
            .arg("--tenant-key")
            .arg(vault.path("acme.key")),
    );
    assert_eq!(server.get("/v1/record", Some(cli_token.trim())).status, 200);

    let other_vault = mint(TENANT, &acme_key, "alice", "another-vault", hour).unwrap();
    assert_401(&server, &other_vault, "wrong audience");
    let stranger = SigningKey::generate(TenantAlg::EdDsa);
    let forged = mint(TENANT, &stranger, "alice", VAULT_ID, hour).unwrap();
    assert_401(&server, &forged, "wrong tenant key");
    let beta_as_acme = mint(TENANT, &beta_key, "alice", VAULT_ID, hour).unwrap();
    assert_401(&server, &beta_as_acme, "another tenant's key");
    let unknown = mint("nobody", &stranger, "alice", VAULT_ID, hour).unwrap();
    assert_401(&server, &unknown, "unknown tenant");
    assert_401(&server, &unsigned_token("none", ""), "alg none");
    assert_401(&server, &unsigned_token("EdDSA", ""), "empty signature");
    assert_401(&server, "not-a-token", "garbage");
    let reply = server.get("/v1/record", None);
    assert_eq!(reply.status, 401, "missing header: {}", reply.body);
}

#[test]
fn expired_token_gets_401() {
    let vault = VaultDir::new();
    let server = vault.serve(&[]);
    let token = mint(
        TENANT,
        &vault.signing_key(),
        "alice",
        VAULT_ID,
        Duration::from_secs(1),
    )
    .unwrap();
    assert_eq!(server.get("/v1/record", Some(&token)).status, 200);
    // The vault allows haven_vault_auth::LEEWAY of clock skew past `exp`.
    std::thread::sleep(haven_vault_auth::LEEWAY + Duration::from_secs(2));
    assert_401(&server, &token, "expired");
    let reply = server.get("/v1/record", Some(&token));
    assert!(reply.error().message.contains("expired"), "{}", reply.body);
}
