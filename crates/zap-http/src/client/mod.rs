//! The client: a pooled `tower::Service<http::Request<B>>` speaking ZAP-HTTP.

mod connect;
mod endpoint;
pub(crate) mod pool;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Method, Request, Response};
use http_body::Body;
use http_body_util::LengthLimitError;
use tracing::Instrument;

pub use connect::{BoxFuture, Connect, TcpConnector};
pub use endpoint::{DEFAULT_PORT, Endpoint};

use crate::body::Incoming;
use crate::conn::{Conn, RoundTripError};
use crate::error::{BoxError, Error, TimeoutKind};
use crate::timer::{Deadline, Elapsed};
use crate::wire::{
    DecodeLimits, EncodeOptions, HeaderCase, MESSAGE_OVERHEAD, Reply, WireError, decode_reply,
    encode_request_in,
};
use pool::{Pool, PoolConfig, WeakPool};

/// Settings shared by every request of one client.
#[derive(Debug, Clone, Copy)]
struct Config {
    connect_timeout: Duration,
    response_head_timeout: Duration,
    stream_idle_timeout: Option<Duration>,
    encode: EncodeOptions,
    limits: DecodeLimits,
    retry: bool,
}

struct Inner {
    connector: Arc<dyn Connect>,
    pool: Pool,
    cfg: Config,
}

/// A ZAP-HTTP client with a connection pool per endpoint.
///
/// It is a `tower::Service<http::Request<B>>` whose responses are
/// `http::Response<`[`Incoming`]`>`, so tower and tower-http client layers (timeouts,
/// retries, `SetRequestHeader`, tracing) wrap it as they wrap any HTTP client. Cloning
/// is cheap and clones share the pool; the pool's connections close when the last clone
/// is dropped.
///
/// Each request goes to the [`Endpoint`] in its extensions, or else to its URI's
/// authority (port 9999 by default), and always carries a `Host` field: the URI's
/// authority, else the endpoint. One exchange runs on a connection at a time. A
/// request that fails on a reused connection before any response byte arrived is sent
/// once more on a new connection when that is safe: always when the write itself failed,
/// otherwise only for idempotent methods.
///
/// ```no_run
/// use http_body_util::{BodyExt, Empty};
/// use bytes::Bytes;
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let client = zap_http::Client::new();
/// let req = http::Request::get("http://127.0.0.1:9999/health").body(Empty::<Bytes>::new())?;
/// let resp = client.request(req).await?;
/// let body = resp.into_body().collect().await?.to_bytes();
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.cfg)
            .field("mutual_tls", &self.inner.connector.is_mutual_tls())
            .finish_non_exhaustive()
    }
}

impl Default for Client {
    fn default() -> Self {
        Self::new()
    }
}

impl Client {
    /// A client over plain TCP with the default settings.
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder to change the connector, timeouts, pool and limits.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Sends a request and waits for the response head.
    pub async fn request<B>(&self, req: Request<B>) -> Result<Response<Incoming>, Error>
    where
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        send(self.inner.clone(), req).await
    }

    /// Closes the idle connections to `endpoint`; its active ones close when their
    /// exchange ends instead of returning to the pool.
    pub fn evict(&self, endpoint: &Endpoint) {
        self.inner.pool.evict(endpoint);
    }

    /// Evicts every endpoint for which `keep` returns false.
    pub fn retain_endpoints(&self, keep: impl FnMut(&Endpoint) -> bool) {
        self.inner.pool.retain(keep);
    }

    /// The endpoints the pool holds connections or state for.
    pub fn pooled_endpoints(&self) -> Vec<Endpoint> {
        self.inner.pool.endpoints()
    }

    /// Idle connections pooled for `endpoint`.
    pub fn idle_connections(&self, endpoint: &Endpoint) -> usize {
        self.inner.pool.idle(endpoint)
    }

    /// True when the connector only opens mutually authenticated TLS connections.
    pub fn is_mutual_tls(&self) -> bool {
        self.inner.connector.is_mutual_tls()
    }

    /// The largest ZAP message this client sends or accepts.
    pub fn max_frame(&self) -> usize {
        self.inner.cfg.encode.max_frame
    }

    pub(crate) fn weak_pool(&self) -> WeakPool {
        self.inner.pool.downgrade()
    }
}

