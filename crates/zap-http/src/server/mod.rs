//! The server: any tower HTTP service (an axum `Router` as is) served over ZAP-HTTP.

mod connection;
mod respond;

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::net::Listener;
use tower::Service;
use tracing::Instrument;

use crate::body::Incoming;
use crate::error::BoxError;
use crate::wire::{DecodeLimits, EncodeOptions, HeaderCase};

/// The peer address of the connection a request arrived on, as a request extension.
///
/// `A` is the listener's address type: `SocketAddr` for TCP,
/// `tokio::net::unix::SocketAddr` for Unix sockets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RemoteAddr<A>(pub A);

/// The certificates the client presented, as a request extension on TLS connections that
/// asked for client authentication (feature `tls`).
#[cfg(feature = "tls")]
#[derive(Debug, Clone)]
pub struct PeerCertificates(pub Arc<[rustls_pki_types::CertificateDer<'static>]>);

/// Settings of a server (see [`Builder`] for meanings and defaults).
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) encode: EncodeOptions,
    pub(crate) limits: DecodeLimits,
    pub(crate) idle_timeout: Option<Duration>,
    pub(crate) frame_read_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) inline_threshold: usize,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
    #[cfg(feature = "tls")]
    pub(crate) tls_handshake_timeout: Duration,
}

/// Builds and runs a ZAP-HTTP server.
///
/// ```
/// use axum::{Router, routing::get};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let app = Router::new().route("/health", get(|| async { "ok" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let server = tokio::spawn(
///     zap_http::server::Builder::new()
///         .max_headers(64)
///         .idle_timeout(Some(std::time::Duration::from_secs(30)))
///         .serve_with_shutdown(listener, app, async {
///             let _ = stopped.await;
///         }),
/// );
/// // ... serve requests, then shut down gracefully:
/// let _ = stop.send(());
/// server.await??;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Builder {
    cfg: Config,
    max_connections: usize,
    shutdown_grace: Option<Duration>,
}

impl fmt::Debug for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("max_frame", &self.cfg.encode.max_frame)
            .field("limits", &self.cfg.limits)
            .field("idle_timeout", &self.cfg.idle_timeout)
            .field("frame_read_timeout", &self.cfg.frame_read_timeout)
            .field("write_timeout", &self.cfg.write_timeout)
            .field("inline_threshold", &self.cfg.inline_threshold)
            .field("max_connections", &self.max_connections)
            .field("shutdown_grace", &self.shutdown_grace)
            .finish_non_exhaustive()
    }
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

impl Builder {
    /// A server with the default limits and timeouts.
    pub fn new() -> Self {
        Self {
            cfg: Config {
                encode: EncodeOptions::default(),
                limits: DecodeLimits::default(),
                idle_timeout: Some(Duration::from_secs(120)),
                frame_read_timeout: Duration::from_secs(30),
                write_timeout: Duration::from_secs(30),
                inline_threshold: 256 << 10,
                #[cfg(feature = "tls")]
                tls: None,
                #[cfg(feature = "tls")]
                tls_handshake_timeout: Duration::from_secs(10),
            },
            max_connections: 10_000,
            shutdown_grace: None,
        }
    }

    /// The largest ZAP message accepted or sent. Bigger request frames are answered with
    /// 413 and the connection is closed. Default: 64 MiB.
    pub fn max_frame(mut self, bytes: usize) -> Self {
        self.cfg.encode.max_frame = bytes.clamp(1, u32::MAX as usize);
        self
    }

    /// The most header and trailer fields of a request; more are answered with 431 and
    /// the connection is closed. Default: 256.
    pub fn max_headers(mut self, n: usize) -> Self {
        self.cfg.limits.max_headers = n;
        self
    }

    /// The most bytes of header and trailer blocks of a request; more are answered with
    /// 431 and the connection is closed. Default: 256 KiB.
    pub fn max_header_bytes(mut self, bytes: usize) -> Self {
        self.cfg.limits.max_header_bytes = bytes;
        self
    }

