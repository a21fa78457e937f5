//! zstd compression that skips data that does not compress.

use std::cell::RefCell;
use std::io::Read;
use std::ops::Range;

/// The byte that starts the stored form of data kept uncompressed.
pub const STORED: u8 = 0;
const ZSTD: u8 = 1;
const LEVEL: i32 = 3;
/// Level for blobs shorter than [`SMALL_BLOB`], such as SQLite pages. On 4 KiB pages of
/// a chat database, level 1 compressed 30 % faster than level 3 and 1.5 % larger.
const SMALL_LEVEL: i32 = 1;
const SMALL_BLOB: usize = 64 * 1024;

/// Largest plaintext a stored blob may decompress to. Data chunks are at most 16 MiB
/// (FastCDC's upper bound for `chunk_max`), so only a tree of millions of entries
/// comes near it. The cap keeps a crafted zstd frame from exhausting memory.
pub const MAX_BLOB_LENGTH: u64 = 512 * 1024 * 1024;

/// File signatures of formats that are already compressed: JPEG, PNG, GIF, WebP,
/// MP4/MOV/HEIC (`ftyp` at offset 4), Matroska/WebM, Ogg, MP3 (ID3), zip (and docx,
/// apk…), gzip, zstd, xz, 7z and bzip2.
pub fn is_compressed_format(head: &[u8]) -> bool {
    const PREFIXES: &[&[u8]] = &[
        b"\xFF\xD8\xFF",
        b"\x89PNG\r\n\x1a\n",
        b"GIF8",
        b"\x1A\x45\xDF\xA3",
        b"OggS",
        b"ID3",
        b"PK\x03\x04",
        b"\x1F\x8B",
        b"\x28\xB5\x2F\xFD",
        b"\xFD7zXZ\x00",
        b"7z\xBC\xAF\x27\x1C",
        b"BZh",
    ];
    if PREFIXES.iter().any(|p| head.starts_with(p)) {
        return true;
    }
    if head.len() >= 12 && &head[0..4] == b"RIFF" && &head[8..12] == b"WEBP" {
        return true;
    }
    head.len() >= 8 && &head[4..8] == b"ftyp"
}

/// Chunks at least this long are compressed only if a sample of them compresses.
const SAMPLED_LENGTH: usize = 128 * 1024;
/// Length of each of the three samples (start, middle, end).
const SAMPLE: usize = 8 * 1024;

/// Returns whether any of three 8 KiB samples of a long chunk compresses by 1/32.
/// Trying zstd on a whole incompressible chunk (media without a known signature,
/// encrypted files) cost more CPU than hashing and encrypting it.
fn samples_compress(data: &[u8]) -> bool {
    if data.len() < SAMPLED_LENGTH {
        return true;
    }
    let middle = data.len() / 2 - SAMPLE / 2;
    [0, middle, data.len() - SAMPLE].iter().any(|&start| {
        let sample = &data[start..start + SAMPLE];
        compress_zstd(sample, SMALL_LEVEL).is_ok_and(|c| c.len() < SAMPLE - SAMPLE / 32)
    })
}

/// Returns the compression byte followed by the stored form of `data`.
pub fn encode(data: &[u8], try_compress: bool) -> Vec<u8> {
    let mut out = Vec::new();
    encode_into(data, try_compress, &mut out);
    out
}

/// Appends the compression byte and the stored form of `data` to `out`.
pub fn encode_into(data: &[u8], try_compress: bool, out: &mut Vec<u8>) {
    match encode_compressed(data, try_compress, || std::mem::take(out)) {
        Some(compressed) => *out = compressed,
        None => {
            out.reserve(data.len() + 1);
            out.push(STORED);
            out.extend_from_slice(data);
        }
    }
}

