//! `haven vault ...`: run, initialise and administer a Backup Key Vault.

use std::process::ExitCode;

use clap::Subcommand;

#[derive(Subcommand)]
pub enum VaultCommand {
    /// Serve the vault's HTTP API.
    Serve,
}

pub async fn run(_command: VaultCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
