//! Key-file KEK tests on real files in temporary directories.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use haven_vault_kek::{
    create_key_file, open_kek, Kek, KekConfig, KekError, KeyFileKek, PinSource, KEY_FILE_LEN,
};

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn create_writes_32_bytes_with_mode_600() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek.key");
    create_key_file(&path).unwrap();
    assert_eq!(fs::read(&path).unwrap().len(), KEY_FILE_LEN);
    assert_eq!(mode(&path), 0o600);
}

#[test]
fn create_rejects_existing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek.key");
    create_key_file(&path).unwrap();
    let before = fs::read(&path).unwrap();
    let err = create_key_file(&path).unwrap_err();
    assert!(matches!(err, KekError::KeyFileExists { .. }), "{err}");
    assert_eq!(fs::read(&path).unwrap(), before, "existing key was changed");
}

#[test]
fn round_trip_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let config = KekConfig::key_file(dir.path().join("kek.key"));
    let wrapped = open_kek(&config, true)
        .unwrap()
        .wrap(b"server-setup", b"secret bytes")
        .unwrap();
    let kek = open_kek(&config, false).unwrap();
    assert_eq!(
        kek.unwrap(b"server-setup", &wrapped).unwrap().as_slice(),
        b"secret bytes"
    );
    // open_or_create on an existing file opens it and keeps the key.
    let kek = open_kek(&config, true).unwrap();
    assert_eq!(
        kek.unwrap(b"server-setup", &wrapped).unwrap().as_slice(),
        b"secret bytes"
    );
}

#[test]
fn wraps_differ_for_same_input() {
    let dir = tempfile::tempdir().unwrap();
    let kek = KeyFileKek::open_or_create(&dir.path().join("kek.key")).unwrap();
    let first = kek.wrap(b"aad", b"same").unwrap();
    let second = kek.wrap(b"aad", b"same").unwrap();
    assert_ne!(first, second, "nonce was reused");
}

#[test]
fn missing_file_without_create() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.key");
    let err = open_kek(&KekConfig::key_file(&path), false).err().unwrap();
    assert!(matches!(err, KekError::KeyFileMissing { .. }), "{err}");
    assert!(!path.exists(), "opening without create made a file");
}

#[test]
fn group_or_other_readable_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek.key");
    create_key_file(&path).unwrap();
    for bad_mode in [0o640, 0o604, 0o660, 0o644] {
        fs::set_permissions(&path, fs::Permissions::from_mode(bad_mode)).unwrap();
        let err = KeyFileKek::open(&path).err().unwrap();
        assert!(
            matches!(err, KekError::KeyFilePermissions { mode, .. } if mode == bad_mode),
            "{err}"
        );
        let message = err.to_string();
        assert!(
            message.contains(&format!("chmod 600 {}", path.display())),
            "{message}"
        );
    }
    fs::set_permissions(&path, fs::Permissions::from_mode(0o400)).unwrap();
    assert!(KeyFileKek::open(&path).is_ok(), "mode 400 must be accepted");
}

#[test]
fn wrong_length_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for len in [0usize, 31, 33, 64] {
        let path = dir.path().join(format!("kek-{len}.key"));
        fs::write(&path, vec![7u8; len]).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = KeyFileKek::open(&path).err().unwrap();
        assert!(
            matches!(err, KekError::KeyFileLength { found, .. } if found == len as u64),
            "{err}"
        );
    }
}

#[test]
fn directory_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek.key");
    fs::create_dir(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
    let err = KeyFileKek::open(&path).err().unwrap();
    assert!(matches!(err, KekError::KeyFileNotRegular { .. }), "{err}");
}

#[test]
fn tampered_wrap_fails_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let kek = KeyFileKek::open_or_create(&dir.path().join("kek.key")).unwrap();
    let wrapped = kek.wrap(b"aad", b"secret").unwrap();
    for index in [0, 24, wrapped.len() - 1] {
        let mut tampered = wrapped.clone();
        tampered[index] ^= 0x01;
        let err = kek.unwrap(b"aad", &tampered).unwrap_err();
        assert!(
            matches!(err, KekError::AuthenticationFailed { .. }),
            "byte {index}: {err}"
        );
    }
}

