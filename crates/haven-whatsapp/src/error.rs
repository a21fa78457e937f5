use std::io;
use std::path::PathBuf;

use haven_crypto::CryptoError;
use thiserror::Error;

/// Errors from reading and writing crypt15 files. None of them carries key material.
#[derive(Debug, Error)]
pub enum Error {
    /// A file could not be opened, read, written or renamed.
    #[error("failed to {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },

    /// Reading or writing a stream failed.
    #[error("failed to {action}: {source}")]
    Stream {
        action: &'static str,
        source: io::Error,
    },

    /// The 64-digit key does not parse.
    #[error("invalid 64-digit key: {source}")]
    InvalidKey { source: CryptoError },

    /// The key file is neither `encrypted_backup.key` nor 64 hex digits.
    #[error(
        "the key file is {len} bytes long and is not a WhatsApp encrypted_backup.key \
         ({expected} bytes) nor a text file with 64 hex digits; pass the key file from \
         WhatsApp's files folder, or the 64 digits with --key"
    )]
    InvalidKeyFile { len: usize, expected: usize },

    /// The key file is the `key` file of crypt12 and crypt14 backups.
    #[error(
        "this is the 158-byte key file of crypt12/crypt14 backups, which is not supported; \
         crypt15 backups open with the 59-byte encrypted_backup.key or the 64-digit key"
    )]
    Crypt14KeyFile,

    /// The input is a plain SQLite database.
    #[error(
        "this is an unencrypted SQLite database, not a crypt15 backup; open it directly, \
         or encrypt it with `haven whatsapp encrypt`"
    )]
    UnencryptedSqlite,

    /// The input is a plain ZIP archive.
    #[error("this is an unencrypted ZIP archive, not a crypt15 backup")]
    UnencryptedZip,

    /// The input is an older WhatsApp backup format.
    #[error(
        "this is a {format} backup, which is not supported; only crypt15 files \
         (end-to-end encrypted backups with a 64-digit key) can be read"
    )]
    Unsupported { format: &'static str },

    /// The file ends inside its header.
    #[error("the file is truncated: its header needs {needed} bytes, the file has {found}")]
    TruncatedHeader { needed: usize, found: usize },

    /// The header does not parse as a crypt15 header.
    #[error("invalid crypt15 header: {reason}; the file is damaged or not a crypt15 backup")]
    InvalidHeader { reason: String },

    /// The header to write does not fit its one-byte length.
    #[error("the header would be {len} bytes, more than the 255 its length byte allows")]
    HeaderTooLong { len: usize },

    /// Too few bytes follow the header for a tag and a checksum.
    #[error(
        "the file is truncated: {body_len} bytes follow the header, fewer than the \
         {min} bytes of GCM tag and MD5 checksum that end every crypt15 file"
    )]
    TooShort { body_len: u64, min: u64 },

    /// The compressed content stops before its end.
    #[error(
        "the file is truncated: {}; copy the backup again",
        match missing {
            Some(missing) => format!("{missing} bytes are missing at its end"),
            None => format!("its compressed content stops before its end at byte {file_len}"),
        }
    )]
    Truncated { file_len: u64, missing: Option<u64> },

    /// Content that verifies without the last 16 bytes: the checksum was cut off.
    #[error(
        "the file is truncated: the 16-byte MD5 checksum at its end is missing; the \
         content verified with its GCM tag, so --ignore-checksum decrypts it"
    )]
    ChecksumMissing,

    /// The file is intact but the key is not the one it was encrypted with.
    #[error(
        "this key does not open this backup: the file is intact (its MD5 checksum \
         matches) but the GCM tag does not verify; check that the 64-digit key or \
         encrypted_backup.key belongs to this backup"
    )]
    WrongKey,

    /// Only the stored MD5 checksum differs.
    #[error(
        "the MD5 checksum in the last 16 bytes is damaged ({differing_bits} of 128 bits \
         differ from the computed one); the content verified with its GCM tag, so \
         --ignore-checksum decrypts it"
    )]
    ChecksumDamaged { differing_bits: u32 },

    /// The header outside the IV differs from what the checksum covers.
    #[error(
        "the header is damaged outside its IV: the MD5 checksum does not match, but the \
         content verified with its GCM tag, so --ignore-checksum decrypts it"
    )]
    HeaderDamaged,

    /// Only the stored GCM tag differs.
    #[error(
        "the GCM tag (the 16 bytes before the MD5 checksum) is damaged: \
         {differing_bits} of 128 bits differ from the tag computed with this key; \
         the content cannot be authenticated"
    )]
    TagDamaged { differing_bits: u32 },

    /// The content decompresses completely but neither the tag nor the checksum match.
    #[error(
        "the GCM tag and the MD5 checksum at the end of the file are damaged; the \
         content decompresses completely but cannot be authenticated"
    )]
    TrailerDamaged,

    /// A bit of the IV is flipped.
    #[error(
        "the IV in the header is damaged: with bit {bit} of the IV flipped back, the \
         content decrypts; the file cannot be authenticated as it is"
    )]
    IvDamaged { bit: u32 },

    /// The encrypted content is damaged.
    #[error(
        "the encrypted content is damaged: the MD5 checksum and the GCM tag do not \
         match{}",
        offset.map(|o| format!(", and decompression fails near byte {o} of the file")).unwrap_or_default()
    )]
    BodyDamaged { offset: Option<u64> },

    /// The checksum differs and no byte of the content decrypts.
    #[error(
        "the file is damaged (its MD5 checksum does not match) and its content does not \
         decrypt from the first byte: the IV in the header or the start of the content \
         is damaged, or the key is wrong as well"
    )]
    DamagedOrWrongKey,

    /// A multi-file backup, which has no checksum, does not verify.
    #[error(
        "this key does not open this backup, or the backup is damaged: the file has no \
         MD5 checksum (a multi-file backup), so the two cannot be told apart"
    )]
    WrongKeyOrDamagedMultiFile,

    /// The content is larger than GCM allows under one IV.
    #[error("the content exceeds AES-GCM's limit of {max} bytes under one IV")]
    TooLarge { max: u64 },

    /// The content verified but is not a zlib stream or a ZIP archive.
    #[error("the backup decrypted and verified, but its content is invalid: {reason}")]
    InvalidContent { reason: String },

    /// Input and output name the same file.
    #[error("the output {} is the input file; choose another output path", path.display())]
    OutputIsInput { path: PathBuf },
}

impl Error {
    /// Returns whether the error reports a damaged or truncated file (as opposed to a wrong key,
    /// another format or an I/O failure).
    pub fn is_damaged(&self) -> bool {
        matches!(
            self,
            Error::TruncatedHeader { .. }
                | Error::InvalidHeader { .. }
                | Error::TooShort { .. }
                | Error::Truncated { .. }
                | Error::ChecksumMissing
                | Error::ChecksumDamaged { .. }
                | Error::HeaderDamaged
                | Error::TagDamaged { .. }
                | Error::TrailerDamaged
                | Error::IvDamaged { .. }
                | Error::BodyDamaged { .. }
                | Error::DamagedOrWrongKey
                | Error::WrongKeyOrDamagedMultiFile
        )
    }
}
