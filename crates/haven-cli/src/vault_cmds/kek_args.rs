use std::path::PathBuf;

use clap::Args;
use haven_vault_kek::{KekConfig, PinSource};

/// Where the key-encryption key lives: a key file, or a key in a PKCS#11 token.
#[derive(Args, Clone)]
#[group(id = "kek", required = true, multiple = true)]
pub struct KekArgs {
    /// Key file of 32 random bytes, mode 0600 (the one-machine default).
    #[arg(long, value_name = "FILE", conflicts_with = "pkcs11_token_label")]
    pub kek_file: Option<PathBuf>,
    /// Label of the PKCS#11 token that holds the key.
    #[arg(long, value_name = "LABEL")]
    pub pkcs11_token_label: Option<String>,
    /// PKCS#11 module [default: /usr/lib/softhsm/libsofthsm2.so].
    #[arg(long, value_name = "FILE", requires = "pkcs11_token_label")]
    pub pkcs11_module: Option<PathBuf>,
    /// Label of the AES key inside the token [default: haven-kek].
    #[arg(long, value_name = "LABEL", requires = "pkcs11_token_label")]
    pub pkcs11_key_label: Option<String>,
    /// File whose first line is the token's user PIN.
    #[arg(
        long,
        value_name = "FILE",
        requires = "pkcs11_token_label",
        conflicts_with = "pkcs11_pin_env"
    )]
    pub pkcs11_pin_file: Option<PathBuf>,
    /// Environment variable that holds the token's user PIN.
    #[arg(long, value_name = "VAR", requires = "pkcs11_token_label")]
    pub pkcs11_pin_env: Option<String>,
}

impl KekArgs {
    /// Builds the KEK configuration; reads the PIN from its file or variable.
    pub fn config(&self) -> anyhow::Result<KekConfig> {
        if let Some(path) = &self.kek_file {
            return Ok(KekConfig::key_file(path));
        }
        let Some(token_label) = &self.pkcs11_token_label else {
            anyhow::bail!("give --kek-file FILE, or --pkcs11-token-label LABEL with a PIN source");
        };
        let pin = match (&self.pkcs11_pin_file, &self.pkcs11_pin_env) {
            (Some(path), _) => PinSource::File(path.clone()),
            (None, Some(name)) => PinSource::Env(name.clone()),
            (None, None) => anyhow::bail!(
                "the PKCS#11 token needs a PIN: give --pkcs11-pin-file FILE or --pkcs11-pin-env VAR"
            ),
        };
        Ok(KekConfig::pkcs11(
            self.pkcs11_module.clone(),
            token_label.clone(),
            self.pkcs11_key_label.clone(),
            &pin,
        )?)
    }
}