/// Builds a [`Client`].
#[derive(Clone)]
pub struct ClientBuilder {
    connector: Arc<dyn Connect>,
    cfg: Config,
    pool: PoolConfig,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.cfg)
            .field("pool", &self.pool)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            connector: Arc::new(TcpConnector::new()),
            cfg: Config {
                connect_timeout: Duration::from_secs(10),
                response_head_timeout: Duration::from_secs(30),
                stream_idle_timeout: Some(Duration::from_secs(30)),
                encode: EncodeOptions::default(),
                limits: DecodeLimits::default(),
                retry: true,
            },
            pool: PoolConfig {
                max_idle_per_endpoint: 32,
                idle_timeout: Duration::from_secs(90),
                max_per_endpoint: Some(1024),
            },
        }
    }
}

impl ClientBuilder {
    /// Opens connections with `connector` (default: [`TcpConnector`]).
    pub fn connector(mut self, connector: impl Connect) -> Self {
        self.connector = Arc::new(connector);
        self
    }

    /// Bounds getting a connection: waiting for a slot under the per-endpoint cap,
    /// dialing and any TLS handshake. Default: 10 s (Go's dial timeout).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.connect_timeout = timeout;
        self
    }

    /// Bounds sending the request and receiving the response head. A streamed body is
    /// not bounded by it (see [`stream_idle_timeout`](Self::stream_idle_timeout)), so a
    /// long stream is never cut by the time it started. Default: 30 s.
    pub fn response_head_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.response_head_timeout = timeout;
        self
    }

    /// Bounds each wait for the next frame of a streamed body; `None` waits forever
    /// (for event streams that may be silent for long). Default: 30 s.
    pub fn stream_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.cfg.stream_idle_timeout = timeout;
        self
    }

    /// Closes pooled connections idle for this long. Default: 90 s.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.pool.idle_timeout = timeout;
        self
    }

    /// Keeps at most this many idle connections per endpoint. Default: 32 (as Go).
    pub fn max_idle_per_endpoint(mut self, n: usize) -> Self {
        self.pool.max_idle_per_endpoint = n;
        self
    }

    /// Caps the connections open to one endpoint; a request beyond the cap waits (within
    /// the connect timeout) for one to come free. `None` removes the cap. Default: 1024.
    pub fn max_connections_per_endpoint(mut self, n: Option<usize>) -> Self {
        self.pool.max_per_endpoint = n.map(|n| n.max(1));
        self
    }

    /// The largest ZAP message to send or accept. Default: 64 MiB.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.cfg.encode.max_frame = bytes.min(u32::MAX as usize);
        self
    }

    /// How header names are spelled on the wire. Default: Title-Case, as Go sends them.
    pub fn header_case(mut self, case: HeaderCase) -> Self {
        self.cfg.encode.header_case = case;
        self
    }

    /// Limits on the headers and trailers of responses.
    pub fn decode_limits(mut self, limits: DecodeLimits) -> Self {
        self.cfg.limits = limits;
        self
    }

    /// Whether to resend a request once on a fresh connection after a reused one failed
    /// before any response byte (see [`Client`]). Default: on.
    pub fn retry_stale_connections(mut self, on: bool) -> Self {
        self.cfg.retry = on;
        self
    }

    /// Builds the client.
    pub fn build(self) -> Client {
        Client {
            inner: Arc::new(Inner {
                connector: self.connector,
                pool: Pool::new(self.pool),
                cfg: self.cfg,
            }),
        }
    }
}

/// Methods whose repetition has the effect of one request (RFC 9110 §9.2.2).
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// How far an exchange got before it failed, which decides whether it may be resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Getting the connection: nothing was sent.
    Connect,
    /// Writing the request failed, so the peer never had the whole frame.
    Write,
    /// The request went out and the connection failed before any response byte.
    NoResponse,
    /// Some of the response arrived.
    Response,
}

