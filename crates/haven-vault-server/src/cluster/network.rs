//! Node-to-node HTTP: the client side of the Raft RPCs, forwarded proposals and
//! admin calls, all signed with the cluster key (see [`super::auth`]).

use std::sync::Arc;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::auth::{ClusterKey, TIME_HEADER};
use super::types::{NodeId, TypeConfig};

/// Failure of one node-to-node request.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// No connection could be made.
    #[error("cannot connect to {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The connection was made but the request failed or its reply did not parse.
    #[error("request to {url} failed: {reason}")]
    Failed { url: String, reason: String },
}

/// A signed HTTP client for the Raft listeners of other nodes.
pub struct PeerHttp {
    http: reqwest::Client,
    key: Arc<ClusterKey>,
}

impl PeerHttp {
    pub fn new(key: Arc<ClusterKey>) -> Self {
        // reqwest is built without a default rustls provider; another part of the
        // process may have installed one already, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("an HTTP client with default TLS settings builds");
        Self { http, key }
    }

    /// Sends `body` as JSON to `base` + `path` and decodes the JSON reply.
    pub async fn post<Req: Serialize, Resp: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        body: &Req,
        timeout: Duration,
    ) -> Result<Resp, PeerError> {
        let bytes = serde_json::to_vec(body).expect("request serializes");
        self.send(reqwest::Method::POST, base, path, bytes, timeout)
            .await
    }

    pub async fn get<Resp: DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        timeout: Duration,
    ) -> Result<Resp, PeerError> {
        self.send(reqwest::Method::GET, base, path, Vec::new(), timeout)
            .await
    }

    async fn send<Resp: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        base: &str,
        path: &str,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<Resp, PeerError> {
        let url = format!("{}{path}", base.trim_end_matches('/'));
        let (time, bearer) = self.key.sign(path, &body);
        let failed = |reason: String| PeerError::Failed {
            url: url.clone(),
            reason,
        };
        let response = self
            .http
            .request(method, &url)
            .header(TIME_HEADER, time)
            .header(reqwest::header::AUTHORIZATION, bearer)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .timeout(timeout)
            .body(body)
            .send()
            .await
            .map_err(|error| {
                if error.is_connect() {
                    PeerError::Unreachable {
                        url: url.clone(),
                        reason: error.to_string(),
                    }
                } else {
                    failed(error.to_string())
                }
            })?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|error| failed(error.to_string()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned();
            return Err(failed(format!("{status}: {text}")));
        }
        serde_json::from_slice(&bytes).map_err(|error| failed(format!("invalid reply: {error}")))
    }
}

/// Creates one [`PeerClient`] per target node for openraft.
pub struct Network {
    pub peers: Arc<PeerHttp>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            base: node.addr.clone(),
            peers: self.peers.clone(),
        }
    }
}

/// Sends Raft RPCs to one node.
pub struct PeerClient {
    target: NodeId,
    base: String,
    peers: Arc<PeerHttp>,
}

type RpcResult<T, E> = Result<T, RPCError<NodeId, BasicNode, RaftError<NodeId, E>>>;

impl PeerClient {
    async fn call<Req, Resp, E>(
        &self,
        path: &str,
        request: &Req,
        ttl: Duration,
    ) -> RpcResult<Resp, E>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let reply: Result<Resp, RaftError<NodeId, E>> = self
            .peers
            .post(&self.base, path, request, ttl)
            .await
            .map_err(|error| match error {
                PeerError::Unreachable { .. } => RPCError::Unreachable(Unreachable::new(&error)),
                PeerError::Failed { .. } => RPCError::Network(NetworkError::new(&error)),
            })?;
        reply.map_err(|error| RPCError::RemoteError(RemoteError::new(self.target, error)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        request: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<NodeId>, openraft::error::Infallible> {
        self.call("/raft/append", &request, option.hard_ttl()).await
    }

    async fn install_snapshot(
        &mut self,
        request: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<NodeId>, InstallSnapshotError> {
        self.call("/raft/snapshot", &request, option.hard_ttl())
            .await
    }

    async fn vote(
        &mut self,
        request: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<NodeId>, openraft::error::Infallible> {
        self.call("/raft/vote", &request, option.hard_ttl()).await
    }
}