    /// How long a connection may wait for the first byte of its next request before it
    /// is closed; `None` waits forever. Default: 120 s.
    pub fn idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.cfg.idle_timeout = timeout;
        self
    }

    /// How long the rest of a request frame may take once its first byte arrived (a
    /// slow upload is not mistaken for an idle connection). Default: 30 s.
    pub fn frame_read_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.frame_read_timeout = timeout;
        self
    }

    /// How long writing one response frame may take; a streamed response gets this much
    /// per frame, never for the whole stream. Default: 30 s.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.write_timeout = timeout;
        self
    }

    /// Responses whose exact size is known and at most this big go out as one frame
    /// (type 2); others are streamed (types 3, 4, 5). Default: 256 KiB.
    pub fn inline_threshold(mut self, bytes: usize) -> Self {
        self.cfg.inline_threshold = bytes;
        self
    }

    /// How header names are spelled on the wire. Default: Title-Case, as Go sends them.
    pub fn header_case(mut self, case: HeaderCase) -> Self {
        self.cfg.encode.header_case = case;
        self
    }

    /// The most connections served at once; further ones wait in the listen backlog.
    /// Default: 10 000.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// After a shutdown signal, how long in-flight exchanges may take to finish before
    /// their connections are dropped; `None` waits for them all. Default: `None`.
    pub fn shutdown_grace(mut self, grace: Option<Duration>) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Serves TLS with this rustls configuration (require client certificates in it for
    /// mutual TLS). The handshake runs per connection, off the accept loop.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.cfg.tls = Some(tokio_rustls::TlsAcceptor::from(config));
        self
    }

    /// Bounds the TLS handshake. Default: 10 s.
    #[cfg(feature = "tls")]
    pub fn tls_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.cfg.tls_handshake_timeout = timeout;
        self
    }

    /// Serves until the listener fails. See [`serve_with_shutdown`](Self::serve_with_shutdown).
    pub async fn serve<L, S, B>(self, listener: L, service: S) -> io::Result<()>
    where
        L: Listener + Send + 'static,
        L::Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
        L::Addr: Clone + fmt::Debug + Send + Sync + 'static,
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        self.serve_with_shutdown(listener, service, std::future::pending::<()>())
            .await
    }

    /// Serves until `signal` resolves, then shuts down gracefully: stops accepting,
    /// closes idle connections, lets every in-flight exchange finish (within the
    /// shutdown grace, if one is set), and returns once all connections are closed.
    ///
    /// Errors from accepting a connection (a full file table, a connection reset before
    /// it was accepted) are logged and survived; only a listener that can no longer
    /// report its address ends the server with an error.
    pub async fn serve_with_shutdown<L, S, B, F>(
        self,
        mut listener: L,
        service: S,
        signal: F,
    ) -> io::Result<()>
    where
        L: Listener + Send + 'static,
        L::Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
        L::Addr: Clone + fmt::Debug + Send + Sync + 'static,
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
        F: Future<Output = ()> + Send,
    {
        let local = listener.local_addr()?;
        let span = tracing::info_span!("zap_http.serve", local = ?local);
        let cfg = Arc::new(self.cfg);
        let permits = Arc::new(Semaphore::new(self.max_connections));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        let mut signal = std::pin::pin!(signal);
        async {
            loop {
                // Wait for room before accepting, so excess connections stay in the backlog.
                let permit = tokio::select! {
                    biased;
                    () = &mut signal => break,
                    Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                };
                let accepted = tokio::select! {
                    biased;
                    () = &mut signal => break,
                    Some(_) = connections.join_next(), if !connections.is_empty() => continue,
                    r = listener.accept() => r,
                };
                let (io, addr) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        metrics::counter!("zap_http_server_accept_errors_total").increment(1);
                        tracing::warn!(error = %e, "accept failed");
                        // Out of descriptors or similar: give a connection the chance to
                        // close, or a moment to pass, before trying again.
                        tokio::select! {
                            _ = connections.join_next(), if !connections.is_empty() => {}
                            () = tokio::time::sleep(Duration::from_millis(50)) => {}
                        }
                        continue;
                    }
                };
                metrics::counter!("zap_http_server_connections_total").increment(1);
                let conn_span = tracing::debug_span!("zap_http.connection", peer = ?addr);
                let task = connection::run(io, addr, service.clone(), cfg.clone(), stop_rx.clone());
                connections.spawn(
                    async move {
                        task.await;
                        drop(permit);
                    }
                    .instrument(conn_span),
                );
            }
            let _ = stop_tx.send(true);
            drop(listener);
            tracing::debug!(open = connections.len(), "shutting down");
            let drain = async { while connections.join_next().await.is_some() {} };
            match self.shutdown_grace {
                Some(grace) => {
                    if tokio::time::timeout(grace, drain).await.is_err() {
                        tracing::warn!(
                            open = connections.len(),
                            "shutdown grace ran out; dropping the remaining connections"
                        );
                        connections.shutdown().await;
                    }
                }
                None => drain.await,
            }
        }
        .instrument(span)
        .await;
        Ok(())
    }
}

/// Serves `service` on `listener` with the default settings until the listener fails.
///
/// Any tower service from `http::Request<Incoming>` to `http::Response<B>` works; an
/// axum `Router` needs no adapter:
///
/// ```no_run
/// use axum::{Router, routing::get};
///
/// # async fn run() -> std::io::Result<()> {
/// let app = Router::new().route("/", get(|| async { "hello over ZAP" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:9999").await?;
/// zap_http::serve(listener, app).await
/// # }
/// ```
pub async fn serve<L, S, B>(listener: L, service: S) -> io::Result<()>
where
    L: Listener + Send + 'static,
    L::Io: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    L::Addr: Clone + fmt::Debug + Send + Sync + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    Builder::new().serve(listener, service).await
}
