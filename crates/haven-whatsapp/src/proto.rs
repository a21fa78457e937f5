//! Protobuf messages of the crypt15 header, as WhatsApp writes them.
//!
//! Field numbers follow the `.proto` files of wa-crypt-tools 0.1.0 (`backup_prefix.proto`,
//! `C15_IV.proto`, `C14_cipher.proto`, `backup_expiry.proto`, `key_type.proto`).

use std::collections::BTreeMap;

use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType};
use prost::DecodeError;

/// The header message that follows the length byte (and the optional feature-table byte).
#[derive(Clone, PartialEq, prost::Message)]
pub struct BackupPrefix {
    /// 0 when WhatsApp holds the key (crypt14), 1 for an end-to-end encrypted backup.
    #[prost(enumeration = "KeyType", optional, tag = "1")]
    pub key_type: Option<i32>,
    /// The IV of a crypt15 file, or the cipher parameters of a crypt14 file.
    #[prost(oneof = "CipherInfo", tags = "2, 3")]
    pub cipher_info: Option<CipherInfo>,
    /// App version, phone number suffix and feature flags of the backup.
    #[prost(message, optional, tag = "4")]
    pub info: Option<BackupInfo>,
}

/// Who holds the backup key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum KeyType {
    /// WhatsApp's servers hold the key (crypt12, crypt14).
    WaProvided = 0,
    /// The user holds the key, or the HSM-based Backup Key Vault does (crypt15).
    HsmControlled = 1,
}

/// Field 2 or 3 of [`BackupPrefix`].
#[derive(Clone, PartialEq, prost::Oneof)]
pub enum CipherInfo {
    /// Cipher parameters of a crypt14 file.
    #[prost(message, tag = "2")]
    C14Cipher(C14Cipher),
    /// The IV of a crypt15 file.
    #[prost(message, tag = "3")]
    C15Iv(C15Iv),
}

/// The crypt15 cipher parameters: only the 16-byte IV.
#[derive(Clone, PartialEq, prost::Message)]
pub struct C15Iv {
    /// The 16-byte AES-GCM IV.
    #[prost(bytes = "vec", tag = "1")]
    pub iv: Vec<u8>,
}

/// The crypt14 cipher parameters, parsed only to name the format.
#[derive(Clone, PartialEq, prost::Message)]
pub struct C14Cipher {
    /// Cipher version, usually `00 01`.
    #[prost(bytes = "vec", tag = "1")]
    pub cipher_version: Vec<u8>,
    /// Key version.
    #[prost(bytes = "vec", tag = "2")]
    pub key_version: Vec<u8>,
    /// The 32-byte server salt.
    #[prost(bytes = "vec", tag = "3")]
    pub server_salt: Vec<u8>,
    /// The 16-byte Google id salt.
    #[prost(bytes = "vec", tag = "4")]
    pub google_id: Vec<u8>,
    /// The 16-byte IV.
    #[prost(bytes = "vec", tag = "5")]
    pub iv: Vec<u8>,
}

/// The `BackupExpiry` message: app version, phone number suffix and feature flags.
///
/// The `Message` impl is written by hand so that every varint field numbered 5 or
/// higher lands in [`BackupInfo::flags`]: WhatsApp adds feature numbers over time, and a
/// derived struct would drop the numbers it does not list.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackupInfo {
    /// WhatsApp version that wrote the backup, for example `2.22.5.13` (field 1).
    pub app_version: String,
    /// Device model (field 2). WhatsApp leaves it out.
    pub device_model: Option<String>,
    /// Last two digits of the user's phone number (field 3).
    pub jid_suffix: String,
    /// Backup version (field 4), present in message database backups.
    pub backup_version: Option<i32>,
    /// Varint fields 5 and up by field number: mostly booleans that name which
    /// database features the backup has.
    pub flags: BTreeMap<u32, u64>,
}

impl BackupInfo {
    /// App version written by [`BackupInfo::message_database`].
    pub const DEFAULT_APP_VERSION: &'static str = "2.23.18.12";