struct Failure {
    error: Error,
    stage: Stage,
    reused: bool,
}

impl Failure {
    fn new(error: Error, stage: Stage, reused: bool) -> Self {
        Self {
            error,
            stage,
            reused,
        }
    }

    fn may_resend(&self, idempotent: bool) -> bool {
        self.reused
            && (self.stage == Stage::Write || (idempotent && self.stage == Stage::NoResponse))
    }
}

/// Reads a request body whole, within the frame limit.
pub(crate) async fn collect<B>(
    body: B,
    max: usize,
) -> Result<(Bytes, Option<http::HeaderMap>), Error>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    match crate::body::collect_small(body, max).await {
        Ok(collected) => Ok(collected),
        Err(e) if e.is::<LengthLimitError>() => Err(Error::BodyTooLarge { max }),
        Err(e) => Err(Error::Body(e)),
    }
}

async fn send<B>(inner: Arc<Inner>, req: Request<B>) -> Result<Response<Incoming>, Error>
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = req.into_parts();
    if parts.method == Method::CONNECT || parts.headers.contains_key(header::UPGRADE) {
        return Err(Error::InvalidRequest(
            "CONNECT and protocol upgrades cannot be carried over ZAP-HTTP".into(),
        ));
    }
    let endpoint = match parts.extensions.remove::<Endpoint>() {
        Some(ep) => ep,
        None => Endpoint::from_uri(&parts.uri).ok_or_else(|| {
            Error::InvalidRequest(format!(
                "{} names no host: use an absolute URI or put an Endpoint in the request's extensions",
                parts.uri
            ))
        })?,
    };
    // The caller's `Host` goes out as it is; otherwise the encoder adds one after the
    // other fields (the caller's map is left alone, and nothing is allocated for it).
    let fallback_host;
    let host = if parts.headers.contains_key(header::HOST) {
        None
    } else if let Some(authority) = parts.uri.authority() {
        // A parsed authority holds only URI characters, all valid in a field value.
        Some(authority.as_str().as_bytes())
    } else {
        fallback_host = HeaderValue::from_str(&endpoint.authority())
            .map_err(|_| Error::InvalidRequest("the authority is not a valid Host value".into()))?;
        Some(fallback_host.as_bytes())
    };
    let cfg = inner.cfg;
    let (data, trailers) = collect(body, cfg.encode.max_frame).await?;
    // The exact size is known once the frame is encoded (into the connection's buffer);
    // refuse what cannot fit before taking a connection for it.
    if data.len().saturating_add(MESSAGE_OVERHEAD) > cfg.encode.max_frame {
        return Err(Error::BodyTooLarge {
            max: cfg.encode.max_frame,
        });
    }
    let request = Outgoing {
        parts: &parts,
        host,
        data: &data,
        trailers: trailers.as_ref(),
    };
    let idempotent = is_idempotent(&parts.method);
    let span = tracing::debug_span!(
        "zap_http.request",
        method = %parts.method,
        uri = %parts.uri,
        endpoint = %endpoint,
    );
    async {
        match inner.exchange(&endpoint, &request, false).await {
            Ok(resp) => Ok(resp),
            Err(f) if cfg.retry && f.may_resend(idempotent) => {
                tracing::debug!(error = %f.error, "reused connection failed; resending on a new one");
                inner
                    .exchange(&endpoint, &request, true)
                    .await
                    .map_err(|f| f.error)
            }
            Err(f) => Err(f.error),
        }
    }
    .instrument(span)
    .await
}

/// A request ready to be encoded, again on a fresh connection if it must be resent.
struct Outgoing<'a> {
    parts: &'a http::request::Parts,
    /// A `Host` value to add; `None` when the headers have one.
    host: Option<&'a [u8]>,
    data: &'a Bytes,
    trailers: Option<&'a http::HeaderMap>,
}

