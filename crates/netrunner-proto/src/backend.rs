//! [`Backend`]: what a control server runs each RPC against.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use zap_wire::typed::MsgType;
use zap_zwing::IdentityPublic;

use crate::error::{ErrorCode, RpcError};
use crate::frame::Outbound;
use crate::messages::{
    AddNodeRequest, AttachPeerResponse, ChainIdsResponse, LoadSnapshotRequest, Response,
    RestartNodeRequest, SendOutboundMessageRequest, StartRequest, StatusEvent,
    TransformElasticChainsResponse,
};
use crate::opcode::{Method, OP_FANOUT, PROTOCOL_VERSION};
use crate::types::{
    BlockchainSpec, ChainSpec, ClusterInfo, ElasticChainSpec, PermissionlessValidatorSpec,
    RemoveChainValidatorSpec,
};

/// Who sent a request.
#[derive(Debug, Clone, Default)]
pub struct PeerInfo {
    /// The peer's socket address, when the transport has one.
    pub addr: Option<SocketAddr>,
    /// The peer's verified Z-Wing identity (absent on a transport without one).
    pub identity: Option<IdentityPublic>,
}

/// What a backend knows about the request it serves.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request id on the connection.
    pub request_id: u32,
    /// The RPC.
    pub method: Method,
    /// The peer.
    pub peer: Arc<PeerInfo>,
}

/// The answer of most RPCs: the cluster afterwards, if there is one.
pub type ClusterResult = Result<Option<ClusterInfo>, RpcError>;

