//! The discovery dialer: HTTP over ZAP to whichever peers discovery finds.
//!
//! A [`DiscoveryClient`] is built from four parts, as Go's `clienthttp` was:
//!
//! * a [`Discovery`] (zap-discovery: static, mDNS, DNS) that says which peers exist;
//! * a [`Picker`] that chooses one per request (round robin by default, over snapshots
//!   sorted by node id, so it really rotates);
//! * a [`Dialer`] that says how to reach a peer (an [`Endpoint`]), with a [`Client`]
//!   that connects (plain TCP, or TLS with feature `tls`) and pools per endpoint;
//! * an [`AuthAttacher`] that adds credentials once the peer is known: [`Bearer`],
//!   [`NoAuth`] (only over mutual TLS) or your own.
//!
//! What it fixes from Go: auth never silently disappears (an empty bearer, or no auth
//! at all, is a build error), local trust needs real mutual TLS, the pools of peers that
//! discovery removes are closed, a request that cannot connect to its peer fails over
//! to another, the client never announces itself as a peer, and it never mutates the
//! caller's request.
//!
//! ```
//! use std::sync::Arc;
//! use axum::{Router, routing::get};
//! use http_body_util::{BodyExt, Empty};
//! use bytes::Bytes;
//! use zap_discovery::StaticDiscovery;
//! use zap_http::discovery::{Bearer, DiscoveryClient};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! let app = Router::new().route("/who", get(|h: http::HeaderMap| async move {
//!     h[http::header::AUTHORIZATION].to_str().unwrap_or_default().to_string()
//! }));
//! tokio::spawn(zap_http::serve(listener, app));
//!
//! let discovery = StaticDiscovery::from_addrs("_billing._tcp", [addr])?;
//! let client = DiscoveryClient::builder(discovery)
//!     .auth(Bearer::new("s3cret")?)
//!     .build()
//!     .await?;
//! let req = http::Request::get("http://billing/who").body(Empty::<Bytes>::new())?;
//! let resp = client.request(req).await?;
//! assert_eq!(resp.into_body().collect().await?.to_bytes(), "Bearer s3cret");
//! # Ok(()) }
//! ```

mod auth;

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http::{Request, Response};
use http_body::Body;
use tokio::task::AbortHandle;
use tracing::Instrument;
use zap_discovery::{Discovery, Peer, PeerEvent, Picker, RoundRobin};

pub use auth::{AuthAttacher, Bearer, NoAuth};

use crate::body::Incoming;
use crate::client::pool::WeakPool;
use crate::client::{Client, Endpoint, ResponseFuture};
use crate::error::{BoxError, Error, TimeoutKind};

/// Says how to reach a peer: which [`Endpoint`] (address, TLS name) to connect to.
///
/// Closures `Fn(&Peer) -> Result<Endpoint, Error>` are dialers too.
pub trait Dialer: Send + Sync + 'static {
    /// The endpoint for `peer`. It must be the same for the same peer, since it also
    /// names the connections to close when the peer goes away.
    fn endpoint(&self, peer: &Peer) -> Result<Endpoint, Error>;
}

impl<F> Dialer for F
where
    F: Fn(&Peer) -> Result<Endpoint, Error> + Send + Sync + 'static,
{
    fn endpoint(&self, peer: &Peer) -> Result<Endpoint, Error> {
        self(peer)
    }
}

/// The default [`Dialer`]: the peer's preferred address over TCP, with the node id (when
/// the peer announced one) as the TLS server name, so that certificates name nodes.
#[derive(Debug, Clone, Copy, Default)]
pub struct PeerAddrDialer;

impl Dialer for PeerAddrDialer {
    fn endpoint(&self, peer: &Peer) -> Result<Endpoint, Error> {
        let ep = Endpoint::tcp(peer.addr());
        Ok(match peer.node_id() {
            Some(id) => ep.with_tls_name(id),
            None => ep,
        })
    }
}

struct Inner {
    discovery: Arc<dyn Discovery>,
    picker: Arc<dyn Picker>,
    dialer: Arc<dyn Dialer>,
    auth: Arc<dyn AuthAttacher>,
    client: Client,
    client_id: String,
    browse_interval: Duration,
    http_timeout: Option<Duration>,
    max_attempts: usize,
    last_refresh: Mutex<Option<Instant>>,
    evictor: AbortHandle,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.evictor.abort();
    }
}

