use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use cryptoki::context::Pkcs11;
use cryptoki::error::{Error, RvError};
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki::types::AuthPin;
use zeroize::Zeroizing;

use crate::pkcs11_module::ModuleHandle;
use crate::{Kek, KekError};

/// Length of the random AES-GCM IV stored in front of each wrapped key.
pub const GCM_IV_LEN: usize = 12;
/// Length of the AES-GCM tag at the end of each wrapped key.
pub const GCM_TAG_LEN: usize = 16;

const AES_256_KEY_LEN: u64 = 32;

/// A KEK that is an AES-256 key inside a PKCS#11 token. The key is created
/// sensitive and non-extractable, so wrapping and unwrapping run inside the token.
/// Wrapped bytes are `iv (12) || ciphertext || tag (16)`, CKM_AES_GCM.
pub struct Pkcs11Kek {
    // Field order matters: the session must close before the module handle can
    // finalize the module.
    session: Mutex<Session>,
    key: ObjectHandle,
    token_label: String,
    key_label: String,
    module: ModuleHandle,
}

impl Pkcs11Kek {
    /// Loads `module`, logs in to the token labelled `token_label` with `pin`, and
    /// finds the AES key labelled `key_label`. With `create_if_missing`, a missing
    /// key is generated in the token (CKM_AES_KEY_GEN).
    pub fn open(
        module: &Path,
        token_label: &str,
        pin: &Zeroizing<String>,
        key_label: &str,
        create_if_missing: bool,
    ) -> Result<Self, KekError> {
        let module = ModuleHandle::acquire(module)?;
        let slot = find_token(module.context(), module.path(), token_label)?;
        let call_error = |operation| {
            let token_label = token_label.to_string();
            move |source| KekError::Pkcs11 {
                operation,
                token_label,
                source,
            }
        };
        let session = if create_if_missing {
            module.context().open_rw_session(slot)
        } else {
            module.context().open_ro_session(slot)
        }
        .map_err(call_error("C_OpenSession"))?;
        login(&session, token_label, pin)?;
        let key = match find_key(&session, token_label, key_label)? {
            Some(key) => key,
            None if create_if_missing => generate_key(&session, token_label, key_label)?,
            None => {
                return Err(KekError::KeyNotFound {
                    token_label: token_label.to_string(),
                    key_label: key_label.to_string(),
                })
            }
        };
        Ok(Self {
            session: Mutex::new(session),
            key,
            token_label: token_label.to_string(),
            key_label: key_label.to_string(),
            module,
        })
    }

    /// Returns the path of the PKCS#11 module.
    pub fn module_path(&self) -> PathBuf {
        self.module.path().to_path_buf()
    }

    fn session(&self) -> MutexGuard<'_, Session> {
        self.session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn call_error(&self, operation: &'static str, source: Error) -> KekError {
        KekError::Pkcs11 {
            operation,
            token_label: self.token_label.clone(),
            source,
        }
    }
}

