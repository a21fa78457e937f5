//! The sealed login state that travels between recover/start and recover/finish.
//!
//! opaque-ke's serialized `ServerLogin` (128 bytes) contains the session key and
//! the expected client MAC in clear, so it leaves the vault only sealed:
//! XChaCha20-Poly1305 under the session sealing key, associated data
//! `"haven/v1/vault-session" || 0x00 || credential identifier`, plaintext
//! `format (1) || expires_at (u64 BE) || session id (16) || generation (16) || state`.
//! The session id is one-time: the record lists the ids of its open sessions and a
//! finish removes its id, so a replayed session finishes nothing.

use haven_crypto::SecretKey;
use zeroize::Zeroizing;

const FORMAT: u8 = 1;
const AAD_PREFIX: &[u8] = b"haven/v1/vault-session\x00";
const HEADER_LEN: usize = 1 + 8 + 16 + 16;

/// An opened session.
pub struct LoginSession {
    pub expires_at: u64,
    pub id: [u8; 16],
    pub generation: [u8; 16],
    /// Serialized `ServerLogin`; secret.
    pub state: Zeroizing<Vec<u8>>,
}

/// Reason a session failed to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionError {
    /// The bytes fail authentication: changed, or sealed for another account.
    Invalid,
    /// The session is older than its lifetime.
    Expired,
}

fn aad(credential_identifier: &[u8]) -> Vec<u8> {
    [AAD_PREFIX, credential_identifier].concat()
}

pub fn seal(key: &SecretKey, credential_identifier: &[u8], session: &LoginSession) -> Vec<u8> {
    let mut plain = Zeroizing::new(Vec::with_capacity(HEADER_LEN + session.state.len()));
    plain.push(FORMAT);
    plain.extend_from_slice(&session.expires_at.to_be_bytes());
    plain.extend_from_slice(&session.id);
    plain.extend_from_slice(&session.generation);
    plain.extend_from_slice(&session.state);
    haven_crypto::seal(key, &aad(credential_identifier), &plain)
}

pub fn open(
    key: &SecretKey,
    credential_identifier: &[u8],
    sealed: &[u8],
    now: u64,
) -> Result<LoginSession, SessionError> {
    let plain = Zeroizing::new(
        haven_crypto::open(key, &aad(credential_identifier), sealed)
            .map_err(|_| SessionError::Invalid)?,
    );
    if plain.len() <= HEADER_LEN || plain[0] != FORMAT {
        return Err(SessionError::Invalid);
    }
    let expires_at = u64::from_be_bytes(plain[1..9].try_into().expect("8 bytes"));
    if expires_at < now {
        return Err(SessionError::Expired);
    }
    Ok(LoginSession {
        expires_at,
        id: plain[9..25].try_into().expect("16 bytes"),
        generation: plain[25..41].try_into().expect("16 bytes"),
        state: Zeroizing::new(plain[HEADER_LEN..].to_vec()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> LoginSession {
        LoginSession {
            expires_at: 1000,
            id: [1; 16],
            generation: [2; 16],
            state: Zeroizing::new(vec![3; 128]),
        }
    }

    #[test]
    fn session_roundtrip() {
        let key = SecretKey::generate();
        let sealed = seal(&key, b"t\0a", &sample());
        let opened = open(&key, b"t\0a", &sealed, 999).unwrap();
        assert_eq!(opened.id, [1; 16]);
        assert_eq!(opened.generation, [2; 16]);
        assert_eq!(opened.state.as_slice(), &[3; 128]);
    }

    #[test]
    fn session_bound_to_account() {
        let key = SecretKey::generate();
        let sealed = seal(&key, b"t\0a", &sample());
        assert_eq!(
            open(&key, b"t\0b", &sealed, 999).err(),
            Some(SessionError::Invalid)
        );
    }

    #[test]
    fn session_expires() {
        let key = SecretKey::generate();
        let sealed = seal(&key, b"t\0a", &sample());
        assert_eq!(
            open(&key, b"t\0a", &sealed, 1001).err(),
            Some(SessionError::Expired)
        );
    }
}
