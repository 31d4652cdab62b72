//! The server: accepts connections, runs the handshake, dispatches calls to handlers.

pub(crate) mod dispatch;
pub(crate) mod handler;
pub(crate) mod registry;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;
use zap_discovery::Metadata;

use self::dispatch::{Serve, ServerCore};
use self::handler::{Handler, Request, ServiceHandler};
use self::registry::Registry;
use crate::conn::shared::Shared;
use crate::conn::{handshake, start};
use crate::error::{ConnectionError, Error};
use crate::message::MessageBuf;
use crate::metrics;
use crate::options::ConnectionOptions;
use crate::peer::PeerInfo;
use crate::status::Status;
use crate::transport::{Listener, Scheme, TcpListener, TransportAddr, Transported};
use crate::verifier::{LocalTrust, PeerVerifier};

/// Server-wide limits (per-connection ones are in [`ConnectionOptions`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Connections served at once; further ones are accepted and closed at once so the
    /// dialer fails fast. Default: 1024.
    pub max_connections: usize,
    /// The longest a handler may run, whatever deadline the caller sent. Default: none
    /// (only the caller's deadline applies).
    pub handler_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            handler_timeout: None,
        }
    }
}

#[cfg(feature = "mdns")]
enum Announce {
    Off,
    Config(zap_discovery::mdns::MdnsConfig),
    Daemon(zap_discovery::mdns::Mdns),
}

/// Configures and starts a [`Server`].
///
/// ```
/// use zap_rpc::{Context, MessageBuf, Server, Status};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), zap_rpc::Error> {
/// let server = Server::builder("_echo._tcp")
///     .node_id("echo-1")
///     .listen("127.0.0.1:0".parse().unwrap())
///     .no_mdns()
///     .register("Echo", |_ctx: Context, req: MessageBuf| async move { Ok::<_, Status>(req) })?
///     .start()
///     .await?;
/// println!("serving on {}", server.local_addr());
/// server.shutdown(std::time::Duration::from_secs(1)).await;
/// # Ok(()) }
/// ```
pub struct ServerBuilder {
    service_type: String,
    node_id: Option<String>,
    listen: SocketAddr,
    scheme: Scheme,
    unix: Option<(PathBuf, u32)>,
    #[cfg(feature = "tls")]
    tls: Option<crate::transport::TlsServerConfig>,
    #[cfg(feature = "quic")]
    quic_options: crate::transport::QuicOptions,
    listener: Option<Box<dyn Listener>>,
    registry: Registry,
    verifier: Box<dyn PeerVerifier>,
    metadata: Metadata,
    limits: Limits,
    options: ConnectionOptions,
    #[cfg(feature = "mdns")]
    announce: Announce,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder")
            .field("service_type", &self.service_type)
            .field("node_id", &self.node_id)
            .field("listen", &self.listen)
            .field("scheme", &self.scheme)
            .field("procedures", &self.registry.names())
            .finish_non_exhaustive()
    }
}

