//! Seed inputs for the fuzz targets, made by the code that writes each format.

use haven_vault_proto::wire::{
    Bytes, EnrollFinishRequest, EnrollStartRequest, EnrollStartResponse, ErrorBody, RecordStatus,
    RecoverFinishRequest, RecoverStartRequest,
};

use crate::{jwt, vault};

/// Returns (target name, input) pairs: several seeds for every target except
/// `repo_sqlite_pages`, whose seeds are real database files that
/// `tests/replay.rs` writes with SQLite.
pub fn sample_inputs() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = haven_repo::fuzzing::sample_inputs();
    chunker(&mut out);
    vault_bodies(&mut out);
    tokens(&mut out);
    crypt15(&mut out);
    out
}

fn chunker(out: &mut Vec<(&'static str, Vec<u8>)>) {
    let text: Vec<u8> = (0..6000u32).map(|i| (i * 7919 % 251) as u8).collect();
    for params in [[0u8; 8], [0xff; 8], [1, 2, 3, 4, 5, 6, 7, 8]] {
        let mut input = params.to_vec();
        input.extend_from_slice(&text);
        out.push(("repo_chunker", input));
    }
    let mut sqlite = vec![0u8; 8];
    sqlite.extend_from_slice(b"SQLite format 3\0\x02\x00");
    sqlite.resize(8 + 1536, 7);
    out.push(("repo_chunker", sqlite));
}

fn vault_bodies(out: &mut Vec<(&'static str, Vec<u8>)>) {
    let fixture = vault::fixture();
    let message = |kind: u8| -> Bytes {
        let found = fixture.messages.iter().find(|(k, _)| *k == kind);
        Bytes(found.map(|(_, bytes)| bytes.clone()).unwrap_or_default())
    };
    for (kind, bytes) in &fixture.messages {
        let mut input = vec![*kind];
        input.extend_from_slice(bytes);
        out.push(("vault_opaque", input));
    }
    out.push(json(
        0,
        &(EnrollStartRequest {
            registration_request: message(0),
        }),
    ));
    out.push(json(
        1,
        &(EnrollFinishRequest {
            registration_upload: message(1),
            wrapped_key: Bytes(vec![3; 72]),
            guess_limit: Some(10),
            ksf_version: 1,
        }),
    ));
    out.push(json(
        2,
        &(RecoverStartRequest {
            credential_request: message(2),
            request_id: None,
        }),
    ));
    out.push(json(
        3,
        &(RecoverFinishRequest {
            session: Bytes(vec![5; 120]),
            credential_finalization: Some(message(3)),
        }),
    ));
    out.push(json(
        3,
        &(RecoverFinishRequest {
            session: Bytes(vec![5; 120]),
            credential_finalization: None,
        }),
    ));
    out.push(json(
        5,
        &(EnrollStartResponse {
            registration_response: message(4),
            tenant: "tenant".into(),
            account: "alice".into(),
        }),
    ));
    out.push(json(
        8,
        &(RecordStatus {
            guesses_remaining: 3,
            guess_limit: 10,
        }),
    ));
    out.push(json(
        9,
        &(ErrorBody {
            error: "wrong_password".into(),
            message: "the password is wrong".into(),
            guesses_remaining: Some(2),
        }),
    ));
}

fn json<T: serde::Serialize>(kind: u8, body: &T) -> (&'static str, Vec<u8>) {
    let mut input = vec![kind];
    input.extend_from_slice(&serde_json::to_vec(body).expect("wire types serialize"));
    ("vault_request", input)
}

fn tokens(out: &mut Vec<(&'static str, Vec<u8>)>) {
    let header = br#"{"alg":"HS256","typ":"JWT"}"#;
    let claims = format!(
        r#"{{"iss":"{}","sub":"alice","aud":"{}","iat":1700000000,"exp":1700003600}}"#,
        jwt::HS256_TENANT,
        jwt::VAULT_ID
    );
    let mut structured = header.to_vec();
    structured.push(0);
    structured.extend_from_slice(claims.as_bytes());
    out.push(("jwt_claims", structured));
    let nbf = br#"{"iss":"hs-tenant","sub":"bob","aud":["vault-fuzz"],"iat":1,"nbf":2,"exp":3}"#;
    out.push(("jwt_claims", nbf.to_vec()));
    out.push((
        "jwt_verify",
        jwt::sign_hs256(header, claims.as_bytes()).into_bytes(),
    ));
    let eddsa = br#"{"alg":"EdDSA","typ":"JWT"}"#;
    let eddsa_claims = claims.replace(jwt::HS256_TENANT, "ed-tenant");
    out.push((
        "jwt_verify",
        jwt::sign_hs256(eddsa, eddsa_claims.as_bytes()).into_bytes(),
    ));
}

fn crypt15(out: &mut Vec<(&'static str, Vec<u8>)>) {
    use haven_whatsapp::{encrypt_stream, EncryptOptions, RootKey};
    let key = RootKey::from_bytes([0x33; 32]);
    let options = EncryptOptions {
        iv: Some([0x44; 16]),
        ..EncryptOptions::default()
    };
    let mut file = Vec::new();
    encrypt_stream(&b"SQLite format 3\0"[..], &key, &mut file, &options).expect("encrypt");
    out.push(("crypt15_header", file[..file.len().min(300)].to_vec()));
    out.push((
        "crypt15_header",
        b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_vec(),
    ));
}
