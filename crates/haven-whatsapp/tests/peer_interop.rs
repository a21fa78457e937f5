//! Interoperability with wa-crypt-tools 0.1.0 (`waencrypt`, `wadecrypt`) from PyPI.

mod support;

use std::fs;

use haven_whatsapp::{
    decrypt_file, encrypt_file, inspect_file, ContentKind, DecryptOptions, EncryptOptions, Layout,
    RootKey,
};
use support::database::random_database;
use support::peer::peer;

const SAMPLE_KEY_HEX: &str = "6730a595a1484d0c39c101dc0ac82ec5e401bb6f0e1b8ee2dc104a6b3687f017";

#[test]
fn sample_backup_decrypts_byte_identical() {
    let peer = peer();
    let dir = tempfile::tempdir().unwrap();
    let key = RootKey::read_key_file(&peer.res("encrypted_backup.key")).unwrap();
    assert_eq!(key.to_hex().as_str(), SAMPLE_KEY_HEX);
    let output = dir.path().join("msgstore.db");

    let report = decrypt_file(
        &peer.res("msgstore.db.crypt15"),
        &key,
        &output,
        DecryptOptions::default(),
    )
    .unwrap();

    assert_eq!(
        fs::read(&output).unwrap(),
        fs::read(peer.res("msgstore.db")).unwrap()
    );
    assert_eq!(report.layout, Layout::SingleFile);
    assert_eq!(report.content, ContentKind::Zlib);
    assert_eq!(report.header.info.app_version, "2.22.5.13");
    assert_eq!(report.header.info.jid_suffix, "67");
    assert_eq!(
        report.header.info.features(),
        vec![5, 7, 8, 13, 14, 19, 22, 25, 28, 30, 31, 32, 36, 37]
    );
    assert!(report.header.has_feature_table);
}

#[test]
fn haven_encrypts_wadecrypt_decrypts() {
    let peer = peer();
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3u64 {
        let database = dir.path().join(format!("plain-{round}.db"));
        let plaintext = random_database(&database, 50 + 300 * round as usize, round);
        let key = RootKey::generate();
        let encrypted = dir.path().join(format!("haven-{round}.crypt15"));
        encrypt_file(&database, &key, &encrypted, &EncryptOptions::default()).unwrap();

        // Round 0 passes the key as an encrypted_backup.key file written by Haven.
        let key_arg = if round == 0 {
            let key_file = dir.path().join("encrypted_backup.key");
            fs::write(&key_file, key.to_key_file_bytes().as_slice()).unwrap();
            key_file.into_os_string()
        } else {
            key.to_hex().as_str().into()
        };
        let decrypted = dir.path().join(format!("wadecrypt-{round}.db"));
        peer.wadecrypt([key_arg, encrypted.into(), decrypted.clone().into()]);
        assert_eq!(fs::read(&decrypted).unwrap(), plaintext, "round {round}");
    }
}

#[test]
fn waencrypt_encrypts_haven_decrypts() {
    let peer = peer();
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3u64 {
        let database = dir.path().join(format!("plain-{round}.db"));
        let plaintext = random_database(&database, 80 + 250 * round as usize, 100 + round);
        let key = RootKey::generate();
        let encrypted = dir.path().join(format!("wa-{round}.crypt15"));
        peer.waencrypt([
            key.to_hex().as_str().into(),
            database.clone().into_os_string(),
            encrypted.clone().into_os_string(),
        ]);

        let decrypted = dir.path().join(format!("haven-{round}.db"));
        let report = decrypt_file(&encrypted, &key, &decrypted, DecryptOptions::default()).unwrap();
        assert_eq!(fs::read(&decrypted).unwrap(), plaintext, "round {round}");
        assert_eq!(report.layout, Layout::SingleFile, "round {round}");
    }
}

#[test]
fn encryption_matches_waencrypt_golden() {
    let peer = peer();
    let dir = tempfile::tempdir().unwrap();
    let iv_hex = "00112233445566778899aabbccddeeff";
    let key = RootKey::generate();
    let database = peer.res("msgstore.db");
    let golden = dir.path().join("golden.crypt15");
    peer.waencrypt([
        key.to_hex().as_str(),
        database.to_str().unwrap(),
        golden.to_str().unwrap(),
        "--iv",
        iv_hex,
    ]);

    let ours = dir.path().join("haven.crypt15");
    let options = EncryptOptions {
        iv: Some(hex::decode(iv_hex).unwrap().try_into().unwrap()),
        ..EncryptOptions::default()
    };
    encrypt_file(&database, &key, &ours, &options).unwrap();

    let expected = fs::read(&golden).unwrap();
    let actual = fs::read(&ours).unwrap();
    assert_eq!(actual.len(), expected.len(), "file length");
    let header_len = usize::from(expected[0]) + 2;
    assert_eq!(actual[..header_len], expected[..header_len], "header");
    assert!(actual == expected, "content, tag or checksum differ");
}

#[test]
fn encryption_with_reference_header_matches_waencrypt() {
    let peer = peer();
    let dir = tempfile::tempdir().unwrap();
    let reference = peer.res("msgstore.db.crypt15");
    let key = RootKey::generate();
    let database = dir.path().join("plain.db");
    random_database(&database, 200, 7);
    let golden = dir.path().join("golden.crypt15");
    peer.waencrypt([
        key.to_hex().as_str(),
        database.to_str().unwrap(),
        golden.to_str().unwrap(),
        "--reference",
        reference.to_str().unwrap(),
    ]);

    let header = inspect_file(&reference).unwrap().header;
    let options = EncryptOptions {
        iv: Some(header.iv),
        info: header.info,
        ..EncryptOptions::default()
    };
    let ours = dir.path().join("haven.crypt15");
    encrypt_file(&database, &key, &ours, &options).unwrap();
    assert!(fs::read(&ours).unwrap() == fs::read(&golden).unwrap());
}
