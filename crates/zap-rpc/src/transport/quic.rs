//! QUIC with quinn: the same certificates, handshake and messages as mutual TLS, with one
//! stream per call so that a slow or lost call never holds up another.
//!
//! A QUIC connection's first bidirectional stream (opened by the dialer) is the *control
//! stream*: the node-id handshake runs on it exactly as on TCP, and afterwards it carries
//! only connection frames (ping, pong, goaway). Every call then opens a bidirectional
//! stream of its own, and every send a unidirectional one; `docs/wire.md` has every byte.
//! 0-RTT is off (no early data, no session tickets), and the idle timeout and keep-alive
//! are set explicitly ([`QuicOptions`]).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::future::BoxFuture;
use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use rustls_pki_types::{CertificateDer, ServerName};
use zap_discovery::Peer;

use super::accept::Handshakes;
use super::tls::{TlsClientConfig, TlsError, TlsServerConfig, tls_info};
use super::{Dialer, Listener, TransportAddr, Transported, each_addr};
use crate::stream::code;

/// The ALPN protocol id of ZAP over QUIC (its framing differs from TLS's, so it has an id
/// of its own).
pub const ALPN_QUIC: &[u8] = b"zapq";

/// QUIC connection settings, all explicit (quinn's defaults are not relied on).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct QuicOptions {
    /// A connection that hears nothing (not even a keep-alive) for this long is closed, and
    /// its calls fail. Both sides announce it; the shorter one applies. Default: 30 s.
    pub idle_timeout: Duration,
    /// Send a QUIC PING after this long without sending anything, so an idle but healthy
    /// connection is not timed out; `None` lets idle connections close. Default: 10 s.
    pub keep_alive_interval: Option<Duration>,
    /// Calls (bidirectional streams) a client may have open on one connection at once; a
    /// caller beyond that waits for a stream. Default: 512 (256 running plus 256 queued,
    /// as `ConnectionOptions`).
    pub max_concurrent_calls: u32,
    /// Sends (unidirectional streams) a client may have open at once. Default: 64.
    pub max_concurrent_sends: u32,
    /// How long a dialer waits for the QUIC handshake and the control stream. Default:
    /// 10 s.
    pub connect_timeout: Duration,
}

impl Default for QuicOptions {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30),
            keep_alive_interval: Some(Duration::from_secs(10)),
            max_concurrent_calls: 512,
            max_concurrent_sends: 64,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

impl QuicOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the idle timeout.
    pub fn with_idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets (or, with `None`, turns off) the keep-alive interval.
    pub fn with_keep_alive(mut self, interval: Option<Duration>) -> Self {
        self.keep_alive_interval = interval;
        self
    }

    /// Sets how many calls a client may have open at once.
    pub fn with_max_concurrent_calls(mut self, n: u32) -> Self {
        self.max_concurrent_calls = n;
        self
    }

    /// Sets how many sends a client may have open at once.
    pub fn with_max_concurrent_sends(mut self, n: u32) -> Self {
        self.max_concurrent_sends = n;
        self
    }

    /// Sets the dialer's connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Checks the settings can work.
    pub(crate) fn validate(&self) -> io::Result<()> {
        let bad = |what: &str| {
            Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                what.to_string(),
            ))
        };
        if self.idle_timeout.is_zero() || self.connect_timeout.is_zero() {
            return bad("QUIC timeouts must be longer than zero");
        }
        if self
            .keep_alive_interval
            .is_some_and(|k| k.is_zero() || k >= self.idle_timeout)
        {
            return bad("the QUIC keep-alive interval must be shorter than the idle timeout");
        }
        if self.max_concurrent_calls == 0 {
            return bad("max_concurrent_calls must be at least 1");
        }
        Ok(())
    }

    /// The transport settings of one side. A client accepts no streams: only clients
    /// call.
    fn transport(&self, server: bool) -> io::Result<Arc<quinn::TransportConfig>> {
        self.validate()?;
        let idle = quinn::IdleTimeout::try_from(self.idle_timeout)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let mut t = quinn::TransportConfig::default();
        t.max_idle_timeout(Some(idle))
            .keep_alive_interval(self.keep_alive_interval);
        if server {
            // One more than the calls: the control stream.
            t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(
                self.max_concurrent_calls.saturating_add(1),
            ))
            .max_concurrent_uni_streams(quinn::VarInt::from_u32(self.max_concurrent_sends));
        } else {
            t.max_concurrent_bidi_streams(quinn::VarInt::from_u32(0))
                .max_concurrent_uni_streams(quinn::VarInt::from_u32(0));
        }
        Ok(Arc::new(t))
    }
}

