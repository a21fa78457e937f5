//! Blobs and pack files.
//!
//! A pack is `blob || blob || … || sealed header || header length (u32 LE)`. Each blob
//! is sealed under the data key with associated data binding its type and id, and its
//! plaintext is one compression byte (0 stored, 1 zstd) followed by the bytes. The
//! header lists every blob and is sealed under the metadata key, so a pack can be
//! indexed again from its own bytes.

use haven_crypto::KeyedHash;
use serde::{Deserialize, Serialize};

use crate::compress::{self, Decoded};
use crate::id::{from_cbor, to_cbor, ObjectId};
use crate::keys::{associated_data, KeySet};

pub(crate) const PACK_PREFIX: &str = "data/";

/// What a blob holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum BlobType {
    /// A chunk of file content.
    Data,
    /// A directory listing ([`crate::Tree`]).
    Tree,
}

impl BlobType {
    fn label(self) -> &'static str {
        match self {
            BlobType::Data => "blob/data",
            BlobType::Tree => "blob/tree",
        }
    }
}

/// Where a blob lives inside a pack. Sizes and offsets are 64-bit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackEntry {
    #[serde(rename = "t")]
    pub blob_type: BlobType,
    pub id: ObjectId,
    /// Offset of the sealed blob from the start of the pack.
    pub offset: u64,
    /// Length of the sealed blob.
    pub length: u64,
    /// Length of the plaintext before compression.
    pub raw_length: u64,
}

pub(crate) fn pack_path(id: &ObjectId) -> String {
    let hex = id.to_hex();
    format!("{PACK_PREFIX}{}/{hex}", &hex[..2])
}

/// Returns the pack id named by a storage path, or `None` for a foreign file.
pub(crate) fn pack_id_from_path(path: &str) -> Option<ObjectId> {
    let name = path.rsplit('/').next()?;
    ObjectId::from_hex(name)
}

/// Computes a blob id: keyed BLAKE3 under the chunk-id key.
pub(crate) fn blob_id(keys: &KeySet, plaintext: &[u8]) -> ObjectId {
    ObjectId(KeyedHash::digest(&keys.chunk_id, plaintext))
}

/// Compresses (when `try_compress` and it helps) and seals a blob.
pub(crate) fn seal_blob(
    keys: &KeySet,
    blob_type: BlobType,
    id: &ObjectId,
    plaintext: &[u8],
    try_compress: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    seal_blob_into(keys, blob_type, id, plaintext, try_compress, &mut out);
    out
}

/// Seals a blob as [`seal_blob`] does, into `out` (cleared first), so a caller can
/// reuse one buffer for many blobs.
pub(crate) fn seal_blob_into(
    keys: &KeySet,
    blob_type: BlobType,
    id: &ObjectId,
    plaintext: &[u8],
    try_compress: bool,
    out: &mut Vec<u8>,
) {
    out.clear();
    out.reserve(plaintext.len() + 1 + haven_crypto::AEAD_OVERHEAD);
    out.resize(haven_crypto::NONCE_LEN, 0);
    compress::encode_into(plaintext, try_compress, out);
    haven_crypto::seal_in_place(&keys.data, &associated_data(blob_type.label(), &id.0), out);
}

/// Bytes of a sealed blob before its plaintext when stored uncompressed: the nonce
/// and the compression byte.
pub(crate) const SEAL_HEAD: usize = haven_crypto::NONCE_LEN + 1;

/// Seals the blob `buffer[SEAL_HEAD..]` as [`seal_blob_into`] does. Stored
/// uncompressed, it is sealed where it lies and `buffer` is returned, which saves a
/// copy of every large chunk of media. Compressed, it goes into the buffer from
/// `spare`, and `buffer` is handed to `done`.
pub(crate) fn seal_blob_in_place(
    keys: &KeySet,
    blob_type: BlobType,
    id: &ObjectId,
    mut buffer: Vec<u8>,
    try_compress: bool,
    spare: impl FnOnce() -> Vec<u8>,
    done: impl FnOnce(Vec<u8>),
) -> Vec<u8> {
    let aad = associated_data(blob_type.label(), &id.0);
    let compressed = compress::encode_compressed(&buffer[SEAL_HEAD..], try_compress, || {
        let mut out = spare();
        out.clear();
        out.resize(haven_crypto::NONCE_LEN, 0);
        out
    });
    let mut sealed = match compressed {
        Some(sealed) => {
            done(buffer);
            sealed
        }
        None => {
            buffer[SEAL_HEAD - 1] = compress::STORED;
            buffer
        }
    };
    haven_crypto::seal_in_place(&keys.data, &aad, &mut sealed);
    sealed
}

/// Opens a sealed blob and checks that its plaintext hashes to `id`.
pub(crate) fn open_blob(
    keys: &KeySet,
    blob_type: BlobType,
    id: &ObjectId,
    sealed: &[u8],
) -> Result<Vec<u8>, String> {
    let payload = haven_crypto::open(
        &keys.data,
        &associated_data(blob_type.label(), &id.0),
        sealed,
    )
    .map_err(|_| "failed authentication".to_string())?;
    let plaintext = compress::decode_owned(payload)?;
    if blob_id(keys, &plaintext) != *id {
        return Err("plaintext does not hash to the blob id".into());
    }
    Ok(plaintext)
}