/// The control operations a server exposes, one method per RPC.
///
/// Every method has a default: [`Backend::rpc_version`] answers
/// [`PROTOCOL_VERSION`], [`Backend::ping`] the process id,
/// [`Backend::stream_status`] calls [`Backend::status`] once per interval, and every
/// other method answers [`ErrorCode::Unimplemented`]. Implement what you have.
///
/// Each call runs in its own task, many at once, so the backend must be `Sync`.
/// A call whose client cancels it (or times out, or goes away) is dropped at its next
/// `.await`: write methods so that stopping between awaits leaves consistent state.
///
/// Methods are written `fn ... -> impl Future + Send`; implement them with `async fn`.
///
/// ```
/// use netrunner_proto::{Backend, ClusterInfo, RequestContext, RpcError};
///
/// struct OneNode;
///
/// impl Backend for OneNode {
///     async fn status(&self, _ctx: RequestContext) -> Result<Option<ClusterInfo>, RpcError> {
///         Ok(Some(ClusterInfo {
///             node_names: vec!["node1".into()],
///             healthy: true,
///             ..ClusterInfo::default()
///         }))
///     }
/// }
/// ```
#[allow(unused_variables)] // defaults ignore their arguments
pub trait Backend: Send + Sync + 'static {
    /// Ping (opcode 60): the server's process id.
    fn ping(&self, ctx: RequestContext) -> impl Future<Output = Result<i32, RpcError>> + Send {
        std::future::ready(Ok(i32::try_from(std::process::id()).unwrap_or(i32::MAX)))
    }

    /// RPCVersion (opcode 61).
    fn rpc_version(
        &self,
        ctx: RequestContext,
    ) -> impl Future<Output = Result<u32, RpcError>> + Send {
        std::future::ready(Ok(PROTOCOL_VERSION))
    }

    /// Health (62/1).
    fn health(&self, ctx: RequestContext) -> impl Future<Output = ClusterResult> + Send {
        unimplemented(Method::Health)
    }

    /// WaitForHealthy (62/2): answers once the cluster is healthy. May take minutes;
    /// the server never cuts it short (the client's timeout does).
    fn wait_for_healthy(&self, ctx: RequestContext) -> impl Future<Output = ClusterResult> + Send {
        unimplemented(Method::WaitForHealthy)
    }

    /// URIs (62/3).
    fn uris(
        &self,
        ctx: RequestContext,
    ) -> impl Future<Output = Result<Vec<String>, RpcError>> + Send {
        unimplemented(Method::Uris)
    }

    /// Status (62/4).
    fn status(&self, ctx: RequestContext) -> impl Future<Output = ClusterResult> + Send {
        unimplemented(Method::Status)
    }

    /// StreamStatus (62/5): sends updates into `sink` until the stream is cancelled
    /// (the future is then dropped) or `sink` reports the client gone. Returning `Ok`
    /// ends the stream with the end marker, `Err` with an error frame.
    ///
    /// The default sends [`Backend::status`] at once and then once per `push_interval`.
    fn stream_status(
        &self,
        ctx: RequestContext,
        push_interval: Duration,
        sink: StatusSink,
    ) -> impl Future<Output = Result<(), RpcError>> + Send {
        async move {
            let mut ticks = tokio::time::interval(push_interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let info = self.status(ctx.clone()).await?;
                sink.send(info).await?;
            }
        }
    }

    /// Start (62/6).
    fn start(
        &self,
        ctx: RequestContext,
        request: StartRequest,
    ) -> impl Future<Output = Result<ChainIdsResponse, RpcError>> + Send {
        unimplemented(Method::Start)
    }

    /// CreateBlockchains (62/10).
    fn create_blockchains(
        &self,
        ctx: RequestContext,
        specs: Vec<BlockchainSpec>,
    ) -> impl Future<Output = Result<ChainIdsResponse, RpcError>> + Send {
        unimplemented(Method::CreateBlockchains)
    }

    /// CreateChains (62/11).
    fn create_chains(
        &self,
        ctx: RequestContext,
        specs: Vec<ChainSpec>,
    ) -> impl Future<Output = Result<ChainIdsResponse, RpcError>> + Send {
        unimplemented(Method::CreateChains)
    }

    /// TransformElasticChains (62/12).
    fn transform_elastic_chains(
        &self,
        ctx: RequestContext,
        specs: Vec<ElasticChainSpec>,
    ) -> impl Future<Output = Result<TransformElasticChainsResponse, RpcError>> + Send {
        unimplemented(Method::TransformElasticChains)
    }

    /// AddPermissionlessValidator (62/13).
    fn add_permissionless_validator(
        &self,
        ctx: RequestContext,
        specs: Vec<PermissionlessValidatorSpec>,
    ) -> impl Future<Output = ClusterResult> + Send {
        unimplemented(Method::AddPermissionlessValidator)
    }

    /// RemoveChainValidator (62/14).
    fn remove_chain_validator(
        &self,
        ctx: RequestContext,
        specs: Vec<RemoveChainValidatorSpec>,
    ) -> impl Future<Output = ClusterResult> + Send {
        unimplemented(Method::RemoveChainValidator)
    }

    /// AddNode (62/20).
    fn add_node(
        &self,
        ctx: RequestContext,
        request: AddNodeRequest,
    ) -> impl Future<Output = ClusterResult> + Send {
        unimplemented(Method::AddNode)
    }

    /// RemoveNode (62/21).
    fn remove_node(
        &self,
        ctx: RequestContext,
        name: String,
    ) -> impl Future<Output = ClusterResult> + Send {
        unimplemented(Method::RemoveNode)
    }

    /// RestartNode (62/22).
    fn restart_node(
        &self,
        ctx: RequestContext,
        request: RestartNodeRequest,
    ) -> impl Future<Output = ClusterResult> + Send {
        unimplemented(Method::RestartNode)
    }

    /// PauseNode (62/23).
    fn pause_node(
        &self,
        ctx: RequestContext,
        name: String,
    ) -> impl Future<Output = ClusterResult> + Send {
        unimplemented(Method::PauseNode)
    }

    /// ResumeNode (62/24).
    fn resume_node(
        &self,
        ctx: RequestContext,
        name: String,
    ) -> impl Future<Output = ClusterResult> + Send {
        unimplemented(Method::ResumeNode)
    }

    /// AttachPeer (62/30).
    fn attach_peer(
        &self,
        ctx: RequestContext,
        node_name: String,
    ) -> impl Future<Output = Result<AttachPeerResponse, RpcError>> + Send {
        unimplemented(Method::AttachPeer)
    }

    /// SendOutboundMessage (62/31): true when the message left.
    fn send_outbound_message(
        &self,
        ctx: RequestContext,
        request: SendOutboundMessageRequest,
    ) -> impl Future<Output = Result<bool, RpcError>> + Send {
        unimplemented(Method::SendOutboundMessage)
    }

    /// SaveSnapshot (62/40): the snapshot's path.
    fn save_snapshot(
        &self,
        ctx: RequestContext,
        snapshot_name: String,
    ) -> impl Future<Output = Result<String, RpcError>> + Send {
        unimplemented(Method::SaveSnapshot)
    }

    /// SaveHotSnapshot (62/41): the snapshot's path; the network keeps running.
    fn save_hot_snapshot(
        &self,
        ctx: RequestContext,
        snapshot_name: String,
    ) -> impl Future<Output = Result<String, RpcError>> + Send {
        unimplemented(Method::SaveHotSnapshot)
    }

    /// LoadSnapshot (62/42).
    fn load_snapshot(
        &self,
        ctx: RequestContext,
        request: LoadSnapshotRequest,
    ) -> impl Future<Output = ClusterResult> + Send {
        unimplemented(Method::LoadSnapshot)
    }

    /// RemoveSnapshot (62/43).
    fn remove_snapshot(
        &self,
        ctx: RequestContext,
        snapshot_name: String,
    ) -> impl Future<Output = Result<(), RpcError>> + Send {
        unimplemented(Method::RemoveSnapshot)
    }

    /// GetSnapshotNames (62/44).
    fn get_snapshot_names(
        &self,
        ctx: RequestContext,
    ) -> impl Future<Output = Result<Vec<String>, RpcError>> + Send {
        unimplemented(Method::GetSnapshotNames)
    }

    /// Stop (opcode 63).
    fn stop(&self, ctx: RequestContext) -> impl Future<Output = ClusterResult> + Send {
        unimplemented(Method::Stop)
    }
}