fn quic_error(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, format!("{what}: {e}"))
}

/// The peer's verified certificate chain, as quinn's rustls session reports it.
fn peer_info(conn: &quinn::Connection) -> io::Result<Arc<crate::identity::TlsInfo>> {
    let certs = conn
        .peer_identity()
        .and_then(|id| id.downcast::<Vec<CertificateDer<'static>>>().ok());
    tls_info(certs.as_deref().map(Vec::as_slice), None, None)
}

/// The control stream's read half, whose errors say why the connection closed (quinn's
/// own say only "connection lost").
struct ControlRecv {
    recv: quinn::RecvStream,
    conn: quinn::Connection,
}

impl tokio::io::AsyncRead for ControlRecv {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.recv).poll_read(cx, buf) {
            std::task::Poll::Ready(Err(e)) => {
                let e = match this.conn.close_reason() {
                    Some(reason) => {
                        io::Error::new(e.kind(), format!("QUIC connection closed: {reason}"))
                    }
                    None => e,
                };
                std::task::Poll::Ready(Err(e))
            }
            other => other,
        }
    }
}

fn transported(
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    info: Arc<crate::identity::TlsInfo>,
) -> Transported {
    let remote = TransportAddr::Quic(conn.remote_address());
    let recv = ControlRecv {
        recv,
        conn: conn.clone(),
    };
    let mut t = Transported::new(Box::new(recv), Box::new(send), remote).with_tls(info);
    t.quic = Some(conn);
    t
}

/// A QUIC listener: one UDP socket; QUIC handshakes (with client certificates from the
/// trusted CA) and the opening of each connection's control stream run in the
/// background, bounded as [`TlsServerConfig`] says.
#[derive(Debug)]
pub struct QuicListener {
    endpoint: quinn::Endpoint,
    handshakes: Handshakes,
    local: TransportAddr,
}

impl QuicListener {
    /// Binds `addr` (UDP; port 0 picks a free port) with the server's certificates and
    /// these settings. Must be called within a tokio runtime.
    pub fn bind(
        addr: SocketAddr,
        tls: &TlsServerConfig,
        options: &QuicOptions,
    ) -> io::Result<Self> {
        let mut rustls = (**tls.rustls()).clone();
        rustls.alpn_protocols = vec![ALPN_QUIC.to_vec()];
        rustls.max_early_data_size = 0;
        let crypto = QuicServerConfig::try_from(Arc::new(rustls))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        let mut server = quinn::ServerConfig::with_crypto(Arc::new(crypto));
        server.transport_config(options.transport(true)?);
        let endpoint = quinn::Endpoint::server(server, addr)?;
        let local = TransportAddr::Quic(endpoint.local_addr()?);
        let accepting = endpoint.clone();
        let handshakes = Handshakes::spawn(
            "quic",
            move || {
                let endpoint = accepting.clone();
                async move { endpoint.accept().await.map(Ok) }
            },
            |incoming: quinn::Incoming| async move {
                let addr = incoming.remote_address();
                let conn = incoming
                    .accept()
                    .map_err(|e| quic_error(&format!("QUIC handshake with {addr}"), e))?
                    .await
                    .map_err(|e| quic_error(&format!("QUIC handshake with {addr}"), e))?;
                let info = match peer_info(&conn) {
                    Ok(info) => info,
                    Err(e) => {
                        conn.close(code::conn::PROTOCOL.into(), b"no client certificate");
                        return Err(e);
                    }
                };
                let (send, recv) = conn
                    .accept_bi()
                    .await
                    .map_err(|e| quic_error(&format!("control stream from {addr}"), e))?;
                Ok(transported(conn, send, recv, info))
            },
            tls.limits,
        );
        Ok(Self {
            endpoint,
            handshakes,
            local,
        })
    }
}

