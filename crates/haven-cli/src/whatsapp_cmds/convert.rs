//! `haven whatsapp decrypt` and `haven whatsapp encrypt`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use haven_whatsapp::{
    decrypt_file_with_progress, encrypt_file_with_progress, inspect_file, ContentKind,
    DecryptOptions, EncryptOptions, Layout,
};

use super::{check_output, progress_bar, report_error, WhatsappKeyArgs};
use crate::common::outln;

/// Arguments of `haven whatsapp decrypt`.
#[derive(Args, Debug)]
pub struct DecryptArgs {
    #[command(flatten)]
    pub key: WhatsappKeyArgs,
    /// The backup, for example msgstore.db.crypt15.
    pub input: PathBuf,
    /// Output path for the decrypted database (a ZIP archive for a multi-file backup).
    pub output: PathBuf,
    /// Decrypt even when the MD5 checksum does not match, as long as the content
    /// verifies with its GCM tag (a damaged checksum or header outside the IV).
    #[arg(long)]
    pub ignore_checksum: bool,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn decrypt(args: DecryptArgs) -> anyhow::Result<ExitCode> {
    let key = args.key.require()?;
    check_output(&args.output, args.force)?;
    let options = DecryptOptions {
        ignore_checksum: args.ignore_checksum,
    };
    let bar = progress_bar(&args.input);
    let result = decrypt_file_with_progress(&args.input, &key, &args.output, options, &|read| {
        bar.set_position(read)
    });
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(error) => return Ok(report_error(error)),
    };
    let content = match report.content {
        ContentKind::Zlib => "database",
        ContentKind::Zip => "ZIP archive",
    };
    let layout = match report.layout {
        Layout::SingleFile if report.checksum_ignored => "tag verified, MD5 checksum ignored",
        Layout::SingleFile => "tag and MD5 checksum verified",
        Layout::MultiFile => "multi-file backup, tag verified",
    };
    outln!(
        "decrypted {} ({} bytes) into {} ({} bytes, {content}; {layout})",
        args.input.display(),
        report.file_len,
        args.output.display(),
        report.output_len,
    );
    Ok(ExitCode::SUCCESS)
}

/// Arguments of `haven whatsapp encrypt`.
#[derive(Args, Debug)]
pub struct EncryptArgs {
    #[command(flatten)]
    pub key: WhatsappKeyArgs,
    /// The file to encrypt, usually a msgstore.db SQLite database.
    pub input: PathBuf,
    /// Output path for the backup, for example msgstore.db.crypt15.
    pub output: PathBuf,
    /// A backup of the same phone whose header info (app version, phone number
    /// suffix, feature flags) to copy. Recommended when WhatsApp is to restore the file.
    #[arg(long, value_name = "FILE.crypt15")]
    pub reference: Option<PathBuf>,
    /// WhatsApp version for the header, when no --reference is given.
    #[arg(long, value_name = "VERSION", conflicts_with = "reference")]
    pub app_version: Option<String>,
    /// Last two digits of the phone number for the header, when no --reference is given.
    #[arg(long, value_name = "DIGITS", conflicts_with = "reference")]
    pub jid_suffix: Option<String>,
    /// The 16-byte IV as 32 hex digits, for reproducible files in tests. Random when
    /// absent; never reuse an IV with the same key.
    #[arg(long, value_name = "HEX")]
    pub iv: Option<String>,
    /// Replace the output file if it exists.
    #[arg(long)]
    pub force: bool,
}

pub fn encrypt(args: EncryptArgs) -> anyhow::Result<ExitCode> {
    let key = args.key.require()?;
    check_output(&args.output, args.force)?;
    let options = match encrypt_options(&args) {
        Ok(options) => options,
        Err(code) => return Ok(code),
    };

    let bar = progress_bar(&args.input);
    let result = encrypt_file_with_progress(&args.input, &key, &args.output, &options, &|read| {
        bar.set_position(read)
    });
    bar.finish_and_clear();
    let report = match result {
        Ok(report) => report,
        Err(error) => return Ok(report_error(error)),
    };
    outln!(
        "encrypted {} ({} bytes) into {} ({} bytes)",
        args.input.display(),
        report.input_len,
        args.output.display(),
        report.output_len,
    );
    Ok(ExitCode::SUCCESS)
}

/// Builds the header info and IV from the options. A --reference that cannot be read
/// is reported here, and its exit code returned as the error.
fn encrypt_options(args: &EncryptArgs) -> Result<EncryptOptions, ExitCode> {
    let mut options = EncryptOptions::default();
    if let Some(reference) = &args.reference {
        match inspect_file(reference) {
            Ok(inspection) => options.info = inspection.header.info,
            Err(error) => {
                eprintln!("error: cannot use {} as --reference:", reference.display());
                return Err(report_error(error));
            }
        }
    }
    if let Some(version) = &args.app_version {
        options.info.app_version = version.clone();
    }
    if let Some(suffix) = &args.jid_suffix {
        options.info.jid_suffix = suffix.clone();
    }
    if let Some(iv) = &args.iv {
        let bytes = hex::decode(iv.trim())
            .ok()
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok());
        let Some(bytes) = bytes else {
            eprintln!("error: invalid --iv {iv:?}: expected 32 hex digits");
            return Err(ExitCode::from(1));
        };
        options.iv = Some(bytes);
    }
    Ok(options)
}