impl ServerBuilder {
    fn new(service_type: &str) -> Self {
        Self {
            service_type: service_type.to_string(),
            node_id: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            scheme: Scheme::Tcp,
            unix: None,
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "quic")]
            quic_options: crate::transport::QuicOptions::default(),
            listener: None,
            registry: Registry::default(),
            verifier: Box::new(LocalTrust),
            metadata: Metadata::new(),
            limits: Limits::default(),
            options: ConnectionOptions::default(),
            #[cfg(feature = "mdns")]
            announce: Announce::Config(zap_discovery::mdns::MdnsConfig::default()),
        }
    }

    /// The node id sent in handshakes and announced over mDNS (1 to 60 bytes). Default:
    /// `zapserver-` and a random suffix.
    pub fn node_id(mut self, node_id: impl Into<String>) -> Self {
        self.node_id = Some(node_id.into());
        self
    }

    /// The socket address to listen on (TCP, or TLS and QUIC when chosen); port 0 picks a
    /// free one ([`Server::local_addr`] tells which). Default: `127.0.0.1:0`. Use
    /// `0.0.0.0:PORT` to serve other machines.
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Where and over which transport to listen: `127.0.0.1:9999` (TCP),
    /// `zaps://0.0.0.0:9443` (mutual TLS, needs [`tls`](Self::tls)), `zapq://[::]:9443`
    /// (QUIC, needs the same certificates), `unix:/run/zap.sock` (a Unix socket, mode
    /// 0600).
    ///
    /// Call it before [`tls`](Self::tls) or [`quic`](Self::quic), which switch a plain TCP
    /// address to their transport.
    pub fn listen_on(mut self, addr: TransportAddr) -> Self {
        match addr.socket_addr() {
            Some(a) => self.listen = a,
            None => self.unix = addr.unix_path().map(|p| (p.to_path_buf(), 0o600)),
        }
        self.scheme = addr.scheme();
        self
    }

    /// Serves on a Unix socket at `path`, created with mode 0600 (owner only) and
    /// removed at shutdown. Peers' uid and pid reach verifiers through
    /// [`PeerInfo::credentials`](crate::PeerInfo::credentials).
    #[cfg(unix)]
    pub fn unix(mut self, path: impl Into<PathBuf>) -> Self {
        let mode = self.unix.as_ref().map_or(0o600, |(_, m)| *m);
        self.unix = Some((path.into(), mode));
        self.scheme = Scheme::Unix;
        self
    }

    /// The file mode of the Unix socket (default 0600; 0660 lets the group connect).
    #[cfg(unix)]
    pub fn unix_mode(mut self, mode: u32) -> Self {
        if let Some((_, m)) = self.unix.as_mut() {
            *m = mode;
        }
        self
    }

    /// Serves mutual TLS with these certificates: on the listen address (switching a
    /// plain TCP address to TLS), or over QUIC when the address is `zapq://`.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: crate::transport::TlsServerConfig) -> Self {
        if self.scheme == Scheme::Tcp {
            self.scheme = Scheme::Tls;
        }
        self.tls = Some(config);
        self
    }

    /// Serves QUIC (UDP) on the listen address with these certificates.
    #[cfg(feature = "quic")]
    pub fn quic(mut self, config: crate::transport::TlsServerConfig) -> Self {
        self.scheme = Scheme::Quic;
        self.tls = Some(config);
        self
    }

    /// QUIC settings (idle timeout, keep-alive, stream limits).
    #[cfg(feature = "quic")]
    pub fn quic_options(mut self, options: crate::transport::QuicOptions) -> Self {
        self.quic_options = options;
        self
    }

    /// Serves connections from this listener instead of binding a TCP address.
    pub fn listener(mut self, listener: impl Listener) -> Self {
        self.listener = Some(Box::new(listener));
        self
    }

    /// Who may call what. Default: [`LocalTrust`].
    pub fn verifier(mut self, verifier: impl PeerVerifier) -> Self {
        self.verifier = Box::new(verifier);
        self
    }

    /// Adds a metadata entry, announced in the mDNS TXT record.
    pub fn metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// Server-wide limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Stops any handler after `timeout`, whatever deadline its caller sent (the caller
    /// gets [`ErrorCode::DeadlineExceeded`](crate::ErrorCode::DeadlineExceeded)).
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.limits.handler_timeout = Some(timeout);
        self
    }

    /// At most this many connections at once.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.limits.max_connections = n;
        self
    }

    /// Per-connection settings (frame size, in-flight calls, keepalive, extensions).
    pub fn connection_options(mut self, options: ConnectionOptions) -> Self {
        self.options = options;
        self
    }

    /// Does not announce over mDNS. (Without the `mdns` feature nothing is announced
    /// anyway.)
    pub fn no_mdns(self) -> Self {
        #[cfg(feature = "mdns")]
        {
            Self {
                announce: Announce::Off,
                ..self
            }
        }
        #[cfg(not(feature = "mdns"))]
        self
    }

    /// Announces over mDNS with this configuration. The default announces on the
    /// loopback interface only, port 5353.
    #[cfg(feature = "mdns")]
    pub fn mdns(mut self, config: zap_discovery::mdns::MdnsConfig) -> Self {
        self.announce = Announce::Config(config);
        self
    }

    /// Announces through an mDNS daemon the application already runs.
    #[cfg(feature = "mdns")]
    pub fn mdns_daemon(mut self, mdns: zap_discovery::mdns::Mdns) -> Self {
        self.announce = Announce::Daemon(mdns);
        self
    }

    /// Lets procedures share a legacy 8-bit opcode. Calls by name between Rust peers
    /// (wide ids) still reach each of them; a legacy call on the shared opcode is refused
    /// with [`ErrorCode::AmbiguousOpcode`](crate::ErrorCode::AmbiguousOpcode) (or, from a
    /// Go peer, which cannot receive errors, dropped and logged). Call before registering.
    pub fn allow_opcode_collisions(mut self, allow: bool) -> Self {
        self.registry.allow_collisions = allow;
        self
    }

    /// Registers `handler` under `name`.
    ///
    /// Refused when the name is taken, when another name has the same 32-bit id, or when
    /// another name has the same legacy opcode (unless collisions are allowed).
    pub fn register(mut self, name: &str, handler: impl Handler) -> Result<Self, Error> {
        self.registry.register(name, Arc::new(handler))?;
        Ok(self)
    }

    /// Registers a tower service as the handler of `name`.
    pub fn register_service<S>(self, name: &str, service: S) -> Result<Self, Error>
    where
        S: tower::Service<Request, Response = MessageBuf, Error = Status>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
    {
        self.register(name, ServiceHandler(service))
    }

    /// Registers `handler` for a raw message type, as Go's `Node.Handle(msgType, …)`:
    /// requests whose `flags >> 8` is `msg_type` reach it. `name` identifies it to
    /// verifiers, logs and metrics. Rust callers reach it with
    /// [`Procedure::msg_type`](crate::Procedure::msg_type).
    pub fn register_msg_type(
        mut self,
        msg_type: u8,
        name: &str,
        handler: impl Handler,
    ) -> Result<Self, Error> {
        self.registry
            .register_msg_type(msg_type, name, Arc::new(handler))?;
        Ok(self)
    }

    /// Binds, starts accepting and (unless turned off) announces the server.
    pub async fn start(mut self) -> Result<Server, Error> {
        self.options.validate()?;
        if self.limits.max_connections == 0 {
            return Err(Error::Config("max_connections must be at least 1".into()));
        }
        let node_id = self
            .node_id
            .take()
            .unwrap_or_else(|| format!("zapserver-{:08x}", random_u32()));
        if node_id.is_empty() || node_id.len() > zap_wire::node::NODE_ID_MAX {
            return Err(Error::Config(format!(
                "node id {node_id:?} must be 1 to {} bytes",
                zap_wire::node::NODE_ID_MAX
            )));
        }
        let listener: Box<dyn Listener> = match self.listener.take() {
            Some(l) => l,
            None => self.spec().bind().await?,
        };
        let local_addr = listener.local_addr();
        let core = Arc::new(ServerCore::new(
            self.registry,
            self.verifier,
            self.service_type.clone(),
            node_id.clone(),
            self.limits.handler_timeout,
        ));

        #[cfg(feature = "mdns")]
        let announcer = announce(
            self.announce,
            &self.service_type,
            &node_id,
            &local_addr,
            &self.metadata,
        )?;

        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let conns: Conns = Arc::default();
        let accept = AcceptLoop {
            listener,
            core: core.clone(),
            options: self.options.clone(),
            slots: Arc::new(Semaphore::new(self.limits.max_connections)),
            conns: conns.clone(),
            tracker: tracker.clone(),
            stop: stop.clone(),
            next_id: AtomicU64::new(0),
        };
        let span = tracing::info_span!(
            "zap.server",
            service_type = %self.service_type,
            node_id = %node_id,
            addr = %local_addr,
        );
        tracker.spawn(accept.run().instrument(span));
        tracing::info!(
            service_type = %self.service_type,
            %node_id,
            addr = %local_addr,
            procedures = ?core.registry.names(),
            "server started"
        );
        Ok(Server {
            core,
            local_addr,
            stop,
            tracker,
            conns,
            #[cfg(feature = "mdns")]
            announcer,
        })
    }
}