/// Appends the compression byte and the compressed form of `data` to the buffer
/// from `out` and returns it, when `try_compress` is set and compression saves at
/// least 1/32 of the size. Otherwise `out` is not called.
pub fn encode_compressed(
    data: &[u8],
    try_compress: bool,
    out: impl FnOnce() -> Vec<u8>,
) -> Option<Vec<u8>> {
    if !try_compress || data.len() < 64 || !samples_compress(data) {
        return None;
    }
    let level = if data.len() < SMALL_BLOB {
        SMALL_LEVEL
    } else {
        LEVEL
    };
    with_compressed(data, level, |compressed| {
        if compressed.len() >= data.len() - data.len() / 32 {
            return None;
        }
        let mut out = out();
        out.reserve(compressed.len() + 1);
        out.push(ZSTD);
        out.extend_from_slice(compressed);
        Some(out)
    })
    .ok()
    .flatten()
}

/// Reverses [`encode`]. Fails on output longer than [`MAX_BLOB_LENGTH`].
pub fn decode(payload: &[u8]) -> Result<Vec<u8>, String> {
    decode_at_most(payload, MAX_BLOB_LENGTH)
}

/// Reverses [`encode`] in the payload's own buffer when it is stored uncompressed.
/// A copy into a new buffer cost a restore fresh pages for every stored chunk.
pub fn decode_owned(mut payload: Vec<u8>) -> Result<Vec<u8>, String> {
    if payload.first() == Some(&STORED) {
        payload.remove(0);
        return Ok(payload);
    }
    decode(&payload)
}

/// The location of a decoded payload's data.
pub enum Decoded {
    /// Inside the payload, which was stored uncompressed.
    Within(Range<usize>),
    /// In a new buffer, decompressed.
    Owned(Vec<u8>),
}

/// Reverses [`encode`] without copying a payload that is stored uncompressed.
pub fn decode_within(payload: &[u8]) -> Result<Decoded, String> {
    if payload.first() == Some(&STORED) {
        return Ok(Decoded::Within(1..payload.len()));
    }
    decode(payload).map(Decoded::Owned)
}

fn decode_at_most(payload: &[u8], max_length: u64) -> Result<Vec<u8>, String> {
    match payload.split_first() {
        Some((&STORED, data)) => Ok(data.to_vec()),
        Some((&ZSTD, data)) => decode_zstd(data, max_length),
        Some((other, _)) => Err(format!("unknown compression byte {other}")),
        None => Err("empty blob payload".into()),
    }
}

/// Compresses with this thread's context for `level`, created on first use.
fn compress_zstd(data: &[u8], level: i32) -> std::io::Result<Vec<u8>> {
    with_compressed(data, level, <[u8]>::to_vec)
}

/// Compresses `data` into this thread's output buffer and hands the result to `use_it`.
/// The buffer is reused, so large chunks do not need fresh memory every time.
fn with_compressed<T>(
    data: &[u8],
    level: i32,
    use_it: impl FnOnce(&[u8]) -> T,
) -> std::io::Result<T> {
    COMPRESSORS.with(|cell| {
        let mut contexts = cell.borrow_mut();
        let (small, large, output) = &mut *contexts;
        let slot = if level == SMALL_LEVEL { small } else { large };
        let compressor = match slot.as_mut() {
            Some(compressor) => compressor,
            None => slot.insert(zstd::bulk::Compressor::new(level)?),
        };
        output.clear();
        output.reserve(zstd::zstd_safe::compress_bound(data.len()));
        compressor.compress_to_buffer(data, output)?;
        Ok(use_it(output))
    })
}

/// A thread's compression contexts for [`SMALL_LEVEL`] and [`LEVEL`], and its output
/// buffer.
type Contexts = (
    Option<zstd::bulk::Compressor<'static>>,
    Option<zstd::bulk::Compressor<'static>>,
    Vec<u8>,
);

thread_local! {
    /// Compression contexts per thread. Creating a context for every blob took an
    /// eighth of a first backup's CPU time.
    static COMPRESSORS: RefCell<Contexts> = const { RefCell::new((None, None, Vec::new())) };
    /// One decompression context per thread. Creating a context for every blob took
    /// about a third of a restore's CPU time.
    static DECOMPRESSOR: RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { RefCell::new(None) };
}

