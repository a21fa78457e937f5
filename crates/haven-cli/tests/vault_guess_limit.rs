//! Guess counting against a real vault process: erasure at the limit, reset on a
//! verified login, guesses charged by clients that stop after KE2, and atomic
//! counting under concurrency.

mod vault_support;

use haven_crypto::BackupKey;
use vault_support::VaultDir;

#[test]
fn ten_wrong_passwords_erase_record() {
    let vault = VaultDir::new();
    let server = vault.serve(&[]);
    let token = vault.token("alice");
    let key = BackupKey::generate();
    server.enroll(&token, "right horse", &key, 10);
    for expected in (0..10).rev() {
        assert_eq!(server.recover(&token, "wrong horse"), Err(expected));
    }
    assert_eq!(server.metric("haven_vault_records_erased_total"), 1);
    // The 11th attempt finds no record: even the right password fails.
    assert!(server.recover(&token, "right horse").is_err());
    assert_eq!(server.metric("haven_vault_logins_succeeded_total"), 0);
}

#[test]
fn right_password_after_nine_wrong_resets_count() {
    let vault = VaultDir::new();
    let server = vault.serve(&[]);
    let token = vault.token("bob");
    let key = BackupKey::generate();
    server.enroll(&token, "right horse", &key, 10);
    for expected in (1..10).rev() {
        assert_eq!(server.recover(&token, "wrong horse"), Err(expected));
    }
    assert_eq!(server.status(&token).guesses_remaining, 1);
    assert_eq!(server.recover(&token, "right horse"), Ok(key.clone()));
    let status = server.status(&token);
    assert_eq!(status.guesses_remaining, 10);
    assert_eq!(status.guess_limit, 10);
    assert_eq!(server.recover(&token, "wrong horse"), Err(9));
    assert_eq!(server.recover(&token, "right horse"), Ok(key));
}

#[test]
fn thousand_dropped_sessions_charge_thousand_guesses() {
    let vault = VaultDir::new();
    let server = vault.serve(&[]);
    let token = vault.token("carol");
    server.enroll(&token, "right horse", &BackupKey::generate(), 2000);
    // One KE1 serves every start: the vault charges per start, whatever the
    // message, and reusing it keeps the client's share of the test time small.
    // Each start has its own request id; a repeated id would be one start.
    let (_, request) = haven_vault_proto::client::recover_start(b"any guess").unwrap();
    let server = &server;
    let token = &token;
    let request = &request;
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(move || {
                for _ in 0..125 {
                    let mut request = request.clone();
                    let mut request_id = vec![0u8; 16];
                    haven_crypto::random_bytes(&mut request_id);
                    request.request_id = Some(haven_vault_proto::wire::Bytes(request_id));
                    let body = to_json!(request);
                    // The client stops after KE2: no recover/finish.
                    let reply = server.post("/v1/recover/start", token, &body);
                    assert_eq!(reply.status, 200, "{}", reply.body);
                }
            });
        }
    });
    assert_eq!(server.status(token).guesses_remaining, 1000);
    assert_eq!(server.metric("haven_vault_guesses_charged_total"), 1000);
}

#[test]
fn concurrent_wrong_guesses_with_one_left_charge_once() {
    let vault = VaultDir::new();
    let server = vault.serve(&[]);
    let token = vault.token("dave");
    server.enroll(&token, "right horse", &BackupKey::generate(), 10);
    for expected in (1..10).rev() {
        assert_eq!(server.recover(&token, "wrong horse"), Err(expected));
    }
    let charged_before = server.metric("haven_vault_guesses_charged_total");
    assert_eq!(charged_before, 9);
    let barrier = std::sync::Barrier::new(200);
    let server = &server;
    let token = &token;
    let barrier = &barrier;
    std::thread::scope(|scope| {
        for _ in 0..200 {
            scope.spawn(move || {
                barrier.wait();
                assert!(server.recover(token, "wrong horse").is_err());
            });
        }
    });
    assert_eq!(
        server.metric("haven_vault_guesses_charged_total"),
        charged_before + 1
    );
    assert_eq!(server.metric("haven_vault_records_erased_total"), 1);
    assert!(server.recover(token, "right horse").is_err());
}
