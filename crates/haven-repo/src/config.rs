//! The `config` object: the repository id in clear, and the repository settings sealed
//! under the metadata key.

use serde::{Deserialize, Serialize};

use crate::envelope::{self, Unwrapped};
use crate::id::{from_cbor, to_cbor};
use crate::keys::{associated_data, KeySet};

pub(crate) const CONFIG_PATH: &str = "config";
pub(crate) const CONFIG_MAGIC: &[u8; 8] = b"HAVNCFG\x01";
/// Repository format version that this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Settings chosen at `init` and fixed for the repository's life.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoConfig {
    pub version: u32,
    /// Target size of a pack file in bytes. A pack is closed once it reaches this size.
    pub pack_size: u64,
    /// FastCDC minimum, average and maximum chunk sizes in bytes.
    pub chunk_min: u32,
    pub chunk_avg: u32,
    pub chunk_max: u32,
    /// Creation time, seconds since the Unix epoch.
    pub created: i64,
}

/// Options for a new repository.
#[derive(Clone, Debug)]
pub struct InitOptions {
    /// Target pack size in bytes. 16 MiB keeps request counts low on cloud storage.
    pub pack_size: u64,
    pub chunk_min: u32,
    pub chunk_avg: u32,
    pub chunk_max: u32,
}

impl Default for InitOptions {
    fn default() -> Self {
        Self {
            pack_size: 16 * 1024 * 1024,
            chunk_min: 256 * 1024,
            chunk_avg: 1024 * 1024,
            chunk_max: 4 * 1024 * 1024,
        }
    }
}

impl InitOptions {
    pub(crate) fn validate(&self) -> Result<(), String> {
        use fastcdc::v2020::{
            AVERAGE_MAX, AVERAGE_MIN, MAXIMUM_MAX, MAXIMUM_MIN, MINIMUM_MAX, MINIMUM_MIN,
        };
        if !(MINIMUM_MIN..=MINIMUM_MAX).contains(&self.chunk_min)
            || !(AVERAGE_MIN..=AVERAGE_MAX).contains(&self.chunk_avg)
            || !(MAXIMUM_MIN..=MAXIMUM_MAX).contains(&self.chunk_max)
            || self.chunk_min > self.chunk_avg
            || self.chunk_avg > self.chunk_max
        {
            return Err(format!(
                "chunk sizes min {} avg {} max {} are out of range; FastCDC needs \
                 {MINIMUM_MIN}..={MINIMUM_MAX}, {AVERAGE_MIN}..={AVERAGE_MAX}, {MAXIMUM_MIN}..={MAXIMUM_MAX} and min <= avg <= max",
                self.chunk_min, self.chunk_avg, self.chunk_max
            ));
        }
        if self.pack_size < 4096 {
            return Err(format!(
                "pack size {} is below the minimum of 4096 bytes",
                self.pack_size
            ));
        }
        Ok(())
    }
}

pub(crate) fn encode_config(repo_id: &[u8; 32], keys: &KeySet, config: &RepoConfig) -> Vec<u8> {
    let sealed = haven_crypto::seal(
        &keys.metadata,
        &associated_data("config", repo_id),
        &to_cbor(config),
    );
    let mut body = repo_id.to_vec();
    body.extend_from_slice(&sealed);
    envelope::wrap(CONFIG_MAGIC, &body)
}

/// The part of the config readable without a key.
pub(crate) enum ConfigOuter {
    Current { repo_id: [u8; 32], sealed: Vec<u8> },
    OtherVersion(u8),
}

pub(crate) fn decode_config_outer(bytes: &[u8]) -> Result<ConfigOuter, String> {
    let body = match envelope::unwrap(CONFIG_MAGIC, bytes)? {
        Unwrapped::Body(body) => body,
        Unwrapped::OtherVersion(v) => return Ok(ConfigOuter::OtherVersion(v)),
    };
    if body.len() < 32 {
        return Err("too short to hold the repository id".into());
    }
    let mut repo_id = [0u8; 32];
    repo_id.copy_from_slice(&body[..32]);
    Ok(ConfigOuter::Current {
        repo_id,
        sealed: body[32..].to_vec(),
    })
}

pub(crate) fn decode_config_body(
    repo_id: &[u8; 32],
    keys: &KeySet,
    sealed: &[u8],
) -> Result<RepoConfig, String> {
    let plain = haven_crypto::open(&keys.metadata, &associated_data("config", repo_id), sealed)
        .map_err(|_| "settings failed authentication".to_string())?;
    let config: RepoConfig = from_cbor(&plain)?;
    // Sizes outside FastCDC's ranges would make the chunker panic at the next backup.
    InitOptions {
        pack_size: config.pack_size,
        chunk_min: config.chunk_min,
        chunk_avg: config.chunk_avg,
        chunk_max: config.chunk_max,
    }
    .validate()
    .map_err(|reason| format!("settings are invalid: {reason}"))?;
    Ok(config)
}
