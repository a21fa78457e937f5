//! Known-answer tests for every derivation and the AEAD framing. Each vector was
//! computed independently in Python: HKDF with `hmac`, keyed BLAKE3 with the `blake3`
//! package and XChaCha20-Poly1305 with `pycryptodome`.

use haven_crypto::{derive_key, open, seal, BackupKey, CryptoError, KeyedHash, SecretKey};
use sha2::{Digest, Sha256};

fn key_of(byte: u8) -> SecretKey {
    SecretKey::from_bytes([byte; 32])
}

#[test]
fn hkdf_label_vector() {
    let derived = derive_key(&key_of(0x01), "data", b"ctx");
    assert_eq!(hex::encode(derived.expose()), HKDF_VECTOR);
}

// HKDF-SHA256, ikm = 32 x 0x01, salt empty, info = b"haven/v1/data\x00ctx".
const HKDF_VECTOR: &str = "66118bbc87f1be46445caeeb0c7a261802937718c1cae0f81a365928b1a68203";

#[test]
fn keyed_blake3_vector() {
    let digest = KeyedHash::digest(&key_of(0x02), b"chunk");
    assert_eq!(hex::encode(digest), BLAKE3_VECTOR);
}

const BLAKE3_VECTOR: &str = "fbc0772526dd4c8076113e7e7bb8451a64392439cfc8c25c68ef754a6a397bd4";

#[test]
fn xchacha_vector() {
    let sealed = haven_crypto::seal_with_nonce(&key_of(0x03), &[0x04; 24], b"aad", b"hello");
    assert_eq!(hex::encode(&sealed), XCHACHA_VECTOR);
    let opened = open(&key_of(0x03), b"aad", &sealed).unwrap();
    assert_eq!(opened, b"hello");
}

const XCHACHA_VECTOR: &str =
    "04040404040404040404040404040404040404040404040401869378f824c3d60d0d1b6848346ab1b78e559620";

/// A message of many ChaCha20 blocks, so that the bulk code paths run.
#[test]
fn xchacha_long_vector() {
    let nonce: [u8; 24] = std::array::from_fn(|i| 0x10 + i as u8);
    let plaintext: Vec<u8> = (0..1000).map(|i| (i % 251) as u8).collect();
    let sealed = haven_crypto::seal_with_nonce(&key_of(0x08), &nonce, b"pack", &plaintext);
    assert_eq!(sealed.len(), 1040);
    assert_eq!(hex::encode(&sealed[1000..]), XCHACHA_LONG_TAIL);
    assert_eq!(hex::encode(Sha256::digest(&sealed)), XCHACHA_LONG_SHA256);
    assert_eq!(open(&key_of(0x08), b"pack", &sealed).unwrap(), plaintext);
}

// pycryptodome's ChaCha20_Poly1305 with a 24-byte nonce: the last 40 bytes of the
// sealed message (ciphertext end and tag), and SHA-256 of all of it.
const XCHACHA_LONG_TAIL: &str =
    "3b8aad405b18f6367570dcdd5963d811ec0258e4e7f3bf8ec0d5a0780a9d7c28a328c62ff7f2524c";
const XCHACHA_LONG_SHA256: &str =
    "2c9fafa24b903f07601d4ad09cb745d1db77e0aef1e2d59f36f0b88fa9b73364";

/// Sealing agrees with the `chacha20poly1305` crate's XChaCha20-Poly1305 at every
/// length around the 64-byte block and the 16-byte Poly1305 block boundaries.
#[test]
fn xchacha_matches_reference_crate() {
    use chacha20poly1305::aead::{Aead, KeyInit, Payload};
    use chacha20poly1305::{XChaCha20Poly1305, XNonce};
    let key = key_of(0x0A);
    let reference = XChaCha20Poly1305::new(key.expose().into());
    for len in (0..300).chain([1023, 1024, 1025, 4096, 65_537]) {
        let nonce: [u8; 24] = std::array::from_fn(|i| (len + i) as u8);
        let plaintext: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let aad = &b"associated data"[..len % 16];
        let sealed = haven_crypto::seal_with_nonce(&key, &nonce, aad, &plaintext);
        let expected = reference
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad,
                },
            )
            .unwrap();
        assert_eq!(&sealed[24..], &expected[..], "length {len}");
        assert_eq!(open(&key, aad, &sealed).unwrap(), plaintext, "length {len}");
    }
}

#[test]
fn labels_give_distinct_keys() {
    let ikm = key_of(0x05);
    assert_ne!(derive_key(&ikm, "data", b""), derive_key(&ikm, "meta", b""));
    assert_ne!(
        derive_key(&ikm, "data", b"a"),
        derive_key(&ikm, "data", b"b")
    );
}

