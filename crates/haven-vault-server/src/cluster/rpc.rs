//! The node-to-node listener: Raft RPCs, proposals forwarded by other nodes, and the
//! admin calls of `haven vault cluster`. Every request must carry a valid cluster
//! key MAC (see [`super::auth`]); clients of the vault API never reach it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};
use openraft::{BasicNode, ChangeMembers};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::auth::{ClusterKey, TIME_HEADER};
use super::status::{AddNode, InitRequest, RemoveNode};
use super::types::{Proposal, TypeConfig};
use super::{Cluster, ClusterError, Forward};

/// Reply of `POST /raft/propose`.
#[derive(Serialize, Deserialize)]
pub enum ForwardReply {
    /// The state machine's reply, sealed under the entry key.
    Applied {
        sealed: String,
    },
    Failed {
        message: String,
    },
}

#[derive(Clone)]
struct RpcState {
    cluster: Arc<Cluster>,
    key: Arc<ClusterKey>,
}

/// A rejected request: status and plain-text message.
struct RpcError(StatusCode, String);

impl IntoResponse for RpcError {
    fn into_response(self) -> Response {
        (self.0, self.1).into_response()
    }
}

/// Binds the listener and serves it in a background task.
// NOTE: plain HTTP only. Requests are MAC-authenticated and their record changes
// sealed, but sizes, timing and membership addresses are visible on the network.
pub async fn serve(cluster: Arc<Cluster>, key: Arc<ClusterKey>) -> Result<(), ClusterError> {
    let addr = cluster.config.raft_listen;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ClusterError::Listen { addr, source })?;
    let state = RpcState { cluster, key };
    let router = Router::new()
        .route("/raft/append", post(append))
        .route("/raft/vote", post(vote))
        .route("/raft/snapshot", post(snapshot))
        .route("/raft/propose", post(propose))
        .route("/raft/read-index", post(read_index))
        .route("/cluster/init", post(init))
        .route("/cluster/add-node", post(add_node))
        .route("/cluster/remove-node", post(remove_node))
        .route("/cluster/status", get(status))
        .layer(axum::extract::DefaultBodyLimit::max(256 * 1024 * 1024))
        .with_state(state);
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router).await {
            tracing::error!(%error, "the node-to-node listener failed");
        }
    });
    Ok(())
}

/// Verifies the MAC and decodes the JSON body.
fn authenticate<T: DeserializeOwned>(
    state: &RpcState,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, RpcError> {
    let text = |name| headers.get(name).and_then(|value| value.to_str().ok());
    if let Err(reason) = state.key.verify(
        uri.path(),
        text(TIME_HEADER),
        text(header::AUTHORIZATION.as_str()),
        body,
    ) {
        tracing::warn!(path = uri.path(), reason, "rejected a node-to-node request");
        return Err(RpcError(StatusCode::UNAUTHORIZED, reason.to_string()));
    }
    let body = if body.is_empty() {
        b"null".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|error| {
        RpcError(
            StatusCode::BAD_REQUEST,
            format!("invalid JSON body for {}: {error}", uri.path()),
        )
    })
}

async fn append(
    State(state): State<RpcState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, RpcError> {
    let request: AppendEntriesRequest<TypeConfig> = authenticate(&state, &uri, &headers, &body)?;
    Ok(Json(state.cluster.raft.append_entries(request).await).into_response())
}

async fn vote(
    State(state): State<RpcState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, RpcError> {
    let request: VoteRequest<u64> = authenticate(&state, &uri, &headers, &body)?;
    Ok(Json(state.cluster.raft.vote(request).await).into_response())
}

async fn snapshot(
    State(state): State<RpcState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, RpcError> {
    let request: InstallSnapshotRequest<TypeConfig> = authenticate(&state, &uri, &headers, &body)?;
    Ok(Json(state.cluster.raft.install_snapshot(request).await).into_response())
}

async fn propose(
    State(state): State<RpcState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ForwardReply>, RpcError> {
    let proposal: Proposal = authenticate(&state, &uri, &headers, &body)?;
    let cluster = &state.cluster;
    let reply = match cluster.propose_local(proposal).await {
        Ok(reply) => ForwardReply::Applied {
            sealed: cluster.seal_reply(&reply),
        },
        Err(Forward::To(leader_id, _)) => ForwardReply::Failed {
            message: format!(
                "node {} is no longer the leader (node {leader_id} is); retry on another \
                 vault node",
                cluster.node_id
            ),
        },
        Err(Forward::Fail(error)) => ForwardReply::Failed {
            message: error.to_string(),
        },
    };
    Ok(Json(reply))
}

async fn read_index(
    State(state): State<RpcState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Option<u64>>, RpcError> {
    let () = authenticate(&state, &uri, &headers, &body)?;
    match state.cluster.leader_read_index().await {
        Ok(index) => Ok(Json(index)),
        Err(Forward::To(leader_id, _)) => Err(RpcError(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("this node is not the leader; node {leader_id} is"),
        )),
        Err(Forward::Fail(error)) => {
            Err(RpcError(StatusCode::SERVICE_UNAVAILABLE, error.to_string()))
        }
    }
}

fn admin_error(error: impl std::fmt::Display) -> RpcError {
    RpcError(StatusCode::CONFLICT, error.to_string())
}

async fn init(
    State(state): State<RpcState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<()>, RpcError> {
    let request: InitRequest = authenticate(&state, &uri, &headers, &body)?;
    let members = if request.members.is_empty() {
        state.cluster.config.peers.clone()
    } else {
        request.members
    };
    if !members.contains_key(&state.cluster.node_id) {
        return Err(RpcError(
            StatusCode::BAD_REQUEST,
            format!(
                "the members {:?} do not include this node ({}); list every initial node",
                members.keys().collect::<Vec<_>>(),
                state.cluster.node_id
            ),
        ));
    }
    let nodes: BTreeMap<u64, BasicNode> = members
        .into_iter()
        .map(|(id, addr)| (id, BasicNode { addr }))
        .collect();
    state
        .cluster
        .raft
        .initialize(nodes)
        .await
        .map_err(admin_error)?;
    tracing::info!(node_id = state.cluster.node_id, "cluster initialised");
    Ok(Json(()))
}

async fn add_node(
    State(state): State<RpcState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<()>, RpcError> {
    let request: AddNode = authenticate(&state, &uri, &headers, &body)?;
    let raft = &state.cluster.raft;
    // A learner first receives the log (or a snapshot); it becomes a voter only
    // once it caught up, so adding it never stalls commits.
    raft.add_learner(
        request.id,
        BasicNode {
            addr: request.url.clone(),
        },
        true,
    )
    .await
    .map_err(admin_error)?;
    raft.change_membership(
        ChangeMembers::AddVoterIds(BTreeSet::from([request.id])),
        false,
    )
    .await
    .map_err(admin_error)?;
    tracing::info!(added = request.id, url = %request.url, "node added to the cluster");
    Ok(Json(()))
}

async fn remove_node(
    State(state): State<RpcState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<()>, RpcError> {
    let request: RemoveNode = authenticate(&state, &uri, &headers, &body)?;
    state
        .cluster
        .raft
        .change_membership(
            ChangeMembers::RemoveVoters(BTreeSet::from([request.id])),
            false,
        )
        .await
        .map_err(admin_error)?;
    tracing::info!(removed = request.id, "node removed from the cluster");
    Ok(Json(()))
}

async fn status(
    State(state): State<RpcState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<super::ClusterStatus>, RpcError> {
    let () = authenticate(&state, &uri, &headers, &body)?;
    Ok(Json(super::status::collect(&state.cluster)))
}