/// Where and how a builder listens, apart from a listener given ready-made.
struct ListenSpec<'a> {
    scheme: Scheme,
    listen: SocketAddr,
    unix: &'a Option<(PathBuf, u32)>,
    #[cfg(feature = "tls")]
    tls: &'a Option<crate::transport::TlsServerConfig>,
    #[cfg(feature = "quic")]
    quic_options: &'a crate::transport::QuicOptions,
}

impl ServerBuilder {
    fn spec(&self) -> ListenSpec<'_> {
        ListenSpec {
            scheme: self.scheme,
            listen: self.listen,
            unix: &self.unix,
            #[cfg(feature = "tls")]
            tls: &self.tls,
            #[cfg(feature = "quic")]
            quic_options: &self.quic_options,
        }
    }
}

impl ListenSpec<'_> {
    /// The listener the settings describe.
    async fn bind(self) -> Result<Box<dyn Listener>, Error> {
        let shown = match (&self.unix, self.scheme) {
            (Some((p, _)), Scheme::Unix) => TransportAddr::Unix(p.clone()).to_string(),
            _ => TransportAddr::with_scheme(self.scheme, self.listen)
                .map_or_else(|| self.listen.to_string(), |a| a.to_string()),
        };
        let bind_error = |e: std::io::Error| Error::Bind {
            addr: shown.clone(),
            source: Arc::new(e),
        };
        #[cfg(feature = "tls")]
        if self.tls.is_some() && !self.scheme.is_secure() {
            return Err(Error::Config(format!(
                "TLS certificates were given but the listen address {shown} is not zaps:// or \
                 zapq:// (set the address with listen_on before tls)"
            )));
        }
        match self.scheme {
            Scheme::Tcp => Ok(Box::new(
                TcpListener::bind(self.listen).await.map_err(bind_error)?,
            )),
            #[cfg(feature = "tls")]
            Scheme::Tls => {
                let Some(tls) = self.tls else {
                    return Err(Error::Config(format!("{shown} needs tls(config)")));
                };
                Ok(Box::new(
                    crate::transport::TlsListener::bind(self.listen, tls)
                        .await
                        .map_err(bind_error)?,
                ))
            }
            #[cfg(feature = "quic")]
            Scheme::Quic => {
                let Some(tls) = self.tls else {
                    return Err(Error::Config(format!("{shown} needs quic(config)")));
                };
                Ok(Box::new(
                    crate::transport::QuicListener::bind(self.listen, tls, self.quic_options)
                        .map_err(bind_error)?,
                ))
            }
            #[cfg(unix)]
            Scheme::Unix => {
                let Some((path, mode)) = self.unix else {
                    return Err(Error::Config("no Unix socket path".into()));
                };
                Ok(Box::new(
                    crate::transport::UnixListener::bind_with_mode(path, *mode)
                        .map_err(bind_error)?,
                ))
            }
            #[allow(unreachable_patterns)]
            other => Err(Error::Config(format!(
                "{other}:// needs a feature this build lacks (tls, quic) or a Unix platform"
            ))),
        }
    }
}