fn unimplemented<T>(method: Method) -> std::future::Ready<Result<T, RpcError>> {
    std::future::ready(Err(RpcError::unimplemented(method)))
}

/// Where [`Backend::stream_status`] sends its updates: each becomes one response frame
/// with the stream's request id.
#[derive(Debug, Clone)]
pub struct StatusSink {
    tx: mpsc::Sender<Outbound>,
    request_id: u32,
    max_payload: usize,
}

impl StatusSink {
    pub(crate) fn new(tx: mpsc::Sender<Outbound>, request_id: u32, max_payload: usize) -> Self {
        Self {
            tx,
            request_id,
            max_payload,
        }
    }

    /// Sends one update; waits while the connection's send queue is full.
    ///
    /// # Errors
    /// [`ErrorCode::Unavailable`] when the connection is gone (stop streaming), and
    /// [`ErrorCode::ResourceExhausted`] when the update does not fit a frame.
    pub async fn send(&self, info: Option<ClusterInfo>) -> Result<(), RpcError> {
        let body = Response::Status(StatusEvent::Update(info)).body();
        if 4 + body.len() > self.max_payload {
            return Err(RpcError::new(
                ErrorCode::ResourceExhausted,
                format!(
                    "a status update of {} bytes does not fit the {}-byte frame limit",
                    4 + body.len(),
                    self.max_payload
                ),
            ));
        }
        let frame = Outbound {
            ty: MsgType::response(OP_FANOUT),
            request_id: self.request_id,
            body,
        };
        self.tx
            .send(frame)
            .await
            .map_err(|_| RpcError::new(ErrorCode::Unavailable, "the connection is closed"))
    }

    /// True once the connection can take no more frames.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}
