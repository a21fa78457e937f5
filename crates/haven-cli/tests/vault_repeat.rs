//! Repeated login starts: the same recover/start body sent twice is charged once and
//! gets the same KE2; a new KE1 under the same request id is a new, charged start.

mod vault_support;

use haven_crypto::BackupKey;
use haven_vault_proto::client::recover_start;
use haven_vault_proto::wire::RecoverStartResponse;

use vault_support::VaultDir;

#[test]
fn repeated_start_charged_once() {
    let vault = VaultDir::new();
    let server = vault.serve(&[]);
    let token = vault.token("grace");
    server.enroll(&token, "right horse", &BackupKey::generate(), 10);
    let (_, request) = recover_start(b"a guess").unwrap();
    let body = to_json!(request);

    let first = server.post("/v1/recover/start", &token, &body);
    assert_eq!(first.status, 200, "{}", first.body);
    let second = server.post("/v1/recover/start", &token, &body);
    assert_eq!(second.status, 200, "{}", second.body);
    let first = from_json!(first, RecoverStartResponse);
    let second = from_json!(second, RecoverStartResponse);
    assert_eq!(first.credential_response, second.credential_response);
    assert_eq!(server.status(&token).guesses_remaining, 9);

    let (_, other) = recover_start(b"a guess").unwrap();
    let mut other = other;
    other.request_id = request.request_id.clone();
    let third = server.post("/v1/recover/start", &token, &to_json!(other));
    assert_eq!(third.status, 200, "{}", third.body);
    let third = from_json!(third, RecoverStartResponse);
    assert_ne!(third.credential_response, first.credential_response);
    assert_eq!(server.status(&token).guesses_remaining, 8);
}

#[test]
fn repeated_start_without_record_charged_once() {
    let vault = VaultDir::new();
    let server = vault.serve(&[]);
    let token = vault.token("nobody");
    let (_, request) = recover_start(b"a guess").unwrap();
    let body = to_json!(request);
    let first = from_json!(
        server.post("/v1/recover/start", &token, &body),
        RecoverStartResponse
    );
    let second = from_json!(
        server.post("/v1/recover/start", &token, &body),
        RecoverStartResponse
    );
    // An account without a record behaves like one with a record: same KE2, one
    // charge, so a repeat does not tell the two apart.
    assert_eq!(first.credential_response, second.credential_response);
    assert_eq!(first.guesses_remaining, second.guesses_remaining);
}

#[test]
fn invalid_request_id_rejected() {
    let vault = VaultDir::new();
    let server = vault.serve(&[]);
    let token = vault.token("grace");
    let (_, mut request) = recover_start(b"a guess").unwrap();
    request.request_id = Some(haven_vault_proto::wire::Bytes(vec![1; 5]));
    let reply = server.post("/v1/recover/start", &token, &to_json!(request));
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert!(
        reply.body.contains("request_id is 5 bytes"),
        "{}",
        reply.body
    );
}