/// A ZAP-HTTP client whose requests go to peers found by discovery.
///
/// It is a `tower::Service<http::Request<B>>` like [`Client`], so tower-http layers
/// compose with it. The request's URI authority is sent as `Host` (a logical service
/// name keeps working with multi-tenant callees); the peer comes from discovery.
#[derive(Clone)]
pub struct DiscoveryClient {
    inner: Arc<Inner>,
}

impl fmt::Debug for DiscoveryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscoveryClient")
            .field("client_id", &self.inner.client_id)
            .field("service_type", &self.inner.discovery.service_type())
            .field("peers", &self.inner.discovery.peer_count())
            .finish_non_exhaustive()
    }
}

impl DiscoveryClient {
    /// A builder over `discovery` (any backend, or an `Arc<dyn Discovery>`).
    pub fn builder(discovery: impl Discovery + 'static) -> DiscoveryClientBuilder {
        DiscoveryClientBuilder::new(Arc::new(discovery))
    }

    /// Sends a request to a discovered peer and waits for the response head.
    pub async fn request<B>(&self, req: Request<B>) -> Result<Response<Incoming>, Error>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        send(self.inner.clone(), req).await
    }

    /// The id this client uses in its logs (it is never announced).
    pub fn client_id(&self) -> &str {
        &self.inner.client_id
    }

    /// The peers discovery knows now.
    pub fn peers(&self) -> Vec<Peer> {
        self.inner.discovery.peers().to_vec()
    }

    /// The underlying pooled client.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Stops discovery and closes every pooled connection. Requests already under way
    /// finish; later ones fail with a discovery error.
    pub fn shutdown(&self) {
        self.inner.discovery.stop();
        self.inner.evictor.abort();
        self.inner.client.retain_endpoints(|_| false);
    }
}

/// Builds a [`DiscoveryClient`]; see [`DiscoveryClient::builder`].
pub struct DiscoveryClientBuilder {
    discovery: Arc<dyn Discovery>,
    picker: Arc<dyn Picker>,
    dialer: Arc<dyn Dialer>,
    auth: Option<Arc<dyn AuthAttacher>>,
    client: Option<Client>,
    client_id: String,
    min_peers: usize,
    discover_timeout: Duration,
    browse_interval: Duration,
    http_timeout: Option<Duration>,
    max_attempts: usize,
}

impl fmt::Debug for DiscoveryClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscoveryClientBuilder")
            .field("service_type", &self.discovery.service_type())
            .field("client_id", &self.client_id)
            .field("min_peers", &self.min_peers)
            .field("discover_timeout", &self.discover_timeout)
            .field("browse_interval", &self.browse_interval)
            .field("http_timeout", &self.http_timeout)
            .field("auth", &self.auth.is_some())
            .finish_non_exhaustive()
    }
}