#[test]
fn open_rejects_changes() {
    let key = key_of(0x06);
    let sealed = seal(&key, b"object-1", b"payload");
    assert_eq!(
        open(&key, b"object-2", &sealed),
        Err(CryptoError::AuthenticationFailed)
    );
    assert_eq!(
        open(&key_of(0x07), b"object-1", &sealed),
        Err(CryptoError::AuthenticationFailed)
    );
    for i in 0..sealed.len() {
        let mut flipped = sealed.clone();
        flipped[i] ^= 0x01;
        assert_eq!(
            open(&key, b"object-1", &flipped),
            Err(CryptoError::AuthenticationFailed),
            "bit flip at byte {i}"
        );
    }
    for len in [0, 1, 15, 39] {
        assert!(matches!(
            open(&key, b"object-1", &sealed[..len]),
            Err(CryptoError::TooShort { .. })
        ));
    }
}

#[test]
fn seal_uses_fresh_nonces() {
    let key = key_of(0x08);
    assert_ne!(seal(&key, b"", b"same"), seal(&key, b"", b"same"));
}

#[test]
fn backup_key_round_trip() {
    let key = BackupKey::generate();
    let shown = key.to_grouped_digits();
    assert_eq!(shown.len(), 79);
    assert_eq!(shown.split(' ').count(), 16);
    assert!(shown.split(' ').all(|group| group.len() == 4));
    assert_eq!(BackupKey::parse(&shown).unwrap(), key);
}

#[test]
fn backup_key_parse_forgiving() {
    let digits = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let expected = BackupKey::parse(digits).unwrap();
    let upper_dashed =
        "0011-2233-4455-6677-8899-AABB-CCDD-EEFF-0011-2233-4455-6677-8899-AABB-CCDD-EEFF";
    assert_eq!(BackupKey::parse(upper_dashed).unwrap(), expected);
    let spaced =
        " 0011 2233\t4455 6677\n8899 aabb ccdd eeff 0011 2233 4455 6677 8899 aabb ccdd eeff ";
    assert_eq!(BackupKey::parse(spaced).unwrap(), expected);
}

#[test]
fn backup_key_parse_errors() {
    let short = "0011 2233 4455 6677 8899 aabb ccdd eeff 0011 2233 4455 6677 8899 aabb ccdd";
    assert_eq!(
        BackupKey::parse(short),
        Err(CryptoError::InvalidKeyLength { found: 60 })
    );
    let typo = "0011 2233 4455 6677 8899 aabb ccdd eeff 0011 2233 4455 6677 8899 aabb ccdd eefg";
    assert_eq!(
        BackupKey::parse(typo),
        Err(CryptoError::InvalidKeyCharacter {
            found: 'g',
            position: 79
        })
    );
}

#[test]
fn debug_hides_keys() {
    let key = BackupKey::parse(&"ab".repeat(32)).unwrap();
    assert!(!format!("{key:?}").contains("abab"));
    assert!(!format!("{:?}", key.secret()).contains("abab"));
}

#[test]
fn seal_in_place_opens_like_seal() {
    let key = key_of(0x05);
    let mut buffer = vec![0xAA; haven_crypto::NONCE_LEN];
    buffer.extend_from_slice(b"reused buffer");
    haven_crypto::seal_in_place(&key, b"aad", &mut buffer);
    assert_eq!(
        buffer.len(),
        b"reused buffer".len() + haven_crypto::AEAD_OVERHEAD
    );
    assert_ne!(
        &buffer[..haven_crypto::NONCE_LEN],
        &[0xAA; haven_crypto::NONCE_LEN]
    );
    let opened = haven_crypto::open(&key, b"aad", &buffer).unwrap();
    assert_eq!(opened, b"reused buffer");
    assert!(haven_crypto::open(&key, b"other", &buffer).is_err());
}

#[test]
fn open_in_place_opens_like_open() {
    let key = key_of(0x09);
    let sealed = seal(&key, b"aad", b"opened where it lies");
    let mut buffer = sealed.clone();
    let range = haven_crypto::open_in_place(&key, b"aad", &mut buffer).unwrap();
    assert_eq!(&buffer[range], b"opened where it lies");

    let mut flipped = sealed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    assert_eq!(
        haven_crypto::open_in_place(&key, b"aad", &mut flipped),
        Err(CryptoError::AuthenticationFailed)
    );
    assert_eq!(
        haven_crypto::open_in_place(&key, b"other", &mut sealed.clone()),
        Err(CryptoError::AuthenticationFailed)
    );
    assert!(matches!(
        haven_crypto::open_in_place(&key, b"aad", &mut sealed.clone()[..39]),
        Err(CryptoError::TooShort { .. })
    ));
}
