//! VaultClient against a real vault server run in this process on 127.0.0.1 with a
//! free port (the same server code as `haven vault serve`).

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use haven_crypto::BackupKey;
use haven_vault_auth::{generate_tenant_key, mint, SigningKey, TenantAlg, TenantsFile};
use haven_vault_client::{ClientError, ClientOptions, VaultClient};
use haven_vault_kek::KekConfig;
use haven_vault_server::{init_vault, ServerConfig, Vault};
use tokio::sync::oneshot;
use zeroize::Zeroizing;

const VAULT_ID: &str = "vault-client-tests";
const TENANT: &str = "acme";
const PASSWORD: &[u8] = b"correct horse battery staple";

/// A running vault and what a client needs to reach it. Stops on drop.
struct TestVault {
    _dir: tempfile::TempDir,
    url: String,
    fingerprint: String,
    signing_key: SigningKey,
    stop: Option<oneshot::Sender<()>>,
}

impl TestVault {
    async fn start(configure: impl FnOnce(&mut ServerConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let kek = KekConfig::KeyFile {
            path: dir.path().join("kek.key"),
        };
        let data = dir.path().join("data");
        let fingerprint = init_vault(&data, &kek, VAULT_ID).unwrap();
        let (signing_key, entry) = generate_tenant_key(TENANT, TenantAlg::EdDsa).unwrap();
        let mut tenants = TenantsFile::default();
        tenants.add(entry).unwrap();
        let tenants_path = dir.path().join("tenants.json");
        tenants.write_new(&tenants_path).unwrap();

        let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut config = ServerConfig::new(listen, data, tenants_path);
        // The test KSF everywhere, phantom replies included: Argon2id at version 1
        // takes tens of seconds in an unoptimized build.
        config.allow_insecure_test_ksf = true;
        config.ksf_version = 0;
        configure(&mut config);
        let vault = tokio::task::spawn_blocking(move || Vault::open(config, &kek))
            .await
            .unwrap()
            .unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let (ready, bound) = oneshot::channel();
        tokio::spawn(async move {
            let shutdown = async {
                let _ = stopped.await;
            };
            vault
                .serve(move |addr| ready.send(addr).unwrap(), shutdown)
                .await
                .unwrap();
        });
        let addr = bound.await.unwrap();
        Self {
            _dir: dir,
            url: format!("http://{addr}"),
            fingerprint,
            signing_key,
            stop: Some(stop),
        }
    }

    fn token(&self, account: &str) -> Zeroizing<String> {
        mint(
            TENANT,
            &self.signing_key,
            account,
            VAULT_ID,
            Duration::from_secs(600),
        )
        .unwrap()
    }

    /// A client for `account` at `urls`, pinned to `pin`, with the test KSF allowed.
    fn client_at(&self, urls: Vec<String>, account: &str, pin: Option<&str>) -> VaultClient {
        let mut options = ClientOptions::new(urls, self.token(account), pin.map(str::to_string));
        options.allow_insecure_ksf = true;
        VaultClient::with_options(options).unwrap()
    }

    fn client(&self, account: &str) -> VaultClient {
        self.client_at(vec![self.url.clone()], account, Some(&self.fingerprint))
    }
}

impl Drop for TestVault {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Returns a 127.0.0.1 URL on which nothing listens.
fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn assert_no_secret(error: &ClientError) {
    let text = format!("{error} {error:?}");
    assert!(
        !text.contains(std::str::from_utf8(PASSWORD).unwrap()),
        "{text}"
    );
}

#[tokio::test]
async fn enroll_then_recover_same_key() {
    let vault = TestVault::start(|_| {}).await;
    let client = vault.client("alice");
    let key = BackupKey::generate();
    let enrollment = client.enroll(PASSWORD, &key, Some(4)).await.unwrap();
    assert_eq!(enrollment.fingerprint, vault.fingerprint);
    assert_eq!(enrollment.vault_id, VAULT_ID);
    assert_eq!(enrollment.account, "alice");
    assert_eq!(enrollment.guess_limit, 4);
    assert_eq!(
        enrollment.ksf_version, 0,
        "the test KSF was offered and allowed"
    );

    assert_eq!(client.recover(PASSWORD).await.unwrap(), key);
    let status = client.status().await.unwrap();
    assert_eq!(status.guesses_remaining, 4);
    assert_eq!(status.guess_limit, 4);
}

#[tokio::test]
async fn connection_error_fails_over_to_next_node() {
    let vault = TestVault::start(|_| {}).await;
    let urls = vec![closed_port_url(), vault.url.clone()];
    let client = vault.client_at(urls, "bob", Some(&vault.fingerprint));
    let key = BackupKey::generate();
    client.enroll(PASSWORD, &key, None).await.unwrap();
    assert_eq!(client.recover(PASSWORD).await.unwrap(), key);
    assert_eq!(client.current_url(), vault.url);
}

#[tokio::test]
async fn all_nodes_down_reports_each() {
    let first = closed_port_url();
    let second = closed_port_url();
    let client = VaultClient::new(
        vec![first.clone(), second.clone()],
        Zeroizing::new("a.b.c".into()),
        None,
    )
    .unwrap();
    let error = client.info().await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, ClientError::Unavailable { .. }), "{text}");
    assert!(text.contains(first.trim_start_matches("http://")), "{text}");
    assert!(
        text.contains(second.trim_start_matches("http://")),
        "{text}"
    );
}

