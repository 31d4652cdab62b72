//! [`Client`]: calls the control protocol over Z-Wing (or, when asked for by name,
//! cleartext TCP to a Go server).

mod options;
mod stream;
mod table;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::SinkExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::timeout;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zap_wire::codec::CodecError;
use zap_wire::typed::MsgType;
use zap_zwing::IdentityPublic;

use crate::encoding::{Reader, WireMessage};
use crate::error::{DecodeError, Error};
use crate::frame::{FrameCodec, FrameDecoder, Outbound};
use crate::messages::{
    AddNodeRequest, AttachPeerResponse, ChainIdsResponse, LoadSnapshotRequest, Request, Response,
    RestartNodeRequest, SendOutboundMessageRequest, StartRequest, TransformElasticChainsResponse,
};
use crate::opcode::{Method, OP_FANOUT, sub};
use crate::types::{
    BlockchainSpec, ChainSpec, ClusterInfo, ElasticChainSpec, PermissionlessValidatorSpec,
    RemoveChainValidatorSpec,
};

pub use options::ClientOptions;
pub use stream::StatusStream;
use table::{StreamState, Table, read_loop};

/// Requests waiting for the writer.
const SEND_QUEUE: usize = 64;

struct Shared {
    tx: mpsc::Sender<Outbound>,
    cancels: mpsc::UnboundedSender<u32>,
    table: Arc<Table>,
    options: ClientOptions,
    remote: Option<IdentityPublic>,
    peer_addr: Option<SocketAddr>,
    closing: CancellationToken,
    reader: AbortHandle,
}

impl Drop for Shared {
    fn drop(&mut self) {
        // The writer ends by itself when its queue's last sender goes with us.
        self.reader.abort();
    }
}

impl Shared {
    /// Forgets call `id` and, if the server may still be working on it, asks it to stop.
    fn abandon(&self, id: u32) {
        if self.table.remove(id) {
            let _ = self.cancels.send(id);
        }
    }
}