impl Drop for QuicListener {
    fn drop(&mut self) {
        // Refuse new connections; those already accepted keep the endpoint alive until
        // they close (a graceful shutdown is still draining them).
        self.endpoint.set_server_config(None);
    }
}

impl Listener for QuicListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Transported>> {
        Box::pin(self.handshakes.next())
    }

    fn local_addr(&self) -> TransportAddr {
        self.local.clone()
    }
}

struct DialerInner {
    config: quinn::ClientConfig,
    tls: TlsClientConfig,
    options: QuicOptions,
    /// One endpoint (UDP socket) per address family, bound on first use.
    endpoints: Mutex<[Option<quinn::Endpoint>; 2]>,
}

/// Dials QUIC: one UDP socket per address family, shared by every connection.
#[derive(Clone)]
pub struct QuicDialer {
    inner: Arc<DialerInner>,
}

impl std::fmt::Debug for QuicDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QuicDialer")
            .field("tls", &self.inner.tls)
            .field("options", &self.inner.options)
            .finish_non_exhaustive()
    }
}

impl QuicDialer {
    /// A dialer with the client's certificates and the default [`QuicOptions`].
    pub fn new(tls: TlsClientConfig) -> Result<Self, TlsError> {
        Self::with_options(tls, QuicOptions::default())
    }

    /// A dialer with the client's certificates and these settings.
    pub fn with_options(tls: TlsClientConfig, options: QuicOptions) -> Result<Self, TlsError> {
        let mut rustls = (**tls.rustls()).clone();
        rustls.alpn_protocols = vec![ALPN_QUIC.to_vec()];
        rustls.enable_early_data = false;
        let crypto = QuicClientConfig::try_from(Arc::new(rustls))
            .map_err(|e| TlsError::Quic(e.to_string()))?;
        let mut config = quinn::ClientConfig::new(Arc::new(crypto));
        config.transport_config(
            options
                .transport(false)
                .map_err(|e| TlsError::Quic(e.to_string()))?,
        );
        Ok(Self {
            inner: Arc::new(DialerInner {
                config,
                tls,
                options,
                endpoints: Mutex::new([None, None]),
            }),
        })
    }

    fn endpoint(&self, v6: bool) -> io::Result<quinn::Endpoint> {
        let mut endpoints = self
            .inner
            .endpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let slot = &mut endpoints[usize::from(v6)];
        if let Some(e) = slot {
            return Ok(e.clone());
        }
        let any: IpAddr = if v6 {
            std::net::Ipv6Addr::UNSPECIFIED.into()
        } else {
            std::net::Ipv4Addr::UNSPECIFIED.into()
        };
        let e = quinn::Endpoint::client(SocketAddr::new(any, 0))?;
        *slot = Some(e.clone());
        Ok(e)
    }

    /// Connects to `addr`, verifies the server's certificate as the TLS settings say for
    /// `peer`, and opens the control stream.
    pub(crate) async fn dial_addr(&self, peer: &Peer, addr: SocketAddr) -> io::Result<Transported> {
        let endpoint = self.endpoint(addr.is_ipv6())?;
        let name = match self.inner.tls.server_name_for(peer, addr) {
            ServerName::DnsName(d) => d.as_ref().to_string(),
            ServerName::IpAddress(ip) => IpAddr::from(ip).to_string(),
            other => format!("{other:?}"),
        };
        let connecting = endpoint
            .connect_with(self.inner.config.clone(), addr, &name)
            .map_err(|e| quic_error(&format!("QUIC connect to {addr}"), e))?;
        let timeout = self.inner.options.connect_timeout;
        let work = async {
            let conn = connecting
                .await
                .map_err(|e| quic_error(&format!("QUIC handshake with {addr}"), e))?;
            let info = peer_info(&conn)?;
            let (send, recv) = conn
                .open_bi()
                .await
                .map_err(|e| quic_error(&format!("control stream to {addr}"), e))?;
            Ok(transported(conn, send, recv, info))
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("QUIC connect to {addr} timed out after {timeout:?}"),
            )),
        }
    }
}

impl Dialer for QuicDialer {
    fn dial<'a>(&'a self, peer: &'a Peer) -> BoxFuture<'a, io::Result<Transported>> {
        Box::pin(each_addr(peer, move |a| self.dial_addr(peer, a)))
    }
}
