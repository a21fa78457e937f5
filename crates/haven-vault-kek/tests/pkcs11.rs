//! PKCS#11 KEK tests against a real SoftHSM2 token. They fail with an install
//! hint when SoftHSM2 is missing; they never skip.

mod common;

use common::SoftHsm;
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::object::{Attribute, AttributeType, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use haven_vault_kek::{open_kek, Kek, KekConfig, KekError, Pkcs11Kek, GCM_IV_LEN, GCM_TAG_LEN};
use zeroize::Zeroizing;

const KEY_LABEL: &str = "haven-kek";

fn config(hsm: &SoftHsm) -> KekConfig {
    KekConfig::Pkcs11 {
        module: hsm.module(),
        token_label: hsm.token_label.clone(),
        pin: hsm.pin.clone(),
        key_label: KEY_LABEL.to_string(),
    }
}

fn open(hsm: &SoftHsm, create: bool) -> Result<Box<dyn Kek>, KekError> {
    open_kek(&config(hsm), create)
}

#[test]
fn round_trip_and_framing() {
    let hsm = SoftHsm::with_token("vault");
    let kek = open(&hsm, true).unwrap();
    let wrapped = kek.wrap(b"server-setup", b"secret bytes").unwrap();
    assert_eq!(
        wrapped.len(),
        GCM_IV_LEN + b"secret bytes".len() + GCM_TAG_LEN
    );
    let plain = kek.unwrap(b"server-setup", &wrapped).unwrap();
    assert_eq!(plain.as_slice(), b"secret bytes");
    let again = kek.wrap(b"server-setup", b"secret bytes").unwrap();
    assert_ne!(wrapped[..GCM_IV_LEN], again[..GCM_IV_LEN], "IV was reused");
    assert_eq!(kek.describe(), "PKCS#11 token 'vault' key 'haven-kek'");
}

#[test]
fn key_persists_across_opens() {
    let hsm = SoftHsm::with_token("vault");
    let wrapped = {
        let kek = open(&hsm, true).unwrap();
        kek.wrap(b"aad", b"kept").unwrap()
    };
    // The module is finalized between the two opens because no other KEK uses it.
    let kek = open(&hsm, false).unwrap();
    assert_eq!(kek.unwrap(b"aad", &wrapped).unwrap().as_slice(), b"kept");
    // Opening with create again finds the same key instead of adding a second.
    let kek_created_again = open(&hsm, true).unwrap();
    assert_eq!(
        kek_created_again
            .unwrap(b"aad", &wrapped)
            .unwrap()
            .as_slice(),
        b"kept"
    );
}

#[test]
fn two_keks_share_the_module() {
    let hsm = SoftHsm::with_token("vault");
    let first = open(&hsm, true).unwrap();
    let second = open(&hsm, false).unwrap();
    let wrapped = first.wrap(b"aad", b"shared").unwrap();
    drop(first);
    // The first KEK's close must not finalize the module under the second.
    assert_eq!(
        second.unwrap(b"aad", &wrapped).unwrap().as_slice(),
        b"shared"
    );
}

#[test]
fn concurrent_wraps_share_one_session() {
    let hsm = SoftHsm::with_token("vault");
    let kek = open(&hsm, true).unwrap();
    std::thread::scope(|scope| {
        for thread in 0..4u8 {
            let kek = &kek;
            scope.spawn(move || {
                for round in 0..25u8 {
                    let plaintext = [thread, round];
                    let wrapped = kek.wrap(b"aad", &plaintext).unwrap();
                    assert_eq!(kek.unwrap(b"aad", &wrapped).unwrap().as_slice(), plaintext);
                }
            });
        }
    });
}

#[test]
fn generated_key_is_sensitive_and_not_extractable() {
    let hsm = SoftHsm::with_token("vault");
    drop(open(&hsm, true).unwrap());
    let context = Pkcs11::new(hsm.module()).unwrap();
    context
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    {
        let slot = context.get_slots_with_initialized_token().unwrap()[0];
        let session = context.open_ro_session(slot).unwrap();
        session
            .login(UserType::User, Some(&AuthPin::from(hsm.pin.as_str())))
            .unwrap();
        let keys = session
            .find_objects(&[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::Label(KEY_LABEL.as_bytes().to_vec()),
            ])
            .unwrap();
        assert_eq!(keys.len(), 1, "expected exactly one key object");
        let attributes = session
            .get_attributes(
                keys[0],
                &[
                    AttributeType::Sensitive,
                    AttributeType::Extractable,
                    AttributeType::Token,
                    AttributeType::ValueLen,
                ],
            )
            .unwrap();
        for attribute in attributes {
            match attribute {
                Attribute::Sensitive(value) => assert!(value, "key is not sensitive"),
                Attribute::Extractable(value) => assert!(!value, "key is extractable"),
                Attribute::Token(value) => assert!(value, "key is not a token object"),
                Attribute::ValueLen(len) => assert_eq!(u64::from(len), 32, "not AES-256"),
                other => panic!("unexpected attribute {other:?}"),
            }
        }
    }
    context.finalize().unwrap();
}

#[test]
fn module_initialised_elsewhere_stays_initialised() {
    let hsm = SoftHsm::with_token("vault");
    let context = Pkcs11::new(hsm.module()).unwrap();
    context
        .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .unwrap();
    let kek = open(&hsm, true).unwrap();
    let wrapped = kek.wrap(b"aad", b"secret").unwrap();
    assert_eq!(kek.unwrap(b"aad", &wrapped).unwrap().as_slice(), b"secret");
    drop(kek);
    // The KEK did not initialise the module, so closing it must not finalize it.
    let slots = context.get_slots_with_initialized_token();
    assert!(slots.is_ok(), "module was finalized: {slots:?}");
    context.finalize().unwrap();
}

#[test]
fn wrong_pin_is_named() {
    let hsm = SoftHsm::with_token("vault");
    let mut config = config(&hsm);
    if let KekConfig::Pkcs11 { pin, .. } = &mut config {
        *pin = Zeroizing::new("wrong-pin".to_string());
    }
    let err = open_kek(&config, true).err().unwrap();
    assert!(matches!(err, KekError::WrongPin { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("the PIN for token \"vault\" is wrong"),
        "{message}"
    );
    assert!(
        !message.contains("wrong-pin"),
        "message leaks the PIN: {message}"
    );
}

#[test]
fn missing_key_without_create() {
    let hsm = SoftHsm::with_token("vault");
    let err = open(&hsm, false).err().unwrap();
    assert!(
        matches!(&err, KekError::KeyNotFound { key_label, .. } if key_label == KEY_LABEL),
        "{err}"
    );
}

#[test]
fn missing_token_lists_present_labels() {
    let hsm = SoftHsm::with_token("vault");
    hsm.init_token("other", "1234-other");
    let mut config = config(&hsm);
    if let KekConfig::Pkcs11 { token_label, .. } = &mut config {
        *token_label = "absent".to_string();
    }
    let err = open_kek(&config, true).err().unwrap();
    let KekError::TokenNotFound { present, .. } = &err else {
        panic!("expected TokenNotFound, got {err}");
    };
    let mut present = present.clone();
    present.sort();
    assert_eq!(present, ["other", "vault"]);
    let message = err.to_string();
    assert!(
        message.contains("\"other\", \"vault\"") || message.contains("\"vault\", \"other\""),
        "{message}"
    );
}

#[test]
fn second_token_is_found_by_label() {
    let hsm = SoftHsm::with_token("vault");
    hsm.init_token("second", "1234-second");
    let kek = Pkcs11Kek::open(
        &hsm.module(),
        "second",
        &Zeroizing::new("1234-second".to_string()),
        KEY_LABEL,
        true,
    )
    .unwrap();
    let wrapped = kek.wrap(b"aad", b"on the second token").unwrap();
    assert_eq!(
        kek.unwrap(b"aad", &wrapped).unwrap().as_slice(),
        b"on the second token"
    );
    // The key lives in "second" only.
    let err = open(&hsm, false).err().unwrap();
    assert!(matches!(err, KekError::KeyNotFound { .. }), "{err}");
}

#[test]
fn tampered_ciphertext_fails_authentication() {
    let hsm = SoftHsm::with_token("vault");
    let kek = open(&hsm, true).unwrap();
    let wrapped = kek.wrap(b"aad", b"secret").unwrap();
    for index in [0, GCM_IV_LEN, wrapped.len() - 1] {
        let mut tampered = wrapped.clone();
        tampered[index] ^= 0x01;
        let err = kek.unwrap(b"aad", &tampered).unwrap_err();
        assert!(
            matches!(err, KekError::AuthenticationFailed { .. }),
            "byte {index}: {err}"
        );
    }
    // The session still works after failed decryptions.
    assert_eq!(kek.unwrap(b"aad", &wrapped).unwrap().as_slice(), b"secret");
}

#[test]
fn aad_mismatch_fails_authentication() {
    let hsm = SoftHsm::with_token("vault");
    let kek = open(&hsm, true).unwrap();
    let wrapped = kek.wrap(b"server-setup", b"secret").unwrap();
    let err = kek.unwrap(b"record-key", &wrapped).unwrap_err();
    assert!(
        matches!(err, KekError::AuthenticationFailed { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("PKCS#11 token 'vault'"), "{err}");
}

#[test]
fn truncated_wrap_is_too_short() {
    let hsm = SoftHsm::with_token("vault");
    let kek = open(&hsm, true).unwrap();
    let err = kek.unwrap(b"aad", &[0u8; 27]).unwrap_err();
    assert!(
        matches!(err, KekError::TooShort { len: 27, min: 28 }),
        "{err}"
    );
}

#[test]
fn missing_module_gives_install_hint() {
    let config = KekConfig::Pkcs11 {
        module: "/nonexistent/libsofthsm2.so".into(),
        token_label: "vault".into(),
        pin: Zeroizing::new("1234".into()),
        key_label: KEY_LABEL.into(),
    };
    let err = open_kek(&config, true).err().unwrap();
    assert!(matches!(err, KekError::ModuleNotFound { .. }), "{err}");
    assert!(
        err.to_string().contains("apt-get install softhsm2"),
        "{err}"
    );
}
