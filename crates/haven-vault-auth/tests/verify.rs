//! Token verification against tenants files written to temporary directories.
//! Forged tokens are built with jsonwebtoken itself or by hand, as an attacker
//! would.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use haven_vault_auth::{
    generate_tenant_key, mint, AuthError, Principal, SigningKey, TenantAlg, TenantKeys, TenantsFile,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const VAULT: &str = "vault-eu-1";
const HOUR: Duration = Duration::from_secs(3600);

struct Fixture {
    keys: TenantKeys,
    chat: SigningKey,
    other: SigningKey,
    selfhost: SigningKey,
    selfhost_public_pem: String,
    _dir: tempfile::TempDir,
}

/// Tenants "chat" and "other" (HS256) and "selfhost" (EdDSA).
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (chat, chat_entry) = generate_tenant_key("chat", TenantAlg::Hs256).unwrap();
    let (other, other_entry) = generate_tenant_key("other", TenantAlg::Hs256).unwrap();
    let (selfhost, selfhost_entry) = generate_tenant_key("selfhost", TenantAlg::EdDsa).unwrap();
    let selfhost_public_pem = selfhost_entry.public_key_pem.clone().unwrap();
    let file = TenantsFile {
        tenants: vec![chat_entry, other_entry, selfhost_entry],
    };
    let path = dir.path().join("tenants.json");
    file.write_new(&path).unwrap();
    Fixture {
        keys: TenantKeys::load(&path).unwrap(),
        chat,
        other,
        selfhost,
        selfhost_public_pem,
        _dir: dir,
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn valid_claims(tenant: &str) -> Value {
    let now = now();
    json!({"iss": tenant, "sub": "alice", "aud": VAULT, "iat": now, "exp": now + 600})
}

fn forge(alg: Algorithm, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, key).unwrap()
}

fn hs256_key(key: &SigningKey) -> EncodingKey {
    EncodingKey::from_base64_secret(&key.to_text()).unwrap()
}

fn eddsa_key(key: &SigningKey) -> EncodingKey {
    EncodingKey::from_ed_pem(key.to_text().as_bytes()).unwrap()
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
}

/// Verifies and checks that the error text contains neither the token nor its
/// signature.
fn verify_err(fixture: &Fixture, token: &str) -> AuthError {
    let err = fixture.keys.verify(token, VAULT).unwrap_err();
    let message = format!("{err} {err:?}");
    if !token.is_empty() {
        assert!(
            !message.contains(token),
            "error contains the token: {message}"
        );
    }
    if let Some(signature) = token.rsplit('.').next().filter(|s| s.len() > 8) {
        assert!(
            !message.contains(signature),
            "error contains the signature: {message}"
        );
    }
    err
}

#[test]
fn hs256_round_trip() {
    let fixture = fixture();
    let token = mint("chat", &fixture.chat, "alice", VAULT, HOUR).unwrap();
    let principal = fixture.keys.verify(&token, VAULT).unwrap();
    assert_eq!(
        principal,
        Principal {
            tenant: "chat".into(),
            account: "alice".into()
        }
    );
}

#[test]
fn eddsa_round_trip() {
    let fixture = fixture();
    let token = mint("selfhost", &fixture.selfhost, "bob@example", VAULT, HOUR).unwrap();
    let principal = fixture.keys.verify(&token, VAULT).unwrap();
    assert_eq!(principal.tenant, "selfhost");
    assert_eq!(principal.account, "bob@example");
}

#[test]
fn full_day_lifetime_is_accepted() {
    let fixture = fixture();
    let token = mint(
        "chat",
        &fixture.chat,
        "alice",
        VAULT,
        haven_vault_auth::MAX_LIFETIME,
    )
    .unwrap();
    assert!(fixture.keys.verify(&token, VAULT).is_ok());
}

#[test]
fn expired_token() {
    let fixture = fixture();
    let now = now();
    let claims =
        json!({"iss": "chat", "sub": "alice", "aud": VAULT, "iat": now - 600, "exp": now - 120});
    let token = forge(Algorithm::HS256, &claims, &hs256_key(&fixture.chat));
    assert_eq!(verify_err(&fixture, &token), AuthError::Expired);
}

#[test]
fn expiry_within_leeway_is_accepted() {
    let fixture = fixture();
    let now = now();
    let claims =
        json!({"iss": "chat", "sub": "alice", "aud": VAULT, "iat": now - 600, "exp": now - 5});
    let token = forge(Algorithm::HS256, &claims, &hs256_key(&fixture.chat));
    assert!(fixture.keys.verify(&token, VAULT).is_ok());
}

#[test]
fn wrong_audience() {
    let fixture = fixture();
    let token = mint("chat", &fixture.chat, "alice", "vault-us-2", HOUR).unwrap();
    assert!(matches!(
        verify_err(&fixture, &token),
        AuthError::WrongAudience { expected } if expected == VAULT
    ));
}