impl DiscoveryClientBuilder {
    fn new(discovery: Arc<dyn Discovery>) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Self {
            discovery,
            picker: Arc::new(RoundRobin::new()),
            dialer: Arc::new(PeerAddrDialer),
            auth: None,
            client: None,
            client_id: format!("zap-http-{:04x}", nanos & 0xffff),
            min_peers: 1,
            discover_timeout: Duration::from_secs(10),
            browse_interval: Duration::from_secs(5),
            http_timeout: Some(Duration::from_secs(30)),
            max_attempts: 3,
        }
    }

    /// Chooses peers with `picker`. Default: [`RoundRobin`].
    pub fn picker(mut self, picker: impl Picker + 'static) -> Self {
        self.picker = Arc::new(picker);
        self
    }

    /// Maps peers to endpoints with `dialer`. Default: [`PeerAddrDialer`].
    pub fn dialer(mut self, dialer: impl Dialer) -> Self {
        self.dialer = Arc::new(dialer);
        self
    }

    /// Adds credentials with `auth`. Required: there is no default, so a client never
    /// sends unauthenticated requests by accident.
    pub fn auth(mut self, auth: impl AuthAttacher) -> Self {
        self.auth = Some(Arc::new(auth));
        self
    }

    /// Sends through `client` (its connector, timeouts and pool). Default: a
    /// [`Client::new`] over plain TCP. Give it a dedicated client: endpoints of removed
    /// peers are evicted from it.
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Names this client in logs. Default: `zap-http-` and four hex digits.
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = id.into();
        self
    }

    /// How many peers must be known before [`build`](Self::build) returns; 0 skips the
    /// wait. Default: 1.
    pub fn min_peers(mut self, n: usize) -> Self {
        self.min_peers = n;
        self
    }

    /// How long [`build`](Self::build) waits for the minimum number of peers. Default:
    /// 10 s (a fixed time, as Go's code had it, whatever its comment said).
    pub fn discover_timeout(mut self, timeout: Duration) -> Self {
        self.discover_timeout = timeout;
        self
    }

    /// How often the backend is asked to look again ([`Discovery::refresh`]) while too
    /// few peers are known: during the startup wait, and at most this often when a
    /// request finds no peer. Default: 5 s.
    pub fn browse_interval(mut self, interval: Duration) -> Self {
        self.browse_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// Bounds each request from the call until the response head arrives, failover
    /// included; `None` for no bound. A streamed body is bounded per frame by the
    /// client's stream-idle timeout instead, so long streams survive. Default: 30 s.
    pub fn http_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.http_timeout = timeout;
        self
    }

    /// How many different peers a request tries when connecting fails. Default: 3.
    pub fn max_attempts(mut self, n: usize) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// Checks the configuration, waits for the minimum number of peers, and starts
    /// closing the pools of peers that go away.
    pub async fn build(self) -> Result<DiscoveryClient, Error> {
        let auth = self.auth.ok_or_else(|| {
            Error::Config(
                "no auth configured: use Bearer, NoAuth (mutual TLS only) or a custom AuthAttacher"
                    .into(),
            )
        })?;
        let client = self.client.unwrap_or_default();
        if auth.relies_on_mutual_tls() && !client.is_mutual_tls() {
            return Err(Error::Config(
                "local trust (NoAuth) needs a mutual-TLS connector: \
                 plain TCP would send unauthenticated requests to whoever announces the service"
                    .into(),
            ));
        }
        if self.discovery.is_stopped() {
            return Err(Error::Discovery(zap_discovery::Error::Stopped));
        }
        let span = tracing::info_span!(
            "zap_http.discover",
            client_id = %self.client_id,
            service_type = %self.discovery.service_type(),
        );
        if self.min_peers > 0 {
            wait_for_peers(
                &*self.discovery,
                self.min_peers,
                self.discover_timeout,
                self.browse_interval,
            )
            .instrument(span)
            .await?;
        }
        let evictor = tokio::spawn(evict_removed(
            self.discovery.clone(),
            self.dialer.clone(),
            client.weak_pool(),
        ))
        .abort_handle();
        Ok(DiscoveryClient {
            inner: Arc::new(Inner {
                discovery: self.discovery,
                picker: self.picker,
                dialer: self.dialer,
                auth,
                client,
                client_id: self.client_id,
                browse_interval: self.browse_interval,
                http_timeout: self.http_timeout,
                max_attempts: self.max_attempts,
                last_refresh: Mutex::new(None),
                evictor,
            }),
        })
    }
}

async fn wait_for_peers(
    discovery: &dyn Discovery,
    min: usize,
    timeout: Duration,
    every: Duration,
) -> Result<(), Error> {
    let mut sub = discovery.subscribe();
    let refresh = async {
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Err(e) = discovery.refresh().await {
                tracing::debug!(error = %e, "discovery refresh failed");
            }
        }
    };
    tokio::select! {
        r = sub.wait_for_peers(min, timeout) => r.map(drop).map_err(Error::Discovery),
        () = refresh => Ok(()),
    }
}

