//! The checksummed envelope of the two objects read before any key is known:
//! `magic (8 bytes) || BLAKE3(body) (32 bytes) || body`.
//!
//! The checksum tells damage apart from a wrong key: a damaged config or key slot fails
//! the checksum, while an intact slot that a key does not match fails only its key check.

pub(crate) const MAGIC_LEN: usize = 8;
const HEADER_LEN: usize = MAGIC_LEN + 32;

pub(crate) fn wrap(magic: &[u8; MAGIC_LEN], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.extend_from_slice(magic);
    out.extend_from_slice(blake3::hash(body).as_bytes());
    out.extend_from_slice(body);
    out
}

/// Outcome of opening an envelope whose magic has the right 7-byte prefix.
pub(crate) enum Unwrapped<'a> {
    Body(&'a [u8]),
    /// The magic names another format version (its last byte).
    OtherVersion(u8),
}

/// Checks the magic prefix and checksum. Errors say what is wrong, for a damage report.
pub(crate) fn unwrap<'a>(
    magic: &[u8; MAGIC_LEN],
    bytes: &'a [u8],
) -> Result<Unwrapped<'a>, String> {
    if bytes.len() < HEADER_LEN {
        return Err(format!(
            "{} bytes long, shorter than the {HEADER_LEN}-byte header",
            bytes.len()
        ));
    }
    if bytes[..MAGIC_LEN - 1] != magic[..MAGIC_LEN - 1] {
        return Err("does not start with the expected magic bytes".into());
    }
    if bytes[MAGIC_LEN - 1] != magic[MAGIC_LEN - 1] {
        return Ok(Unwrapped::OtherVersion(bytes[MAGIC_LEN - 1]));
    }
    let body = &bytes[HEADER_LEN..];
    if blake3::hash(body).as_bytes() != &bytes[MAGIC_LEN..HEADER_LEN] {
        return Err("checksum does not match the content".into());
    }
    Ok(Unwrapped::Body(body))
}
