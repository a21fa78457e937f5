//! Options shared by the repository and key commands: where the repository is and
//! which key opens it, and the exit code for damaged data.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use haven_crypto::BackupKey;
use haven_repo::{RepoError, Repository, Storage};
use zeroize::Zeroizing;

/// Repository location and the key that opens it.
#[derive(Args, Clone, Debug)]
pub struct RepoArgs {
    /// Repository location: a folder path, or an fs:// URL.
    #[arg(long, env = "HAVEN_REPO")]
    pub repo: String,

    /// The 64-digit backup key (spaces and dashes are ignored). Prefer --key-file:
    /// a key on the command line is visible to other local users.
    #[arg(
        long,
        env = "HAVEN_KEY",
        hide_env_values = true,
        conflicts_with = "key_file"
    )]
    pub key: Option<String>,

    /// File holding the 64-digit backup key, as written by `haven init`.
    #[arg(long, env = "HAVEN_KEY_FILE")]
    pub key_file: Option<PathBuf>,
}

impl RepoArgs {
    /// Opens the storage location without a key.
    pub fn storage(&self) -> anyhow::Result<Storage> {
        Ok(Storage::open(&self.repo)?)
    }

    /// Reads the backup key from --key or --key-file.
    pub fn backup_key(&self) -> anyhow::Result<BackupKey> {
        if let Some(text) = &self.key {
            return BackupKey::parse(text).context("invalid --key / HAVEN_KEY");
        }
        let Some(path) = &self.key_file else {
            bail!("no backup key given; pass --key-file FILE (or HAVEN_KEY_FILE), or --key (or HAVEN_KEY)");
        };
        read_key_file(path)
    }

    /// Opens the repository with the given key.
    pub async fn open(&self) -> Result<Repository, OpenError> {
        let key = self.backup_key().map_err(OpenError::Other)?;
        let storage = self.storage().map_err(OpenError::Other)?;
        Repository::open(storage, &key)
            .await
            .map_err(OpenError::Repo)
    }
}

/// Why a repository did not open: a repository error (maybe damage), or bad options.
#[derive(Debug)]
pub enum OpenError {
    Repo(RepoError),
    Other(anyhow::Error),
}

impl OpenError {
    /// Turns the error into the command's result: exit code 3 for damage, an error
    /// (exit code 1) otherwise.
    pub fn into_exit(self) -> anyhow::Result<ExitCode> {
        match self {
            OpenError::Repo(e) => repo_error_exit(e),
            OpenError::Other(e) => Err(e),
        }
    }
}

/// Prints a damage error and returns exit code 3; passes other errors through.
pub fn repo_error_exit(error: RepoError) -> anyhow::Result<ExitCode> {
    if error.is_damage() {
        eprintln!("error: {error}");
        return Ok(ExitCode::from(crate::EXIT_DAMAGED));
    }
    Err(error.into())
}

/// Reads and parses a key file.
pub fn read_key_file(path: &std::path::Path) -> anyhow::Result<BackupKey> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read key file {}", path.display()))?,
    );
    BackupKey::parse(&text).with_context(|| {
        format!(
            "key file {} does not hold a valid backup key",
            path.display()
        )
    })
}