fn decode_zstd(data: &[u8], max_length: u64) -> Result<Vec<u8>, String> {
    let invalid = |e: std::io::Error| format!("zstd data is invalid: {e}");
    let too_long =
        || format!("zstd data decompresses to more than the limit of {max_length} bytes");
    // `encode` writes one frame that states its size, so the output buffer is sized
    // once; a frame that outgrows its stated size fails to decode.
    if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(data) {
        if size > max_length {
            return Err(too_long());
        }
        return DECOMPRESSOR.with(|cell| {
            let mut slot = cell.borrow_mut();
            let decompressor = match slot.as_mut() {
                Some(decompressor) => decompressor,
                None => slot.insert(zstd::bulk::Decompressor::new().map_err(invalid)?),
            };
            decompressor
                .decompress(data, size as usize)
                .map_err(invalid)
        });
    }
    // A frame without a stated size is not written by Haven, but it is valid zstd.
    let decoder = zstd::stream::read::Decoder::new(data).map_err(invalid)?;
    let mut out = Vec::new();
    decoder
        .take(max_length + 1)
        .read_to_end(&mut out)
        .map_err(invalid)?;
    if out.len() as u64 > max_length {
        return Err(too_long());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_compressed_and_stored() {
        let text = b"message text that repeats ".repeat(100);
        let encoded = encode(&text, true);
        assert_eq!(encoded[0], ZSTD);
        assert_eq!(decode(&encoded).unwrap(), text);

        let stored = encode(&text, false);
        assert_eq!(stored[0], STORED);
        assert_eq!(decode(&stored).unwrap(), text);
        assert_eq!(decode_owned(stored).unwrap(), text);
        assert_eq!(decode_owned(encoded).unwrap(), text);
        assert_eq!(decode_owned(Vec::new()).unwrap_err(), "empty blob payload");
    }

    #[test]
    fn long_chunk_compression_sampled() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let random: Vec<u8> = (0..512 * 1024)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        assert_eq!(encode(&random, true)[0], STORED);

        // Text only in the middle sample is enough to try the whole chunk.
        let mut mixed = random.clone();
        let middle = mixed.len() / 2 - 64 * 1024;
        let text = b"message text that repeats ".repeat(6000);
        mixed[middle..middle + 128 * 1024].copy_from_slice(&text[..128 * 1024]);
        let encoded = encode(&mixed, true);
        assert_eq!(encoded[0], ZSTD);
        assert_eq!(decode(&encoded).unwrap(), mixed);
    }

    #[test]
    fn decode_rejects_output_over_limit() {
        let zeros = vec![0u8; 1 << 20];
        let encoded = encode(&zeros, true);
        assert!(encoded.len() < 1024, "a run of zeros compresses well");

        let error = decode_at_most(&encoded, (1 << 20) - 1).unwrap_err();
        assert!(error.contains("more than the limit"), "{error}");
        assert_eq!(decode_at_most(&encoded, 1 << 20).unwrap(), zeros);
    }

    #[test]
    fn frame_without_stated_size_decodes_under_limit() {
        let zeros = vec![0u8; 1 << 20];
        let mut payload = vec![ZSTD];
        payload.extend(zstd::stream::encode_all(&zeros[..], LEVEL).unwrap());
        let stated = zstd::zstd_safe::get_frame_content_size(&payload[1..]);
        assert!(
            matches!(stated, Ok(None)),
            "a streamed frame states no size"
        );

        assert_eq!(decode_at_most(&payload, 1 << 20).unwrap(), zeros);
        let error = decode_at_most(&payload, (1 << 20) - 1).unwrap_err();
        assert!(error.contains("more than the limit"), "{error}");
    }

    #[test]
    fn truncated_frame_is_invalid() {
        let text = b"message text that repeats ".repeat(100);
        let encoded = encode(&text, true);
        let error = decode(&encoded[..encoded.len() - 4]).unwrap_err();
        assert!(error.starts_with("zstd data is invalid"), "{error}");
    }

    #[test]
    fn decode_rejects_unknown_compression_byte() {
        assert_eq!(
            decode(&[7, 1, 2]).unwrap_err(),
            "unknown compression byte 7"
        );
        assert_eq!(decode(&[]).unwrap_err(), "empty blob payload");
    }
}
