//! `haven-vault-bench`: a load generator for a Backup Key Vault running on this
//! machine. It enrolls a set of accounts, then runs full recoveries from many
//! concurrent clients and prints recoveries per second and p50/p99 latency.
//!
//! The client side memoizes OPAQUE's Argon2id step per account (see `suite.rs`), so
//! one recovery costs the client only a few elliptic-curve operations. The server
//! does its full work: `recover/start` (OPRF evaluation, durable guess charge, KE2)
//! and `recover/finish` (KE3 check, counter reset, key release).

mod flow;
mod stats;
mod suite;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use haven_crypto::BackupKey;
use reqwest::Url;
use zeroize::Zeroizing;

use flow::{Account, Vault};

#[derive(Parser)]
#[command(name = "haven-vault-bench", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Enroll accounts, then run concurrent recoveries and report throughput and latency.
    Run(RunArgs),
    /// Time the client's Argon2id key stretching at a parameter version.
    Ksf {
        /// Number of evaluations to time.
        #[arg(long, default_value_t = 5)]
        rounds: u32,
        /// KSF parameter version (1 is the default for new records).
        #[arg(long, default_value_t = 1)]
        version: u32,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Vault base URL; only loopback addresses (127.0.0.1, ::1, localhost) are
    /// accepted. Repeat it for each node of a cluster: client k sends first to URL
    /// k modulo the URL count and moves on to the next URL after a connection error
    /// or a 503.
    #[arg(long = "url", required = true)]
    urls: Vec<String>,
    /// Tenant name the tokens are minted for (the JWT `iss`).
    #[arg(long)]
    tenant: String,
    /// The tenant's signing key file, as written by `haven vault init`.
    #[arg(long)]
    tenant_key: PathBuf,
    /// The tenant's signature algorithm: HS256 or EdDSA.
    #[arg(long, default_value = "EdDSA")]
    tenant_alg: haven_vault_auth::TenantAlg,
    /// Number of accounts enrolled before the run, at least --concurrency; each costs
    /// one Argon2id evaluation.
    #[arg(long, default_value_t = 32)]
    accounts: u32,
    /// Number of concurrent clients.
    #[arg(long, default_value_t = 16)]
    concurrency: u32,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Stop after this many recoveries in total.
    #[arg(long, default_value_t = 1_000_000)]
    count: u64,
    /// Prefix of the bench account names, so a run does not touch real accounts.
    #[arg(long, default_value = "bench-")]
    account_prefix: String,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Ksf { rounds, version } => time_ksf(rounds, version),
        Command::Run(args) => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?
            .block_on(run(args)),
    }
}

