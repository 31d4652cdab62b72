//! The client: finds peers through discovery, keeps one connection per peer, picks a peer
//! per call.

mod dialer;
mod pool;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, join_all};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zap_discovery::{Discovery, Peer, PeerEvent, Picker, RoundRobin, Snapshot, StaticDiscovery};

pub use self::pool::Backoff;
use self::pool::Pool;
use crate::conn::shared::IdHash;
use crate::conn::{Connection, bounded, traced};
use crate::error::Error;
use crate::message::MessageBuf;
use crate::metrics::{self, CallKeys};
use crate::options::ConnectionOptions;
use crate::procedure::{IntoProcedure, Procedure};
use crate::server::random_u32;
use crate::status::ErrorCode;
use crate::switch::Switch;
use crate::transport::{Dialer, Scheme, TransportAddr};

/// How a [`Client`] finds, chooses and talks to peers.
///
/// Defaults follow Go's zapclient: at least 1 peer within 10 s, 30 s per call, round
/// robin, mDNS discovery on the loopback interface (feature `mdns`).
#[derive(Clone)]
pub struct ClientOptions {
    node_id: Option<String>,
    min_peers: usize,
    discover_timeout: Duration,
    call_timeout: Option<Duration>,
    discovery: Option<Arc<dyn Discovery>>,
    static_list: Option<Vec<Peer>>,
    /// Static peers configured with a transport address, by peer key.
    explicit: Vec<(String, TransportAddr)>,
    picker: Arc<dyn Picker>,
    dialer: Option<Arc<dyn Dialer>>,
    transport: Scheme,
    #[cfg(feature = "tls")]
    tls: Option<crate::transport::TlsClientConfig>,
    #[cfg(feature = "quic")]
    quic_options: crate::transport::QuicOptions,
    connection: ConnectionOptions,
    attempts: usize,
    backoff: Backoff,
    #[cfg(feature = "mdns")]
    mdns: zap_discovery::mdns::MdnsConfig,
}

impl std::fmt::Debug for ClientOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientOptions")
            .field("node_id", &self.node_id)
            .field("min_peers", &self.min_peers)
            .field("discover_timeout", &self.discover_timeout)
            .field("call_timeout", &self.call_timeout)
            .field("transport", &self.transport)
            .field("connection", &self.connection)
            .field("attempts", &self.attempts)
            .field("backoff", &self.backoff)
            .finish_non_exhaustive()
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            node_id: None,
            min_peers: 1,
            discover_timeout: Duration::from_secs(10),
            call_timeout: Some(Duration::from_secs(30)),
            discovery: None,
            static_list: None,
            explicit: Vec::new(),
            picker: Arc::new(RoundRobin::new()),
            dialer: None,
            transport: Scheme::Tcp,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "quic")]
            quic_options: crate::transport::QuicOptions::default(),
            connection: ConnectionOptions::default(),
            attempts: 3,
            backoff: Backoff::default(),
            #[cfg(feature = "mdns")]
            mdns: zap_discovery::mdns::MdnsConfig::default(),
        }
    }
}

