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
    /// Repository location: a folder path, or an fs://, s3://, webdav://, webdavs://
    /// or gdrive:// URL (see docs/STORAGE.md).
    #[arg(long, env = "HAVEN_REPO", hide_env_values = true)]
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
    /// Opens the storage location of an existing repository without a key. A local
    /// folder is checked first, because opening it creates the folder and its `.tmp/`.
    pub fn storage(&self) -> anyhow::Result<Storage> {
        check_local_repository(&self.repo)?;
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

/// Reads and parses a key file, and warns when other users can read it.
pub fn read_key_file(path: &std::path::Path) -> anyhow::Result<BackupKey> {
    warn_if_readable_by_others(path);
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

/// Prints a warning when group or others may read the key file.
fn warn_if_readable_by_others(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o044 != 0 {
        let shown = path.display();
        eprintln!(
            "warning: key file {shown} has mode {mode:o}, so other users can read it; \
             run chmod 600 {shown}"
        );
    }
}

/// Rejects a local repository path that does not exist, is not a folder, or holds no
/// `config` object. Remote URLs pass unchecked.
fn check_local_repository(location: &str) -> anyhow::Result<()> {
    let path = match location.split_once("://") {
        None => std::path::Path::new(location),
        Some(("fs" | "file", rest)) => std::path::Path::new(rest),
        Some(_) => return Ok(()),
    };
    let shown = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("no repository at {shown}: the folder does not exist (check --repo, or run `haven init --repo {shown}` to create one)")
        }
        Err(e) => bail!("cannot open repository {shown}: {e}"),
        Ok(m) if !m.is_dir() => {
            bail!("--repo {shown} is a file, not a repository folder; give the folder that `haven init` created")
        }
        Ok(_) => {}
    }
    if !path.join("config").exists() {
        bail!("{shown} is not a haven repository: it has no config file (check --repo, or run `haven init --repo {shown}` to create one)");
    }
    Ok(())
}

/// Like `println!`, through [`print_stdout`]: a closed stdout is ignored, other write
/// errors return from the enclosing function.
macro_rules! outln {
    () => {
        $crate::common::print_stdout("")?
    };
    ($($arg:tt)*) => {
        $crate::common::print_stdout(&format!($($arg)*))?
    };
}
pub(crate) use outln;

/// Writes `text` and a newline to stdout. A closed pipe (for example `| head -c1`)
/// is ignored, so the command still finishes its work and returns its exit code.
pub fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|_| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(e).context("cannot write to stdout")
        }
        _ => Ok(()),
    }
}

/// Prints which index files are damaged and how to index their packs again.
/// `unlisted_packs` is the number of packs that no intact index lists, or 0 if unknown.
pub fn print_damaged_indexes(damaged: &[haven_repo::Damage], unlisted_packs: usize) {
    for damage in damaged {
        eprintln!("warning: index file {damage}");
    }
    if unlisted_packs > 0 {
        eprintln!("warning: {unlisted_packs} packs are listed by no intact index file");
    }
    eprintln!(
        "warning: the data of packs listed only by a damaged index file is not found; \
         run `haven backup` to re-index these packs from their sealed headers"
    );
}
