//! Measures recoveries per second and their latency against an in-process vault on
//! 127.0.0.1: each recovery is a recover/start (one durable guess charge) and a
//! recover/finish with a null finalization (one more durable write), the server work
//! of a wrong-password attempt. Client-side OPAQUE work is precomputed once per
//! account, so the client spends its CPU on HTTP only.
//!
//! Run: `cargo run --release -p haven-vault-server --example recover_load -- [SECONDS]
//! [CONCURRENCY] [ACCOUNTS]` (defaults 10, 64, 1000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use haven_crypto::BackupKey;
use haven_vault_auth::{generate_tenant_key, mint, TenantAlg, TenantsFile};
use haven_vault_kek::KekConfig;
use haven_vault_proto::client::{enroll_finish, enroll_start, recover_start};
use haven_vault_proto::wire::{EnrollStartResponse, RecoverStartResponse};
use haven_vault_proto::KSF_TEST_INSECURE;
use haven_vault_server::{init_vault, Rate, ServerConfig, Vault};

struct Account {
    token: String,
    start_body: String,
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("numbers"))
        .collect();
    let seconds = args.first().copied().unwrap_or(10);
    let concurrency = args.get(1).copied().unwrap_or(64) as usize;
    let accounts = args.get(2).copied().unwrap_or(1000) as usize;

    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let kek = KekConfig::key_file(dir.path().join("kek.key"));
    init_vault(&dir.path().join("data"), &kek, "vault-load").unwrap();
    let (key, entry) = generate_tenant_key("load", TenantAlg::EdDsa).unwrap();
    let mut tenants = TenantsFile::default();
    tenants.add(entry).unwrap();
    tenants.write_new(&dir.path().join("tenants.json")).unwrap();

    let mut config = ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        dir.path().join("data"),
        dir.path().join("tenants.json"),
    );
    config.allow_insecure_test_ksf = true;
    config.max_guess_limit = 1_000_000;
    config.account_rate = Rate::OFF;
    config.address_rate = Rate::OFF;
    let vault = Vault::open(config, &kek).unwrap();
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(vault.serve(
        move |addr| ready_tx.send(addr).unwrap(),
        std::future::pending(),
    ));
    let base = format!("http://{}", ready_rx.await.unwrap());
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();

    eprintln!("enrolling {accounts} accounts");
    let mut prepared = Vec::with_capacity(accounts);
    for i in 0..accounts {
        let token = mint(
            "load",
            &key,
            &format!("user-{i}"),
            "vault-load",
            Duration::from_secs(3600),
        )
        .unwrap()
        .to_string();
        let (state, request) = enroll_start(b"pw").unwrap();
        let response: EnrollStartResponse = post(
            &http,
            &base,
            "/v1/enroll/start",
            &token,
            serde_json::to_string(&request).unwrap(),
        )
        .await;
        let upload = enroll_finish(
            state,
            b"pw",
            &response,
            "vault-load",
            KSF_TEST_INSECURE,
            &BackupKey::generate(),
            Some(1_000_000),
            None,
        )
        .unwrap();
        let _: serde_json::Value = post(
            &http,
            &base,
            "/v1/enroll/finish",
            &token,
            serde_json::to_string(&upload.request).unwrap(),
        )
        .await;
        let (_, request) = recover_start(b"guess").unwrap();
        prepared.push(Account {
            token,
            start_body: serde_json::to_string(&request).unwrap(),
        });
    }
    let prepared = Arc::new(prepared);

    eprintln!("running {concurrency} concurrent clients for {seconds} s");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (http, base, prepared) = (http.clone(), base.clone(), prepared.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = worker;
            while Instant::now() < deadline {
                let account = &prepared[i % prepared.len()];
                i += concurrency;
                let begin = Instant::now();
                let start: RecoverStartResponse = post(
                    &http,
                    &base,
                    "/v1/recover/start",
                    &account.token,
                    account.start_body.clone(),
                )
                .await;
                let finish =
                    serde_json::json!({"session": start.session, "credential_finalization": null});
                let reply = http
                    .post(format!("{base}/v1/recover/finish"))
                    .bearer_auth(&account.token)
                    .body(finish.to_string())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(reply.status(), 403);
                latencies.push(begin.elapsed());
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let metrics = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let metric = |name: &str| {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    println!(
        "{} recoveries in {elapsed:.1} s: {:.0} recoveries/s; latency p50 {:.2} ms, p99 {:.2} ms; mean group commit {:.1} changes",
        latencies.len(),
        latencies.len() as f64 / elapsed,
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
        metric("haven_vault_committed_commands_total") / metric("haven_vault_commits_total").max(1.0),
    );
}

async fn post<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    token: &str,
    body: String,
) -> T {
    let reply = http
        .post(format!("{base}{path}"))
        .bearer_auth(token)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = reply.status();
    let text = reply.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}
