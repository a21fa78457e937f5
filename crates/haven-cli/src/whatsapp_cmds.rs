//! `haven whatsapp ...`: read, verify and write WhatsApp end-to-end encrypted backups
//! (`.crypt15` files), which open only with the user's 64-digit key.

mod convert;
mod info;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use haven_whatsapp::RootKey;
use indicatif::{ProgressBar, ProgressStyle};

/// Commands for WhatsApp `.crypt15` backup files.
#[derive(Subcommand, Debug)]
pub enum WhatsappCommand {
    /// Decrypt a .crypt15 backup into the database (or ZIP archive) it holds.
    Decrypt(convert::DecryptArgs),
    /// Compress and encrypt a file (usually msgstore.db) into a .crypt15 backup.
    Encrypt(convert::EncryptArgs),
    /// Show a .crypt15 file's header and checksum, and with a key whether it opens it.
    Info(info::InfoArgs),
}

/// Runs a `haven whatsapp` command. Returns exit code 3 for a damaged or truncated
/// file, 1 for other failures (a wrong key among them).
pub async fn run(command: WhatsappCommand) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || match command {
        WhatsappCommand::Decrypt(args) => convert::decrypt(args),
        WhatsappCommand::Encrypt(args) => convert::encrypt(args),
        WhatsappCommand::Info(args) => info::info(args),
    })
    .await
    .context("the whatsapp command's worker thread failed")?
}

/// The key that opens a backup.
#[derive(Args, Debug, Clone)]
pub struct WhatsappKeyArgs {
    /// The 64-digit key that WhatsApp showed when end-to-end encrypted backup was turned
    /// on (spaces and dashes are ignored). Prefer --key-file: a key on the command line
    /// is visible to other local users.
    #[arg(
        long,
        env = "HAVEN_WHATSAPP_KEY",
        hide_env_values = true,
        conflicts_with = "key_file"
    )]
    pub key: Option<String>,

    /// WhatsApp's encrypted_backup.key (59 bytes, in /data/data/com.whatsapp/files/),
    /// or a text file with the 64 digits.
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

impl WhatsappKeyArgs {
    /// Parses the key, if one was given.
    fn root_key(&self) -> anyhow::Result<Option<RootKey>> {
        if let Some(text) = &self.key {
            return Ok(Some(RootKey::parse_hex(text)?));
        }
        if let Some(path) = &self.key_file {
            return Ok(Some(RootKey::read_key_file(path)?));
        }
        Ok(None)
    }

    /// Parses the key, or returns an error that names the options when none was given.
    fn require(&self) -> anyhow::Result<RootKey> {
        match self.root_key()? {
            Some(key) => Ok(key),
            None => bail!(
                "missing key: pass --key with the 64-digit key, --key-file with \
                 encrypted_backup.key, or set HAVEN_WHATSAPP_KEY"
            ),
        }
    }
}

/// Prints a library error and returns its exit code.
fn report_error(error: haven_whatsapp::Error) -> ExitCode {
    eprintln!("error: {error}");
    if error.is_damaged() {
        ExitCode::from(crate::EXIT_DAMAGED)
    } else {
        ExitCode::from(1)
    }
}

/// Rejects an existing output file unless `force` is set, so nothing is overwritten by
/// accident.
fn check_output(output: &Path, force: bool) -> anyhow::Result<()> {
    if output.exists() && !force {
        bail!(
            "the output {} exists; choose another path or pass --force to replace it",
            output.display()
        );
    }
    Ok(())
}

/// Creates a progress bar over the input's bytes. indicatif draws it on stderr, and
/// only when stderr is a terminal.
fn progress_bar(input: &Path) -> ProgressBar {
    let len = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
            .expect("the progress template is valid"),
    );
    bar
}
