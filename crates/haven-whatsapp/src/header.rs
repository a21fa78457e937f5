//! The crypt15 file header: a length byte N, an optional feature-table byte 0x01, and N
//! bytes of a protobuf [`BackupPrefix`]. Also recognizes files that are not crypt15.

use prost::Message;

use crate::proto::{BackupInfo, BackupPrefix, C15Iv, CipherInfo, KeyType};
use crate::Error;

/// Byte after the length byte that marks a header with a feature table. WhatsApp writes
/// it for message database backups; older backups and other files leave it out.
pub const FEATURE_TABLE_MARKER: u8 = 0x01;

/// Maximum header length: length byte, marker and 255 bytes of protobuf.
pub const MAX_HEADER_LEN: usize = 2 + 255;

const SQLITE_MAGIC: &[u8] = b"SQLite format 3\0";
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";

/// A parsed crypt15 header.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    /// Whether the 0x01 feature-table byte follows the length byte.
    pub has_feature_table: bool,
    /// Key type field; 1 (HSM controlled) in every crypt15 file seen so far.
    pub key_type: Option<i32>,
    /// The 16-byte AES-GCM IV.
    pub iv: [u8; 16],
    /// App version, phone number suffix and feature flags.
    pub info: BackupInfo,
    /// Bytes the header takes in the file, length byte and marker included.
    pub len: usize,
}

impl Header {
    /// Builds the header of a new file.
    pub fn new(iv: [u8; 16], info: BackupInfo) -> Self {
        let mut header = Self {
            has_feature_table: true,
            key_type: Some(KeyType::HsmControlled as i32),
            iv,
            info,
            len: 0,
        };
        header.len = header.prefix().encoded_len() + 2;
        header
    }

    fn prefix(&self) -> BackupPrefix {
        BackupPrefix {
            key_type: self.key_type,
            cipher_info: Some(CipherInfo::C15Iv(C15Iv {
                iv: self.iv.to_vec(),
            })),
            info: Some(self.info.clone()),
        }
    }

    /// Serializes the header as it starts a crypt15 file.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let prefix = self.prefix().encode_to_vec();
        let len =
            u8::try_from(prefix.len()).map_err(|_| Error::HeaderTooLong { len: prefix.len() })?;
        let mut out = Vec::with_capacity(prefix.len() + 2);
        out.push(len);
        if self.has_feature_table {
            out.push(FEATURE_TABLE_MARKER);
        }
        out.extend_from_slice(&prefix);
        Ok(out)
    }

    /// Parses the header from the first bytes of a file. `start` contains the first
    /// [`MAX_HEADER_LEN`] bytes, or the whole file when it is shorter.
    pub fn parse(start: &[u8]) -> Result<Self, Error> {
        reject_other_formats(start)?;
        let Some(&proto_len) = start.first() else {
            return Err(Error::TruncatedHeader {
                needed: 1,
                found: 0,
            });
        };
        let has_feature_table = start.get(1) == Some(&FEATURE_TABLE_MARKER);
        let proto_start = 1 + usize::from(has_feature_table);
        let len = proto_start + usize::from(proto_len);
        if start.len() < len {
            return Err(Error::TruncatedHeader {
                needed: len,
                found: start.len(),
            });
        }
        let prefix = BackupPrefix::decode(&start[proto_start..len]).map_err(|error| {
            Error::InvalidHeader {
                reason: format!("its protobuf does not decode ({error})"),
            }
        })?;
        let iv = match prefix.cipher_info {
            Some(CipherInfo::C15Iv(C15Iv { iv })) => iv,
            Some(CipherInfo::C14Cipher(_)) => return Err(Error::Unsupported { format: "crypt14" }),
            None => {
                return Err(Error::InvalidHeader {
                    reason: "it has no IV (protobuf field 3)".into(),
                })
            }
        };
        let iv: [u8; 16] = iv.as_slice().try_into().map_err(|_| Error::InvalidHeader {
            reason: format!("its IV is {} bytes long, expected 16", iv.len()),
        })?;
        Ok(Self {
            has_feature_table,
            key_type: prefix.key_type,
            iv,
            info: prefix.info.unwrap_or_default(),
            len,
        })
    }
}

/// Names files that are not crypt15 by their first bytes.
fn reject_other_formats(start: &[u8]) -> Result<(), Error> {
    if start.starts_with(SQLITE_MAGIC) {
        return Err(Error::UnencryptedSqlite);
    }
    if start.starts_with(ZIP_MAGIC) {
        return Err(Error::UnencryptedZip);
    }
    // A crypt12 file starts with cipher version 00 01 and a key version byte of 1 to 3.
    // As a crypt15 header, 00 would announce an empty protobuf, which has no IV.
    if start.len() >= 3 && start[..2] == [0x00, 0x01] && (1..=3).contains(&start[2]) {
        return Err(Error::Unsupported { format: "crypt12" });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_info() -> BackupInfo {
        BackupInfo {
            app_version: "2.22.5.13".into(),
            jid_suffix: "67".into(),
            backup_version: Some(0),
            ..BackupInfo::default()
        }
    }

    #[test]
    fn header_round_trips() {
        let header = Header::new([9; 16], sample_info());
        let bytes = header.to_bytes().unwrap();
        assert_eq!(bytes.len(), header.len);
        assert_eq!(bytes[1], FEATURE_TABLE_MARKER);
        assert_eq!(Header::parse(&bytes).unwrap(), header);
    }

    #[test]
    fn header_without_feature_table_parses() {
        let mut header = Header::new([3; 16], sample_info());
        header.has_feature_table = false;
        header.len -= 1;
        let bytes = header.to_bytes().unwrap();
        assert_eq!(Header::parse(&bytes).unwrap(), header);
    }

    #[test]
    fn short_header_is_truncated() {
        let bytes = Header::new([1; 16], sample_info()).to_bytes().unwrap();
        let error = Header::parse(&bytes[..10]).unwrap_err();
        assert!(
            matches!(error, Error::TruncatedHeader { found: 10, .. }),
            "{error}"
        );
    }

    #[test]
    fn sqlite_file_is_named() {
        let error = Header::parse(b"SQLite format 3\0\x10\x00").unwrap_err();
        assert!(matches!(error, Error::UnencryptedSqlite), "{error}");
    }

    #[test]
    fn zip_file_is_named() {
        let error = Header::parse(b"PK\x03\x04\x14\x00\x00\x00").unwrap_err();
        assert!(matches!(error, Error::UnencryptedZip), "{error}");
    }

    #[test]
    fn crypt12_start_is_named() {
        let error = Header::parse(&[0x00, 0x01, 0x02, 0xcd, 0x78]).unwrap_err();
        assert!(
            matches!(error, Error::Unsupported { format: "crypt12" }),
            "{error}"
        );
    }
}