#[test]
fn aad_mismatch_fails_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let kek = KeyFileKek::open_or_create(&dir.path().join("kek.key")).unwrap();
    let wrapped = kek.wrap(b"server-setup", b"secret").unwrap();
    let err = kek.unwrap(b"record-key", &wrapped).unwrap_err();
    assert!(
        matches!(err, KekError::AuthenticationFailed { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("key file"), "{err}");
}

#[test]
fn other_key_file_fails_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let first = KeyFileKek::open_or_create(&dir.path().join("a.key")).unwrap();
    let second = KeyFileKek::open_or_create(&dir.path().join("b.key")).unwrap();
    let wrapped = first.wrap(b"aad", b"secret").unwrap();
    let err = second.unwrap(b"aad", &wrapped).unwrap_err();
    assert!(
        matches!(err, KekError::AuthenticationFailed { .. }),
        "{err}"
    );
}

#[test]
fn truncated_wrap_is_too_short() {
    let dir = tempfile::tempdir().unwrap();
    let kek = KeyFileKek::open_or_create(&dir.path().join("kek.key")).unwrap();
    let err = kek.unwrap(b"aad", &[0u8; 39]).unwrap_err();
    assert!(
        matches!(err, KekError::TooShort { len: 39, min: 40 }),
        "{err}"
    );
}

#[test]
fn describe_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kek.key");
    let kek = KeyFileKek::open_or_create(&path).unwrap();
    assert_eq!(kek.describe(), format!("key file {}", path.display()));
}

#[test]
fn pin_file_first_line_is_the_pin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pin");
    fs::write(&path, "1234\r\nignored\n").unwrap();
    let pin = PinSource::File(path).read().unwrap();
    assert_eq!(pin.as_str(), "1234");
}

#[test]
fn pin_from_environment_variable() {
    // A variable name no other test uses, so parallel tests cannot race on it.
    std::env::set_var("HAVEN_KEK_TEST_PIN_FROM_ENV", "9876\n");
    let pin = PinSource::Env("HAVEN_KEK_TEST_PIN_FROM_ENV".into())
        .read()
        .unwrap();
    assert_eq!(pin.as_str(), "9876");
}

#[test]
fn empty_pin_file_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pin");
    fs::write(&path, "\n").unwrap();
    let err = PinSource::File(path).read().unwrap_err();
    assert!(matches!(err, KekError::PinEmpty { .. }), "{err}");
}

#[test]
fn missing_pin_sources_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = PinSource::File(dir.path().join("absent"))
        .read()
        .unwrap_err();
    assert!(matches!(err, KekError::PinFile { .. }), "{err}");
    let err = PinSource::Env("HAVEN_TEST_PIN_VARIABLE_THAT_IS_NOT_SET".into())
        .read()
        .unwrap_err();
    assert!(matches!(err, KekError::PinVariableMissing { .. }), "{err}");
}

#[test]
fn pkcs11_config_defaults_and_redacts_pin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pin");
    fs::write(&path, "s3cret-pin\n").unwrap();
    let config = KekConfig::pkcs11(None, "vault", None, &PinSource::File(path)).unwrap();
    let KekConfig::Pkcs11 {
        module,
        token_label,
        pin,
        key_label,
    } = &config
    else {
        panic!("expected a PKCS#11 configuration");
    };
    assert_eq!(
        module.to_str(),
        Some(haven_vault_kek::DEFAULT_PKCS11_MODULE)
    );
    assert_eq!(token_label, "vault");
    assert_eq!(key_label, haven_vault_kek::DEFAULT_KEY_LABEL);
    assert_eq!(pin.as_str(), "s3cret-pin");
    let debug = format!("{config:?}");
    assert!(!debug.contains("s3cret-pin"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}