#[test]
fn wrong_tenant_key() {
    let fixture = fixture();
    // Signed with the key of "other" but claiming to be "chat".
    let token = mint("chat", &fixture.other, "alice", VAULT, HOUR).unwrap();
    assert!(matches!(
        verify_err(&fixture, &token),
        AuthError::BadSignature { tenant } if tenant == "chat"
    ));
}

#[test]
fn unknown_tenant() {
    let fixture = fixture();
    let (stranger, _) = generate_tenant_key("stranger", TenantAlg::Hs256).unwrap();
    let token = mint("stranger", &stranger, "alice", VAULT, HOUR).unwrap();
    assert!(matches!(
        verify_err(&fixture, &token),
        AuthError::UnknownTenant { tenant } if tenant == "stranger"
    ));
}

#[test]
fn long_unknown_tenant_is_shortened_in_error() {
    let fixture = fixture();
    let issuer = format!("chat{}", "x".repeat(300));
    let key = EncodingKey::from_secret(&[7; 32]);
    let token = forge(Algorithm::HS256, &valid_claims(&issuer), &key);
    let AuthError::UnknownTenant { tenant } = verify_err(&fixture, &token) else {
        panic!("expected UnknownTenant");
    };
    assert_eq!(tenant.len(), haven_vault_auth::MAX_TENANT_LEN);
}

#[test]
fn hs256_token_for_eddsa_tenant() {
    let fixture = fixture();
    // The classic confusion: HMAC keyed with the tenant's public key bytes.
    let key = EncodingKey::from_secret(fixture.selfhost_public_pem.as_bytes());
    let token = forge(Algorithm::HS256, &valid_claims("selfhost"), &key);
    assert!(matches!(
        verify_err(&fixture, &token),
        AuthError::AlgorithmMismatch { tenant, expected: "EdDSA", found } if tenant == "selfhost" && found == "HS256"
    ));
}

#[test]
fn eddsa_token_for_hs256_tenant() {
    let fixture = fixture();
    let token = forge(
        Algorithm::EdDSA,
        &valid_claims("chat"),
        &eddsa_key(&fixture.selfhost),
    );
    assert!(matches!(
        verify_err(&fixture, &token),
        AuthError::AlgorithmMismatch { tenant, expected: "HS256", found } if tenant == "chat" && found == "EdDSA"
    ));
}

#[test]
fn other_hmac_alg_is_rejected() {
    let fixture = fixture();
    let token = forge(
        Algorithm::HS512,
        &valid_claims("chat"),
        &hs256_key(&fixture.chat),
    );
    assert!(matches!(
        verify_err(&fixture, &token),
        AuthError::AlgorithmMismatch { found, .. } if found == "HS512"
    ));
}

#[test]
fn alg_none_is_rejected() {
    let fixture = fixture();
    let claims = b64(&valid_claims("chat"));
    for alg in ["none", "None", "NONE"] {
        let header = b64(&json!({"alg": alg, "typ": "JWT"}));
        let unsigned = format!("{header}.{claims}.");
        assert_eq!(
            verify_err(&fixture, &unsigned),
            AuthError::Unsigned,
            "alg {alg}"
        );
        let with_junk = format!("{header}.{claims}.c2lnbmF0dXJl");
        assert_eq!(
            verify_err(&fixture, &with_junk),
            AuthError::Unsigned,
            "alg {alg}"
        );
    }
}

#[test]
fn empty_signature_is_rejected() {
    let fixture = fixture();
    let token = mint("chat", &fixture.chat, "alice", VAULT, HOUR).unwrap();
    let (unsigned, _) = token.rsplit_once('.').unwrap();
    assert_eq!(
        verify_err(&fixture, &format!("{unsigned}.")),
        AuthError::Unsigned
    );
}

#[test]
fn tampered_payload_is_rejected() {
    let fixture = fixture();
    for (tenant, key) in [("chat", &fixture.chat), ("selfhost", &fixture.selfhost)] {
        let token = mint(tenant, key, "alice", VAULT, HOUR).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let mut claims: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["sub"] = json!("mallory");
        let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
        assert!(
            matches!(
                verify_err(&fixture, &tampered),
                AuthError::BadSignature { .. }
            ),
            "tenant {tenant}"
        );
    }
}