#[cfg(feature = "mdns")]
fn announce(
    how: Announce,
    service_type: &str,
    node_id: &str,
    addr: &TransportAddr,
    metadata: &Metadata,
) -> Result<Option<zap_discovery::mdns::Announcer>, Error> {
    use zap_discovery::ServiceType;
    use zap_discovery::mdns::{Announcement, Mdns};

    let mdns = match how {
        Announce::Off => return Ok(None),
        Announce::Config(config) => Mdns::new(config)?,
        Announce::Daemon(mdns) => mdns,
    };
    let Some(sock) = addr.socket_addr() else {
        return Err(Error::Config(
            "mDNS can announce only IP listeners; use no_mdns()".into(),
        ));
    };
    let mut a = Announcement::new(ServiceType::new(service_type)?, node_id, sock.port())
        .with_metadata(metadata.clone());
    if !sock.ip().is_unspecified() {
        a = a.with_addresses([sock.ip()]);
    }
    Ok(Some(mdns.announce(a)?))
}

/// A cheap random number for default ids and backoff jitter (not for secrets).
pub(crate) fn random_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    RandomState::new().hash_one((n, std::time::SystemTime::now())) as u32
}

type Conns = Arc<Mutex<HashMap<u64, Arc<Shared>>>>;

fn lock(conns: &Conns) -> MutexGuard<'_, HashMap<u64, Arc<Shared>>> {
    conns.lock().unwrap_or_else(|e| e.into_inner())
}

