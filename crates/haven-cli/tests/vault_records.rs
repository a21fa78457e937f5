//! Sealed records on disk: a record edited in place, or copied under another
//! account, is rejected and logged, and the vault keeps serving.

mod vault_support;

use haven_crypto::BackupKey;
use haven_vault_server::RawRecords;
use vault_support::VaultDir;

#[test]
fn edited_and_copied_records_rejected() {
    let vault = VaultDir::new();
    let alice = vault.token("alice");
    let bob = vault.token("bob");
    let carol = vault.token("carol");

    let server = vault.serve(&[]);
    server.enroll(&alice, "alice pw", &BackupKey::generate(), 10);
    drop(server);
    let records = RawRecords::open(&vault.path("data")).unwrap();
    let alice_entries = records.entries().unwrap();
    assert_eq!(alice_entries.len(), 1);
    let (alice_key, alice_value) = alice_entries[0].clone();
    drop(records);

    let server = vault.serve(&[]);
    server.enroll(&bob, "bob pw", &BackupKey::generate(), 10);
    let carol_key = BackupKey::generate();
    server.enroll(&carol, "carol pw", &carol_key, 10);
    drop(server);

    let records = RawRecords::open(&vault.path("data")).unwrap();
    let entries = records.entries().unwrap();
    assert_eq!(entries.len(), 3);
    // Find bob's entry: enroll bob again later would change it, so take the one
    // that is neither alice's nor opens for carol (checked below by the replies).
    let others: Vec<_> = entries
        .iter()
        .filter(|(key, _)| key != &alice_key)
        .collect();
    // Copy alice's sealed record over both other accounts' entries, and flip one
    // byte of alice's own record.
    for (key, _) in &others {
        records.put(key, &alice_value).unwrap();
    }
    let mut edited = alice_value.clone();
    let middle = edited.len() / 2;
    edited[middle] ^= 0x01;
    records.put(&alice_key, &edited).unwrap();
    drop(records);

    let server = vault.serve(&[]);
    for (name, token) in [("alice", &alice), ("bob", &bob), ("carol", &carol)] {
        let (_, request) = haven_vault_proto::client::recover_start(b"guess").unwrap();
        let reply = server.post("/v1/recover/start", token, &to_json!(request));
        assert_eq!(reply.status, 500, "{name}: {}", reply.body);
        assert_eq!(reply.error().error, "record_damaged", "{name}");
        let status = server.get("/v1/record", Some(token));
        assert_eq!(status.status, 500, "{name}: {}", status.body);
    }
    assert!(server.metric("haven_vault_records_damaged_total") >= 3);
    assert_eq!(server.get("/healthz", None).status, 200);

    // Enrolling again replaces the damaged record.
    server.enroll(&carol, "carol pw", &carol_key, 10);
    assert_eq!(server.recover(&carol, "carol pw"), Ok(carol_key));
    drop(server);

    let logs = vault.logs();
    let rejections = logs.matches("failed authentication").count();
    assert!(rejections >= 3, "expected logged rejections, log:\n{logs}");
}
