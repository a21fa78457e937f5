//! Wrong keys, other formats, truncated files and single flipped bits, each named.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use haven_whatsapp::{decrypt_file, DecryptOptions, DecryptReport, Error, RootKey};
use support::peer::peer;

/// The sample backup, its key, and the database it holds.
struct Sample {
    bytes: Vec<u8>,
    key: RootKey,
    plaintext: Vec<u8>,
    header_len: usize,
}

fn sample() -> Sample {
    let peer = peer();
    let bytes = fs::read(peer.res("msgstore.db.crypt15")).unwrap();
    let header_len = usize::from(bytes[0]) + 2;
    Sample {
        key: RootKey::read_key_file(&peer.res("encrypted_backup.key")).unwrap(),
        plaintext: fs::read(peer.res("msgstore.db")).unwrap(),
        bytes,
        header_len,
    }
}

/// Decrypts `bytes` in a fresh folder. On error, checks that no file is left behind.
fn decrypt(
    bytes: &[u8],
    key: &RootKey,
    options: DecryptOptions,
) -> Result<(DecryptReport, Vec<u8>), Error> {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.crypt15");
    fs::write(&input, bytes).unwrap();
    decrypt_path(&input, key, options, dir.path())
}

fn decrypt_path(
    input: &Path,
    key: &RootKey,
    options: DecryptOptions,
    dir: &Path,
) -> Result<(DecryptReport, Vec<u8>), Error> {
    let out_dir = dir.join("out");
    fs::create_dir(&out_dir).unwrap();
    let output = out_dir.join("msgstore.db");
    match decrypt_file(input, key, &output, options) {
        Ok(report) => Ok((report, fs::read(&output).unwrap())),
        Err(error) => {
            let left: Vec<PathBuf> = fs::read_dir(&out_dir)
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .collect();
            assert!(left.is_empty(), "files left after {error}: {left:?}");
            Err(error)
        }
    }
}

fn flip(bytes: &[u8], offset: usize, mask: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    out[offset] ^= mask;
    out
}

#[test]
fn wrong_key_is_named() {
    let sample = sample();
    let error = decrypt(
        &sample.bytes,
        &RootKey::generate(),
        DecryptOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(error, Error::WrongKey), "{error}");
    assert!(
        error
            .to_string()
            .contains("this key does not open this backup"),
        "{error}"
    );
    assert!(!error.is_damaged());
}

#[test]
fn invalid_key_text_is_named() {
    let error = RootKey::parse_hex("6730a595 a1484d0c").unwrap_err();
    assert!(matches!(error, Error::InvalidKey { .. }), "{error}");
    assert!(error.to_string().contains("expected 64"), "{error}");
}

#[test]
fn sqlite_input_is_named() {
    let sample = sample();
    let error = decrypt(&sample.plaintext, &sample.key, DecryptOptions::default()).unwrap_err();
    assert!(matches!(error, Error::UnencryptedSqlite), "{error}");
    assert!(
        error
            .to_string()
            .contains("this is an unencrypted SQLite database"),
        "{error}"
    );
}