struct AcceptLoop {
    listener: Box<dyn Listener>,
    core: Arc<ServerCore>,
    options: ConnectionOptions,
    slots: Arc<Semaphore>,
    conns: Conns,
    tracker: TaskTracker,
    stop: CancellationToken,
    next_id: AtomicU64,
}

impl AcceptLoop {
    async fn run(mut self) {
        let mut pause = Duration::from_millis(5);
        loop {
            let accepted = tokio::select! {
                biased;
                _ = self.stop.cancelled() => break,
                a = self.listener.accept() => a,
            };
            let t = match accepted {
                Ok(t) => {
                    pause = Duration::from_millis(5);
                    t
                }
                Err(e) => {
                    // Out of descriptors and the like: wait instead of spinning (Go's
                    // accept loop spins on a closed listener).
                    tracing::warn!(error = %e, retry_in = ?pause, "accept failed");
                    tokio::select! {
                        _ = self.stop.cancelled() => break,
                        _ = tokio::time::sleep(pause) => {}
                    }
                    pause = (pause * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let Ok(slot) = self.slots.clone().try_acquire_owned() else {
                tracing::warn!(peer = %t.remote, "connection limit reached; closing");
                self.core
                    .counters
                    .connections_rejected
                    .fetch_add(1, Ordering::Relaxed);
                metrics::server_connection_rejected("limit");
                drop(t);
                continue;
            };
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let span = tracing::debug_span!("zap.accept", peer = %t.remote);
            let conn = self.serve_connection(id, t).instrument(span);
            self.tracker.spawn(async move {
                conn.await;
                drop(slot);
            });
        }
        tracing::debug!("accept loop stopped");
    }

    fn serve_connection(&self, id: u64, t: Transported) -> impl Future<Output = ()> + use<> {
        let core = self.core.clone();
        let options = self.options.clone();
        let conns = self.conns.clone();
        let tracker = self.tracker.clone();
        let stop = self.stop.clone();
        let remote = t.remote.clone();
        async move {
            let est = tokio::select! {
                _ = stop.cancelled() => return,
                r = handshake::accept(t, &core.node_id, &options) => r,
            };
            let est = match est {
                Ok(est) => est,
                Err(e) => {
                    tracing::debug!(peer = %remote, error = %e, "handshake failed");
                    core.counters
                        .connections_rejected
                        .fetch_add(1, Ordering::Relaxed);
                    metrics::server_connection_rejected("handshake");
                    return;
                }
            };
            let serve_core = core.clone();
            let (shared, read, write) = start(est, &core.service_type, &options, |peer| {
                Some(Serve::new(serve_core, peer.clone(), &options))
            });
            core.counters
                .connections_accepted
                .fetch_add(1, Ordering::Relaxed);
            metrics::server_connections(1.0);
            tracing::debug!(peer = %shared.peer, wire = %shared.wire(), "connection accepted");
            lock(&conns).insert(id, shared.clone());
            tracker.spawn(write);
            read.await;
            shared.closed.cancelled().await;
            lock(&conns).remove(&id);
            metrics::server_connections(-1.0);
        }
    }
}

/// What [`Server::shutdown`] achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Every call in flight finished within the grace period.
    pub drained: bool,
    /// Calls still running when the grace period ended (they were cancelled).
    pub abandoned: usize,
}

/// Counters of a running server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ServerStats {
    /// Connections open now.
    pub connections: usize,
    /// Connections that completed a handshake, ever.
    pub connections_accepted: u64,
    /// Connections refused (limit reached, handshake failed).
    pub connections_rejected: u64,
    /// Requests received (calls and sends).
    pub calls: u64,
    /// Requests that ended in an error.
    pub errors: u64,
    /// Errors a Go peer could not be told about.
    pub errors_unsent: u64,
    /// Handler panics.
    pub panics: u64,
    /// Calls abandoned because the caller cancelled or disconnected.
    pub cancelled: u64,
    /// Calls accepted and not yet answered.
    pub in_flight: usize,
    /// QUIC streams accepted, ever (one per call or send).
    pub streams: u64,
}

/// A running server. Dropping it stops everything at once; [`Server::shutdown`] stops
/// gracefully.
pub struct Server {
    core: Arc<ServerCore>,
    local_addr: TransportAddr,
    stop: CancellationToken,
    tracker: TaskTracker,
    conns: Conns,
    #[cfg(feature = "mdns")]
    announcer: Option<zap_discovery::mdns::Announcer>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("service_type", &self.core.service_type)
            .field("node_id", &self.core.node_id)
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Starts configuring a server of `service_type` (e.g. `_echo._tcp`).
    pub fn builder(service_type: &str) -> ServerBuilder {
        ServerBuilder::new(service_type)
    }

