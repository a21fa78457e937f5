use std::fmt;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

use crate::KekError;

/// Path of SoftHSM2's PKCS#11 module as installed by Debian's `softhsm2` package.
pub const DEFAULT_PKCS11_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Label of the AES key inside the token when none is given.
pub const DEFAULT_KEY_LABEL: &str = "haven-kek";

/// Where a key-encryption key lives.
#[derive(Clone)]
pub enum KekConfig {
    /// A file of 32 random bytes, readable only by its owner.
    KeyFile { path: PathBuf },
    /// An AES-256 key inside a PKCS#11 token.
    Pkcs11 {
        /// Path of the PKCS#11 shared library.
        module: PathBuf,
        /// Label of the token (the HSM partition or SoftHSM2 token).
        token_label: String,
        /// User PIN of the token.
        pin: Zeroizing<String>,
        /// Label of the AES key object inside the token.
        key_label: String,
    },
}

impl KekConfig {
    /// Builds a key-file configuration.
    pub fn key_file(path: impl Into<PathBuf>) -> Self {
        KekConfig::KeyFile { path: path.into() }
    }

    /// Builds a PKCS#11 configuration from command-line values: the module defaults
    /// to [`DEFAULT_PKCS11_MODULE`], the key label to [`DEFAULT_KEY_LABEL`], and the
    /// PIN is read from `pin`.
    pub fn pkcs11(
        module: Option<PathBuf>,
        token_label: impl Into<String>,
        key_label: Option<String>,
        pin: &PinSource,
    ) -> Result<Self, KekError> {
        Ok(KekConfig::Pkcs11 {
            module: module.unwrap_or_else(|| PathBuf::from(DEFAULT_PKCS11_MODULE)),
            token_label: token_label.into(),
            pin: pin.read()?,
            key_label: key_label.unwrap_or_else(|| DEFAULT_KEY_LABEL.to_string()),
        })
    }
}

impl fmt::Debug for KekConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KekConfig::KeyFile { path } => f.debug_struct("KeyFile").field("path", path).finish(),
            KekConfig::Pkcs11 {
                module,
                token_label,
                key_label,
                ..
            } => f
                .debug_struct("Pkcs11")
                .field("module", module)
                .field("token_label", token_label)
                .field("pin", &"<redacted>")
                .field("key_label", key_label)
                .finish(),
        }
    }
}

/// Where the token's user PIN comes from. A PIN is never taken as a command-line
/// argument, because other users can read a process's arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// A file whose first line is the PIN.
    File(PathBuf),
    /// An environment variable that holds the PIN.
    Env(String),
}

impl PinSource {
    /// Reads the PIN. Trailing line breaks are removed; an empty PIN is an error.
    pub fn read(&self) -> Result<Zeroizing<String>, KekError> {
        let raw = match self {
            PinSource::File(path) => read_pin_file(path)?,
            PinSource::Env(name) => Zeroizing::new(
                std::env::var(name)
                    .map_err(|_| KekError::PinVariableMissing { name: name.clone() })?,
            ),
        };
        let pin = Zeroizing::new(raw.trim_end_matches(['\r', '\n']).to_string());
        if pin.is_empty() {
            return Err(KekError::PinEmpty {
                source_name: self.name(),
            });
        }
        Ok(pin)
    }

    fn name(&self) -> String {
        match self {
            PinSource::File(path) => format!("file {}", path.display()),
            PinSource::Env(name) => format!("environment variable {name}"),
        }
    }
}

fn read_pin_file(path: &Path) -> Result<Zeroizing<String>, KekError> {
    let text = std::fs::read_to_string(path).map_err(|source| KekError::PinFile {
        path: path.to_path_buf(),
        source,
    })?;
    let text = Zeroizing::new(text);
    let first_line = text.lines().next().unwrap_or("");
    Ok(Zeroizing::new(first_line.to_string()))
}
