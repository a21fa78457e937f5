//! `haven key ...` and the vault part of `haven init`: password enrollment and
//! recovery through the Backup Key Vault.

use std::process::ExitCode;

use clap::{Args, Subcommand};

#[derive(Args)]
pub struct VaultEnrollArgs {}

#[derive(Subcommand)]
pub enum KeyCommand {
    /// Print the 64-digit form of the local backup key.
    Show,
}

pub async fn run(_command: KeyCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not built yet")
}
