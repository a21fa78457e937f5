//! A cache of verified bearer tokens, so that the recover/start and recover/finish
//! of one login (same token) pay for one signature check (EdDSA verification costs
//! about 120 µs, a third of a login start's crypto).
//!
//! Entries are keyed by the SHA-256 of the whole token and expire at the token's own
//! `exp` plus the verifier's clock-skew leeway, the same instant at which a fresh
//! verification would start to fail. A token is cached only after a full verification.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use haven_vault_proto::Principal;
use sha2::{Digest, Sha256};

/// Entry count at which the cache is emptied, bounding its memory.
const MAX_ENTRIES: usize = 100_000;

pub struct TokenCache {
    entries: Mutex<HashMap<[u8; 32], (Principal, u64)>>,
}

impl TokenCache {
    pub fn new() -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    /// Returns the principal of a token verified earlier that is still valid at `now`.
    pub fn get(&self, token: &str, now: u64) -> Option<Principal> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(&Self::key(token)) {
            Some((principal, valid_until)) if *valid_until >= now => Some(principal.clone()),
            _ => None,
        }
    }

    /// Remembers a token that passed full verification, until its `exp` plus `leeway`.
    pub fn insert(&self, token: &str, principal: &Principal, leeway: u64) {
        let Some(exp) = read_exp(token) else {
            return;
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            Self::key(token),
            (principal.clone(), exp.saturating_add(leeway)),
        );
    }
}

/// Reads the numeric `exp` claim of a token's payload.
fn read_exp(token: &str) -> Option<u64> {
    let payload = token.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&json).ok()?;
    value.get("exp")?.as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(exp: u64) -> String {
        let payload = URL_SAFE_NO_PAD.encode(format!(r#"{{"exp":{exp}}}"#));
        format!("e30.{payload}.sig")
    }

    #[test]
    fn cached_until_exp_plus_leeway() {
        let cache = TokenCache::new();
        let principal = Principal::new("t", "a");
        cache.insert(&token(100), &principal, 30);
        assert_eq!(cache.get(&token(100), 130), Some(principal));
        assert_eq!(cache.get(&token(100), 131), None);
        assert_eq!(cache.get(&token(101), 100), None);
    }

    #[test]
    fn token_without_exp_not_cached() {
        let cache = TokenCache::new();
        cache.insert("a.b.c", &Principal::new("t", "a"), 30);
        assert_eq!(cache.get("a.b.c", 0), None);
    }
}
