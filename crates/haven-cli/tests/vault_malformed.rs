//! Bad input gets a 4xx with a clear message: malformed JSON, wrong base64,
//! truncated, oversized and wrong-length OPAQUE messages, the identity element as a
//! blinded element, bodies over the size limit. Never a 5xx, never a crash.

mod vault_support;

use haven_crypto::BackupKey;
use vault_support::base64url as encode;
use vault_support::{Server, VaultDir};

fn expect_4xx(
    server: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &[u8],
    expected: u16,
    case: &str,
) {
    let reply = server.request(method, path, token, Some(body));
    assert_eq!(reply.status, expected, "{case}: {}", reply.body);
    let error = reply.error();
    assert!(!error.error.is_empty(), "{case}: empty error code");
    assert!(
        error.message.len() > 20,
        "{case}: message too short: {}",
        error.message
    );
}

#[test]
fn malformed_requests_get_4xx() {
    let vault = VaultDir::new();
    let server = vault.serve(&[]);
    let token = vault.token("mallory");
    let key = BackupKey::generate();
    server.enroll(&token, "pw", &key, 10);
    let t = Some(token.as_str());

    let ke1 = |bytes: &[u8]| format!("{{\"credential_request\":\"{}\"}}", encode(bytes));
    let valid_ke1 = {
        let (_, request) = haven_vault_proto::client::recover_start(b"pw").unwrap();
        request.credential_request.0
    };
    let mut identity_ke1 = valid_ke1.clone();
    identity_ke1[..32].fill(0);
    let cases: Vec<(&str, &str, Vec<u8>, u16)> = vec![
        ("garbage JSON", "/v1/recover/start", b"{not json".to_vec(), 400),
        ("empty body", "/v1/recover/start", Vec::new(), 400),
        ("JSON array", "/v1/recover/start", b"[1,2,3]".to_vec(), 400),
        ("missing field", "/v1/recover/start", b"{}".to_vec(), 400),
        ("unknown field", "/v1/recover/start", br#"{"credential_request":"AA","x":1}"#.to_vec(), 400),
        ("wrong type", "/v1/recover/start", br#"{"credential_request":42}"#.to_vec(), 400),
        ("padded base64", "/v1/recover/start", br#"{"credential_request":"AAAA=="}"#.to_vec(), 400),
        ("standard base64", "/v1/recover/start", br#"{"credential_request":"+/+/"}"#.to_vec(), 400),
        ("truncated KE1", "/v1/recover/start", ke1(&valid_ke1[..95]).into_bytes(), 400),
        ("oversized KE1", "/v1/recover/start", ke1(&[valid_ke1.clone(), vec![0]].concat()).into_bytes(), 400),
        ("empty KE1", "/v1/recover/start", ke1(&[]).into_bytes(), 400),
        ("random KE1", "/v1/recover/start", ke1(&[0xff; 96]).into_bytes(), 400),
        ("identity blinded element", "/v1/recover/start", ke1(&identity_ke1).into_bytes(), 400),
        ("identity registration request", "/v1/enroll/start", format!("{{\"registration_request\":\"{}\"}}", encode(&[0; 32])).into_bytes(), 400),
        ("short registration request", "/v1/enroll/start", format!("{{\"registration_request\":\"{}\"}}", encode(&[1; 31])).into_bytes(), 400),
        ("garbage upload", "/v1/enroll/finish", format!("{{\"registration_upload\":\"{}\",\"wrapped_key\":\"{}\",\"ksf_version\":0}}", encode(&[7; 192]), encode(&[1; 72])).into_bytes(), 400),
        ("short wrapped key", "/v1/enroll/finish", format!("{{\"registration_upload\":\"{}\",\"wrapped_key\":\"{}\",\"ksf_version\":0}}", encode(&[7; 192]), encode(&[1; 71])).into_bytes(), 400),
        ("unknown KSF", "/v1/enroll/finish", format!("{{\"registration_upload\":\"{}\",\"wrapped_key\":\"{}\",\"ksf_version\":99}}", encode(&[7; 192]), encode(&[1; 72])).into_bytes(), 400),
        ("guess limit 0", "/v1/enroll/finish", format!("{{\"registration_upload\":\"{}\",\"wrapped_key\":\"{}\",\"ksf_version\":0,\"guess_limit\":0}}", encode(&[7; 192]), encode(&[1; 72])).into_bytes(), 400),
        ("guess limit too high", "/v1/enroll/finish", format!("{{\"registration_upload\":\"{}\",\"wrapped_key\":\"{}\",\"ksf_version\":0,\"guess_limit\":5001}}", encode(&[7; 192]), encode(&[1; 72])).into_bytes(), 400),
        ("garbage session", "/v1/recover/finish", format!("{{\"session\":\"{}\",\"credential_finalization\":null}}", encode(&[3; 200])).into_bytes(), 400),
        ("short session", "/v1/recover/finish", format!("{{\"session\":\"{}\",\"credential_finalization\":null}}", encode(&[3; 5])).into_bytes(), 400),
        ("body over the limit", "/v1/recover/start", format!("{{\"credential_request\":\"{}\"}}", "A".repeat(20 * 1024)).into_bytes(), 413),
    ];
    for (case, path, body, expected) in &cases {
        expect_4xx(&server, "POST", path, t, body, *expected, case);
    }

    // A valid session with a wrong-length KE3.
    let (_, response) = server.recover_start(&token, "pw");
    let session = encode(&response.session.0);
    for (case, ke3) in [
        ("short KE3", vec![1u8; 63]),
        ("long KE3", vec![1u8; 65]),
        ("empty KE3", vec![]),
    ] {
        let body = format!(
            "{{\"session\":\"{session}\",\"credential_finalization\":\"{}\"}}",
            encode(&ke3)
        );
        expect_4xx(
            &server,
            "POST",
            "/v1/recover/finish",
            t,
            body.as_bytes(),
            400,
            case,
        );
    }
    // A valid-length KE3 that does not verify is a wrong password.
    let body = format!(
        "{{\"session\":\"{session}\",\"credential_finalization\":\"{}\"}}",
        encode(&[1u8; 64])
    );
    expect_4xx(
        &server,
        "POST",
        "/v1/recover/finish",
        t,
        body.as_bytes(),
        403,
        "forged KE3",
    );

    expect_4xx(&server, "GET", "/v1/nothing", t, b"", 404, "unknown path");
    let reply = server.request("PUT", "/v1/record", t, Some(b""));
    assert_eq!(reply.status, 405, "wrong method: {}", reply.body);

    assert_eq!(
        server.metric("haven_vault_requests_total{class=\"5xx\"}"),
        0
    );
    assert_eq!(server.get("/healthz", None).body, "ok");
    // The record is untouched by all of this except the charged starts.
    assert_eq!(server.recover(&token, "pw"), Ok(key));
}