fn time_ksf(rounds: u32, version: u32) -> anyhow::Result<()> {
    use opaque_ke::generic_array::{typenum::U64, GenericArray};
    use opaque_ke::ksf::Ksf;
    let params = haven_vault_proto::KsfParams::from_version(version)?;
    let argon2 = params.argon2();
    let input = GenericArray::<u8, U64>::default();
    let mut samples = Vec::new();
    for _ in 0..rounds.max(1) {
        let started = Instant::now();
        argon2
            .hash(input)
            .map_err(|e| anyhow::anyhow!("Argon2id failed: {e:?}"))?;
        samples.push(started.elapsed());
    }
    samples.sort();
    println!(
        "KSF version {version} (Argon2id m={} KiB t={} p={}): {} evaluations, \
         median {:.1} ms, max {:.1} ms",
        params.memory_kib,
        params.iterations,
        params.parallelism,
        samples.len(),
        ms(stats::percentile(&samples, 0.5)),
        ms(*samples.last().expect("at least one sample")),
    );
    Ok(())
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let bases = args
        .urls
        .iter()
        .map(|url| loopback_url(url))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(args.concurrency as usize)
        .build()?;
    let info = fetch_info(&client, &bases[0]).await?;
    suite::set_ksf_version(info.ksf_version);
    let vault = Arc::new(Vault {
        client,
        bases,
        vault_id: info.vault_id.clone(),
        retries: Arc::new(AtomicU64::new(0)),
    });
    let signing_key = haven_vault_auth::SigningKey::load(args.tenant_alg, &args.tenant_key)
        .with_context(|| format!("cannot load the tenant key {}", args.tenant_key.display()))?;

    if args.accounts < args.concurrency.max(1) {
        bail!(
            "--accounts {} is below --concurrency {}: give every client its own accounts, \
             so that the run measures independent recoveries",
            args.accounts,
            args.concurrency
        );
    }
    let enroll_started = Instant::now();
    let accounts = enroll_all(&vault, &args, &signing_key, &info.vault_id).await?;
    println!(
        "enrolled {} accounts in {:.1} s (one Argon2id evaluation each, KSF version {})",
        accounts.len(),
        enroll_started.elapsed().as_secs_f64(),
        info.ksf_version
    );

    let accounts = Arc::new(accounts);
    let issued = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for worker in 0..args.concurrency.max(1) {
        let (vault, accounts, issued, errors) = (
            vault.starting_at(worker as usize),
            accounts.clone(),
            issued.clone(),
            errors.clone(),
        );
        let count = args.count;
        let concurrency = args.concurrency as usize;
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= count || Instant::now() >= deadline {
                    break;
                }
                // Worker w uses accounts w, w + c, w + 2c, ... (c = concurrency), so no
                // two workers log in to the same account at once.
                let own = (accounts.len() - worker as usize).div_ceil(concurrency);
                let round = (n as usize / concurrency) % own;
                let account = &accounts[worker as usize + round * concurrency];
                let begun = Instant::now();
                match flow::recover(&vault, account).await {
                    Ok(()) => latencies.push(begun.elapsed()),
                    Err(error) => {
                        // Print the first few failures; count the rest.
                        if errors.fetch_add(1, Ordering::Relaxed) < 5 {
                            eprintln!("recovery failed: {error:#}");
                        }
                    }
                }
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await?);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let errors = errors.load(Ordering::Relaxed);
    println!(
        "recoveries: {} ok, {errors} failed in {:.2} s with {} clients over {} accounts",
        latencies.len(),
        elapsed.as_secs_f64(),
        args.concurrency,
        accounts.len()
    );
    println!(
        "retries: {} requests sent again to another node",
        vault.retries.load(Ordering::Relaxed)
    );
    println!(
        "throughput: {:.0} recoveries/s; latency p50 {:.2} ms, p99 {:.2} ms",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        ms(stats::percentile(&latencies, 0.5)),
        ms(stats::percentile(&latencies, 0.99)),
    );
    if latencies.is_empty() {
        bail!("no recovery succeeded");
    }
    Ok(())
}

/// Enrolls the bench accounts, as many at a time as there are CPUs, because each
/// enrollment spends one Argon2id evaluation on the client.
async fn enroll_all(
    vault: &Arc<Vault>,
    args: &RunArgs,
    signing_key: &haven_vault_auth::SigningKey,
    vault_id: &str,
) -> anyhow::Result<Vec<Account>> {
    let parallel = std::thread::available_parallelism().map_or(1, |n| n.get());
    let permits = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::new();
    for i in 0..args.accounts {
        let name = format!("{}{i}", args.account_prefix);
        let token = haven_vault_auth::mint(
            &args.tenant,
            signing_key,
            &name,
            vault_id,
            Duration::from_secs(3600),
        )
        .context("minting a bench token failed")?;
        let mut password = Zeroizing::new(vec![0u8; 16]);
        haven_crypto::random_bytes(&mut password);
        let account = Account {
            token,
            password,
            backup_key: BackupKey::generate(),
        };
        let (vault, permits) = (vault.clone(), permits.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = permits.acquire().await?;
            flow::enroll(&vault, &account)
                .await
                .with_context(|| format!("enrolling {name} failed"))?;
            anyhow::Ok(account)
        }));
    }
    let mut accounts = Vec::new();
    for task in tasks {
        accounts.push(task.await??);
    }
    Ok(accounts)
}

async fn fetch_info(
    client: &reqwest::Client,
    base: &Url,
) -> anyhow::Result<haven_vault_proto::wire::InfoResponse> {
    let url = base.join("v1/info")?;
    client
        .get(url.clone())
        .send()
        .await
        .with_context(|| format!("GET {url} failed; is the vault running?"))?
        .json()
        .await
        .with_context(|| format!("GET {url} returned invalid JSON"))
}

/// Parses `text` and rejects any host other than a loopback address.
fn loopback_url(text: &str) -> anyhow::Result<Url> {
    let mut url = Url::parse(text).with_context(|| format!("invalid URL {text:?}"))?;
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    if !loopback {
        bail!(
            "invalid URL {text:?}: the bench only targets a vault on 127.0.0.1, ::1 or localhost"
        );
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
