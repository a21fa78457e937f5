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
    /// is written to the backup's private folder under $TMPDIR and removed afterwards.
    #[arg(long, value_name = "FILE.crypt15")]
    pub import_whatsapp: Option<PathBuf>,

    /// The 64-digit key of that backup (spaces and dashes are ignored). Prefer
    /// --whatsapp-key-file: a key on the command line is visible to other local users.
    #[arg(
        long,
        env = "HAVEN_WHATSAPP_KEY",
        hide_env_values = true,
        conflicts_with = "whatsapp_key_file"
    )]
    pub whatsapp_key: Option<String>,

    /// WhatsApp's encrypted_backup.key (59 bytes), or a text file with the 64 digits.
    #[arg(long, value_name = "FILE", requires = "import_whatsapp")]
    pub whatsapp_key_file: Option<PathBuf>,
}

/// A decrypted WhatsApp backup, ready to be backed up. It lives in the backup's
/// scratch folder, which removes it.
pub struct Imported {
    /// The folder to back up: `whatsapp`, holding the decrypted file.
    pub folder: PathBuf,
    /// The `.crypt15` file, recorded in the snapshot in place of the folder.
    pub source: PathBuf,
}

/// A failed import: the message, and whether the `.crypt15` file is damaged (exit
/// code 3).
pub struct ImportError {
    pub message: String,
    pub damaged: bool,
}

impl From<anyhow::Error> for ImportError {
    fn from(error: anyhow::Error) -> Self {
        Self {
            message: format!("{error:#}"),
            damaged: false,
        }
    }
}

/// Name of the folder that contains the decrypted backup in the snapshot.
const FOLDER: &str = "whatsapp";

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

    /// Decrypts the backup named by `--import-whatsapp`, if any, into `scratch`, next
    /// to the other backup `paths`. A wrong key or a damaged file is an error, and
    /// nothing is left on disk.
    pub async fn decrypt(
        &self,
        paths: &[PathBuf],
        scratch: &Path,
    ) -> Result<Option<Imported>, ImportError> {
        let Some(input) = self.import_whatsapp.clone() else {
            return Ok(None);
        };
        check_name_clash(paths)?;
        let key = self.root_key()?;
        let folder = scratch.join(FOLDER);
        let output = folder.join(decrypted_name(&input));
        let decrypted = {
            let (input, output) = (input.clone(), output.clone());
            tokio::task::spawn_blocking(move || decrypt_into(&input, &key, &output))
                .await
                .context("the WhatsApp import's worker thread failed")?
        };
        if let Err(error) = decrypted {
            let _ = std::fs::remove_dir_all(&folder);
            return Err(ImportError {
                message: format!(
                    "cannot import the WhatsApp backup {}: {error}",
                    input.display()
                ),
                damaged: error.is_damaged(),
            });
        }
        Ok(Some(Imported {
            folder,
            source: std::path::absolute(&input).unwrap_or(input),
        }))
    }
}

/// Rejects a backup path whose last component is the import's folder name, since
/// both would be the same top-level entry of the snapshot.
fn check_name_clash(paths: &[PathBuf]) -> anyhow::Result<()> {
    for path in paths {
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
        if absolute.file_name().is_some_and(|name| name == FOLDER) {
            bail!(
                "{} has the name that the imported WhatsApp backup gets in the snapshot \
                 ({FOLDER}/); back up its parent folder instead, or rename it",
                path.display()
            );
        }
    }
    Ok(())
}

/// Decrypts `input` into `output`, creating its folder; a ZIP archive (a multi-file
/// backup) gets a `.zip` suffix.
fn decrypt_into(input: &Path, key: &RootKey, output: &Path) -> Result<(), haven_whatsapp::Error> {
    let folder = output
        .parent()
        .expect("the output is inside the import folder");
    std::fs::create_dir(folder).map_err(|source| haven_whatsapp::Error::Io {
        action: "create the folder",
        path: folder.to_owned(),
        source,
    })?;
    let report = decrypt_file(input, key, output, DecryptOptions::default())?;
    if report.content == ContentKind::Zip {
        let mut zip = output.as_os_str().to_owned();
        zip.push(".zip");
        std::fs::rename(output, &zip).map_err(|source| haven_whatsapp::Error::Io {
            action: "rename the decrypted ZIP archive",
            path: output.to_owned(),
            source,
        })?;
    }
    tracing::info!(
        input = %input.display(),
        bytes = report.output_len,
        "decrypted the WhatsApp backup for import"
    );
    Ok(())
}

/// `msgstore.db.crypt15` -> `msgstore.db`; a name without the suffix is kept whole.
fn decrypted_name(input: &Path) -> OsString {
    let name = input
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "msgstore.db".into());
    match name.to_str().and_then(|n| n.strip_suffix(".crypt15")) {
        Some("" | "." | "..") => "msgstore.db".into(),
        Some(stem) => stem.into(),
        None => name,
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
        assert_eq!(decrypted_name(Path::new(".crypt15")), "msgstore.db");
        assert_eq!(decrypted_name(Path::new("..crypt15")), "msgstore.db");
    }
}