impl Inner {
    async fn connect(&self, endpoint: &Endpoint) -> Result<Conn<crate::conn::BoxIo>, Error> {
        let io = self
            .connector
            .connect(endpoint)
            .instrument(tracing::debug_span!("zap_http.connect", endpoint = %endpoint))
            .await
            .map_err(|source| Error::Connect {
                endpoint: endpoint.to_string(),
                source,
            })?;
        Ok(Conn::new(io, self.cfg.encode.max_frame))
    }

    /// One attempt: a connection, the request out, the response head in.
    async fn exchange(
        &self,
        endpoint: &Endpoint,
        request: &Outgoing<'_>,
        fresh: bool,
    ) -> Result<Response<Incoming>, Failure> {
        let checkout = self
            .pool
            .checkout(endpoint, fresh, || self.connect(endpoint));
        // Usually an idle connection is at hand: the timer starts only if we must wait.
        let mut pooled = match Deadline::new()
            .within(self.cfg.connect_timeout, checkout)
            .await
        {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => return Err(Failure::new(e, Stage::Connect, false)),
            Err(Elapsed) => {
                return Err(Failure::new(
                    Error::Timeout(TimeoutKind::Connect),
                    Stage::Connect,
                    false,
                ));
            }
        };
        let reused = pooled.reused;
        let encoded = encode_request_in(
            request.parts,
            request.host,
            request.data,
            request.trailers,
            &self.cfg.encode,
            pooled.conn().scratch(),
        );
        let frame = match encoded {
            Ok(frame) => frame,
            Err(e) => {
                // Nothing was sent: the connection stays good for the next request.
                pooled.release();
                let error = match e {
                    WireError::FrameTooLarge { max, .. } => Error::BodyTooLarge { max },
                    other => Error::Wire(other),
                };
                return Err(Failure::new(error, Stage::Connect, reused));
            }
        };
        let conn = pooled.conn();
        let message = match conn
            .round_trip_within(&frame, self.cfg.response_head_timeout)
            .await
        {
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) => {
                return Err(Failure::new(
                    Error::Closed("before the response"),
                    Stage::NoResponse,
                    reused,
                ));
            }
            Ok(Err(RoundTripError::Write(e))) => {
                return Err(Failure::new(Error::Io(e), Stage::Write, reused));
            }
            Ok(Err(RoundTripError::Read(e))) => {
                let stage = if conn.buffered() == 0 && matches!(e, Error::Io(_)) {
                    Stage::NoResponse
                } else {
                    Stage::Response
                };
                return Err(Failure::new(e, stage, reused));
            }
            Err(Elapsed) => {
                return Err(Failure::new(
                    Error::Timeout(TimeoutKind::ResponseHead),
                    Stage::Response,
                    reused,
                ));
            }
        };
        drop(frame);
        match decode_reply(message, &self.cfg.limits) {
            Ok(Reply::Full(decoded)) => {
                pooled.release();
                let trailers = decoded.trailers;
                Ok(decoded.response.map(|b| Incoming::full(b, trailers)))
            }
            Ok(Reply::Head(head)) => Ok(head
                .map(|()| Incoming::stream(pooled, self.cfg.limits, self.cfg.stream_idle_timeout))),
            Err(e) => Err(Failure::new(e.into(), Stage::Response, reused)),
        }
    }
}

/// The future of [`Client`]'s `Service::call`.
pub struct ResponseFuture {
    inner: BoxFuture<'static, Result<Response<Incoming>, Error>>,
}

impl fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl ResponseFuture {
    pub(crate) fn new(
        fut: impl Future<Output = Result<Response<Incoming>, Error>> + Send + 'static,
    ) -> Self {
        Self {
            inner: Box::pin(fut),
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Incoming>, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B> tower::Service<Request<B>> for Client
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<Incoming>;
    type Error = Error;
    type Future = ResponseFuture;

    /// Always ready: back-pressure is per endpoint, inside the call.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> ResponseFuture {
        ResponseFuture::new(send(self.inner.clone(), req))
    }
}
