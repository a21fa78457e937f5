//! Authentication of node-to-node and admin requests with the cluster key.
//!
//! Every request on the Raft listener carries `x-haven-raft-time` (Unix seconds) and
//! `authorization: Bearer HEX`, where HEX is HMAC-SHA256 under the cluster key of
//! `"haven/v1/raft" || 0x00 || time || 0x00 || path || 0x00 || body`. The listener
//! rejects a MAC that does not verify and a time more than [`MAX_SKEW_SECS`] away
//! from its clock. A captured request can be replayed within that window; Raft
//! messages are safe to repeat, and every record change they carry is sealed.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// Name of the header with the request time.
pub const TIME_HEADER: &str = "x-haven-raft-time";
/// Largest accepted difference between the request time and the local clock.
pub const MAX_SKEW_SECS: u64 = 60;
const CONTEXT: &[u8] = b"haven/v1/raft";

/// Errors of loading a cluster key file.
#[derive(Debug, thiserror::Error)]
pub enum ClusterKeyError {
    #[error("cannot read the cluster key file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the cluster key file {path} must contain 64 hex digits (32 bytes) on its first \
         line; create one with `haven vault cluster new-key --out FILE`"
    )]
    Format { path: PathBuf },
}

/// The key shared by the nodes of one cluster and its administrators.
pub struct ClusterKey(Zeroizing<[u8; 32]>);

impl ClusterKey {
    pub fn load(path: &Path) -> Result<Self, ClusterKeyError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            ClusterKeyError::Read {
                path: path.to_path_buf(),
                source,
            }
        })?);
        let format = || ClusterKeyError::Format {
            path: path.to_path_buf(),
        };
        let line = text.lines().next().ok_or_else(format)?.trim();
        let mut key = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(line, key.as_mut_slice()).map_err(|_| format())?;
        Ok(Self(key))
    }

    /// Returns a new random key as 64 hex digits.
    pub fn generate_hex() -> Zeroizing<String> {
        let mut key = Zeroizing::new([0u8; 32]);
        haven_crypto::random_bytes(key.as_mut_slice());
        Zeroizing::new(hex::encode(key.as_slice()))
    }

    fn mac(&self, time: u64, path: &str, body: &[u8]) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(self.0.as_slice()).expect("HMAC takes any key size");
        for part in [CONTEXT, time.to_string().as_bytes(), path.as_bytes()] {
            mac.update(part);
            mac.update(b"\x00");
        }
        mac.update(body);
        mac
    }

    /// Returns the `(time, bearer)` header values for a request.
    pub fn sign(&self, path: &str, body: &[u8]) -> (String, String) {
        let time = crate::api::unix_now();
        let tag = self.mac(time, path, body).finalize().into_bytes();
        (time.to_string(), format!("Bearer {}", hex::encode(tag)))
    }

    /// Checks a request's time and MAC; the error says which check failed.
    pub fn verify(
        &self,
        path: &str,
        time: Option<&str>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<(), &'static str> {
        let time: u64 = time
            .and_then(|text| text.parse().ok())
            .ok_or("missing or invalid x-haven-raft-time header")?;
        if crate::api::unix_now().abs_diff(time) > MAX_SKEW_SECS {
            return Err("request time is more than 60 s away from this node's clock");
        }
        let tag = authorization
            .and_then(|value| value.strip_prefix("Bearer "))
            .and_then(|digits| hex::decode(digits.trim()).ok())
            .ok_or("missing or invalid bearer MAC")?;
        self.mac(time, path, body)
            .verify_slice(&tag)
            .map_err(|_| "the bearer MAC does not verify under this cluster's key")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ClusterKey {
        ClusterKey(Zeroizing::new([5; 32]))
    }

    #[test]
    fn signed_request_verifies() {
        let (time, bearer) = key().sign("/raft/vote", b"{}");
        assert_eq!(
            key().verify("/raft/vote", Some(&time), Some(&bearer), b"{}"),
            Ok(())
        );
    }

    #[test]
    fn changed_body_rejected() {
        let (time, bearer) = key().sign("/raft/vote", b"{}");
        assert!(key()
            .verify("/raft/vote", Some(&time), Some(&bearer), b"{ }")
            .is_err());
    }

    #[test]
    fn other_path_rejected() {
        let (time, bearer) = key().sign("/raft/vote", b"{}");
        assert!(key()
            .verify("/raft/append", Some(&time), Some(&bearer), b"{}")
            .is_err());
    }

    #[test]
    fn stale_time_rejected() {
        let time = crate::api::unix_now() - 600;
        let tag = key().mac(time, "/raft/vote", b"").finalize().into_bytes();
        let bearer = format!("Bearer {}", hex::encode(tag));
        let error = key()
            .verify("/raft/vote", Some(&time.to_string()), Some(&bearer), b"")
            .unwrap_err();
        assert!(error.contains("60 s"), "{error}");
    }
}
