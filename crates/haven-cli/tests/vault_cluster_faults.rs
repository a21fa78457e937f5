//! Node failures in a vault cluster: a minority down, a majority down (logins fail
//! closed), and a node restarted from an old copy of its data folder.

mod cluster_support;
mod vault_support;

use std::time::Duration;

use haven_crypto::BackupKey;
use haven_vault_proto::client::recover_start;

use cluster_support::{call_until, guesses_remaining, try_request, ClusterDir};

const GUESS_LIMIT: u32 = 100;

/// Runs a wrong-password login through any of `ports`; returns after its finish.
fn wrong_guess(ports: &[u16], token: &str) {
    let (_, request) = recover_start(b"wrong").unwrap();
    let body = serde_json::to_string(&request).unwrap();
    let reply = call_until(ports, "/v1/recover/start", token, &body, &[200]);
    let response: haven_vault_proto::wire::RecoverStartResponse =
        serde_json::from_str(&reply.body).unwrap();
    let finish = haven_vault_proto::client::wrong_password_request(&response);
    let body = serde_json::to_string(&finish).unwrap();
    call_until(ports, "/v1/recover/finish", token, &body, &[403]);
}

#[test]
fn majority_loss_fails_closed() {
    let cluster = ClusterDir::new(5);
    let mut servers = cluster.start_all();
    let token = cluster.token("alice");
    let key = BackupKey::generate();
    servers[0]
        .as_ref()
        .unwrap()
        .enroll(&token, "correct horse", &key, GUESS_LIMIT);
    let mut acknowledged = 0;

    // Two nodes down, the leader among them: a new leader takes over.
    let leader = cluster.wait_leader(&[1, 2, 3, 4, 5], Duration::from_secs(5));
    let follower = (1..=5).find(|id| *id != leader).unwrap();
    for id in [leader, follower] {
        servers[(id - 1) as usize].take();
    }
    let alive: Vec<u64> = (1..=5)
        .filter(|id| servers[(*id - 1) as usize].is_some())
        .collect();
    let ports: Vec<u16> = alive.iter().map(|id| cluster.spec(*id).api_port).collect();
    for _ in 0..3 {
        wrong_guess(&ports, &token);
        acknowledged += 1;
    }
    assert_eq!(
        guesses_remaining(&ports, &token),
        GUESS_LIMIT - acknowledged
    );

    // A third node down: no majority, so every login start fails with 503.
    servers[(alive[0] - 1) as usize].take();
    let alive = &alive[1..];
    let mut rejected = 0;
    for id in alive {
        let port = cluster.spec(*id).api_port;
        let (_, request) = recover_start(b"correct horse").unwrap();
        let body = serde_json::to_string(&request).unwrap();
        let reply = try_request(
            port,
            "POST",
            "/v1/recover/start",
            &token,
            &body,
            Duration::from_secs(15),
        )
        .unwrap_or_else(|| panic!("node {id} gave no reply without a majority"));
        assert_eq!(reply.status, 503, "node {id}: {}", reply.body);
        let error = reply.error();
        assert_eq!(error.error, "unavailable", "node {id}");
        // A node that still follows the stopped leader names that leader. A node
        // that lost the leader reports that no majority or no leader is reachable.
        assert!(
            error.message.contains("majority") || error.message.contains("leader"),
            "node {id}: {}",
            error.message
        );
        rejected += 1;
    }
    let record = try_request(
        cluster.spec(alive[0]).api_port,
        "GET",
        "/v1/record",
        &token,
        "",
        Duration::from_secs(15),
    )
    .expect("status reply");
    assert_eq!(
        record.status, 503,
        "a status read without a majority: {}",
        record.body
    );

    // Every node back: nothing acknowledged is lost, and the password works.
    for id in 1..=5u64 {
        if servers[(id - 1) as usize].is_none() {
            servers[(id - 1) as usize] = Some(cluster.start(id));
        }
    }
    let all: Vec<u16> = cluster.nodes.iter().map(|node| node.api_port).collect();
    let used = GUESS_LIMIT - guesses_remaining(&all, &token);
    // A rejected start may still commit later, from the log of the node that
    // proposed it; it never commits twice.
    assert!(
        (acknowledged..=acknowledged + rejected).contains(&used),
        "{used} guesses used, {acknowledged} acknowledged, {rejected} rejected"
    );
    let recovered = servers[0]
        .as_ref()
        .unwrap()
        .recover(&token, "correct horse")
        .expect("the right password still works");
    assert_eq!(recovered.secret().expose(), key.secret().expose());
}

#[test]
fn rolled_back_node_catches_up() {
    let mut cluster = ClusterDir::new(3);
    cluster.snapshot_every = 10;
    let mut servers = cluster.start_all();
    let token = cluster.token("alice");
    let key = BackupKey::generate();
    servers[0]
        .as_ref()
        .unwrap()
        .enroll(&token, "correct horse", &key, GUESS_LIMIT);
    let all: Vec<u16> = cluster.nodes.iter().map(|node| node.api_port).collect();
    for _ in 0..5 {
        wrong_guess(&all, &token);
    }

    // Keep a copy of node 3's data folder as it is now.
    servers[2].take();
    let old = cluster.path("node-3/data-old");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(cluster.data(3))
        .arg(&old)
        .status()
        .expect("cp runs");
    assert!(copied.success());
    servers[2] = Some(cluster.start(3));

    // Enough changes for several snapshots, so the old copy's log is purged
    // everywhere else and node 3 needs a snapshot.
    for _ in 0..30 {
        wrong_guess(&all, &token);
    }
    let leader = cluster.wait_leader(&[1, 2, 3], Duration::from_secs(5));
    let leader_applied = cluster
        .status(leader)
        .and_then(|status| status.applied_index)
        .expect("leader applied index");
    assert!(
        cluster
            .status(leader)
            .and_then(|status| status.snapshot_index)
            .is_some(),
        "the leader built no snapshot"
    );

    // Node 3 restarts from the old copy.
    servers[2].take();
    std::fs::remove_dir_all(cluster.data(3)).unwrap();
    std::fs::rename(&old, cluster.data(3)).unwrap();
    servers[2] = Some(cluster.start(3));
    cluster.wait_applied(3, leader_applied, Duration::from_secs(20));
    let log = std::fs::read_to_string(&servers[2].as_ref().unwrap().log_path).unwrap();
    assert!(
        log.contains("installed a snapshot from the leader"),
        "node 3 caught up without a snapshot:\n{log}"
    );

    let node3 = [cluster.spec(3).api_port];
    assert_eq!(guesses_remaining(&node3, &token), GUESS_LIMIT - 35);
    wrong_guess(&node3, &token);
    assert_eq!(guesses_remaining(&all, &token), GUESS_LIMIT - 36);
    let recovered = servers[2]
        .as_ref()
        .unwrap()
        .recover(&token, "correct horse")
        .expect("the right password works through node 3");
    assert_eq!(recovered.secret().expose(), key.secret().expose());
}
