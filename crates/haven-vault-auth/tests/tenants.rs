//! Tenants files, signing-key files and minting limits, on real files.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use haven_vault_auth::{
    generate_tenant_key, mint, KeyError, SigningKey, TenantAlg, TenantEntry, TenantKeys,
    TenantsFile,
};
use zeroize::Zeroizing;

const VAULT: &str = "vault-eu-1";

fn write(path: &Path, text: &str, mode: u32) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn entry(name: &str, alg: TenantAlg) -> TenantEntry {
    TenantEntry {
        name: name.into(),
        alg,
        secret_file: None,
        secret_base64: None,
        public_key_pem: None,
        public_key_file: None,
    }
}

fn load_err(dir: &Path, json: &str) -> KeyError {
    let path = dir.join("tenants.json");
    let _ = fs::remove_file(&path);
    write(&path, json, 0o600);
    TenantKeys::load(&path).unwrap_err()
}

#[test]
fn secret_and_public_key_files_resolve_relative_to_tenants_file() {
    let dir = tempfile::tempdir().unwrap();
    let hs = SigningKey::generate(TenantAlg::Hs256);
    hs.save(&dir.path().join("chat.secret")).unwrap();
    let ed = SigningKey::generate(TenantAlg::EdDsa);
    write(
        &dir.path().join("selfhost.pub.pem"),
        &ed.public_key_pem().unwrap(),
        0o644,
    );
    let tenants = r#"{"tenants": [
        {"name": "chat", "alg": "HS256", "secret_file": "chat.secret"},
        {"name": "selfhost", "alg": "EdDSA", "public_key_file": "selfhost.pub.pem"}
    ]}"#;
    let path = dir.path().join("tenants.json");
    write(&path, tenants, 0o644);
    let keys = TenantKeys::load(&path).unwrap();
    assert_eq!(keys.tenant_names(), ["chat", "selfhost"]);
    assert_eq!(keys.alg("chat"), Some(TenantAlg::Hs256));
    assert_eq!(keys.alg("selfhost"), Some(TenantAlg::EdDsa));
    let token = mint("chat", &hs, "alice", VAULT, Duration::from_secs(60)).unwrap();
    assert_eq!(keys.verify(&token, VAULT).unwrap().account, "alice");
    let token = mint("selfhost", &ed, "bob", VAULT, Duration::from_secs(60)).unwrap();
    assert_eq!(keys.verify(&token, VAULT).unwrap().account, "bob");
}

