//! `haven vault ...`: run, initialise and administer a Backup Key Vault.

mod cluster;
mod kek_args;
mod serve;
mod tenants;

use std::path::PathBuf;
use std::process::ExitCode;

use crate::common::outln;
use clap::{Args, Subcommand};

pub use kek_args::KekArgs;

#[derive(Subcommand)]
pub enum VaultCommand {
    /// Create a vault: new server secrets wrapped by the key-encryption key. Prints
    /// the public key fingerprint that clients pin.
    Init(InitArgs),
    /// Serve the vault's HTTP API.
    Serve(Box<serve::ServeArgs>),
    /// Set up and administer a vault replicated over several nodes with Raft.
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Mint a bearer token for one account (for self-hosters and tests).
    Token(tenants::TokenArgs),
    /// Generate a tenant signing key and add the tenant to a tenants file.
    TenantKey(tenants::TenantKeyArgs),
}

#[derive(Args)]
pub struct InitArgs {
    /// Folder for the vault's secrets file and records database.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Vault id: the `aud` of every token and the OPAQUE server identity. It cannot
    /// change later.
    #[arg(long, value_name = "ID")]
    vault_id: String,
    #[command(flatten)]
    kek: KekArgs,
}

pub async fn run(command: VaultCommand) -> anyhow::Result<ExitCode> {
    match command {
        VaultCommand::Init(args) => init(args),
        VaultCommand::Serve(args) => serve::run(*args).await,
        VaultCommand::Cluster(command) => cluster::run(command).await,
        VaultCommand::Token(args) => tenants::token(args),
        VaultCommand::TenantKey(args) => tenants::tenant_key(args),
    }
}

fn init(args: InitArgs) -> anyhow::Result<ExitCode> {
    let kek = args.kek.config()?;
    let fingerprint = haven_vault_server::init_vault(&args.data, &kek, &args.vault_id)?;
    outln!(
        "vault {} initialised in {}",
        args.vault_id,
        args.data.display()
    );
    outln!("fingerprint {fingerprint}");
    Ok(ExitCode::SUCCESS)
}
