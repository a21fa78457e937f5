//! `haven vault cluster ...`: set up and administer a replicated vault.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use haven_vault_kek::KekConfig;
use haven_vault_server::cluster::{admin::Admin, ClusterKey, ClusterStatus, NodeId};
use haven_vault_server::copy_secrets;

use super::KekArgs;
use crate::common::outln;

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Write a new random cluster key (the key that authenticates node-to-node
    /// traffic) to a new file with mode 0600.
    NewKey(NewKeyArgs),
    /// Give a new node the vault's secrets, wrapped under the new node's own KEK.
    CopySecrets(CopySecretsArgs),
    /// Make the running nodes a cluster: the given node starts the first election
    /// with the initial members.
    Init(InitArgs),
    /// Add a running node to the cluster; it catches up from the log or a snapshot
    /// before it votes.
    AddNode(AddNodeArgs),
    /// Remove a node from the cluster.
    RemoveNode(RemoveNodeArgs),
    /// Print the leader, term, log indexes and the lag of each node.
    Status(StatusArgs),
}

#[derive(Args)]
pub struct NewKeyArgs {
    /// File to create; it must not exist.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
}

#[derive(Args)]
pub struct CopySecretsArgs {
    /// Data folder of an existing node (made by `haven vault init`).
    #[arg(long, value_name = "DIR")]
    from_data: PathBuf,
    /// Key file of the existing node's KEK.
    // NOTE: the source KEK can only be a key file, not a PKCS#11 token.
    #[arg(long, value_name = "FILE")]
    from_kek_file: PathBuf,
    /// Data folder of the new node.
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// The new node's KEK.
    #[command(flatten)]
    kek: KekArgs,
}

/// The node and the key for an admin call.
#[derive(Args)]
pub struct NodeArgs {
    /// Raft listener URL of a node, for example http://10.0.0.1:7001.
    #[arg(long, value_name = "URL")]
    node: String,
    /// File with the cluster key (64 hex digits).
    #[arg(long, value_name = "FILE")]
    cluster_key: PathBuf,
}

#[derive(Args)]
pub struct InitArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Initial members as ID=URL,ID=URL (Raft listener URLs); default: the node's
    /// own --peers.
    #[arg(long, value_name = "LIST", value_parser = parse_peers)]
    members: Option<BTreeMap<NodeId, String>>,
}

#[derive(Args)]
pub struct AddNodeArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Id of the node to add.
    #[arg(long, value_name = "N")]
    id: NodeId,
    /// Raft listener URL of the node to add.
    #[arg(long, value_name = "URL")]
    url: String,
}

#[derive(Args)]
pub struct RemoveNodeArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Id of the node to remove.
    #[arg(long, value_name = "N")]
    id: NodeId,
}

#[derive(Args)]
pub struct StatusArgs {
    #[command(flatten)]
    node: NodeArgs,
    /// Print the status as JSON.
    #[arg(long)]
    json: bool,
}

/// Parses `ID=URL,ID=URL` into a map from node id to URL.
pub fn parse_peers(text: &str) -> Result<BTreeMap<NodeId, String>, String> {
    let mut peers = BTreeMap::new();
    for item in text.split(',').filter(|item| !item.trim().is_empty()) {
        let (id, url) = item.split_once('=').ok_or_else(|| {
            format!("invalid peer {item:?}: write ID=URL, for example 1=http://10.0.0.1:7001")
        })?;
        let id: NodeId = id
            .trim()
            .parse()
            .map_err(|_| format!("invalid node id {id:?} in {item:?}: use a number"))?;
        let url = url.trim();
        if !url.starts_with("http://") && !url.starts_with("https://") {
            return Err(format!(
                "invalid URL {url:?} for node {id}: it must start with http:// or https://"
            ));
        }
        if peers.insert(id, url.to_string()).is_some() {
            return Err(format!("node id {id} appears twice in {text:?}"));
        }
    }
    if peers.is_empty() {
        return Err("the list of nodes is empty; write ID=URL,ID=URL".into());
    }
    Ok(peers)
}

