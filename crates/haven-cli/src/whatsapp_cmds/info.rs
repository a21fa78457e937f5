//! `haven whatsapp info`: the header of a .crypt15 file, its checksum, and whether a
//! key opens it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use haven_whatsapp::{inspect_file, verify_file, DecryptOptions, Layout};

use super::{report_error, WhatsappKeyArgs};
use crate::common::outln;

/// Arguments of `haven whatsapp info`.
#[derive(Args, Debug)]
pub struct InfoArgs {
    /// The backup, for example msgstore.db.crypt15.
    pub input: PathBuf,
    /// With a key, the whole file is decrypted to check that the key opens it. Nothing
    /// is written, and the exit code is 1 when the key does not open the file.
    #[command(flatten)]
    pub key: WhatsappKeyArgs,
}

pub fn info(args: InfoArgs) -> anyhow::Result<ExitCode> {
    let key = args.key.root_key()?;
    let inspection = match inspect_file(&args.input) {
        Ok(inspection) => inspection,
        Err(error) => return Ok(report_error(error)),
    };
    let header = &inspection.header;
    let info = &header.info;
    outln!("file:           {}", args.input.display());
    outln!("size:           {} bytes", inspection.file_len);
    outln!("format:         crypt15");
    outln!(
        "header:         {} bytes, {}",
        header.len,
        if header.has_feature_table {
            "with feature table"
        } else {
            "without feature table"
        }
    );
    let key_type = match header.key_type {
        Some(1) => "1 (end-to-end, key held by the user)".to_owned(),
        Some(other) => other.to_string(),
        None => "absent".to_owned(),
    };
    outln!("key type:       {key_type}");
    outln!("iv:             {}", hex::encode(header.iv));
    outln!("app version:    {}", info.app_version);
    outln!("phone suffix:   {}", info.jid_suffix);
    if let Some(version) = info.backup_version {
        outln!("backup version: {version}");
    }
    let features: Vec<String> = info.features().iter().map(u32::to_string).collect();
    outln!(
        "features:       {}",
        if features.is_empty() {
            "none".into()
        } else {
            features.join(" ")
        }
    );
    outln!(
        "checksum:       {}",
        if inspection.checksum_matches {
            "MD5 matches"
        } else {
            "MD5 does not match (a damaged file, or a multi-file backup, which has none)"
        }
    );

    let Some(key) = key else {
        return Ok(ExitCode::SUCCESS);
    };
    match verify_file(&args.input, &key, DecryptOptions::default()) {
        Ok(report) => {
            let layout = match report.layout {
                Layout::SingleFile => "tag and MD5 checksum verified",
                Layout::MultiFile => "multi-file backup, tag verified",
            };
            outln!(
                "key:            opens this backup ({layout}; content {} bytes)",
                report.output_len
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            outln!("key:            does not open this backup as it is");
            Ok(report_error(error))
        }
    }
}