    /// Where the server listens (with the actual port when 0 was asked for).
    pub fn local_addr(&self) -> &TransportAddr {
        &self.local_addr
    }

    /// The socket address, for TCP, TLS and QUIC listeners.
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.local_addr.socket_addr()
    }

    /// The node id.
    pub fn node_id(&self) -> &str {
        &self.core.node_id
    }

    /// The service type.
    pub fn service_type(&self) -> &str {
        &self.core.service_type
    }

    /// The registered procedure names, sorted.
    pub fn procedures(&self) -> Vec<String> {
        self.core.registry.names()
    }

    /// The peers connected now.
    pub fn connections(&self) -> Vec<PeerInfo> {
        lock(&self.conns).values().map(|s| s.peer.clone()).collect()
    }

    /// Counters.
    pub fn stats(&self) -> ServerStats {
        let c = &self.core.counters;
        ServerStats {
            connections: lock(&self.conns).len(),
            connections_accepted: c.connections_accepted.load(Ordering::Relaxed),
            connections_rejected: c.connections_rejected.load(Ordering::Relaxed),
            calls: c.calls.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
            errors_unsent: c.errors_unsent.load(Ordering::Relaxed),
            panics: c.panics.load(Ordering::Relaxed),
            cancelled: c.cancelled.load(Ordering::Relaxed),
            in_flight: self.core.in_flight(),
            streams: c.streams.load(Ordering::Relaxed),
        }
    }

    /// Stops gracefully: stops accepting and withdraws the mDNS announcement, refuses new
    /// calls (telling Rust peers to go elsewhere), lets calls in flight finish for up to
    /// `grace`, cancels the rest, then closes every connection.
    pub async fn shutdown(self, grace: Duration) -> ShutdownReport {
        let span = tracing::info_span!("zap.server.shutdown", node_id = %self.core.node_id);
        #[cfg(feature = "mdns")]
        let mut this = self;
        #[cfg(not(feature = "mdns"))]
        let this = self;
        async {
            this.stop.cancel();
            #[cfg(feature = "mdns")]
            if let Some(a) = this.announcer.take()
                && let Err(e) = a.withdraw().await
            {
                tracing::debug!(error = %e, "mDNS goodbye not confirmed");
            }
            this.core.draining.cancel();
            let drained = tokio::time::timeout(grace, this.core.wait_idle())
                .await
                .is_ok();
            let abandoned = this.core.in_flight();
            if !drained {
                tracing::warn!(
                    abandoned,
                    "grace period over; cancelling calls still running"
                );
                this.core.abort.cancel();
            }
            let open: Vec<Arc<Shared>> = lock(&this.conns).values().cloned().collect();
            for s in &open {
                s.finish();
            }
            this.tracker.close();
            if tokio::time::timeout(Duration::from_secs(1), this.tracker.wait())
                .await
                .is_err()
            {
                for s in &open {
                    s.close(ConnectionError::Local);
                }
                let _ = tokio::time::timeout(Duration::from_secs(1), this.tracker.wait()).await;
            }
            tracing::info!(drained, abandoned, "server stopped");
            ShutdownReport { drained, abandoned }
        }
        .instrument(span)
        .await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
        self.core.draining.cancel();
        self.core.abort.cancel();
        for s in lock(&self.conns).values() {
            s.close(ConnectionError::Local);
        }
    }
}