/// Opens a sealed blob where it lies, with the checks of [`open_blob`]. A stored
/// blob's plaintext stays in `sealed`, at the returned range; a compressed one is
/// decompressed into a new buffer.
pub(crate) fn open_blob_in_place(
    keys: &KeySet,
    blob_type: BlobType,
    id: &ObjectId,
    sealed: &mut [u8],
) -> Result<Decoded, String> {
    let aad = associated_data(blob_type.label(), &id.0);
    let payload = haven_crypto::open_in_place(&keys.data, &aad, sealed)
        .map_err(|_| "failed authentication".to_string())?;
    let decoded = match compress::decode_within(&sealed[payload.clone()])? {
        Decoded::Within(data) => {
            Decoded::Within(payload.start + data.start..payload.start + data.end)
        }
        owned => owned,
    };
    let plaintext = match &decoded {
        Decoded::Within(range) => &sealed[range.clone()],
        Decoded::Owned(data) => data.as_slice(),
    };
    if blob_id(keys, plaintext) != *id {
        return Err("plaintext does not hash to the blob id".into());
    }
    Ok(decoded)
}

/// Returns what ends a pack after its blobs: the sealed header listing `entries`,
/// and the header's length as 4 little-endian bytes.
pub(crate) fn pack_trailer(keys: &KeySet, entries: &[PackEntry]) -> Vec<u8> {
    let mut trailer = haven_crypto::seal(
        &keys.metadata,
        &associated_data("pack-header", &[]),
        &to_cbor(&entries),
    );
    let length = trailer.len() as u32;
    trailer.extend_from_slice(&length.to_le_bytes());
    trailer
}

/// Accumulates sealed blobs into one pack.
#[derive(Default)]
pub(crate) struct PackBuilder {
    bytes: Vec<u8>,
    entries: Vec<PackEntry>,
}

/// A pack ready to upload.
pub(crate) struct FinishedPack {
    pub id: ObjectId,
    pub bytes: Vec<u8>,
    pub entries: Vec<PackEntry>,
}

impl PackBuilder {
    /// Starts a pack in `bytes`, an empty buffer whose capacity is reused.
    pub fn with_buffer(bytes: Vec<u8>) -> Self {
        debug_assert!(bytes.is_empty());
        Self {
            bytes,
            entries: Vec::new(),
        }
    }

    pub fn add(&mut self, blob_type: BlobType, id: ObjectId, sealed: &[u8], raw_length: u64) {
        self.entries.push(PackEntry {
            blob_type,
            id,
            offset: self.bytes.len() as u64,
            length: sealed.len() as u64,
            raw_length,
        });
        self.bytes.extend_from_slice(sealed);
    }

    pub fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// Returns whether the pack has no buffer yet.
    pub fn has_no_buffer(&self) -> bool {
        self.bytes.capacity() == 0
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn finish(self, keys: &KeySet) -> FinishedPack {
        let PackBuilder { mut bytes, entries } = self;
        bytes.extend_from_slice(&pack_trailer(keys, &entries));
        FinishedPack {
            id: ObjectId::of_stored_bytes(&bytes),
            bytes,
            entries,
        }
    }
}

/// Reads the blob list from a whole pack's bytes.
pub(crate) fn read_pack_header(keys: &KeySet, bytes: &[u8]) -> Result<Vec<PackEntry>, String> {
    if bytes.len() < 4 {
        return Err(format!(
            "{} bytes long, too short to hold a header length",
            bytes.len()
        ));
    }
    let (rest, length) = bytes.split_at(bytes.len() - 4);
    let length = u32::from_le_bytes(length.try_into().expect("4 bytes")) as usize;
    if length > rest.len() {
        return Err(format!("header length {length} exceeds the pack size"));
    }
    let header = &rest[rest.len() - length..];
    let plain = haven_crypto::open(&keys.metadata, &associated_data("pack-header", &[]), header)
        .map_err(|_| "header failed authentication".to_string())?;
    let entries: Vec<PackEntry> = from_cbor(&plain)?;
    let data_end = (rest.len() - length) as u64;
    for entry in &entries {
        if entry
            .offset
            .checked_add(entry.length)
            .is_none_or(|end| end > data_end)
        {
            return Err(format!(
                "header lists blob {} outside the pack",
                entry.id.short()
            ));
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use haven_crypto::SecretKey;

    use super::*;

    fn in_place(keys: &KeySet, plaintext: &[u8], try_compress: bool) -> (Vec<u8>, bool) {
        let id = blob_id(keys, plaintext);
        // Room for the tag, as the pipeline's buffers have.
        let mut buffer = Vec::with_capacity(SEAL_HEAD + plaintext.len() + haven_crypto::TAG_LEN);
        buffer.resize(SEAL_HEAD, 7);
        buffer.extend_from_slice(plaintext);
        let address = buffer.as_ptr();
        let mut handed_back = false;
        let sealed = seal_blob_in_place(
            keys,
            BlobType::Data,
            &id,
            buffer,
            try_compress,
            Vec::new,
            |_| handed_back = true,
        );
        assert_eq!(handed_back, sealed.as_ptr() != address);
        let opened = open_blob(keys, BlobType::Data, &id, &sealed).unwrap();
        assert!(opened == plaintext, "the opened blob differs");
        (sealed, handed_back)
    }

    #[test]
    fn blob_sealed_in_place_opens() {
        let keys = KeySet::derive(&SecretKey::from_bytes([3; 32]), &[4; 32]);
        let mut state = 1u32;
        let noise: Vec<u8> = (0..300_000)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 24) as u8
            })
            .collect();
        let text = b"hello, chat ".repeat(20_000);
        let (sealed, compressed) = in_place(&keys, &noise, true);
        assert!(!compressed, "noise was compressed");
        assert_eq!(sealed.len(), noise.len() + 1 + haven_crypto::AEAD_OVERHEAD);
        let (sealed, compressed) = in_place(&keys, &text, true);
        assert!(
            compressed && sealed.len() < text.len() / 10,
            "text was not compressed"
        );
        let (_, compressed) = in_place(&keys, &text, false);
        assert!(!compressed, "compression was not asked for");
    }
}
