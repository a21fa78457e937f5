//! `haven backup --import-whatsapp`: decrypt a WhatsApp `.crypt15` backup into a
//! private temporary folder, so the backup stores the message database it contains.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use haven_whatsapp::{decrypt_file, ContentKind, DecryptOptions, RootKey};

/// The WhatsApp backup to import and the key that opens it.
#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// A WhatsApp end-to-end encrypted backup (for example msgstore.db.crypt15) to
    /// decrypt and store in the snapshot as whatsapp/msgstore.db. The decrypted copy
    /// is written to a private folder under $TMPDIR and removed afterwards.
    #[arg(long, value_name = "FILE.crypt15")]
    pub import_whatsapp: Option<PathBuf>,

    /// The 64-digit key of that backup (spaces and dashes are ignored). Prefer
    /// --whatsapp-key-file: a key on the command line is visible to other local users.
    #[arg(
        long,
        env = "HAVEN_WHATSAPP_KEY",
        hide_env_values = true,
        requires = "import_whatsapp",
        conflicts_with = "whatsapp_key_file"
    )]
    pub whatsapp_key: Option<String>,

    /// WhatsApp's encrypted_backup.key (59 bytes), or a text file with the 64 digits.
    #[arg(long, value_name = "FILE", requires = "import_whatsapp")]
    pub whatsapp_key_file: Option<PathBuf>,
}

/// A decrypted WhatsApp backup, ready to be backed up. The folder is removed on drop.
pub struct Imported {
    _dir: tempfile::TempDir,
    /// The folder to back up: `whatsapp`, holding the decrypted file.
    pub folder: PathBuf,
    /// The `.crypt15` file, recorded in the snapshot in place of the folder.
    pub source: PathBuf,
}

impl ImportArgs {
    fn root_key(&self) -> anyhow::Result<RootKey> {
        if let Some(text) = &self.whatsapp_key {
            return Ok(RootKey::parse_hex(text)?);
        }
        if let Some(path) = &self.whatsapp_key_file {
            return Ok(RootKey::read_key_file(path)?);
        }
        bail!(
            "--import-whatsapp needs the backup's key: pass --whatsapp-key-file with \
             encrypted_backup.key, or --whatsapp-key with the 64 digits, or set \
             HAVEN_WHATSAPP_KEY"
        )
    }

    /// Decrypts the backup named by `--import-whatsapp`, if any. A wrong key or a
    /// damaged file is an error, and nothing is left on disk.
    pub async fn decrypt(&self) -> anyhow::Result<Option<Imported>> {
        let Some(input) = self.import_whatsapp.clone() else {
            return Ok(None);
        };
        let key = self.root_key()?;
        tokio::task::spawn_blocking(move || decrypt_into_temp(&input, &key).map(Some))
            .await
            .context("the WhatsApp import's worker thread failed")?
    }
}

fn decrypt_into_temp(input: &Path, key: &RootKey) -> anyhow::Result<Imported> {
    let dir = tempfile::Builder::new()
        .prefix("haven-import-")
        .tempdir()
        .context("cannot create a temporary folder for the decrypted WhatsApp backup; set TMPDIR to a folder with room for it")?;
    let folder = dir.path().join("whatsapp");
    std::fs::create_dir(&folder).with_context(|| format!("cannot create {}", folder.display()))?;
    let output = folder.join(decrypted_name(input));
    let report = decrypt_file(input, key, &output, DecryptOptions::default())
        .with_context(|| format!("cannot import the WhatsApp backup {}", input.display()))?;
    if report.content == ContentKind::Zip {
        let mut zip = output.clone().into_os_string();
        zip.push(".zip");
        std::fs::rename(&output, &zip).context("renaming the decrypted ZIP archive failed")?;
    }
    tracing::info!(
        input = %input.display(),
        bytes = report.output_len,
        "decrypted the WhatsApp backup for import"
    );
    Ok(Imported {
        _dir: dir,
        folder,
        source: std::path::absolute(input).unwrap_or_else(|_| input.to_owned()),
    })
}

/// `msgstore.db.crypt15` -> `msgstore.db`; a name without the suffix is kept whole.
fn decrypted_name(input: &Path) -> OsString {
    let name = input
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "msgstore.db".into());
    match name.to_str().and_then(|n| n.strip_suffix(".crypt15")) {
        Some(stem) if !stem.is_empty() => stem.into(),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_crypt15_suffix() {
        assert_eq!(
            decrypted_name(Path::new("/a/msgstore.db.crypt15")),
            "msgstore.db"
        );
        assert_eq!(decrypted_name(Path::new("wa.db")), "wa.db");
        assert_eq!(decrypted_name(Path::new(".crypt15")), ".crypt15");
    }
}