#[test]
fn tampered_signature_is_rejected() {
    let fixture = fixture();
    let token = mint("selfhost", &fixture.selfhost, "alice", VAULT, HOUR).unwrap();
    let (body, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 1;
    let tampered = format!("{body}.{}", URL_SAFE_NO_PAD.encode(bytes));
    assert!(matches!(
        verify_err(&fixture, &tampered),
        AuthError::BadSignature { .. }
    ));
}

#[test]
fn lifetime_over_a_day_is_rejected() {
    let fixture = fixture();
    let now = now();
    let claims =
        json!({"iss": "chat", "sub": "alice", "aud": VAULT, "iat": now, "exp": now + 86_401});
    let token = forge(Algorithm::HS256, &claims, &hs256_key(&fixture.chat));
    assert_eq!(
        verify_err(&fixture, &token),
        AuthError::LifetimeTooLong {
            seconds: 86_401,
            max: 86_400
        }
    );
}

#[test]
fn missing_claims_are_named() {
    let fixture = fixture();
    for claim in ["sub", "iat", "exp", "aud", "iss"] {
        let mut claims = valid_claims("chat");
        claims.as_object_mut().unwrap().remove(claim);
        let token = forge(Algorithm::HS256, &claims, &hs256_key(&fixture.chat));
        assert_eq!(
            verify_err(&fixture, &token),
            AuthError::MissingClaim {
                claim: claim.into()
            },
            "claim {claim}"
        );
    }
}

#[test]
fn invalid_sub_is_rejected() {
    let fixture = fixture();
    let too_long = "a".repeat(haven_vault_auth::MAX_ACCOUNT_LEN + 1);
    for sub in [json!(""), json!(too_long), json!("a\u{0}b"), json!(42)] {
        let mut claims = valid_claims("chat");
        claims["sub"] = sub.clone();
        let token = forge(Algorithm::HS256, &claims, &hs256_key(&fixture.chat));
        let err = verify_err(&fixture, &token);
        assert!(
            matches!(&err, AuthError::InvalidClaim { claim, .. } if claim == "sub"),
            "sub {sub}: {err:?}"
        );
    }
}

#[test]
fn array_sub_is_malformed() {
    // jsonwebtoken rejects a registered claim of a non-scalar type while parsing.
    let fixture = fixture();
    let mut claims = valid_claims("chat");
    claims["sub"] = json!(["alice"]);
    let token = forge(Algorithm::HS256, &claims, &hs256_key(&fixture.chat));
    let err = verify_err(&fixture, &token);
    assert!(matches!(err, AuthError::Malformed { .. }), "{err:?}");
}

#[test]
fn future_iat_or_nbf_is_rejected() {
    let fixture = fixture();
    let now = now();
    let future_iat =
        json!({"iss": "chat", "sub": "alice", "aud": VAULT, "iat": now + 3600, "exp": now + 4000});
    let future_nbf = json!({"iss": "chat", "sub": "alice", "aud": VAULT, "iat": now, "nbf": now + 600, "exp": now + 900});
    for claims in [future_iat, future_nbf] {
        let token = forge(Algorithm::HS256, &claims, &hs256_key(&fixture.chat));
        assert_eq!(
            verify_err(&fixture, &token),
            AuthError::NotYetValid,
            "{claims}"
        );
    }
}

#[test]
fn non_integer_times_are_rejected() {
    let fixture = fixture();
    let now = now();
    let cases = [
        ("exp", json!(format!("{}", now + 600))),
        ("exp", json!((now + 600) as f64 + 0.5)),
        ("iat", json!("yesterday")),
        ("iat", json!(-5)),
    ];
    for (claim, value) in cases {
        let mut claims = valid_claims("chat");
        claims[claim] = value.clone();
        let token = forge(Algorithm::HS256, &claims, &hs256_key(&fixture.chat));
        assert!(
            matches!(verify_err(&fixture, &token), AuthError::InvalidClaim { claim: c, .. } if c == claim),
            "{claim} = {value}"
        );
    }
}

#[test]
fn exp_before_iat_is_rejected() {
    let fixture = fixture();
    let now = now();
    let claims =
        json!({"iss": "chat", "sub": "alice", "aud": VAULT, "iat": now + 10, "exp": now + 5});
    let token = forge(Algorithm::HS256, &claims, &hs256_key(&fixture.chat));
    assert!(matches!(
        verify_err(&fixture, &token),
        AuthError::InvalidClaim { claim, .. } if claim == "exp"
    ));
}

#[test]
fn malformed_tokens_are_rejected() {
    let fixture = fixture();
    let header = b64(&json!({"alg": "HS256"}));
    let long = "a".repeat(haven_vault_auth::MAX_TOKEN_LEN + 1);
    let cases = [
        String::new(),
        "abc".to_string(),
        "a.b".to_string(),
        "a.b.c.d".to_string(),
        format!("{header}.!!!.c2ln"),
        format!("{header}.{}.c2ln", URL_SAFE_NO_PAD.encode(b"[1,2]")),
        format!("{}.e30.c2ln", URL_SAFE_NO_PAD.encode(b"not json")),
        long,
    ];
    for token in &cases {
        assert!(
            matches!(verify_err(&fixture, token), AuthError::Malformed { .. }),
            "token {:?}",
            &token[..token.len().min(40)]
        );
    }
}

#[test]
fn credential_identifier_separates_with_nul() {
    let principal = Principal {
        tenant: "chat".into(),
        account: "alice".into(),
    };
    assert_eq!(principal.credential_identifier(), b"chat\0alice");
}