/// A connection to a control server. Cheap to clone; clones share the connection, and
/// many calls may run on it at once (each has its own request id).
///
/// Every call is bounded by a timeout ([`ClientOptions::call_timeout`], or
/// [`ClientOptions::wait_for_healthy_timeout`] for WaitForHealthy, or
/// [`Client::with_timeout`]). A call that times out or whose future is dropped is
/// cancelled on the server. If the connection fails, every waiting call fails at once
/// with [`Error::ConnectionClosed`]. An idle connection stays open: there is no read
/// deadline on it (Go's client closes after 30 s without traffic).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use netrunner_proto::{AddNodeRequest, Client, Server, SimBackend, SimConfig};
/// use std::time::Duration;
/// use zap_zwing::{Config, Identity};
///
/// let sim = SimBackend::new(SimConfig::default().with_nodes(3).with_health_delay(Duration::from_millis(20)));
/// let server_id = Identity::generate()?;
/// let pin = server_id.public().clone();
/// let server = Server::bind("127.0.0.1:0", Config::new(server_id), sim).await?;
///
/// let client = Client::dial(server.local_addr(), &Config::new(Identity::generate()?).with_expected_remote(pin)).await?;
/// let info = client.add_node(AddNodeRequest::named("node4")).await?.expect("cluster info");
/// assert_eq!(info.node_names.len(), 4);
/// let healthy = client.wait_for_healthy().await?.expect("cluster info");
/// assert!(healthy.healthy);
/// # server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    shared: Arc<Shared>,
    timeout: Option<Duration>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("peer_addr", &self.shared.peer_addr)
            .field(
                "remote",
                &self.shared.remote.as_ref().map(|r| r.fingerprint().short()),
            )
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to `addr` over Z-Wing with default options. Pin the server with
    /// [`Config::with_expected_remote`](zap_zwing::Config::with_expected_remote).
    ///
    /// # Errors
    /// [`Error::Zwing`] when the handshake fails (refused, wrong identity, timeout),
    /// [`Error::Io`] when no TCP connection can be made, [`Error::ConnectTimeout`].
    pub async fn dial(addr: impl ToSocketAddrs, zwing: &zap_zwing::Config) -> Result<Self, Error> {
        Self::dial_with(addr, zwing, ClientOptions::default()).await
    }

    /// Connects to `addr` over Z-Wing.
    ///
    /// # Errors
    /// As [`Client::dial`].
    pub async fn dial_with(
        addr: impl ToSocketAddrs,
        zwing: &zap_zwing::Config,
        options: ClientOptions,
    ) -> Result<Self, Error> {
        let span = tracing::info_span!(
            "netrunner.dial",
            addr = tracing::field::Empty,
            remote = tracing::field::Empty
        );
        async {
            let addrs = resolve(addr).await?;
            tracing::Span::current().record("addr", tracing::field::display(addrs[0]));
            let limit = options.connect_timeout;
            let stream = timeout(limit, zap_zwing::dial(&addrs[..], zwing))
                .await
                .map_err(|_| Error::ConnectTimeout {
                    addr: addrs[0].to_string(),
                    after: limit,
                })??;
            let remote = stream.remote_identity().clone();
            tracing::Span::current().record(
                "remote",
                tracing::field::display(remote.fingerprint().short()),
            );
            let peer_addr = stream.get_ref().peer_addr().ok();
            Ok(Self::launch(stream, options, Some(remote), peer_addr))
        }
        .instrument(span)
        .await
    }

    /// Connects to `addr` over plain, unauthenticated, unencrypted TCP — the transport
    /// of today's Go zapwire servers, and nothing else: anyone on the path can read and
    /// change every call. A server of this crate refuses it (it speaks only Z-Wing).
    ///
    /// # Errors
    /// [`Error::Io`] when no connection can be made, [`Error::ConnectTimeout`].
    pub async fn connect_cleartext(
        addr: impl ToSocketAddrs,
        options: ClientOptions,
    ) -> Result<Self, Error> {
        let span = tracing::info_span!("netrunner.connect_cleartext", addr = tracing::field::Empty);
        async {
            let addrs = resolve(addr).await?;
            tracing::Span::current().record("addr", tracing::field::display(addrs[0]));
            tracing::warn!(
                "netrunner: cleartext TCP connection (no authentication, no encryption)"
            );
            let limit = options.connect_timeout;
            let tcp = timeout(limit, TcpStream::connect(&addrs[..]))
                .await
                .map_err(|_| Error::ConnectTimeout {
                    addr: addrs[0].to_string(),
                    after: limit,
                })??;
            tcp.set_nodelay(true)?;
            let peer_addr = tcp.peer_addr().ok();
            Ok(Self::launch(tcp, options, None, peer_addr))
        }
        .instrument(span)
        .await
    }

    /// Runs the protocol over a connection you opened and secured yourself (an accepted
    /// [`ZwingStream`](zap_zwing::ZwingStream), an in-process pipe, ...). Must be called
    /// inside a tokio runtime: it starts the connection's reader and writer tasks.
    pub fn over<IO>(io: IO, options: ClientOptions) -> Self
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        Self::launch(io, options, None, None)
    }

    fn launch<IO>(
        io: IO,
        options: ClientOptions,
        remote: Option<IdentityPublic>,
        peer_addr: Option<SocketAddr>,
    ) -> Self
    where
        IO: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (rd, wr) = tokio::io::split(io);
        let table = Arc::new(Table::new());
        let (tx, rx) = mpsc::channel(SEND_QUEUE);
        let (cancels, cancel_rx) = mpsc::unbounded_channel();
        let closing = CancellationToken::new();
        let span = tracing::info_span!(
            "netrunner.client",
            peer_addr = tracing::field::Empty,
            remote = tracing::field::Empty
        );
        if let Some(addr) = peer_addr {
            span.record("peer_addr", tracing::field::display(addr));
        }
        if let Some(remote) = &remote {
            span.record(
                "remote",
                tracing::field::display(remote.fingerprint().short()),
            );
        }
        let reader = tokio::spawn(
            read_loop(
                FramedRead::new(rd, FrameDecoder::new(options.max_payload)),
                table.clone(),
                options.decode,
                options.max_payload,
            )
            .instrument(span.clone()),
        );
        tokio::spawn(
            write_loop(
                FramedWrite::new(wr, FrameCodec::new(options.max_payload)),
                rx,
                cancel_rx,
                closing.clone(),
                options.call_timeout,
                table.clone(),
            )
            .instrument(span),
        );
        Self {
            shared: Arc::new(Shared {
                tx,
                cancels,
                table,
                options,
                remote,
                peer_addr,
                closing,
                reader: reader.abort_handle(),
            }),
            timeout: None,
        }
    }

    /// A handle on the same connection whose calls all use `timeout`.
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        Self {
            shared: self.shared.clone(),
            timeout: Some(timeout),
        }
    }

    /// The server's verified Z-Wing identity (none over cleartext or [`Client::over`]).
    pub fn remote_identity(&self) -> Option<&IdentityPublic> {
        self.shared.remote.as_ref()
    }

    /// The server's address, when known.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.shared.peer_addr
    }

    /// True once the connection has failed or been closed; calls then fail at once.
    pub fn is_closed(&self) -> bool {
        self.shared.table.is_closed()
    }

    /// Closes the connection for every clone: waiting calls fail with
    /// [`Error::ConnectionClosed`] and the server sees the connection end.
    pub fn close(&self) {
        self.shared.table.close("closed by the client");
        self.shared.closing.cancel();
    }

    fn timeout_for(&self, method: Method) -> Duration {
        self.timeout.unwrap_or(match method {
            Method::WaitForHealthy => self.shared.options.wait_for_healthy_timeout,
            _ => self.shared.options.call_timeout,
        })
    }

    /// Sends `request` and waits for its answer; the body of a successful answer.
    async fn exchange(&self, request: &Request) -> Result<Bytes, Error> {
        let method = request.method();
        if method == Method::StreamStatus {
            return Err(Error::InvalidArgument(
                "StreamStatus answers with a stream: use Client::stream_status".to_owned(),
            ));
        }
        let limit = self.timeout_for(method);
        let span = tracing::info_span!(
            "netrunner.call",
            method = method.name(),
            request_id = tracing::field::Empty
        );
        async {
            let body = request.body();
            let max = self.shared.options.max_payload;
            if 4 + body.len() > max {
                return Err(Error::RequestTooLarge {
                    method,
                    len: 4 + body.len(),
                    max,
                });
            }
            let (id, reply) = self.shared.table.register_unary(method)?;
            tracing::Span::current().record("request_id", id);
            let guard = CallGuard {
                shared: &self.shared,
                id,
                armed: true,
            };
            let frame = Outbound {
                ty: MsgType::request(method.opcode()),
                request_id: id,
                body,
            };
            let exchange = async {
                self.shared
                    .tx
                    .send(frame)
                    .await
                    .map_err(|_| self.shared.table.closed_error())?;
                reply.await.map_err(|_| self.shared.table.closed_error())?
            };
            let outcome = timeout(limit, exchange).await;
            let reply = match outcome {
                Ok(reply) => {
                    guard.disarm();
                    reply?
                }
                Err(_) => {
                    tracing::debug!(after = ?limit, "netrunner: call timed out; cancelling it");
                    return Err(Error::Timeout {
                        method,
                        after: limit,
                    });
                }
            };
            reply.into_body(method)
        }
        .instrument(span)
        .await
    }

    async fn exchange_with<T>(
        &self,
        request: Request,
        read: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
    ) -> Result<T, Error> {
        let method = request.method();
        let body = self.exchange(&request).await?;
        let mut r = Reader::new(&body, &self.shared.options.decode);
        read(&mut r)
            .and_then(|v| r.finish().map(|()| v))
            .map_err(|source| Error::Decode { method, source })
    }

    async fn cluster(&self, request: Request) -> Result<Option<ClusterInfo>, Error> {
        self.exchange_with(request, |r| r.opt_message("ClusterInfo"))
            .await
    }

    /// Any unary request; the answer as a [`Response`].
    ///
    /// # Errors
    /// See [`Error`]; StreamStatus is refused (use [`Client::stream_status`]).
    pub async fn call(&self, request: Request) -> Result<Response, Error> {
        let method = request.method();
        let body = self.exchange(&request).await?;
        Response::decode(method, &body, &self.shared.options.decode)
            .map_err(|source| Error::Decode { method, source })
    }

    /// Ping: the server's process id.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn ping(&self) -> Result<i32, Error> {
        self.exchange_with(Request::Ping, |r| r.i32()).await
    }

    /// RPCVersion: the server's protocol version.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn rpc_version(&self) -> Result<u32, Error> {
        self.exchange_with(Request::RpcVersion, |r| r.u32()).await
    }

    /// Health.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn health(&self) -> Result<Option<ClusterInfo>, Error> {
        self.cluster(Request::Health).await
    }

    /// WaitForHealthy: answers once the cluster is healthy (timeout
    /// [`ClientOptions::wait_for_healthy_timeout`]).
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn wait_for_healthy(&self) -> Result<Option<ClusterInfo>, Error> {
        self.cluster(Request::WaitForHealthy).await
    }

    /// URIs: the nodes' API URIs.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn uris(&self) -> Result<Vec<String>, Error> {
        self.exchange_with(Request::Uris, |r| r.strings()).await
    }

    /// Status.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn status(&self) -> Result<Option<ClusterInfo>, Error> {
        self.cluster(Request::Status).await
    }

    /// StreamStatus: the cluster now and then every `push_interval`, until the stream is
    /// cancelled ([`StatusStream::cancel`]) or dropped.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a zero interval or one beyond `i64` nanoseconds,
    /// otherwise see [`Error`]. A Go server answers the first
    /// [`StatusStream::next`] with [`ErrorCode::UnknownSubOpcode`](crate::ErrorCode).
    pub async fn stream_status(&self, push_interval: Duration) -> Result<StatusStream, Error> {
        let ns = i64::try_from(push_interval.as_nanos())
            .ok()
            .filter(|ns| *ns > 0)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "the push interval must be between 1 ns and i64::MAX ns, got {push_interval:?}"
                ))
            })?;
        let body = Request::StreamStatus {
            push_interval_ns: ns,
        }
        .body();
        let limit = self.timeout_for(Method::StreamStatus);
        let state = Arc::new(StreamState::new(self.shared.options.stream_buffer));
        let id = self.shared.table.register_stream(state.clone())?;
        let frame = Outbound {
            ty: MsgType::request(OP_FANOUT),
            request_id: id,
            body,
        };
        match timeout(limit, self.shared.tx.send(frame)).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => {
                self.shared.table.remove(id);
                return Err(self.shared.table.closed_error());
            }
            Err(_) => {
                self.shared.abandon(id);
                return Err(Error::Timeout {
                    method: Method::StreamStatus,
                    after: limit,
                });
            }
        }
        Ok(StatusStream::new(
            self.shared.clone(),
            id,
            state,
            push_interval,
            limit,
        ))
    }

    /// Start (an extension: a Go server answers
    /// [`ErrorCode::UnknownSubOpcode`](crate::ErrorCode)).
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn start(&self, request: StartRequest) -> Result<ChainIdsResponse, Error> {
        self.exchange_with(Request::Start(request), ChainIdsResponse::decode_from)
            .await
    }

    /// CreateBlockchains.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn create_blockchains(
        &self,
        specs: Vec<BlockchainSpec>,
    ) -> Result<ChainIdsResponse, Error> {
        self.exchange_with(
            Request::CreateBlockchains(specs),
            ChainIdsResponse::decode_from,
        )
        .await
    }

    /// CreateChains: one participant set per spec; the answer's ids are theirs.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn create_chains(&self, specs: Vec<ChainSpec>) -> Result<ChainIdsResponse, Error> {
        self.exchange_with(Request::CreateChains(specs), ChainIdsResponse::decode_from)
            .await
    }

    /// TransformElasticChains.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn transform_elastic_chains(
        &self,
        specs: Vec<ElasticChainSpec>,
    ) -> Result<TransformElasticChainsResponse, Error> {
        self.exchange_with(
            Request::TransformElasticChains(specs),
            TransformElasticChainsResponse::decode_from,
        )
        .await
    }

    /// AddPermissionlessValidator.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn add_permissionless_validator(
        &self,
        specs: Vec<PermissionlessValidatorSpec>,
    ) -> Result<Option<ClusterInfo>, Error> {
        self.cluster(Request::AddPermissionlessValidator(specs))
            .await
    }

    /// RemoveChainValidator.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn remove_chain_validator(
        &self,
        specs: Vec<RemoveChainValidatorSpec>,
    ) -> Result<Option<ClusterInfo>, Error> {
        self.cluster(Request::RemoveChainValidator(specs)).await
    }

    /// AddNode.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn add_node(&self, request: AddNodeRequest) -> Result<Option<ClusterInfo>, Error> {
        self.cluster(Request::AddNode(request)).await
    }

    /// RemoveNode.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn remove_node(&self, name: impl Into<String>) -> Result<Option<ClusterInfo>, Error> {
        self.cluster(Request::RemoveNode { name: name.into() })
            .await
    }

    /// RestartNode.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn restart_node(
        &self,
        request: RestartNodeRequest,
    ) -> Result<Option<ClusterInfo>, Error> {
        self.cluster(Request::RestartNode(request)).await
    }

    /// PauseNode.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn pause_node(&self, name: impl Into<String>) -> Result<Option<ClusterInfo>, Error> {
        self.cluster(Request::PauseNode { name: name.into() }).await
    }

    /// ResumeNode.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn resume_node(&self, name: impl Into<String>) -> Result<Option<ClusterInfo>, Error> {
        self.cluster(Request::ResumeNode { name: name.into() })
            .await
    }

    /// AttachPeer.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn attach_peer(
        &self,
        node_name: impl Into<String>,
    ) -> Result<AttachPeerResponse, Error> {
        self.exchange_with(
            Request::AttachPeer {
                node_name: node_name.into(),
            },
            AttachPeerResponse::decode_from,
        )
        .await
    }

    /// SendOutboundMessage: true when the message left.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn send_outbound_message(
        &self,
        request: SendOutboundMessageRequest,
    ) -> Result<bool, Error> {
        self.exchange_with(Request::SendOutboundMessage(request), |r| {
            r.bool("SendOutboundMessageResponse.Sent")
        })
        .await
    }

    /// SaveSnapshot: where the snapshot went.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn save_snapshot(&self, snapshot_name: impl Into<String>) -> Result<String, Error> {
        self.exchange_with(
            Request::SaveSnapshot {
                snapshot_name: snapshot_name.into(),
            },
            |r| r.string(),
        )
        .await
    }

    /// SaveHotSnapshot: where the snapshot went; the network keeps running.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn save_hot_snapshot(
        &self,
        snapshot_name: impl Into<String>,
    ) -> Result<String, Error> {
        self.exchange_with(
            Request::SaveHotSnapshot {
                snapshot_name: snapshot_name.into(),
            },
            |r| r.string(),
        )
        .await
    }

    /// LoadSnapshot.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn load_snapshot(
        &self,
        request: LoadSnapshotRequest,
    ) -> Result<Option<ClusterInfo>, Error> {
        self.cluster(Request::LoadSnapshot(request)).await
    }

    /// RemoveSnapshot.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn remove_snapshot(&self, snapshot_name: impl Into<String>) -> Result<(), Error> {
        self.exchange_with(
            Request::RemoveSnapshot {
                snapshot_name: snapshot_name.into(),
            },
            |_| Ok(()),
        )
        .await
    }

    /// GetSnapshotNames.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn get_snapshot_names(&self) -> Result<Vec<String>, Error> {
        self.exchange_with(Request::GetSnapshotNames, |r| r.strings())
            .await
    }

    /// Stop.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn stop(&self) -> Result<Option<ClusterInfo>, Error> {
        self.cluster(Request::Stop).await
    }
}

