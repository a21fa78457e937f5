use std::fmt;
use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use jsonwebtoken::EncodingKey;
use zeroize::Zeroizing;

use crate::files::{read_secret_text, write_new_secret_file};
use crate::{KeyError, TenantAlg, MIN_HS256_SECRET_LEN};

/// A tenant's signing key: an HS256 secret or an Ed25519 private key. Zeroized on
/// drop; `Debug` shows only the algorithm.
pub struct SigningKey {
    inner: Inner,
}

enum Inner {
    Hs256(Zeroizing<Vec<u8>>),
    EdDsa(Box<ed25519_dalek::SigningKey>),
}

impl SigningKey {
    /// Generates a new key from the OS RNG: 32 random bytes for HS256, an Ed25519
    /// key pair for EdDSA.
    pub fn generate(alg: TenantAlg) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        haven_crypto::random_bytes(bytes.as_mut_slice());
        let inner = match alg {
            TenantAlg::Hs256 => Inner::Hs256(Zeroizing::new(bytes.to_vec())),
            TenantAlg::EdDsa => {
                Inner::EdDsa(Box::new(ed25519_dalek::SigningKey::from_bytes(&bytes)))
            }
        };
        Self { inner }
    }

    /// Wraps an HS256 secret of at least [`MIN_HS256_SECRET_LEN`] bytes.
    pub fn hs256(secret: Zeroizing<Vec<u8>>) -> Result<Self, KeyError> {
        check_hs256_len(secret.len())?;
        Ok(Self {
            inner: Inner::Hs256(secret),
        })
    }

    /// Parses the text form made by [`SigningKey::to_text`]: base64 (standard
    /// alphabet) for HS256, a PKCS#8 PEM "PRIVATE KEY" for EdDSA.
    pub fn parse(alg: TenantAlg, text: &str) -> Result<Self, KeyError> {
        match alg {
            TenantAlg::Hs256 => Self::hs256(decode_hs256_secret(text)?),
            TenantAlg::EdDsa => {
                let key =
                    ed25519_dalek::SigningKey::from_pkcs8_pem(text.trim()).map_err(|err| {
                        KeyError::InvalidKey {
                            alg: alg.as_str(),
                            reason: format!(
                                "expected an Ed25519 private key in PKCS#8 PEM \
                             (\"BEGIN PRIVATE KEY\"): {err}"
                            ),
                        }
                    })?;
                Ok(Self {
                    inner: Inner::EdDsa(Box::new(key)),
                })
            }
        }
    }

    /// Reads a key file written by [`SigningKey::save`]. Rejects a file that the
    /// group or others can read.
    pub fn load(alg: TenantAlg, path: &Path) -> Result<Self, KeyError> {
        let text = read_secret_text(path)?;
        Self::parse(alg, &text)
    }

    /// Writes the text form to a new file with mode 0600; never overwrites.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        write_new_secret_file(path, self.to_text().as_bytes())
    }

    /// Returns the algorithm this key signs with.
    pub fn alg(&self) -> TenantAlg {
        match self.inner {
            Inner::Hs256(_) => TenantAlg::Hs256,
            Inner::EdDsa(_) => TenantAlg::EdDsa,
        }
    }

    /// Encodes the key as text: base64 for HS256, PKCS#8 PEM for EdDSA. The
    /// result is secret.
    pub fn to_text(&self) -> Zeroizing<String> {
        match &self.inner {
            Inner::Hs256(secret) => Zeroizing::new(STANDARD.encode(secret.as_slice())),
            Inner::EdDsa(key) => {
                let pem = key
                    .to_pkcs8_pem(LineEnding::LF)
                    .expect("PKCS#8 encoding of an Ed25519 key has no failure case");
                Zeroizing::new(pem.to_string())
            }
        }
    }

    /// Returns the public key as SPKI PEM ("BEGIN PUBLIC KEY") for EdDSA, `None`
    /// for HS256.
    pub fn public_key_pem(&self) -> Option<String> {
        match &self.inner {
            Inner::Hs256(_) => None,
            Inner::EdDsa(key) => Some(
                key.verifying_key()
                    .to_public_key_pem(LineEnding::LF)
                    .expect("SPKI encoding of an Ed25519 key has no failure case"),
            ),
        }
    }

    // NOTE: jsonwebtoken's EncodingKey keeps its own copy of the key bytes and does
    // not zeroize it; the copy lives only for one mint call.
    pub(crate) fn encoding_key(&self) -> EncodingKey {
        match &self.inner {
            Inner::Hs256(secret) => EncodingKey::from_secret(secret),
            Inner::EdDsa(key) => {
                let der = key
                    .to_pkcs8_der()
                    .expect("PKCS#8 encoding of an Ed25519 key has no failure case");
                EncodingKey::from_ed_der(der.as_bytes())
            }
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, <redacted>)", self.alg().as_str())
    }
}

/// Decodes a base64 HS256 secret, ignoring surrounding whitespace.
pub(crate) fn decode_hs256_secret(text: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    let secret = STANDARD
        .decode(text.trim())
        .map(Zeroizing::new)
        .map_err(|err| KeyError::InvalidKey {
            alg: TenantAlg::Hs256.as_str(),
            reason: format!("the secret is not standard base64: {err}"),
        })?;
    check_hs256_len(secret.len())?;
    Ok(secret)
}

fn check_hs256_len(len: usize) -> Result<(), KeyError> {
    if len < MIN_HS256_SECRET_LEN {
        return Err(KeyError::InvalidKey {
            alg: TenantAlg::Hs256.as_str(),
            reason: format!(
                "the secret is {len} bytes, the minimum is {MIN_HS256_SECRET_LEN}; \
                 generate one with 32 random bytes"
            ),
        });
    }
    Ok(())
}
