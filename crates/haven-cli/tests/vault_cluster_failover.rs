//! Leader failures during a stream of logins from several clients: the cluster
//! elects a new leader within seconds, and every account's guess counter equals
//! exactly the number of KE2 replies its client received since its last verified
//! login. Clients retry a request with the same body (and so the same request id)
//! on another node when a reply is lost, as haven-vault-client does.

mod cluster_support;
mod vault_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use haven_crypto::BackupKey;
use haven_vault_proto::client::{recover_finish, recover_start, wrong_password_request};
use haven_vault_proto::wire::{RecoverFinishResponse, RecoverStartResponse};
use haven_vault_proto::ProtoError;

use cluster_support::{call_until, guesses_remaining, signal, ClusterDir};
use vault_support::{Server, VAULT_ID};

const CLIENTS: usize = 8;
const LOGINS_PER_CLIENT: usize = 32;
const GUESS_LIMIT: u32 = 1000;

fn guesses_used(ports: &[u16], token: &str) -> u32 {
    GUESS_LIMIT - guesses_remaining(ports, token)
}

/// One client's logins on its own account; returns the KE2 replies received since
/// the last verified login.
fn run_client(
    ports: Vec<u16>,
    token: String,
    password: String,
    key: BackupKey,
    progress: Arc<AtomicUsize>,
) -> u32 {
    let mut charged_since_verified = 0u32;
    for login in 0..LOGINS_PER_CLIENT {
        let right = login % 5 == 4;
        if right {
            // The verified login resets the counter, so check it first.
            assert_eq!(
                guesses_used(&ports, &token),
                charged_since_verified,
                "the counter differs from the KE2 replies received before login {login}"
            );
        }
        let guess = if right {
            password.as_str()
        } else {
            "wrong guess"
        };
        let (state, request) = recover_start(guess.as_bytes()).unwrap();
        let body = serde_json::to_string(&request).unwrap();
        let reply = call_until(&ports, "/v1/recover/start", &token, &body, &[200]);
        charged_since_verified += 1;
        let response: RecoverStartResponse = serde_json::from_str(&reply.body).unwrap();
        match recover_finish(state, guess.as_bytes(), &response, VAULT_ID, None) {
            Ok(progress) => {
                assert!(right, "a wrong guess verified");
                let body = serde_json::to_string(&progress.request).unwrap();
                let reply = call_until(&ports, "/v1/recover/finish", &token, &body, &[200, 403]);
                // A 403 for a verified login means an earlier copy of this finish,
                // whose reply was lost, consumed the session and reset the counter.
                if reply.status == 200 {
                    let released: RecoverFinishResponse =
                        serde_json::from_str(&reply.body).unwrap();
                    let opened = progress.open(&released).expect("released key opens");
                    assert_eq!(opened.secret().expose(), key.secret().expose());
                }
                charged_since_verified = 0;
            }
            Err(ProtoError::WrongPassword) => {
                assert!(!right, "the right password failed");
                let body = serde_json::to_string(&wrong_password_request(&response)).unwrap();
                call_until(&ports, "/v1/recover/finish", &token, &body, &[403]);
            }
            Err(other) => panic!("recovery failed: {other}"),
        }
        progress.fetch_add(1, Ordering::Relaxed);
    }
    charged_since_verified
}

/// Enrolls one account per client, runs the clients, calls `fault` with the
/// leader's id once a third of the logins are done, and checks the counters.
fn guess_stream_survives(fault: impl FnOnce(&ClusterDir, &mut [Option<Server>], u64)) {
    let cluster = ClusterDir::new(3);
    let mut servers = cluster.start_all();
    let ports: Vec<u16> = cluster.nodes.iter().map(|node| node.api_port).collect();
    let accounts: Vec<(String, String, BackupKey)> = (0..CLIENTS)
        .map(|i| {
            let token = cluster.token(&format!("user-{i}"));
            let password = format!("password {i}");
            let key = BackupKey::generate();
            servers[0]
                .as_ref()
                .unwrap()
                .enroll(&token, &password, &key, GUESS_LIMIT);
            (token, password, key)
        })
        .collect();

    let progress = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = accounts
        .iter()
        .map(|(token, password, key)| {
            let (ports, token, password) = (ports.clone(), token.clone(), password.clone());
            let key = BackupKey::from_bytes(*key.secret().expose());
            let progress = progress.clone();
            std::thread::spawn(move || run_client(ports, token, password, key, progress))
        })
        .collect();

    while progress.load(Ordering::Relaxed) < CLIENTS * LOGINS_PER_CLIENT / 3 {
        std::thread::sleep(Duration::from_millis(10));
    }
    let leader = cluster.wait_leader(&[1, 2, 3], Duration::from_secs(5));
    fault(&cluster, &mut servers, leader);

    let expected: Vec<u32> = clients
        .into_iter()
        .map(|client| client.join().expect("client thread"))
        .collect();
    for (i, (token, _, _)) in accounts.iter().enumerate() {
        assert_eq!(
            guesses_used(&ports, token),
            expected[i],
            "account user-{i}: the counter differs from the KE2 replies received"
        );
    }
}

#[test]
fn leader_kill_keeps_exact_counts() {
    guess_stream_survives(|_, servers, leader| {
        // Dropping the server sends SIGKILL and reaps the process.
        servers[(leader - 1) as usize].take();
    });
}

#[test]
fn leader_pause_keeps_exact_counts() {
    guess_stream_survives(|_, servers, leader| {
        let server = servers[(leader - 1) as usize].as_ref().unwrap();
        signal(server, "STOP");
        std::thread::sleep(Duration::from_secs(3));
        signal(server, "CONT");
    });
}

#[test]
fn client_library_fails_over() {
    let cluster = ClusterDir::new(3);
    let mut servers = cluster.start_all();
    let urls = cluster.api_urls();
    let token = cluster.token("alice");
    let key = BackupKey::generate();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let client = |pin: Option<String>| {
        let mut options = haven_vault_client::ClientOptions::new(
            urls.clone(),
            zeroize::Zeroizing::new(token.clone()),
            pin,
        );
        options.allow_insecure_ksf = true;
        haven_vault_client::VaultClient::with_options(options).unwrap()
    };
    let enrollment = runtime
        .block_on(client(None).enroll(b"correct horse", &key, Some(10)))
        .expect("enrollment");

    let leader = cluster.wait_leader(&[1, 2, 3], Duration::from_secs(5));
    servers[(leader - 1) as usize].take();
    let client = client(Some(enrollment.fingerprint.clone()));
    let error = runtime
        .block_on(client.recover(b"wrong horse"))
        .unwrap_err();
    assert!(
        matches!(
            error,
            haven_vault_client::ClientError::WrongPassword {
                guesses_remaining: 9
            }
        ),
        "{error}"
    );
    let recovered = runtime
        .block_on(client.recover(b"correct horse"))
        .expect("recovery through the remaining nodes");
    assert_eq!(recovered.secret().expose(), key.secret().expose());
    let status = runtime.block_on(client.status()).unwrap();
    assert_eq!(status.guesses_remaining, 10);
}
