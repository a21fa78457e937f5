//! `haven init`, `backup`, `snapshots`, `ls`, `restore` and `check`.

mod backup;
mod check;
mod format;
mod import;
mod init;
mod inspect;
mod prune;
mod prune_args;
mod restore;
mod scratch;
mod sqlite_args;

use std::path::PathBuf;

use clap::Args;

use crate::common::RepoArgs;

pub use backup::backup;
pub use check::check;
pub use init::init;
pub use inspect::{ls, snapshots};
pub use prune::{forget, prune, repair};
pub use restore::restore;

#[derive(Args)]
pub struct InitArgs {
    /// Repository location: a folder path, or an fs://, s3://, webdav://, webdavs://
    /// or gdrive:// URL. It must not hold a repository.
    #[arg(long, env = "HAVEN_REPO", hide_env_values = true)]
    pub repo: String,

    /// File to write the new backup key to (created with mode 0600; an existing file
    /// is never overwritten).
    #[arg(long, env = "HAVEN_KEY_FILE")]
    pub key_file: PathBuf,

    /// Target pack file size in MiB. Larger packs mean fewer storage requests.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub pack_size_mib: u64,

    /// Vault enrollment options; with `--vault`, a password also opens the repository.
    #[command(flatten)]
    pub vault: crate::key_cmds::VaultEnrollArgs,
}

#[derive(Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    /// Tag to store with the snapshot; repeat for several.
    #[arg(long = "tag")]
    pub tags: Vec<String>,

    /// Print a JSON summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,

    /// Packs to upload at once (1 to 64). Each running upload keeps one pack in
    /// memory, so memory grows by the pack size for each.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub uploads: u16,

    #[command(flatten)]
    pub sqlite: sqlite_args::SqliteArgs,

    #[command(flatten)]
    pub import: import::ImportArgs,

    /// Files and folders to back up.
    #[arg(required_unless_present = "import_whatsapp")]
    pub paths: Vec<PathBuf>,
}

#[derive(Args)]
pub struct SnapshotsArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    /// Print JSON on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct LsArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    /// Snapshot id, a unique prefix of it, or `latest`.
    pub snapshot: String,

    /// Path inside the snapshot to list (default: everything).
    pub path: Option<PathBuf>,
}

#[derive(Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    /// Snapshot id, a unique prefix of it, or `latest`.
    pub snapshot: String,

    /// Folder to restore into; created if missing. Existing files at restored paths
    /// are replaced (see --overwrite).
    #[arg(long)]
    pub target: PathBuf,

    /// Which existing files to write again. `if-changed` keeps a regular file whose
    /// size and modification time equal the snapshot's, so an interrupted restore
    /// resumes where it stopped. `always` rewrites every file.
    #[arg(long, value_enum, default_value_t = Overwrite::IfChanged)]
    pub overwrite: Overwrite,

    /// Restore only this path inside the snapshot (and what is below it); repeat for several.
    #[arg(long = "include")]
    pub includes: Vec<PathBuf>,
}

/// Values of `haven restore --overwrite`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Overwrite {
    Always,
    IfChanged,
}

#[derive(Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    /// Also read and authenticate every byte of every pack.
    #[arg(long)]
    pub read_data: bool,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ForgetArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    /// Keep the newest N snapshots of each host and path set.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_last: usize,

    /// Keep the newest snapshot of each of the newest N days (UTC) that have one.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_daily: usize,

    /// Keep the newest snapshot of each of the newest N ISO weeks that have one.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_weekly: usize,

    /// Keep the newest snapshot of each of the newest N months that have one.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub keep_monthly: usize,

    /// Keep every snapshot with this tag; repeat for several.
    #[arg(long = "keep-tag", value_name = "TAG")]
    pub keep_tags: Vec<String>,

    /// Show what would be forgotten (and pruned) and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the decisions (and the prune report) as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    /// Prune after forgetting: mark and delete the packs no snapshot needs.
    #[arg(long)]
    pub prune: bool,

    #[command(flatten)]
    pub prune_options: prune_args::PruneArgs,
}

#[derive(Args)]
pub struct PruneCmdArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    /// Show what would be marked, repacked and deleted, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub prune_options: prune_args::PruneArgs,
}

#[derive(Args)]
pub struct RepairArgs {
    #[command(flatten)]
    pub repo: RepoArgs,

    /// Delete only leftovers last modified at least this long ago (s, m, h or d).
    /// Younger ones may belong to a backup that is still running.
    #[arg(long, default_value = "1h", value_parser = prune_args::parse_duration)]
    pub min_age: std::time::Duration,

    /// List what would be deleted and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}