#[tokio::test]
async fn wrong_password_counts_then_record_gone() {
    let vault = TestVault::start(|_| {}).await;
    let client = vault.client("carol");
    client
        .enroll(PASSWORD, &BackupKey::generate(), Some(2))
        .await
        .unwrap();

    let first = client.recover(b"wrong password").await.unwrap_err();
    assert_no_secret(&first);
    assert!(
        matches!(
            first,
            ClientError::WrongPassword {
                guesses_remaining: 1
            }
        ),
        "{first:?}"
    );
    let last = client.recover(b"wrong password").await.unwrap_err();
    assert!(matches!(last, ClientError::RecordGone { .. }), "{last:?}");

    let after = client.recover(PASSWORD).await.unwrap_err();
    assert_no_secret(&after);
    assert!(
        !matches!(
            after,
            ClientError::Protocol { .. } | ClientError::Server { .. }
        ),
        "an erased record must look like a wrong password or a gone record: {after:?}"
    );
}

#[tokio::test]
async fn enroll_rejects_wrong_pin_naming_both() {
    let vault = TestVault::start(|_| {}).await;
    let wrong = "cd".repeat(32);
    let client = vault.client_at(vec![vault.url.clone()], "dave", Some(&wrong));
    let error = client
        .enroll(PASSWORD, &BackupKey::generate(), None)
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        matches!(error, ClientError::FingerprintMismatch { .. }),
        "{text}"
    );
    assert!(text.contains(&wrong), "{text}");
    assert!(text.contains(&vault.fingerprint), "{text}");

    // Nothing was uploaded, so the correctly pinned client finds no record.
    let pinned = vault.client("dave");
    let recover = pinned.recover(PASSWORD).await.unwrap_err();
    assert!(
        matches!(recover, ClientError::WrongPassword { .. }),
        "{recover:?}"
    );
}

#[tokio::test]
async fn recover_rejects_wrong_pin() {
    let vault = TestVault::start(|_| {}).await;
    vault
        .client("erin")
        .enroll(PASSWORD, &BackupKey::generate(), None)
        .await
        .unwrap();
    let wrong = "ef".repeat(32);
    let client = vault.client_at(vec![vault.url.clone()], "erin", Some(&wrong));
    let error = client.recover(PASSWORD).await.unwrap_err();
    assert!(
        matches!(error, ClientError::FingerprintMismatch { .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains(&vault.fingerprint));
}

#[tokio::test]
async fn remove_erases_record() {
    let vault = TestVault::start(|_| {}).await;
    let client = vault.client("frank");
    client
        .enroll(PASSWORD, &BackupKey::generate(), None)
        .await
        .unwrap();
    client.remove().await.unwrap();
    let error = client.recover(PASSWORD).await.unwrap_err();
    assert!(
        matches!(error, ClientError::WrongPassword { .. }),
        "{error:?}"
    );
    client.remove().await.expect("removing twice succeeds");
}

#[tokio::test]
async fn weak_ksf_rejected_unless_allowed() {
    let vault = TestVault::start(|_| {}).await;
    let options = ClientOptions::new(
        vec![vault.url.clone()],
        vault.token("grace"),
        Some(vault.fingerprint.clone()),
    );
    let client = VaultClient::with_options(options).unwrap();
    let error = client
        .enroll(PASSWORD, &BackupKey::generate(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ClientError::InsecureKsf { version: 0, .. }),
        "{error:?}"
    );
}