/// Cancels a call whose future is dropped (timeout, `select!`, abort) before its answer.
struct CallGuard<'a> {
    shared: &'a Shared,
    id: u32,
    armed: bool,
}

impl CallGuard<'_> {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CallGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.abandon(self.id);
        }
    }
}

async fn resolve(addr: impl ToSocketAddrs) -> Result<Vec<SocketAddr>, Error> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(addr).await?.collect();
    if addrs.is_empty() {
        return Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            "the address resolved to nothing",
        )));
    }
    Ok(addrs)
}

/// Sends requests and cancel frames; cancels go first so a stopped call frees the server
/// quickly. Closes the write side when the client is closed or dropped.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut sink: FramedWrite<W, FrameCodec>,
    mut rx: mpsc::Receiver<Outbound>,
    mut cancels: mpsc::UnboundedReceiver<u32>,
    closing: CancellationToken,
    write_timeout: Duration,
    table: Arc<Table>,
) {
    let result: Result<(), String> = async {
        loop {
            let frame = tokio::select! {
                biased;
                () = closing.cancelled() => break,
                Some(id) = cancels.recv() => cancel_frame(id),
                frame = rx.recv() => match frame {
                    Some(frame) => frame,
                    None => break,
                },
            };
            feed(&mut sink, frame, write_timeout).await?;
            loop {
                let more = match cancels.try_recv() {
                    Ok(id) => cancel_frame(id),
                    Err(_) => match rx.try_recv() {
                        Ok(frame) => frame,
                        Err(_) => break,
                    },
                };
                feed(&mut sink, more, write_timeout).await?;
            }
            timed(write_timeout, sink.flush()).await?;
        }
        timed(write_timeout, sink.close()).await
    }
    .await;
    if let Err(reason) = result {
        table.close(&reason);
    }
}

fn cancel_frame(id: u32) -> Outbound {
    Outbound {
        ty: MsgType::request(OP_FANOUT),
        request_id: id,
        body: vec![sub::CANCEL],
    }
}

async fn feed<W: AsyncWrite + Unpin>(
    sink: &mut FramedWrite<W, FrameCodec>,
    frame: Outbound,
    limit: Duration,
) -> Result<(), String> {
    timed(limit, sink.feed(frame)).await
}

async fn timed(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<(), CodecError>>,
) -> Result<(), String> {
    match timeout(limit, fut).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("writing to the server failed: {e}")),
        Err(_) => Err(format!("the server took no bytes for {limit:?}")),
    }
}
