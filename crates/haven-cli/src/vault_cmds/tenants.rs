//! `haven vault token` and `haven vault tenant-key`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::common::outln;
use anyhow::Context;
use clap::Args;
use haven_vault_auth::{generate_tenant_key, mint, SigningKey, TenantAlg, TenantsFile};

#[derive(Args)]
pub struct TokenArgs {
    /// Tenant name (the token's `iss`).
    #[arg(long)]
    tenant: String,
    /// Account id (the token's `sub`).
    #[arg(long)]
    account: String,
    /// The tenant's signing key file, made by `haven vault tenant-key`.
    #[arg(long, value_name = "FILE")]
    tenant_key: PathBuf,
    /// Vault id (the token's `aud`).
    #[arg(long, value_name = "ID")]
    vault_id: String,
    /// Token lifetime in seconds, at most 86400.
    #[arg(long, value_name = "SECONDS", default_value_t = 3600)]
    lifetime: u64,
}

#[derive(Args)]
pub struct TenantKeyArgs {
    /// Tenant name (the `iss` of its tokens).
    #[arg(long)]
    tenant: String,
    /// Signature algorithm: EdDSA (the vault holds only the public key) or HS256
    /// (a shared secret, stored in the tenants file).
    #[arg(long, default_value = "EdDSA")]
    alg: TenantAlg,
    /// New file for the signing key (mode 0600); never overwritten.
    #[arg(long, value_name = "FILE")]
    key_out: PathBuf,
    /// Tenants file to add the tenant to; created (mode 0600) if missing.
    #[arg(long, value_name = "FILE")]
    tenants: PathBuf,
}

/// Tells the key file's algorithm from its text: a PKCS#8 PEM is EdDSA, base64 is HS256.
fn detect_alg(path: &Path) -> anyhow::Result<TenantAlg> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("failed to read the tenant key file {}", path.display()))?,
    );
    Ok(if text.contains("BEGIN PRIVATE KEY") {
        TenantAlg::EdDsa
    } else {
        TenantAlg::Hs256
    })
}

pub fn token(args: TokenArgs) -> anyhow::Result<ExitCode> {
    let alg = detect_alg(&args.tenant_key)?;
    let key = SigningKey::load(alg, &args.tenant_key)?;
    let token = mint(
        &args.tenant,
        &key,
        &args.account,
        &args.vault_id,
        Duration::from_secs(args.lifetime),
    )?;
    // Written straight from the zeroized buffer: no formatted copy of the token.
    crate::common::print_stdout(token.as_str())?;
    Ok(ExitCode::SUCCESS)
}

pub fn tenant_key(args: TenantKeyArgs) -> anyhow::Result<ExitCode> {
    let mut file = if args.tenants.exists() {
        TenantsFile::read(&args.tenants)?
    } else {
        TenantsFile::default()
    };
    let (key, entry) = generate_tenant_key(&args.tenant, args.alg)?;
    file.add(entry)?;
    key.save(&args.key_out)?;
    replace_tenants_file(&file, &args.tenants)?;
    outln!(
        "tenant {} ({}) added to {}; signing key in {}",
        args.tenant,
        args.alg,
        args.tenants.display(),
        args.key_out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes the tenants file to a new temporary file and renames it over the old one,
/// so a crash leaves either the old or the new file.
fn replace_tenants_file(file: &TenantsFile, path: &Path) -> anyhow::Result<()> {
    let name = path
        .file_name()
        .context("the tenants file path has no file name")?
        .to_string_lossy();
    let temporary = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    file.write_new(&temporary)?;
    std::fs::rename(&temporary, path).with_context(|| {
        format!(
            "failed to rename {} to {}",
            temporary.display(),
            path.display()
        )
    })?;
    Ok(())
}
