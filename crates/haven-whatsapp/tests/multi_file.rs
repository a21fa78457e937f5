//! Multi-file backups (stickers, wallpapers): a ZIP archive, encrypted without zlib and
//! without the MD5 checksum. The test file is built with wa-crypt-tools' protobuf
//! classes and pycryptodomex, independently of Haven.

mod support;

use std::fs;
use std::path::Path;
use std::process::Command;

use haven_whatsapp::{decrypt_file, ContentKind, DecryptOptions, Error, Layout, RootKey};
use support::peer::peer;

/// Writes a multi-file backup: length byte, BackupPrefix without the feature-table
/// byte, AES-GCM of the input, tag. Arguments: root key hex, IV hex, input, output.
const MAKE_MULTI_FILE: &str = r#"
import sys
from Cryptodome.Cipher import AES
from wa_crypt_tools.lib.key.key15 import Key15
from wa_crypt_tools.proto import backup_prefix_pb2, key_type_pb2

key = Key15(keyarray=bytes.fromhex(sys.argv[1])).get()
iv = bytes.fromhex(sys.argv[2])
data = open(sys.argv[3], "rb").read()
prefix = backup_prefix_pb2.BackupPrefix()
prefix.key_type = key_type_pb2.Key_Type.HSM_CONTROLLED
prefix.c15_iv.IV = iv
prefix.info.app_version = "2.23.18.12"
prefix.info.jidSuffix = "00"
header = prefix.SerializeToString()
body, tag = AES.new(key, AES.MODE_GCM, iv).encrypt_and_digest(data)
open(sys.argv[4], "wb").write(bytes([len(header)]) + header + body + tag)
"#;

fn make_multi_file(key: &RootKey, zip: &Path, output: &Path) {
    let status = Command::new(peer().python())
        .args([
            "-c",
            MAKE_MULTI_FILE,
            key.to_hex().as_str(),
            "0f0e0d0c0b0a09080706050403020100",
        ])
        .arg(zip)
        .arg(output)
        .status()
        .unwrap();
    assert!(
        status.success(),
        "the multi-file writer exited with {status}"
    );
}

#[test]
fn multi_file_backup_decrypts() {
    let peer = peer();
    let dir = tempfile::tempdir().unwrap();
    let key = RootKey::generate();
    let zip = peer.res("test9.zip");
    let encrypted = dir.path().join("stickers.crypt15");
    make_multi_file(&key, &zip, &encrypted);

    let output = dir.path().join("stickers.zip");
    let report = decrypt_file(&encrypted, &key, &output, DecryptOptions::default()).unwrap();
    assert_eq!(report.layout, Layout::MultiFile);
    assert_eq!(report.content, ContentKind::Zip);
    assert!(!report.header.has_feature_table);
    assert_eq!(fs::read(&output).unwrap(), fs::read(&zip).unwrap());

    let wadecrypt_output = dir.path().join("wadecrypt.zip");
    peer.wadecrypt([
        key.to_hex().as_str(),
        encrypted.to_str().unwrap(),
        wadecrypt_output.to_str().unwrap(),
    ]);
    assert_eq!(
        fs::read(&wadecrypt_output).unwrap(),
        fs::read(&zip).unwrap()
    );
}

#[test]
fn multi_file_wrong_key_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let key = RootKey::generate();
    let encrypted = dir.path().join("stickers.crypt15");
    make_multi_file(&key, &peer().res("test9.zip"), &encrypted);

    let output = dir.path().join("stickers.zip");
    let error = decrypt_file(
        &encrypted,
        &RootKey::generate(),
        &output,
        DecryptOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, Error::WrongKeyOrDamagedMultiFile),
        "{error}"
    );
    assert!(!output.exists());
}
