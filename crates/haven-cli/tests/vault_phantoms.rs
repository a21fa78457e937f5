//! Phantom records (the guess counters of accounts without a record) expire when
//! unused, real records never do, and concurrent logins to one account each keep
//! their own session, all against a real vault process.

mod vault_support;

use std::time::{Duration, Instant};

use haven_crypto::BackupKey;
use haven_vault_server::RawRecords;
use vault_support::{Server, VaultDir};

/// Sends a login start for an account without a record, which writes a phantom.
fn touch_phantom(server: &Server, vault: &VaultDir, account: &str) {
    let (_, request) = haven_vault_proto::client::recover_start(b"any guess").unwrap();
    let reply = server.post(
        "/v1/recover/start",
        &vault.token(account),
        &to_json!(request),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// Waits until the metric reaches `want`, for at most 20 s.
fn wait_for_metric(server: &Server, name: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.metric(name) < want {
        assert!(Instant::now() < deadline, "{name} stayed below {want}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn unused_phantoms_expire_and_records_stay() {
    let vault = VaultDir::new();
    let server = vault.serve(&["--phantom-expiry", "2"]);
    let token = vault.token("alice");
    let key = BackupKey::generate();
    server.enroll(&token, "right horse", &key, 10);
    touch_phantom(&server, &vault, "ghost-1");
    touch_phantom(&server, &vault, "ghost-2");

    wait_for_metric(&server, "haven_vault_phantoms_expired_total", 2);
    // The real record, unused for longer than the expiry, still opens.
    assert_eq!(server.recover(&token, "right horse"), Ok(key));
    drop(server);
    let entries = RawRecords::open(&vault.path("data"))
        .unwrap()
        .entries()
        .unwrap();
    assert_eq!(entries.len(), 1, "only alice's record is left");
}

#[test]
fn used_phantom_is_kept() {
    let vault = VaultDir::new();
    let server = vault.serve(&["--phantom-expiry", "3"]);
    let started = Instant::now();
    // Used every 0.5 s for 5 s, the phantom never goes 3 s unused.
    while started.elapsed() < Duration::from_secs(5) {
        touch_phantom(&server, &vault, "ghost");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(server.metric("haven_vault_phantoms_expired_total"), 0);
    wait_for_metric(&server, "haven_vault_phantoms_expired_total", 1);
}

#[test]
fn expiry_zero_keeps_phantoms() {
    let vault = VaultDir::new();
    let server = vault.serve(&["--phantom-expiry", "0"]);
    touch_phantom(&server, &vault, "ghost");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(server.metric("haven_vault_phantoms_expired_total"), 0);
    drop(server);
    let entries = RawRecords::open(&vault.path("data"))
        .unwrap()
        .entries()
        .unwrap();
    assert_eq!(entries.len(), 1);
}

#[test]
fn concurrent_logins_to_one_account_succeed() {
    let vault = VaultDir::new();
    let server = vault.serve(&[]);
    let token = vault.token("carol");
    let key = BackupKey::generate();
    server.enroll(&token, "right horse", &key, 10);
    let barrier = std::sync::Barrier::new(4);
    let (server, token, barrier, key) = (&server, &token, &barrier, &key);
    std::thread::scope(|scope| {
        let logins: Vec<_> = (0..4)
            .map(|_| {
                scope.spawn(move || {
                    barrier.wait();
                    server.recover(token, "right horse")
                })
            })
            .collect();
        for login in logins {
            assert_eq!(login.join().unwrap().as_ref(), Ok(key));
        }
    });
    assert_eq!(server.metric("haven_vault_logins_succeeded_total"), 4);
    assert_eq!(server.status(token).guesses_remaining, 10);
}
