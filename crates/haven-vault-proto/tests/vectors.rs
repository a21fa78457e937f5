//! Known-answer vectors for every derivation in docs/VAULT-PROTOCOL.md. The HKDF and
//! SHA-256 values were cross-checked with Python's hmac and hashlib.

use haven_crypto::{seal_with_nonce, BackupKey};
use haven_vault_proto::{
    derive_release_key, derive_wrap_key, fingerprint, unwrap_backup_key, KsfParams, KSF_V1,
};
use opaque_ke::generic_array::{typenum::U64, GenericArray};
use opaque_ke::ksf::Ksf;

const CREDENTIAL_IDENTIFIER: &[u8] = b"acme\x00alice";

#[test]
fn wrap_key_vector() {
    let key = derive_wrap_key(&[0x11; 64], CREDENTIAL_IDENTIFIER);
    assert_eq!(
        hex::encode(key.expose()),
        "b177fe7893cc4682eafb1daa3235077f0564303efd5461205dc90bedf19764c6"
    );
}

#[test]
fn release_key_vector() {
    let key = derive_release_key(&[0x22; 64], CREDENTIAL_IDENTIFIER);
    assert_eq!(
        hex::encode(key.expose()),
        "a7641fb9e6cfb9a05a5ce716dd8937ce47a5c61a8ac730d1f064218d2c777320"
    );
}

#[test]
fn wrapped_key_vector() {
    let wrap_key = derive_wrap_key(&[0x11; 64], CREDENTIAL_IDENTIFIER);
    let backup = BackupKey::from_bytes([0x33; 32]);
    let wrapped = seal_with_nonce(
        &wrap_key,
        &[0x44; 24],
        CREDENTIAL_IDENTIFIER,
        backup.secret().expose(),
    );
    assert_eq!(
        hex::encode(&wrapped),
        "444444444444444444444444444444444444444444444444\
         5fd8ed2ba7aede3f5a15149a25a45197c567ddbc34366e707de094bca03050f5\
         57df30358d6c98a092c59a5dbdfd1a2b"
    );
    let unwrapped = unwrap_backup_key(&[0x11; 64], CREDENTIAL_IDENTIFIER, &wrapped).unwrap();
    assert_eq!(unwrapped, backup);
}

#[test]
fn fingerprint_vector() {
    assert_eq!(
        fingerprint(&[0x55; 32]),
        "84126d0dd850199be29021aadbaee68cb9199047b1cb7ec9894ddb1e3562783c"
    );
}

#[test]
fn ksf_v1_vector() {
    assert_eq!(KsfParams::from_version(1).unwrap(), KSF_V1);
    assert_eq!(
        (KSF_V1.memory_kib, KSF_V1.iterations, KSF_V1.parallelism),
        (65536, 3, 1)
    );
    let input = GenericArray::<u8, U64>::clone_from_slice(&[0x66; 64]);
    let output = KSF_V1.argon2().hash(input).unwrap();
    assert_eq!(
        hex::encode(output),
        "2575d974ec97fc9c240f3d2c5585c472689144765c956967807cbdd842c6a48b\
         20b0d4e6833f44c5fd2fec5a09ad2e007f42f834b5094c5783a697e09a18ea29"
    );
}

#[test]
fn unknown_ksf_version_rejected() {
    let error = KsfParams::from_version(7).unwrap_err();
    assert!(error
        .to_string()
        .contains("unknown KSF parameter version 7"));
}