#[test]
fn readable_secret_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("chat.secret");
    SigningKey::generate(TenantAlg::Hs256)
        .save(&secret)
        .unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o640)).unwrap();
    let err = load_err(
        dir.path(),
        r#"{"tenants": [{"name": "chat", "alg": "HS256", "secret_file": "chat.secret"}]}"#,
    );
    assert!(
        matches!(err, KeyError::SecretFilePermissions { mode: 0o640, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

#[test]
fn readable_tenants_file_with_inline_secret_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let (_, entry) = generate_tenant_key("chat", TenantAlg::Hs256).unwrap();
    let path = dir.path().join("tenants.json");
    let json = serde_json::to_string(&TenantsFile {
        tenants: vec![entry],
    })
    .unwrap();
    write(&path, &json, 0o644);
    let err = TenantKeys::load(&path).unwrap_err();
    assert!(
        matches!(err, KeyError::SecretFilePermissions { .. }),
        "{err}"
    );
}

#[test]
fn inconsistent_entries_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
    let public_pem = SigningKey::generate(TenantAlg::EdDsa)
        .public_key_pem()
        .unwrap()
        .replace('\n', "\\n");
    let cases = [
        r#"{"name": "t", "alg": "HS256"}"#.to_string(),
        format!(
            r#"{{"name": "t", "alg": "HS256", "secret_base64": "{secret}", "secret_file": "x"}}"#
        ),
        format!(
            r#"{{"name": "t", "alg": "HS256", "secret_base64": "{secret}", "public_key_pem": "{public_pem}"}}"#
        ),
        r#"{"name": "t", "alg": "EdDSA"}"#.to_string(),
        format!(r#"{{"name": "t", "alg": "EdDSA", "secret_base64": "{secret}"}}"#),
        format!(r#"{{"name": "", "alg": "HS256", "secret_base64": "{secret}"}}"#),
        format!(r#"{{"name": "a\u0000b", "alg": "HS256", "secret_base64": "{secret}"}}"#),
    ];
    for case in cases {
        let err = load_err(dir.path(), &format!(r#"{{"tenants": [{case}]}}"#));
        assert!(
            matches!(err, KeyError::InvalidTenant { .. }),
            "{case}: {err}"
        );
    }
}

#[test]
fn short_or_invalid_hs256_secret_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    // 31 bytes, then text that is not base64.
    for secret in [
        "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZQ==",
        "not base64!",
    ] {
        let err = load_err(
            dir.path(),
            &format!(
                r#"{{"tenants": [{{"name": "t", "alg": "HS256", "secret_base64": "{secret}"}}]}}"#
            ),
        );
        assert!(
            matches!(err, KeyError::InvalidTenant { .. }),
            "{secret}: {err}"
        );
        assert!(
            !err.to_string().contains(secret),
            "error echoes the secret: {err}"
        );
    }
}

#[test]
fn private_key_in_tenants_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let private_pem = SigningKey::generate(TenantAlg::EdDsa)
        .to_text()
        .replace('\n', "\\n");
    let err = load_err(
        dir.path(),
        &format!(
            r#"{{"tenants": [{{"name": "t", "alg": "EdDSA", "public_key_pem": "{private_pem}"}}]}}"#
        ),
    );
    assert!(err.to_string().contains("private key"), "{err}");
}

#[test]
fn duplicate_tenant_is_rejected() {
    let (_, first) = generate_tenant_key("chat", TenantAlg::Hs256).unwrap();
    let (_, second) = generate_tenant_key("chat", TenantAlg::EdDsa).unwrap();
    let err =
        TenantKeys::from_entries(&[first.clone(), second.clone()], Path::new(".")).unwrap_err();
    assert!(matches!(err, KeyError::DuplicateTenant { .. }), "{err}");
    let mut file = TenantsFile::default();
    file.add(first).unwrap();
    let err = file.add(second).unwrap_err();
    assert!(matches!(err, KeyError::DuplicateTenant { .. }), "{err}");
}

#[test]
fn unknown_field_and_bad_json_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for json in [
        r#"{"tenants": [{"name": "t", "alg": "HS256", "secret": "x"}]}"#,
        r#"{"tenants": [{"name": "t", "alg": "RS256"}]}"#,
        r#"{"tenant": []}"#,
        "not json",
    ] {
        let err = load_err(dir.path(), json);
        assert!(
            matches!(err, KeyError::TenantsFileSyntax { .. }),
            "{json}: {err}"
        );
    }
}

#[test]
fn missing_tenants_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.json");
    let err = TenantKeys::load(&path).unwrap_err();
    assert!(matches!(err, KeyError::Io { .. }), "{err}");
    assert!(err.to_string().contains("absent.json"), "{err}");
}

#[test]
fn tenants_file_write_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tenants.json");
    let (_, hs) = generate_tenant_key("chat", TenantAlg::Hs256).unwrap();
    let (_, ed) = generate_tenant_key("selfhost", TenantAlg::EdDsa).unwrap();
    let file = TenantsFile {
        tenants: vec![hs, ed],
    };
    file.write_new(&path).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(TenantsFile::read(&path).unwrap(), file);
    let err = file.write_new(&path).unwrap_err();
    assert!(matches!(err, KeyError::FileExists { .. }), "{err}");
}

#[test]
fn signing_key_save_load_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    for alg in [TenantAlg::Hs256, TenantAlg::EdDsa] {
        let key = SigningKey::generate(alg);
        let path = dir.path().join(format!("{alg}.key"));
        key.save(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{alg}");
        let loaded = SigningKey::load(alg, &path).unwrap();
        assert_eq!(loaded.to_text(), key.to_text(), "{alg}");
        assert_eq!(loaded.alg(), alg);
        let err = key.save(&path).unwrap_err();
        assert!(matches!(err, KeyError::FileExists { .. }), "{alg}: {err}");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o604)).unwrap();
        let err = SigningKey::load(alg, &path).unwrap_err();
        assert!(
            matches!(err, KeyError::SecretFilePermissions { .. }),
            "{alg}: {err}"
        );
    }
}

#[test]
fn signing_key_debug_is_redacted() {
    let key = SigningKey::hs256(Zeroizing::new(vec![0x41; 32])).unwrap();
    let debug = format!("{key:?}");
    assert_eq!(debug, "SigningKey(HS256, <redacted>)");
    let (_, entry) = generate_tenant_key("chat", TenantAlg::Hs256).unwrap();
    let debug = format!("{entry:?}");
    let secret = entry.secret_base64.as_deref().unwrap();
    assert!(!debug.contains(secret), "{debug}");
}

#[test]
fn hs256_secret_shorter_than_32_bytes_is_rejected() {
    let err = SigningKey::hs256(Zeroizing::new(vec![1; 31])).unwrap_err();
    assert!(matches!(err, KeyError::InvalidKey { .. }), "{err}");
}

#[test]
fn mint_rejects_out_of_range_values() {
    let key = SigningKey::generate(TenantAlg::Hs256);
    let day = Duration::from_secs(86_400);
    let cases = [
        ("chat", "alice", VAULT, Duration::ZERO),
        ("chat", "alice", VAULT, day + Duration::from_secs(1)),
        ("chat", "", VAULT, day),
        ("chat", "alice\n", VAULT, day),
        ("", "alice", VAULT, day),
        ("chat", "alice", "", day),
    ];
    for (tenant, account, vault, lifetime) in cases {
        let err = mint(tenant, &key, account, vault, lifetime).unwrap_err();
        assert!(
            matches!(err, KeyError::InvalidMint { .. }),
            "{tenant:?} {account:?} {vault:?} {lifetime:?}: {err}"
        );
    }
}

#[test]
fn alg_parses_from_jws_names() {
    assert_eq!("HS256".parse::<TenantAlg>(), Ok(TenantAlg::Hs256));
    assert_eq!("EdDSA".parse::<TenantAlg>(), Ok(TenantAlg::EdDsa));
    assert!("hs256".parse::<TenantAlg>().is_err());
    assert!("none".parse::<TenantAlg>().is_err());
}

#[test]
fn generated_eddsa_entry_has_only_public_key() {
    let (_, generated) = generate_tenant_key("selfhost", TenantAlg::EdDsa).unwrap();
    let mut expected = entry("selfhost", TenantAlg::EdDsa);
    expected.public_key_pem = generated.public_key_pem.clone();
    assert_eq!(generated, expected);
}