impl Kek for Pkcs11Kek {
    fn wrap(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, KekError> {
        let mut iv = [0u8; GCM_IV_LEN];
        haven_crypto::random_bytes(&mut iv);
        let mut params_iv = iv;
        let params = GcmParams::new(&mut params_iv, aad, (GCM_TAG_LEN as u64 * 8).into())
            .map_err(|err| self.call_error("CKM_AES_GCM parameters", err))?;
        let sealed = self
            .session()
            .encrypt(&Mechanism::AesGcm(params), self.key, plaintext)
            .map_err(|err| self.call_error("C_Encrypt", err))?;
        let mut out = Vec::with_capacity(GCM_IV_LEN + sealed.len());
        out.extend_from_slice(&iv);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn unwrap(&self, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>, KekError> {
        let min = GCM_IV_LEN + GCM_TAG_LEN;
        if wrapped.len() < min {
            return Err(KekError::TooShort {
                len: wrapped.len(),
                min,
            });
        }
        let (iv, sealed) = wrapped.split_at(GCM_IV_LEN);
        let mut iv: [u8; GCM_IV_LEN] = iv.try_into().expect("split at the IV length");
        let params = GcmParams::new(&mut iv, aad, (GCM_TAG_LEN as u64 * 8).into())
            .map_err(|err| self.call_error("CKM_AES_GCM parameters", err))?;
        match self
            .session()
            .decrypt(&Mechanism::AesGcm(params), self.key, sealed)
        {
            Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
            // PKCS#11 names CKR_ENCRYPTED_DATA_INVALID for a tag mismatch, but
            // SoftHSM2 2.6 returns CKR_GENERAL_ERROR for it, so both count as a
            // failed authentication.
            Err(Error::Pkcs11(
                RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange
                | RvError::GeneralError,
                _,
            )) => Err(KekError::AuthenticationFailed {
                kek: self.describe(),
            }),
            Err(err) => Err(self.call_error("C_Decrypt", err)),
        }
    }

    fn describe(&self) -> String {
        format!(
            "PKCS#11 token '{}' key '{}'",
            self.token_label, self.key_label
        )
    }
}

fn find_token(context: &Pkcs11, module: &Path, token_label: &str) -> Result<Slot, KekError> {
    let call_error = |source| KekError::Pkcs11 {
        operation: "C_GetSlotList",
        token_label: token_label.to_string(),
        source,
    };
    let mut present = Vec::new();
    let mut matches = Vec::new();
    for slot in context
        .get_slots_with_initialized_token()
        .map_err(call_error)?
    {
        let info = context.get_token_info(slot).map_err(call_error)?;
        if info.label() == token_label {
            matches.push(slot);
        }
        present.push(info.label().to_string());
    }
    match matches.as_slice() {
        [slot] => Ok(*slot),
        [] => Err(KekError::TokenNotFound {
            module: module.to_path_buf(),
            token_label: token_label.to_string(),
            present,
        }),
        _ => Err(KekError::DuplicateToken {
            token_label: token_label.to_string(),
            count: matches.len(),
        }),
    }
}

fn login(session: &Session, token_label: &str, pin: &Zeroizing<String>) -> Result<(), KekError> {
    let pin = AuthPin::from(pin.as_str());
    match session.login(UserType::User, Some(&pin)) {
        Ok(()) | Err(Error::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
        Err(Error::Pkcs11(RvError::PinIncorrect, _)) => Err(KekError::WrongPin {
            token_label: token_label.to_string(),
        }),
        Err(Error::Pkcs11(RvError::PinLocked, _)) => Err(KekError::PinLocked {
            token_label: token_label.to_string(),
        }),
        Err(source) => Err(KekError::Pkcs11 {
            operation: "C_Login",
            token_label: token_label.to_string(),
            source,
        }),
    }
}

fn key_template(key_label: &str) -> Vec<Attribute> {
    vec![
        Attribute::Class(ObjectClass::SECRET_KEY),
        Attribute::KeyType(KeyType::AES),
        Attribute::Label(key_label.as_bytes().to_vec()),
    ]
}

fn find_key(
    session: &Session,
    token_label: &str,
    key_label: &str,
) -> Result<Option<ObjectHandle>, KekError> {
    let keys = session
        .find_objects(&key_template(key_label))
        .map_err(|source| KekError::Pkcs11 {
            operation: "C_FindObjects",
            token_label: token_label.to_string(),
            source,
        })?;
    match keys.as_slice() {
        [] => Ok(None),
        [key] => {
            warn_if_exportable(session, *key, token_label, key_label);
            Ok(Some(*key))
        }
        _ => Err(KekError::DuplicateKey {
            token_label: token_label.to_string(),
            key_label: key_label.to_string(),
            count: keys.len(),
        }),
    }
}

/// Logs a warning for a key that could leave the token. A key created here never
/// can; an imported key may.
fn warn_if_exportable(session: &Session, key: ObjectHandle, token_label: &str, key_label: &str) {
    let wanted = [AttributeType::Sensitive, AttributeType::Extractable];
    let Ok(attributes) = session.get_attributes(key, &wanted) else {
        return;
    };
    for attribute in attributes {
        let exportable = match attribute {
            Attribute::Sensitive(sensitive) => !sensitive,
            Attribute::Extractable(extractable) => extractable,
            _ => false,
        };
        if exportable {
            tracing::warn!(
                token = token_label,
                key = key_label,
                "the key-encryption key is not sensitive or is extractable, so it can be \
                 read out of the token; create a new key in the token to keep it inside"
            );
            return;
        }
    }
}

fn generate_key(
    session: &Session,
    token_label: &str,
    key_label: &str,
) -> Result<ObjectHandle, KekError> {
    let mut template = key_template(key_label);
    template.extend([
        Attribute::ValueLen(AES_256_KEY_LEN.into()),
        Attribute::Token(true),
        Attribute::Private(true),
        Attribute::Sensitive(true),
        Attribute::Extractable(false),
        Attribute::Encrypt(true),
        Attribute::Decrypt(true),
        Attribute::Wrap(false),
        Attribute::Unwrap(false),
    ]);
    let key = session
        .generate_key(&Mechanism::AesKeyGen, &template)
        .map_err(|source| KekError::Pkcs11 {
            operation: "C_GenerateKey",
            token_label: token_label.to_string(),
            source,
        })?;
    tracing::info!(
        token = token_label,
        key = key_label,
        "generated an AES-256 key-encryption key in the token"
    );
    Ok(key)
}
