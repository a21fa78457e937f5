//! `haven init`: create a repository and its first backup key.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::process::ExitCode;

use anyhow::Context;
use haven_crypto::BackupKey;
use haven_repo::{InitOptions, Repository, Storage};

use super::InitArgs;

pub async fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let storage = Storage::open(&args.repo)?;
    let key_file_path = args.key_file.clone();
    // Create the key file first, so a repository is never made whose key has nowhere to go.
    let mut key_file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_file_path)
        .with_context(|| {
            format!(
                "cannot create key file {} (an existing file is never overwritten; choose a new path)",
                key_file_path.display()
            )
        })?;
    let key = BackupKey::generate();
    let options = InitOptions {
        pack_size: args.pack_size_mib * 1024 * 1024,
        ..InitOptions::default()
    };
    let repo = match Repository::init(storage, &key, options).await {
        Ok(repo) => repo,
        Err(error) => {
            drop(key_file);
            let _ = std::fs::remove_file(&key_file_path);
            return Err(error.into());
        }
    };
    let digits = key.to_grouped_digits();
    key_file
        .write_all(format!("{}\n", digits.as_str()).as_bytes())
        .and_then(|_| key_file.sync_all())
        .with_context(|| format!("cannot write key file {}", key_file_path.display()))?;

    println!(
        "Created repository {} (id {}).",
        args.repo,
        &repo.id()[..16]
    );
    println!(
        "Backup key written to {} (mode 0600).",
        key_file_path.display()
    );
    println!();
    println!("Your 64-digit backup key:");
    println!();
    println!("    {}", digits.as_str());
    println!();
    println!("Write this key down and keep it somewhere safe. It is shown only once.");
    println!("Without it (or a vault password) the backups cannot be restored.");

    crate::key_cmds::enroll_after_init(&repo, &args.vault, &key_file_path).await?;
    Ok(ExitCode::SUCCESS)
}