pub async fn run(command: ClusterCommand) -> anyhow::Result<ExitCode> {
    match command {
        ClusterCommand::NewKey(args) => new_key(args),
        ClusterCommand::CopySecrets(args) => copy(args),
        ClusterCommand::Init(args) => {
            let admin = Admin::new(&args.node.cluster_key)?;
            admin
                .init(&args.node.node, args.members.unwrap_or_default())
                .await
                .context("cluster init failed")?;
            outln!("cluster initialised through {}", args.node.node);
            Ok(ExitCode::SUCCESS)
        }
        ClusterCommand::AddNode(args) => {
            let admin = Admin::new(&args.node.cluster_key)?;
            let leader = leader_url(&admin, &args.node.node).await?;
            admin
                .add_node(&leader, args.id, &args.url)
                .await
                .with_context(|| {
                    format!("adding node {} through the leader {leader} failed", args.id)
                })?;
            outln!("node {} added", args.id);
            Ok(ExitCode::SUCCESS)
        }
        ClusterCommand::RemoveNode(args) => {
            let admin = Admin::new(&args.node.cluster_key)?;
            let leader = leader_url(&admin, &args.node.node).await?;
            admin.remove_node(&leader, args.id).await.with_context(|| {
                format!(
                    "removing node {} through the leader {leader} failed",
                    args.id
                )
            })?;
            outln!("node {} removed", args.id);
            Ok(ExitCode::SUCCESS)
        }
        ClusterCommand::Status(args) => {
            let admin = Admin::new(&args.node.cluster_key)?;
            let status = admin.status(&args.node.node).await?;
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_status(&status)?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Returns the Raft listener URL of the leader, as reported by the node at `node_url`.
async fn leader_url(admin: &Admin, node_url: &str) -> anyhow::Result<String> {
    let status = admin.status(node_url).await?;
    let leader = status.leader.with_context(|| {
        format!("the node at {node_url} knows no leader; wait for the election or init the cluster")
    })?;
    status
        .members
        .iter()
        .find(|member| member.id == leader)
        .map(|member| member.url.clone())
        .with_context(|| format!("the leader, node {leader}, is missing from the membership"))
}

fn print_status(status: &ClusterStatus) -> anyhow::Result<()> {
    let index = |value: Option<u64>| value.map_or("-".to_string(), |index| index.to_string());
    outln!("node {} ({})", status.node_id, status.state);
    outln!(
        "leader {}",
        status
            .leader
            .map_or("none".to_string(), |id| id.to_string())
    );
    outln!("term {}", status.term);
    outln!(
        "log last {} applied {} snapshot {} purged {}",
        index(status.last_log_index),
        index(status.applied_index),
        index(status.snapshot_index),
        index(status.purged_index)
    );
    for member in &status.members {
        outln!(
            "member {} {} {} matched {} lag {}",
            member.id,
            member.url,
            if member.voter { "voter" } else { "learner" },
            index(member.matched_index),
            index(member.lag)
        );
    }
    Ok(())
}

fn new_key(args: NewKeyArgs) -> anyhow::Result<ExitCode> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let key = ClusterKey::generate_hex();
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.out)
        .with_context(|| format!("cannot create the cluster key file {}", args.out.display()))?;
    file.write_all(format!("{}\n", key.as_str()).as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    outln!("cluster key written to {}", args.out.display());
    Ok(ExitCode::SUCCESS)
}

fn copy(args: CopySecretsArgs) -> anyhow::Result<ExitCode> {
    let from_kek = KekConfig::key_file(&args.from_kek_file);
    let to_kek = args.kek.config()?;
    let fingerprint = copy_secrets(&args.from_data, &from_kek, &args.data, &to_kek)?;
    outln!(
        "vault secrets copied from {} to {}",
        args.from_data.display(),
        args.data.display()
    );
    outln!("fingerprint {fingerprint}");
    Ok(ExitCode::SUCCESS)
}
