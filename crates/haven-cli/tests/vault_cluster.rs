//! A vault replicated over three node processes with Raft: a record enrolled
//! through one node is recovered through the others.

mod cluster_support;
mod vault_support;

use std::time::Duration;

use haven_crypto::BackupKey;

use cluster_support::{try_request, ClusterDir};

#[test]
fn enrolled_record_recovers_on_other_nodes() {
    let cluster = ClusterDir::new(3);
    let servers = cluster.start_all();
    let node = |id: usize| servers[id - 1].as_ref().expect("node running");
    let token = cluster.token("alice");
    let key = BackupKey::generate();

    node(1).enroll(&token, "correct horse", &key, 10);
    for id in [2, 3] {
        let recovered = node(id)
            .recover(&token, "correct horse")
            .unwrap_or_else(|remaining| panic!("node {id}: wrong password, {remaining} left"));
        assert_eq!(
            recovered.secret().expose(),
            key.secret().expose(),
            "node {id} released another key"
        );
    }

    // A wrong guess through node 3 is visible in the status read through node 2.
    assert_eq!(node(3).recover(&token, "wrong"), Err(9));
    assert_eq!(node(2).status(&token).guesses_remaining, 9);
    assert_eq!(node(1).status(&token).guesses_remaining, 9);
}

#[test]
fn cluster_status_lists_members() {
    let cluster = ClusterDir::new(3);
    let _servers = cluster.start_all();
    let leader = cluster.wait_leader(&[1, 2, 3], Duration::from_secs(10));
    let output = cluster.admin(leader, &["status"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains(&format!("leader {leader}")), "{text}");
    assert!(text.contains("term "), "{text}");
    for id in 1..=3 {
        assert!(text.contains(&format!("member {id} ")), "{text}");
    }
    assert!(text.contains("lag "), "{text}");
    let status = cluster.status(leader).expect("leader answers");
    assert_eq!(status.voters, 3);
}

#[test]
fn node_added_then_removed() {
    let cluster = ClusterDir::new(4);
    let mut servers: Vec<_> = (1..=3).map(|id| Some(cluster.start(id))).collect();
    let members: Vec<String> = (1..=3)
        .map(|id| format!("{id}={}", cluster.spec(id).raft_url()))
        .collect();
    let output = cluster.admin(1, &["init", "--members", &members.join(",")]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    cluster.wait_leader(&[1, 2, 3], Duration::from_secs(20));
    let token = cluster.token("alice");
    let key = BackupKey::generate();
    servers[0]
        .as_ref()
        .unwrap()
        .enroll(&token, "correct horse", &key, 10);

    servers.push(Some(cluster.start(4)));
    let url = cluster.spec(4).raft_url();
    let output = cluster.admin(2, &["add-node", "--id", "4", "--url", &url]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let leader = cluster.wait_leader(&[1, 2, 3, 4], Duration::from_secs(10));
    assert_eq!(cluster.status(leader).expect("leader status").voters, 4);
    let recovered = servers[3]
        .as_ref()
        .unwrap()
        .recover(&token, "correct horse")
        .expect("the new node serves the record");
    assert_eq!(recovered.secret().expose(), key.secret().expose());

    let output = cluster.admin(4, &["remove-node", "--id", "4"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let leader = cluster.wait_leader(&[1, 2, 3], Duration::from_secs(10));
    assert_eq!(cluster.status(leader).expect("leader status").voters, 3);
    let status = servers[0].as_ref().unwrap().status(&token);
    assert_eq!(status.guesses_remaining, 10);
}

#[test]
fn raft_listener_rejects_unsigned_requests() {
    let cluster = ClusterDir::new(3);
    let _servers = cluster.start_all();
    let raft_port = cluster.spec(1).raft_port;
    let wait = Duration::from_secs(5);
    for path in ["/raft/vote", "/raft/propose", "/cluster/init"] {
        let reply = try_request(raft_port, "POST", path, "00ff", "{}", wait).expect("reply");
        assert_eq!(reply.status, 401, "{path}: {}", reply.body);
    }
    let reply = try_request(raft_port, "GET", "/cluster/status", "00ff", "", wait).expect("reply");
    assert_eq!(reply.status, 401, "{}", reply.body);

    // The client API has no node-to-node routes.
    let api_port = cluster.spec(1).api_port;
    let reply = try_request(api_port, "POST", "/raft/vote", "x", "{}", wait).expect("reply");
    assert_eq!(reply.status, 404, "{}", reply.body);
}

#[test]
fn peers_without_this_node_rejected() {
    let cluster = ClusterDir::new(2);
    let output = vault_support::haven()
        .args([
            "vault",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--node-id",
            "3",
        ])
        .args(["--raft-listen", "127.0.0.1:0", "--peers", &cluster.peers()])
        .arg("--cluster-key")
        .arg(cluster.path("cluster.key"))
        .arg("--data")
        .arg(cluster.data(1))
        .arg("--kek-file")
        .arg(cluster.kek(1))
        .arg("--tenants")
        .arg(cluster.path("tenants.json"))
        .output()
        .expect("haven runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("--peers does not list this node (3)"),
        "{stderr}"
    );
}
