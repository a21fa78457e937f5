//! `haven init`: create a repository and its first backup key.

use std::fs::{DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use haven_crypto::BackupKey;
use haven_repo::{InitOptions, Repository, Storage};

use super::InitArgs;
use crate::common::outln;

pub async fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let storage = Storage::open(&args.repo)?;
    let key_file_path = args.key_file.clone();
    // Create the key file first, so a repository is never made whose key has nowhere to go.
    create_key_folder(&key_file_path)?;
    let mut key_file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&key_file_path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => bail!(
            "key file {} already exists; an existing key file is never overwritten, so choose a new path",
            key_file_path.display()
        ),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot create key file {}", key_file_path.display()))
        }
    };
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

    outln!(
        "Created repository {} (id {}).",
        args.repo,
        &repo.id()[..16]
    );
    outln!(
        "Backup key written to {} (mode 0600).",
        key_file_path.display()
    );
    outln!();
    outln!("Your 64-digit backup key:");
    outln!();
    // Formatted into a zeroized buffer, so no copy of the key stays on the heap.
    let key_line = zeroize::Zeroizing::new(format!("    {}", digits.as_str()));
    crate::common::print_stdout(&key_line)?;
    outln!();
    outln!("Write this key down and keep it somewhere safe. It is shown only once.");
    outln!("Without it (or a vault password) the backups cannot be restored.");

    crate::key_cmds::enroll_after_init(&repo, &args.vault, &key_file_path).await?;
    Ok(ExitCode::SUCCESS)
}

/// Creates the missing folders above the key file with mode 0700, so that only the
/// owner can list them.
fn create_key_folder(key_file: &Path) -> anyhow::Result<()> {
    let Some(parent) = key_file.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(parent)
        .with_context(|| format!("cannot create folder {} for the key file", parent.display()))
}
