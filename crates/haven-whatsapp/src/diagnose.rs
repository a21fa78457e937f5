//! Names what is wrong with a crypt15 file whose tag does not verify.
//!
//! GCM alone cannot tell a wrong key from damaged bytes, but a single-file backup also
//! ends with the MD5 of every byte before it, which needs no key:
//!
//! - checksum matches, tag fails: the file is as it was written, so the key is wrong;
//! - checksum fails, tag verifies: the content and the IV are intact, so the damage is
//!   in the header outside the IV, or in the checksum itself when the stored and the
//!   computed MD5 differ in only a few bits;
//! - both fail: the stored tag is damaged when it is a few bits off the computed one;
//!   otherwise the inflated content distinguishes a truncated file (the stream stops without
//!   an error), damaged content (inflating fails past the start) and damage at the
//!   start (nothing decrypts, which a flipped IV bit also causes: the 128 single-bit
//!   repairs of the IV are tried).
//!
//! Two random 128-bit values differ in 64 bits on average, and in at most
//! [`NEAR_BITS`] bits with probability below 2^-80, so a small difference means a few
//! flipped bits in the stored value, not a different key or different content.

use std::io::{self, Write};

use crate::content::{ContentKind, ContentSink};
use crate::decrypt::TRAILER_LEN;
use crate::gcm::GcmStream;
use crate::header::Header;
use crate::key::FileKey;
use crate::Error;

/// Most differing bits between a stored and a computed value still read as damage to
/// the stored value.
pub const NEAR_BITS: u32 = 8;

/// Content bytes within which an inflate failure counts as damage at the start.
const START_LEN: u64 = 64;

/// Facts gathered during decryption, used to name the damage.
pub(crate) struct Evidence {
    pub header: Header,
    pub file_len: u64,
    pub file_key: FileKey,
    pub computed_tag: [u8; 16],
    pub computed_md5: [u8; 16],
    pub trailer: [u8; TRAILER_LEN as usize],
    /// The first ciphertext bytes of the body.
    pub probe: Vec<u8>,
}

/// Names the problem of a file that did not verify. `sink` has been fed every byte
/// before the trailer and writes nothing more.
pub(crate) fn diagnose<W: Write>(
    evidence: &Evidence,
    md5_ok: bool,
    single_ok: bool,
    mut gcm: GcmStream,
    mut sink: ContentSink<W>,
) -> Error {
    let stored_tag: [u8; 16] = evidence.trailer[..16].try_into().expect("16 bytes");
    let stored_md5: [u8; 16] = evidence.trailer[16..].try_into().expect("16 bytes");
    if md5_ok {
        return Error::WrongKey;
    }
    if single_ok {
        let differing_bits = differing_bits(&evidence.computed_md5, &stored_md5);
        return if differing_bits <= NEAR_BITS {
            Error::ChecksumDamaged { differing_bits }
        } else {
            Error::HeaderDamaged
        };
    }
    let differing_bits = differing_bits(&evidence.computed_tag, &stored_tag);
    if differing_bits <= NEAR_BITS {
        return Error::TagDamaged { differing_bits };
    }
    let status = sink.status();
    if status.kind == Some(ContentKind::Zlib) && status.ended && status.failure.is_none() {
        return Error::TrailerDamaged;
    }

    // A truncated file has no trailer: its last 32 bytes are content too.
    let mut trailer = evidence.trailer;
    gcm.decrypt(&mut trailer);
    if sink.feed(&trailer).is_err() {
        return Error::BodyDamaged { offset: None };
    }
    let status = sink.status();
    match (status.kind, status.failure) {
        (Some(ContentKind::Zlib), Some((at, _))) if at >= START_LEN => Error::BodyDamaged {
            offset: Some(evidence.header.len as u64 + at),
        },
        (Some(ContentKind::Zlib), Some(_)) | (None, _) => damage_at_start(evidence),
        (Some(ContentKind::Zlib), None) if !status.ended => Error::Truncated {
            file_len: evidence.file_len,
            missing: None,
        },
        // The stream ends inside what should be the 32-byte trailer, so the bytes of the
        // trailer that the content took are missing at the end of the file.
        (Some(ContentKind::Zlib), None) => Error::Truncated {
            file_len: evidence.file_len,
            missing: Some(TRAILER_LEN - status.trailing),
        },
        _ => Error::BodyDamaged { offset: None },
    }
}

fn damage_at_start(evidence: &Evidence) -> Error {
    if let Some(bit) = find_flipped_iv_bit(evidence) {
        Error::IvDamaged { bit }
    } else if !evidence.header.has_feature_table {
        Error::WrongKeyOrDamagedMultiFile
    } else {
        Error::DamagedOrWrongKey
    }
}

/// Returns the one IV bit (0 = most significant bit of the first byte) whose flip
/// makes the start of the body decrypt to content that inflates without error.
fn find_flipped_iv_bit(evidence: &Evidence) -> Option<u32> {
    let mut found = None;
    for bit in 0..128u32 {
        let mut iv = evidence.header.iv;
        iv[(bit / 8) as usize] ^= 0x80 >> (bit % 8);
        let mut start = evidence.probe.clone();
        GcmStream::new(&evidence.file_key, &iv).decrypt(&mut start);
        let mut sink = ContentSink::new(io::sink());
        sink.discard_output();
        if sink.feed(&start).is_err() {
            continue;
        }
        let status = sink.status();
        let decrypts = match status.kind {
            Some(ContentKind::Zip) => true,
            Some(ContentKind::Zlib) => status.failure.is_none(),
            None => false,
        };
        if decrypts {
            if found.is_some() {
                return None;
            }
            found = Some(bit);
        }
    }
    found
}

fn differing_bits(a: &[u8; 16], b: &[u8; 16]) -> u32 {
    a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
}