/// Follows discovery and closes the connections of peers it removes, until discovery
/// stops or the client's pool is gone.
async fn evict_removed(discovery: Arc<dyn Discovery>, dialer: Arc<dyn Dialer>, pool: WeakPool) {
    let mut sub = discovery.subscribe();
    drop(discovery);
    let endpoint = |p: &Peer| dialer.endpoint(p).ok();
    let mut known: HashSet<Endpoint> = sub.snapshot().iter().filter_map(endpoint).collect();
    while let Some(event) = sub.recv().await {
        let Some(pool) = pool.upgrade() else {
            return;
        };
        match event {
            PeerEvent::Added(p) => known.extend(endpoint(&p)),
            PeerEvent::Removed(p) => {
                if let Some(ep) = endpoint(&p) {
                    known.remove(&ep);
                    pool.evict(&ep);
                }
            }
            PeerEvent::Updated { old, new } => {
                let (old, new) = (endpoint(&old), endpoint(&new));
                if old != new {
                    if let Some(ep) = old {
                        known.remove(&ep);
                        pool.evict(&ep);
                    }
                    known.extend(new);
                }
            }
            PeerEvent::Resync(snapshot) => {
                let now: HashSet<Endpoint> = snapshot.iter().filter_map(endpoint).collect();
                for gone in known.difference(&now) {
                    pool.evict(gone);
                }
                known = now;
            }
        }
    }
}

impl Inner {
    /// The current peers, asking the backend to look again (at most once per browse
    /// interval) when there are none.
    async fn peers(&self) -> Vec<Peer> {
        let peers = self.discovery.peers();
        if !peers.is_empty() {
            return peers.to_vec();
        }
        let due = {
            let mut last = self.last_refresh.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|t| t.elapsed() >= self.browse_interval);
            if due {
                *last = Some(Instant::now());
            }
            due
        };
        if due {
            match self.discovery.refresh().await {
                Ok(snapshot) => return snapshot.to_vec(),
                Err(e) => tracing::debug!(error = %e, "discovery refresh failed"),
            }
        }
        self.discovery.peers().to_vec()
    }

    async fn attempts(
        &self,
        parts: http::request::Parts,
        body: bytes::Bytes,
        trailers: Option<http::HeaderMap>,
    ) -> Result<Response<Incoming>, Error> {
        let mut tried: Vec<String> = Vec::new();
        let mut last_error = None;
        for _ in 0..self.max_attempts {
            let candidates: Vec<Peer> = self
                .peers()
                .await
                .into_iter()
                .filter(|p| !tried.iter().any(|k| k == p.key()))
                .collect();
            let peer = match self.picker.pick(&candidates) {
                Ok(p) => p.clone(),
                Err(e) => return Err(last_error.unwrap_or(Error::Discovery(e))),
            };
            tried.push(peer.key().to_string());
            let endpoint = self.dialer.endpoint(&peer)?;
            let mut parts = parts.clone();
            self.auth
                .attach(&mut parts.headers, &peer)
                .map_err(|e| match e {
                    Error::Auth(_) | Error::Config(_) => e,
                    other => Error::Auth(other.to_string()),
                })?;
            parts.extensions.insert(endpoint);
            let req = Request::from_parts(parts, Incoming::full(body.clone(), trailers.clone()));
            match self
                .client
                .request(req)
                .instrument(tracing::debug_span!("zap_http.attempt", peer = %peer))
                .await
            {
                Err(e) if e.is_connect() => {
                    tracing::debug!(peer = %peer, error = %e, "peer unreachable; trying another");
                    last_error = Some(e);
                }
                other => return other,
            }
        }
        Err(last_error.unwrap_or(Error::Discovery(zap_discovery::Error::NoPeers)))
    }
}

async fn send<B>(inner: Arc<Inner>, req: Request<B>) -> Result<Response<Incoming>, Error>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let span = tracing::debug_span!(
        "zap_http.discovery_request",
        client_id = %inner.client_id,
        service_type = %inner.discovery.service_type(),
        method = %req.method(),
        uri = %req.uri(),
    );
    async move {
        let (parts, body) = req.into_parts();
        let (body, trailers) = crate::client::collect(body, inner.client.max_frame()).await?;
        let attempts = inner.attempts(parts, body, trailers);
        match inner.http_timeout {
            Some(t) => tokio::time::timeout(t, attempts)
                .await
                .map_err(|_| Error::Timeout(TimeoutKind::Request))?,
            None => attempts.await,
        }
    }
    .instrument(span)
    .await
}

impl<B> tower::Service<Request<B>> for DiscoveryClient
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Incoming>;
    type Error = Error;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ResponseFuture {
        ResponseFuture::new(send(self.inner.clone(), req))
    }
}
