//! `haven init`, `backup`, `snapshots`, `ls`, `restore` and `check`.

use std::process::ExitCode;

use clap::Args;

#[derive(Args)]
pub struct InitArgs {
    /// Vault enrollment options; with `--vault`, a password also opens the repository.
    #[command(flatten)]
    pub vault: crate::key_cmds::VaultEnrollArgs,
}

#[derive(Args)]
pub struct BackupArgs {}
#[derive(Args)]
pub struct SnapshotsArgs {}
#[derive(Args)]
pub struct LsArgs {}
#[derive(Args)]
pub struct RestoreArgs {}
#[derive(Args)]
pub struct CheckArgs {}

pub async fn init(_args: InitArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
pub async fn backup(_args: BackupArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
pub async fn snapshots(_args: SnapshotsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
pub async fn ls(_args: LsArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
pub async fn restore(_args: RestoreArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
pub async fn check(_args: CheckArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
