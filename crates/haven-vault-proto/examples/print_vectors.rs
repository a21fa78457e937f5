//! Prints the test vectors of docs/VAULT-PROTOCOL.md (used to write them; the
//! `vectors` test checks them).

use haven_crypto::{seal_with_nonce, BackupKey};
use haven_vault_proto::{derive_release_key, derive_wrap_key, fingerprint, KSF_V1};
use opaque_ke::generic_array::GenericArray;
use opaque_ke::ksf::Ksf;

fn main() {
    let export_key = [0x11u8; 64];
    let session_key = [0x22u8; 64];
    let credential_identifier = b"acme\x00alice";
    let wrap = derive_wrap_key(&export_key, credential_identifier);
    let release = derive_release_key(&session_key, credential_identifier);
    println!("wrap_key    {}", hex::encode(wrap.expose()));
    println!("release_key {}", hex::encode(release.expose()));
    let backup = BackupKey::from_bytes([0x33; 32]);
    let wrapped = seal_with_nonce(
        &wrap,
        &[0x44; 24],
        credential_identifier,
        backup.secret().expose(),
    );
    println!("wrapped     {}", hex::encode(&wrapped));
    println!("fingerprint {}", fingerprint(&[0x55; 32]));
    let input =
        GenericArray::<u8, opaque_ke::generic_array::typenum::U64>::clone_from_slice(&[0x66; 64]);
    let out = KSF_V1.argon2().hash(input).expect("argon2 runs");
    println!("ksf_v1      {}", hex::encode(out));
}