#[test]
fn crypt12_input_is_named() {
    let sample = sample();
    let bytes = fs::read(peer().res("msgstore.db.crypt12")).unwrap();
    let error = decrypt(&bytes, &sample.key, DecryptOptions::default()).unwrap_err();
    assert!(
        matches!(error, Error::Unsupported { format: "crypt12" }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("crypt12 backup, which is not supported"),
        "{error}"
    );
}

#[test]
fn crypt14_input_is_named() {
    let sample = sample();
    for name in ["msgstore.db.crypt14", "msgstore-noexpiry.db.crypt14"] {
        let bytes = fs::read(peer().res(name)).unwrap();
        let error = decrypt(&bytes, &sample.key, DecryptOptions::default()).unwrap_err();
        assert!(
            matches!(error, Error::Unsupported { format: "crypt14" }),
            "{name}: {error}"
        );
        assert!(
            error.to_string().contains("not supported"),
            "{name}: {error}"
        );
    }
}

#[test]
fn crypt14_key_file_is_named() {
    let error = RootKey::read_key_file(&peer().res("key")).unwrap_err();
    assert!(matches!(error, Error::Crypt14KeyFile), "{error}");
}

#[test]
fn truncated_header_is_named() {
    let sample = sample();
    let error = decrypt(&sample.bytes[..50], &sample.key, DecryptOptions::default()).unwrap_err();
    assert!(
        matches!(
            error,
            Error::TruncatedHeader {
                needed: 131,
                found: 50
            }
        ),
        "{error}"
    );
}

#[test]
fn truncated_body_is_named() {
    let sample = sample();
    let len = sample.bytes.len();
    let error = decrypt(
        &sample.bytes[..sample.header_len + 10],
        &sample.key,
        DecryptOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(error, Error::TooShort { body_len: 10, .. }),
        "{error}"
    );

    let cases = [
        (len / 2, None),
        (len - 33, None),
        (len - 32, Some(32)),
        (len - 20, Some(20)),
        (len - 1, Some(1)),
    ];
    for (cut, expected) in cases {
        let error =
            decrypt(&sample.bytes[..cut], &sample.key, DecryptOptions::default()).unwrap_err();
        match error {
            Error::Truncated { missing, .. } => assert_eq!(missing, expected, "cut at {cut}"),
            other => panic!("cut at {cut}: expected Truncated, got {other}"),
        }
    }
}

#[test]
fn missing_checksum_is_named() {
    let sample = sample();
    let cut = &sample.bytes[..sample.bytes.len() - 16];
    let error = decrypt(cut, &sample.key, DecryptOptions::default()).unwrap_err();
    assert!(matches!(error, Error::ChecksumMissing), "{error}");

    let options = DecryptOptions {
        ignore_checksum: true,
    };
    let (_, plaintext) = decrypt(cut, &sample.key, options).unwrap();
    assert!(plaintext == sample.plaintext);
}

#[test]
fn header_bit_flip_is_named() {
    let sample = sample();
    let version = sample
        .bytes
        .windows(9)
        .position(|w| w == b"2.22.5.13")
        .unwrap();
    let damaged = flip(&sample.bytes, version + 2, 0x01);
    let error = decrypt(&damaged, &sample.key, DecryptOptions::default()).unwrap_err();
    assert!(matches!(error, Error::HeaderDamaged), "{error}");

    let options = DecryptOptions {
        ignore_checksum: true,
    };
    let (report, plaintext) = decrypt(&damaged, &sample.key, options).unwrap();
    assert!(report.checksum_ignored);
    assert!(plaintext == sample.plaintext);
}

#[test]
fn header_structure_bit_flip_is_named() {
    let sample = sample();
    for offset in [0, 1, 4] {
        let damaged = flip(&sample.bytes, offset, 0x01);
        let error = decrypt(&damaged, &sample.key, DecryptOptions::default()).unwrap_err();
        assert!(
            matches!(error, Error::InvalidHeader { .. }),
            "byte {offset}: {error}"
        );
        assert!(error.is_damaged(), "byte {offset}");
    }
}

#[test]
fn iv_bit_flip_is_named() {
    let sample = sample();
    let iv_offset = sample
        .bytes
        .windows(2)
        .position(|w| w == [0x0a, 0x10])
        .unwrap()
        + 2;
    let damaged = flip(&sample.bytes, iv_offset + 5, 0x10);
    let error = decrypt(&damaged, &sample.key, DecryptOptions::default()).unwrap_err();
    assert!(matches!(error, Error::IvDamaged { bit: 43 }), "{error}");
}

#[test]
fn body_bit_flip_is_named() {
    let sample = sample();
    let offset = sample.bytes.len() / 2;
    let damaged = flip(&sample.bytes, offset, 0x04);
    let error = decrypt(&damaged, &sample.key, DecryptOptions::default()).unwrap_err();
    match error {
        Error::BodyDamaged { offset: Some(near) } => {
            assert!(
                near >= offset as u64,
                "reported byte {near}, flipped byte {offset}"
            )
        }
        other => panic!("expected BodyDamaged with an offset, got {other}"),
    }
}

#[test]
fn tag_bit_flip_is_named() {
    let sample = sample();
    let damaged = flip(&sample.bytes, sample.bytes.len() - 20, 0x80);
    let error = decrypt(&damaged, &sample.key, DecryptOptions::default()).unwrap_err();
    assert!(
        matches!(error, Error::TagDamaged { differing_bits: 1 }),
        "{error}"
    );
}

#[test]
fn checksum_bit_flip_is_named() {
    let sample = sample();
    let damaged = flip(&sample.bytes, sample.bytes.len() - 3, 0x02);
    let error = decrypt(&damaged, &sample.key, DecryptOptions::default()).unwrap_err();
    assert!(
        matches!(error, Error::ChecksumDamaged { differing_bits: 1 }),
        "{error}"
    );

    let options = DecryptOptions {
        ignore_checksum: true,
    };
    let (_, plaintext) = decrypt(&damaged, &sample.key, options).unwrap();
    assert!(plaintext == sample.plaintext);
}

#[test]
fn damaged_trailer_is_named() {
    let sample = sample();
    let len = sample.bytes.len();
    let mut damaged = sample.bytes.clone();
    for offset in [len - 30, len - 29, len - 28, len - 2] {
        damaged[offset] ^= 0xff;
    }
    let error = decrypt(&damaged, &sample.key, DecryptOptions::default()).unwrap_err();
    assert!(matches!(error, Error::TrailerDamaged), "{error}");
}

#[test]
fn damage_with_wrong_key_is_named() {
    let sample = sample();
    let damaged = flip(&sample.bytes, sample.bytes.len() / 2, 0x01);
    let error = decrypt(&damaged, &RootKey::generate(), DecryptOptions::default()).unwrap_err();
    assert!(matches!(error, Error::DamagedOrWrongKey), "{error}");
}

#[test]
fn output_equal_to_input_is_rejected() {
    let sample = sample();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("msgstore.db.crypt15");
    fs::write(&path, &sample.bytes).unwrap();
    let error = decrypt_file(&path, &sample.key, &path, DecryptOptions::default()).unwrap_err();
    assert!(matches!(error, Error::OutputIsInput { .. }), "{error}");
    assert_eq!(fs::read(&path).unwrap(), sample.bytes);
}
