//! zstd compression that skips data that does not compress.

const STORED: u8 = 0;
const ZSTD: u8 = 1;
const LEVEL: i32 = 3;

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

/// Returns the compression byte followed by the stored form of `data`.
pub fn encode(data: &[u8], try_compress: bool) -> Vec<u8> {
    if try_compress && data.len() >= 64 {
        if let Ok(compressed) = zstd::bulk::compress(data, LEVEL) {
            // Keep the compressed form only when it saves at least 1/32 of the size.
            if compressed.len() < data.len() - data.len() / 32 {
                let mut out = Vec::with_capacity(compressed.len() + 1);
                out.push(ZSTD);
                out.extend_from_slice(&compressed);
                return out;
            }
        }
    }
    let mut out = Vec::with_capacity(data.len() + 1);
    out.push(STORED);
    out.extend_from_slice(data);
    out
}

/// Reverses [`encode`].
pub fn decode(payload: &[u8]) -> Result<Vec<u8>, String> {
    match payload.split_first() {
        Some((&STORED, data)) => Ok(data.to_vec()),
        Some((&ZSTD, data)) => {
            zstd::stream::decode_all(data).map_err(|e| format!("zstd data is invalid: {e}"))
        }
        Some((other, _)) => Err(format!("unknown compression byte {other}")),
        None => Err("empty blob payload".into()),
    }
}