impl ClientOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node id sent in handshakes (1 to 60 bytes). Default: `zapclient-` and a random
    /// suffix.
    pub fn node_id(mut self, node_id: impl Into<String>) -> Self {
        self.node_id = Some(node_id.into());
        self
    }

    /// How many peers `connect` waits for (0: none). Default: 1.
    pub fn min_peers(mut self, n: usize) -> Self {
        self.min_peers = n;
        self
    }

    /// How long `connect` waits for `min_peers`. Default: 10 s.
    pub fn discover_timeout(mut self, timeout: Duration) -> Self {
        self.discover_timeout = timeout;
        self
    }

    /// The deadline of each call (propagated to Rust servers). Default: 30 s.
    pub fn call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = Some(timeout);
        self
    }

    /// Calls wait as long as it takes (connection failures and keepalive still end them).
    pub fn no_call_timeout(mut self) -> Self {
        self.call_timeout = None;
        self
    }

    /// Where peers come from. Default: mDNS on the loopback interface.
    pub fn discovery(mut self, discovery: impl Discovery + 'static) -> Self {
        self.discovery = Some(Arc::new(discovery));
        self.static_list = None;
        self.explicit.clear();
        self
    }

    /// Where peers come from, shared with other users of the same discovery.
    pub fn shared_discovery(mut self, discovery: Arc<dyn Discovery>) -> Self {
        self.discovery = Some(discovery);
        self.static_list = None;
        self.explicit.clear();
        self
    }

    /// A fixed list of peer addresses (static discovery; node ids are learned at
    /// handshake), dialed over the client's transport (TCP unless
    /// [`tls`](Self::tls) or [`quic`](Self::quic) chose another).
    pub fn static_peers(self, addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        // The service type is filled in by `connect`.
        let peers: Vec<Peer> = addrs.into_iter().map(Peer::new).collect();
        let mut this = self;
        this.discovery = None;
        this.static_list = Some(peers);
        this.explicit.clear();
        this
    }

    /// A fixed list of peers, each dialed over the transport its address names:
    /// `zap://` or bare TCP, `zaps://` mutual TLS and `zapq://` QUIC (both need
    /// [`tls`](Self::tls) or [`quic`](Self::quic) for the client's certificates),
    /// `unix:/path` a Unix socket.
    ///
    /// ```
    /// use zap_rpc::ClientOptions;
    ///
    /// let options = ClientOptions::new().peers([
    ///     "127.0.0.1:9999".parse().unwrap(),
    ///     "unix:/run/zap.sock".parse().unwrap(),
    /// ]);
    /// ```
    pub fn peers(mut self, addrs: impl IntoIterator<Item = TransportAddr>) -> Self {
        let mut peers = Vec::new();
        self.explicit.clear();
        // Unix sockets have no socket address; each gets a distinct placeholder so that
        // it has a key of its own (errors name the path, not the placeholder).
        let mut placeholder = 0u16;
        for addr in addrs {
            let sock = addr.socket_addr().unwrap_or_else(|| {
                placeholder = placeholder.wrapping_add(1);
                SocketAddr::from(([0, 0, 0, 0], placeholder))
            });
            let peer = Peer::new(sock);
            self.explicit.push((peer.key().to_string(), addr));
            peers.push(peer);
        }
        self.discovery = None;
        self.static_list = Some(peers);
        self
    }

    /// Calls over mutual TLS with these certificates: peers without a scheme (static
    /// addresses, discovered peers) are dialed with TLS, and `zaps://` / `zapq://` peers
    /// use these certificates.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::transport::TlsClientConfig) -> Self {
        self.transport = Scheme::Tls;
        self.tls = Some(config);
        self
    }

    /// Calls over QUIC with these certificates (peers without a scheme are dialed with
    /// QUIC).
    #[cfg(feature = "quic")]
    pub fn quic(mut self, config: crate::transport::TlsClientConfig) -> Self {
        self.transport = Scheme::Quic;
        self.tls = Some(config);
        self
    }

    /// QUIC settings (idle timeout, keep-alive, connect timeout).
    #[cfg(feature = "quic")]
    pub fn quic_options(mut self, options: crate::transport::QuicOptions) -> Self {
        self.quic_options = options;
        self
    }

    /// How a peer is chosen per call. Default: round robin.
    pub fn picker(mut self, picker: impl Picker + 'static) -> Self {
        self.picker = Arc::new(picker);
        self
    }

    /// How connections are opened, replacing the built-in choice by scheme. Default: TCP
    /// (or what [`tls`](Self::tls), [`quic`](Self::quic) and [`peers`](Self::peers) say).
    pub fn dialer(mut self, dialer: impl Dialer) -> Self {
        self.dialer = Some(Arc::new(dialer));
        self
    }

    /// Per-connection settings.
    pub fn connection_options(mut self, options: ConnectionOptions) -> Self {
        self.connection = options;
        self
    }

    /// How many connection attempts one call may make (peers tried in turn). Default: 3.
    pub fn connect_attempts(mut self, n: usize) -> Self {
        self.attempts = n;
        self
    }

    /// Reconnection backoff. Default: 50 ms doubling to 5 s, with jitter.
    pub fn reconnect_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The mDNS settings used when no discovery is given.
    #[cfg(feature = "mdns")]
    pub fn mdns(mut self, config: zap_discovery::mdns::MdnsConfig) -> Self {
        self.mdns = config;
        self
    }
}