    /// Header info for a message database backup: app version 2.23.18.12, phone number
    /// suffix `00`, backup version 0, and features 5 to 39 set except 34 (38 is not a
    /// feature). These are the values `waencrypt` of wa-crypt-tools 0.1.0 writes by
    /// default, taken by its author from a 2023 backup. For a file that WhatsApp is to
    /// restore, copy the info of a real backup of the same phone instead.
    pub fn message_database() -> Self {
        let mut flags = BTreeMap::new();
        for number in (5..=37).chain([39]) {
            flags.insert(number, u64::from(number != 34));
        }
        Self {
            app_version: Self::DEFAULT_APP_VERSION.into(),
            device_model: None,
            jid_suffix: "00".into(),
            backup_version: Some(0),
            flags,
        }
    }

    /// Field numbers whose flag is set (value 1), in ascending order.
    pub fn features(&self) -> Vec<u32> {
        self.flags
            .iter()
            .filter(|(_, value)| **value == 1)
            .map(|(number, _)| *number)
            .collect()
    }
}

impl prost::Message for BackupInfo {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if !self.app_version.is_empty() {
            encoding::string::encode(1, &self.app_version, buf);
        }
        if let Some(model) = &self.device_model {
            encoding::string::encode(2, model, buf);
        }
        if !self.jid_suffix.is_empty() {
            encoding::string::encode(3, &self.jid_suffix, buf);
        }
        if let Some(version) = &self.backup_version {
            encoding::int32::encode(4, version, buf);
        }
        for (number, value) in &self.flags {
            encoding::uint64::encode(*number, value, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        match tag {
            1 => encoding::string::merge(wire_type, &mut self.app_version, buf, ctx),
            2 => {
                let model = self.device_model.get_or_insert_with(String::new);
                encoding::string::merge(wire_type, model, buf, ctx)
            }
            3 => encoding::string::merge(wire_type, &mut self.jid_suffix, buf, ctx),
            4 => {
                let version = self.backup_version.get_or_insert(0);
                encoding::int32::merge(wire_type, version, buf, ctx)
            }
            number if wire_type == WireType::Varint => {
                let value = self.flags.entry(number).or_insert(0);
                encoding::uint64::merge(wire_type, value, buf, ctx)
            }
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        let mut len = 0;
        if !self.app_version.is_empty() {
            len += encoding::string::encoded_len(1, &self.app_version);
        }
        if let Some(model) = &self.device_model {
            len += encoding::string::encoded_len(2, model);
        }
        if !self.jid_suffix.is_empty() {
            len += encoding::string::encoded_len(3, &self.jid_suffix);
        }
        if let Some(version) = &self.backup_version {
            len += encoding::int32::encoded_len(4, version);
        }
        for (number, value) in &self.flags {
            len += encoding::uint64::encoded_len(*number, value);
        }
        len
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn info_keeps_unknown_flag_numbers() {
        let mut info = BackupInfo {
            app_version: "2.24.1.1".into(),
            jid_suffix: "42".into(),
            backup_version: Some(0),
            ..BackupInfo::default()
        };
        info.flags.insert(5, 1);
        info.flags.insert(41, 1);
        info.flags.insert(34, 0);
        let decoded = BackupInfo::decode(info.encode_to_vec().as_slice()).unwrap();
        assert_eq!(decoded, info);
        assert_eq!(decoded.features(), vec![5, 41]);
    }

    #[test]
    fn prefix_encodes_fields_in_number_order() {
        let prefix = BackupPrefix {
            key_type: Some(KeyType::HsmControlled as i32),
            cipher_info: Some(CipherInfo::C15Iv(C15Iv { iv: vec![7; 16] })),
            info: Some(BackupInfo::default()),
        };
        let bytes = prefix.encode_to_vec();
        assert_eq!(&bytes[..6], &[0x08, 0x01, 0x1a, 0x12, 0x0a, 0x10]);
        assert_eq!(&bytes[22..], &[0x22, 0x00]);
    }
}
