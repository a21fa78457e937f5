//! Streaming AES-256-GCM with a 16-byte IV and no associated data, built from AES-CTR
//! and GHASH (NIST SP 800-38D) so that multi-gigabyte files pass through in constant
//! memory. The tag is checked by the caller once the last ciphertext byte is in.

use aes::cipher::{BlockEncrypt, KeyInit, KeyIvInit, StreamCipher};
use aes::Aes256;
use ghash::universal_hash::UniversalHash;
use ghash::GHash;

use crate::key::FileKey;

type Block = ghash::Block;
type Ctr = ctr::Ctr32BE<Aes256>;

/// GCM's limit on the plaintext under one IV: 2^32 - 2 blocks of 16 bytes (~64 GiB).
pub const MAX_GCM_BYTES: u64 = ((1 << 32) - 2) * 16;

/// Length of the GCM authentication tag.
pub const TAG_LEN: usize = 16;

/// The cipher state after some ciphertext has passed. Cloning it lets the caller
/// finish the tag for two candidate ciphertext lengths.
#[derive(Clone)]
pub struct GcmStream {
    ctr: Ctr,
    ghash: GHash,
    partial: [u8; 16],
    partial_len: usize,
    ciphertext_len: u64,
    tag_mask: Block,
}

impl GcmStream {
    /// Starts a stream: J0 = GHASH(IV || 0^64 || [128]_64) for a 16-byte IV, the
    /// keystream starts at inc32(J0), and the tag is masked with AES(J0).
    pub fn new(key: &FileKey, iv: &[u8; 16]) -> Self {
        let aes = Aes256::new(key.expose().into());
        let mut hash_key = Block::default();
        aes.encrypt_block(&mut hash_key);
        let ghash = GHash::new(&hash_key);

        let mut j0_hash = ghash.clone();
        j0_hash.update(&[*Block::from_slice(iv), length_block(0, 16)]);
        let j0 = j0_hash.finalize();

        let mut tag_mask = j0;
        aes.encrypt_block(&mut tag_mask);
        let mut counter = j0;
        let low = u32::from_be_bytes(counter[12..].try_into().expect("4 bytes"));
        counter[12..].copy_from_slice(&low.wrapping_add(1).to_be_bytes());
        Self {
            ctr: Ctr::new(key.expose().into(), &counter),
            ghash,
            partial: [0; 16],
            partial_len: 0,
            ciphertext_len: 0,
            tag_mask,
        }
    }

    /// Returns whether `more` bytes still fit under GCM's limit for one IV.
    pub fn has_room_for(&self, more: usize) -> bool {
        self.ciphertext_len + more as u64 <= MAX_GCM_BYTES
    }

    /// Decrypts `buf` in place and adds its ciphertext to the tag.
    pub fn decrypt(&mut self, buf: &mut [u8]) {
        self.absorb(buf);
        self.ctr.apply_keystream(buf);
    }

    /// Encrypts `buf` in place and adds its ciphertext to the tag.
    pub fn encrypt(&mut self, buf: &mut [u8]) {
        self.ctr.apply_keystream(buf);
        self.absorb(buf);
    }

    fn absorb(&mut self, mut ciphertext: &[u8]) {
        self.ciphertext_len += ciphertext.len() as u64;
        if self.partial_len > 0 {
            let take = ciphertext.len().min(16 - self.partial_len);
            self.partial[self.partial_len..self.partial_len + take]
                .copy_from_slice(&ciphertext[..take]);
            self.partial_len += take;
            ciphertext = &ciphertext[take..];
            if self.partial_len < 16 {
                return;
            }
            self.ghash.update(&[Block::from(self.partial)]);
            self.partial_len = 0;
        }
        // GHASH runs several blocks in parallel when it gets them in one call.
        let mut batch = [Block::default(); 64];
        let mut blocks = ciphertext.chunks_exact(16);
        loop {
            let mut count = 0;
            for (slot, block) in batch.iter_mut().zip(&mut blocks) {
                slot.copy_from_slice(block);
                count += 1;
            }
            if count == 0 {
                break;
            }
            self.ghash.update(&batch[..count]);
        }
        let rest = blocks.remainder();
        self.partial[..rest.len()].copy_from_slice(rest);
        self.partial_len = rest.len();
    }

    /// Computes the tag over the ciphertext processed so far.
    pub fn tag(&self) -> [u8; TAG_LEN] {
        let mut ghash = self.ghash.clone();
        ghash.update_padded(&self.partial[..self.partial_len]);
        ghash.update(&[length_block(0, self.ciphertext_len)]);
        let mut tag = ghash.finalize();
        for (byte, mask) in tag.iter_mut().zip(self.tag_mask.iter()) {
            *byte ^= mask;
        }
        tag.into()
    }
}

/// GHASH's final block: the bit lengths of the associated data and the ciphertext.
fn length_block(aad_bytes: u64, text_bytes: u64) -> Block {
    let mut block = Block::default();
    block[..8].copy_from_slice(&(aad_bytes * 8).to_be_bytes());
    block[8..].copy_from_slice(&(text_bytes * 8).to_be_bytes());
    block
}

#[cfg(test)]
mod tests {
    use aes_gcm::aead::consts::U16;
    use aes_gcm::aead::{Aead, KeyInit as _};
    use aes_gcm::AesGcm;

    use super::*;
    use crate::RootKey;

    type ReferenceGcm = AesGcm<Aes256, U16>;

    fn reference_seal(key: &FileKey, iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
        let cipher = ReferenceGcm::new(key.expose().into());
        cipher.encrypt(iv.into(), plaintext).unwrap()
    }

    #[test]
    fn stream_matches_aes_gcm_crate() {
        let key = RootKey::generate().file_key();
        let iv = [0x5a; 16];
        for len in [0usize, 1, 15, 16, 17, 100, 4096, 5000] {
            let plaintext: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let expected = reference_seal(&key, &iv, &plaintext);

            let mut stream = GcmStream::new(&key, &iv);
            let mut buf = plaintext.clone();
            for chunk in buf.chunks_mut(7) {
                stream.encrypt(chunk);
            }
            assert_eq!(buf, expected[..len], "ciphertext, len {len}");
            assert_eq!(stream.tag(), expected[len..], "tag, len {len}");

            let mut decryptor = GcmStream::new(&key, &iv);
            for chunk in buf.chunks_mut(13) {
                decryptor.decrypt(chunk);
            }
            assert_eq!(buf, plaintext, "plaintext, len {len}");
            assert_eq!(decryptor.tag(), expected[len..], "decrypt tag, len {len}");
        }
    }
}