/// A call as a tower request: [`Client`] is a `tower::Service<Call>`.
#[derive(Debug, Clone)]
pub struct Call {
    /// What to call.
    pub procedure: Procedure,
    /// The request message.
    pub message: MessageBuf,
}

impl Call {
    /// A call of `procedure` with `message`.
    pub fn new(procedure: Procedure, message: MessageBuf) -> Self {
        Self { procedure, message }
    }
}

struct Inner {
    service_type: String,
    node_id: String,
    discovery: Arc<dyn Discovery>,
    owns_discovery: bool,
    picker: Arc<dyn Picker>,
    pool: Pool,
    call_timeout: Option<Duration>,
    attempts: usize,
    closed: Switch,
    /// Metric keys by procedure, so that a call records its metrics without allocating.
    call_keys: RwLock<HashMap<Procedure, Arc<CallKeys>, IdHash>>,
}

/// Procedures whose metric keys a client keeps; calls of others build their keys each
/// time (a client calling ever new message types must not grow without bound).
const MAX_CALL_KEYS: usize = 256;

impl Inner {
    fn record_call(&self, procedure: &Procedure, outcome: &'static str, elapsed: Duration) {
        let read = |m: &RwLock<HashMap<Procedure, Arc<CallKeys>, IdHash>>| {
            m.read()
                .unwrap_or_else(|e| e.into_inner())
                .get(procedure)
                .cloned()
        };
        let keys = read(&self.call_keys).or_else(|| {
            let mut map = self.call_keys.write().unwrap_or_else(|e| e.into_inner());
            if map.len() >= MAX_CALL_KEYS {
                return None;
            }
            let keys = Arc::new(CallKeys::client(Arc::from(procedure.to_string())));
            map.insert(procedure.clone(), keys.clone());
            Some(keys)
        });
        match keys {
            Some(keys) => keys.record(outcome, elapsed),
            None => metrics::client_call(&procedure.to_string(), outcome, elapsed),
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.closed.cancel();
        self.pool.clear();
        if self.owns_discovery {
            self.discovery.stop();
        }
    }
}

/// A client of one service type: discovery, a picker, and one multiplexed connection per
/// peer, reconnected with backoff.
///
/// Cheap to clone (clones share everything) and usable from many tasks at once. The
/// client neither listens nor announces itself.
///
/// ```
/// use zap_rpc::{Client, ClientOptions, Context, MessageBuf, Server, Status};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), zap_rpc::Error> {
/// let server = Server::builder("_echo._tcp")
///     .no_mdns()
///     .register("Echo", |_: Context, req: MessageBuf| async move { Ok::<_, Status>(req) })?
///     .start()
///     .await?;
/// let client = Client::connect(
///     "_echo._tcp",
///     ClientOptions::new().static_peers(server.tcp_addr()),
/// )
/// .await?;
/// let reply = client.call("Echo", MessageBuf::with_u32(7, 0)).await?;
/// assert_eq!(reply.parse()?.root().unwrap().u32(0)?, 7);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("service_type", &self.inner.service_type)
            .field("node_id", &self.inner.node_id)
            .field("peers", &self.inner.discovery.peer_count())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Starts discovery for `service_type`, waits for `min_peers` of them (at most
    /// `discover_timeout`) and returns a client. Connections are made on first use.
    pub async fn connect(service_type: &str, options: ClientOptions) -> Result<Client, Error> {
        if service_type.is_empty() {
            return Err(Error::Config("the service type is empty".into()));
        }
        options.connection.validate()?;
        if options.attempts == 0 {
            return Err(Error::Config("connect_attempts must be at least 1".into()));
        }
        let node_id = options
            .node_id
            .clone()
            .unwrap_or_else(|| format!("zapclient-{:08x}", random_u32()));
        if node_id.is_empty() || node_id.len() > zap_wire::node::NODE_ID_MAX {
            return Err(Error::Config(format!(
                "node id {node_id:?} must be 1 to {} bytes",
                zap_wire::node::NODE_ID_MAX
            )));
        }
        let dialer: Arc<dyn Dialer> = match &options.dialer {
            Some(d) => d.clone(),
            None => Arc::new(dialer::Transports::new(dialer::TransportSettings {
                default: options.transport,
                explicit: &options.explicit,
                #[cfg(feature = "tls")]
                tls: options.tls.as_ref(),
                #[cfg(feature = "quic")]
                quic: &options.quic_options,
            })?),
        };
        let (discovery, owns_discovery): (Arc<dyn Discovery>, bool) =
            match (options.discovery.clone(), options.static_list.clone()) {
                (Some(d), _) => (d, false),
                (None, Some(peers)) => (Arc::new(StaticDiscovery::new(service_type, peers)?), true),
                (None, None) => (default_discovery(service_type, &options)?, true),
            };
        let span = tracing::debug_span!("zap.client.connect", service_type, node_id = %node_id);
        if options.min_peers > 0 {
            let waited = discovery
                .subscribe()
                .wait_for_peers(options.min_peers, options.discover_timeout)
                .instrument(span)
                .await;
            if let Err(cause) = waited {
                if owns_discovery {
                    discovery.stop();
                }
                return Err(Error::NoPeers {
                    service_type: service_type.to_string(),
                    waited: Some(options.discover_timeout),
                    cause: Some(cause),
                });
            }
        }
        let inner = Arc::new(Inner {
            service_type: service_type.to_string(),
            node_id: node_id.clone(),
            pool: Pool::new(dialer, node_id, options.connection.clone(), options.backoff),
            discovery,
            owns_discovery,
            picker: options.picker.clone(),
            call_timeout: options.call_timeout,
            attempts: options.attempts,
            closed: Switch::new(),
            call_keys: RwLock::default(),
        });
        tokio::spawn(prune(
            Arc::downgrade(&inner),
            inner.discovery.subscribe(),
            inner.closed.token().clone(),
        ));
        Ok(Client { inner })
    }

    /// The service type.
    pub fn service_type(&self) -> &str {
        &self.inner.service_type
    }

    /// The node id this client presents.
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// The peers discovery lists now.
    pub fn peers(&self) -> Snapshot {
        self.inner.discovery.peers()
    }

    /// The discovery the client uses (to subscribe to peer changes, for example).
    pub fn discovery(&self) -> &Arc<dyn Discovery> {
        &self.inner.discovery
    }

    /// The open connections.
    pub fn connections(&self) -> Vec<Connection> {
        self.inner.pool.connections()
    }

    /// Closes every connection (calls in flight fail) and stops discovery the client
    /// started itself (a discovery passed in options is left running). Idempotent.
    pub fn close(&self) {
        self.inner.closed.cancel();
        self.inner.pool.clear();
        if self.inner.owns_discovery {
            self.inner.discovery.stop();
        }
    }

    /// True once closed.
    pub fn is_closed(&self) -> bool {
        self.inner.closed.is_cancelled()
    }

    /// Calls `procedure` on a peer chosen by the picker, with the client's call timeout.
    pub async fn call(
        &self,
        procedure: impl IntoProcedure,
        message: MessageBuf,
    ) -> Result<MessageBuf, Error> {
        self.call_with_timeout(procedure, message, self.inner.call_timeout)
            .await
    }

    /// Calls `procedure` with this timeout instead of the client's.
    ///
    /// A call whose connection fails before the request is written, or that a peer
    /// refuses as overloaded (not run), moves to another peer (at most `connect_attempts`
    /// tries); a call in flight when its connection dies fails at once. Dropping the future cancels the call on the server (Rust peers).
    pub async fn call_with_timeout(
        &self,
        procedure: impl IntoProcedure,
        message: MessageBuf,
        timeout: Option<Duration>,
    ) -> Result<MessageBuf, Error> {
        let procedure = procedure.into_procedure()?;
        let started = Instant::now();
        let deadline = timeout.map(|t| started + t);
        let span = tracing::debug_span!(
            "zap.client.call",
            procedure = %procedure,
            peer = tracing::field::Empty,
            request_id = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        // The first attempt counts the time left from `started`; a retry, which may
        // follow a failed dial, reads the clock again.
        let first = AtomicBool::new(true);
        let attempt = self.with_peer(deadline, |conn| {
            let procedure = procedure.clone();
            let message = message.clone();
            let now = if first.swap(false, Ordering::Relaxed) {
                started
            } else {
                Instant::now()
            };
            async move { conn.call_until(&procedure, message, deadline, now).await }
        });
        let result = traced(&span, bounded(deadline, started, attempt)).await;
        let outcome = match &result {
            Ok(_) => "ok",
            Err(e) => e.kind().as_str(),
        };
        if !span.is_disabled() {
            span.record("outcome", outcome);
        }
        self.inner
            .record_call(&procedure, outcome, started.elapsed());
        result
    }

    /// Sends `message` to `procedure` on one peer without waiting for an answer.
    pub async fn send(
        &self,
        procedure: impl IntoProcedure,
        message: MessageBuf,
    ) -> Result<(), Error> {
        let procedure = procedure.into_procedure()?;
        let deadline = self.inner.call_timeout.map(|t| Instant::now() + t);
        let attempt = self.with_peer(deadline, |conn| {
            let procedure = procedure.clone();
            let message = message.clone();
            async move { conn.send(&procedure, message).await }
        });
        match deadline {
            Some(d) => tokio::time::timeout_at(d.into(), attempt)
                .await
                .unwrap_or_else(|_| {
                    Err(Error::Timeout(self.inner.call_timeout.unwrap_or_default()))
                }),
            None => attempt.await,
        }
    }

    /// Calls `procedure` on every peer at once and returns each peer's answer, so the
    /// caller can retry the failures.
    pub async fn broadcast(
        &self,
        procedure: impl IntoProcedure,
        message: MessageBuf,
    ) -> Result<Vec<(Peer, Result<MessageBuf, Error>)>, Error> {
        let procedure = procedure.into_procedure()?;
        self.ensure_open()?;
        let peers = self.inner.discovery.peers();
        if peers.is_empty() {
            return Err(self.no_peers());
        }
        let timeout = self.inner.call_timeout;
        let calls = peers.iter().map(|peer| {
            let procedure = procedure.clone();
            let message = message.clone();
            async move {
                let started = Instant::now();
                let deadline = timeout.map(|t| started + t);
                let one =
                    async {
                        let conn =
                            self.inner.pool.get(peer).await.map_err(|e| {
                                Error::connection(self.inner.pool.describe(peer), e)
                            })?;
                        conn.call_until(&procedure, message, deadline, Instant::now())
                            .await
                    };
                let r = match deadline {
                    Some(d) => tokio::time::timeout_at(d.into(), one)
                        .await
                        .unwrap_or_else(|_| Err(Error::Timeout(started.elapsed()))),
                    None => one.await,
                };
                (peer.clone(), r)
            }
        });
        Ok(join_all(calls).await)
    }

    fn ensure_open(&self) -> Result<(), Error> {
        if self.is_closed() {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    fn no_peers(&self) -> Error {
        Error::NoPeers {
            service_type: self.inner.service_type.clone(),
            waited: None,
            cause: self.inner.discovery.last_error(),
        }
    }

    /// Runs `op` on a connection to a peer the picker chooses, moving to another peer when
    /// the request certainly did not leave (dial failure, connection closed before the
    /// write), up to `attempts` times. When every peer is backing off, waits for the first
    /// one to be ready again (within the deadline).
    async fn with_peer<T, F, Fut>(&self, deadline: Option<Instant>, op: F) -> Result<T, Error>
    where
        F: Fn(Connection) -> Fut,
        Fut: Future<Output = Result<T, Error>>,
    {
        let inner = &self.inner;
        let mut tried: Vec<String> = Vec::new();
        let mut last: Option<Error> = None;
        let mut attempts = 0;
        loop {
            self.ensure_open()?;
            let snapshot = inner.discovery.peers();
            if snapshot.is_empty() {
                return Err(last.unwrap_or_else(|| self.no_peers()));
            }
            let Some((peer, live)) = self.choose(&snapshot, &tried) else {
                // Every peer was tried or is backing off: wait for the first to be ready.
                let next = snapshot
                    .iter()
                    .filter_map(|p| inner.pool.live(p.key()).err())
                    .min();
                let give_up = match next {
                    None => true,
                    Some(at) => attempts >= inner.attempts || deadline.is_some_and(|d| at >= d),
                };
                if give_up {
                    return Err(last.unwrap_or_else(|| self.no_peers()));
                }
                if let Some(at) = next {
                    tokio::time::sleep_until(at.into()).await;
                }
                tried.clear();
                continue;
            };
            attempts += 1;
            if tracing::level_enabled!(tracing::Level::DEBUG) {
                tracing::Span::current().record("peer", tracing::field::display(&peer));
            }
            let conn = match live {
                Some(conn) => Ok(conn),
                None => inner.pool.get(&peer).await,
            };
            let outcome = match conn {
                Ok(conn) => op(conn).await,
                Err(reason) => Err(Error::connection(inner.pool.describe(&peer), reason)),
            };
            match outcome {
                Err(Error::Connection { peer: p, reason })
                    if reason.request_not_sent() && attempts < inner.attempts =>
                {
                    tracing::debug!(peer = %p, %reason, "not sent; trying another peer");
                    tried.push(peer.key().to_string());
                    last = Some(Error::Connection { peer: p, reason });
                }
                // The peer refused without running the call (busy, shutting down).
                Err(e @ Error::Remote { .. })
                    if e.status()
                        .is_some_and(|s| s.code() == ErrorCode::Overloaded)
                        && attempts < inner.attempts
                        && snapshot.len() > tried.len() + 1 =>
                {
                    tracing::debug!(peer = %peer, error = %e, "refused; trying another peer");
                    tried.push(peer.key().to_string());
                    last = Some(e);
                }
                other => return other,
            }
        }
    }

    /// The picker's choice among peers not yet tried and not backing off, with its live
    /// connection when the first choice has one (else the pool finds or dials it).
    fn choose(&self, snapshot: &Snapshot, tried: &[String]) -> Option<(Peer, Option<Connection>)> {
        let inner = &self.inner;
        let ready = |p: &Peer| {
            if tried.iter().any(|k| k == p.key()) {
                return None;
            }
            inner.pool.live(p.key()).ok()
        };
        if let Ok(p) = inner.picker.pick(snapshot)
            && let Some(live) = ready(p)
        {
            return Some((p.clone(), live));
        }
        let rest: Vec<Peer> = snapshot
            .iter()
            .filter(|p| ready(p).is_some())
            .cloned()
            .collect();
        let peer = inner.picker.pick(&rest).ok()?.clone();
        Some((peer, None))
    }
}

#[cfg(feature = "mdns")]
fn default_discovery(
    service_type: &str,
    options: &ClientOptions,
) -> Result<Arc<dyn Discovery>, Error> {
    let st = zap_discovery::ServiceType::new(service_type)?;
    Ok(Arc::new(zap_discovery::mdns::MdnsDiscovery::start(
        options.mdns.clone(),
        &st,
    )?))
}

#[cfg(not(feature = "mdns"))]
fn default_discovery(
    _service_type: &str,
    _options: &ClientOptions,
) -> Result<Arc<dyn Discovery>, Error> {
    Err(Error::Config(
        "no discovery given and the `mdns` feature is off: pass static peers or a Discovery".into(),
    ))
}

/// Forgets connections to peers that discovery no longer lists. Ends with the client or
/// the discovery.
async fn prune(
    inner: std::sync::Weak<Inner>,
    mut changes: zap_discovery::Subscription,
    closed: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            _ = closed.cancelled() => return,
            e = changes.recv() => e,
        };
        let Some(inner) = inner.upgrade() else { return };
        match event {
            None => return,
            Some(PeerEvent::Removed(peer)) => inner.pool.remove(peer.key()),
            Some(PeerEvent::Resync(snapshot)) => {
                inner.pool.retain(|k| snapshot.get(k).is_some());
            }
            Some(PeerEvent::Updated { old, new }) if old.addrs() != new.addrs() => {
                inner.pool.remove(old.key());
            }
            Some(_) => {}
        }
    }
}

impl tower::Service<Call> for Client {
    type Response = MessageBuf;
    type Error = Error;
    type Future = BoxFuture<'static, Result<MessageBuf, Error>>;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(self.ensure_open())
    }

    fn call(&mut self, req: Call) -> Self::Future {
        let client = self.clone();
        Box::pin(async move { client.call(req.procedure, req.message).await })
    }
}
