//! Byte streams under the node protocol: what a connection runs over and who is at the
//! other end of it.
//!
//! The protocol needs a reliable, ordered byte stream split into a read half and a write
//! half ([`Transported`]). [`Dialer`] and [`Listener`] produce them. Built in:
//!
//! | transport | address | dialer / listener | feature |
//! |---|---|---|---|
//! | TCP | `zap://ip:port`, `ip:port` | [`TcpDialer`], [`TcpListener`] | — |
//! | mutual TLS 1.3 over TCP | `zaps://ip:port` | `TlsDialer`, `TlsListener` | `tls` |
//! | QUIC, one stream per call | `zapq://ip:port` | `QuicDialer`, `QuicListener` | `quic` |
//! | Unix domain socket | `unix:/path` | `UnixDialer`, `UnixListener` | — (Unix only) |
//!
//! TLS and QUIC listeners run the cryptographic handshake in tasks of their own, bounded
//! in time and number, so a slow or hostile client never holds up `accept`.

mod accept;
mod addr;
#[cfg(feature = "quic")]
mod quic;
mod tcp;
#[cfg(feature = "tls")]
mod tls;
#[cfg(unix)]
mod unix;

use std::fmt;
use std::io;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use zap_discovery::Peer;

pub use self::addr::{AddrParseError, MAX_ADDR_TEXT, Scheme, TransportAddr};
#[cfg(feature = "quic")]
pub use self::quic::{ALPN_QUIC, QuicDialer, QuicListener, QuicOptions};
pub(crate) use self::tcp::connect as tcp_connect;
pub use self::tcp::{TcpDialer, TcpListener};
#[cfg(feature = "tls")]
pub use self::tls::{
    ALPN, TlsClientConfig, TlsDialer, TlsError, TlsListener, TlsServerConfig, crypto_provider,
};
#[cfg(unix)]
pub use self::unix::{UnixDialer, UnixListener};
use crate::identity::{TlsInfo, UnixCredentials};

/// The read half of a connection.
pub type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection.
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// A connected byte stream, split, with the address of its far end and what the transport
/// proved about it.
#[non_exhaustive]
pub struct Transported {
    /// Bytes from the peer.
    pub reader: BoxRead,
    /// Bytes to the peer.
    pub writer: BoxWrite,
    /// The peer's address.
    pub remote: TransportAddr,
    /// The peer's verified certificate (mutual TLS, QUIC).
    pub tls: Option<Arc<TlsInfo>>,
    /// The peer process's credentials (Unix sockets).
    pub credentials: Option<UnixCredentials>,
    /// For QUIC: the connection whose first stream `reader`/`writer` are; calls get
    /// streams of their own.
    #[cfg(feature = "quic")]
    pub(crate) quic: Option<quinn::Connection>,
}

impl fmt::Debug for Transported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transported")
            .field("remote", &self.remote)
            .field("tls", &self.tls)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl Transported {
    /// A stream from its halves.
    pub fn new(reader: BoxRead, writer: BoxWrite, remote: TransportAddr) -> Self {
        Self {
            reader,
            writer,
            remote,
            tls: None,
            credentials: None,
            #[cfg(feature = "quic")]
            quic: None,
        }
    }

    /// A TCP stream, split without a lock, with Nagle's algorithm off (frames are written
    /// whole, so waiting for more bytes only adds latency).
    pub fn tcp(stream: tokio::net::TcpStream) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        let remote = TransportAddr::Tcp(stream.peer_addr()?);
        let (r, w) = stream.into_split();
        Ok(Self::new(Box::new(r), Box::new(w), remote))
    }

    /// Any bidirectional stream (a TLS stream, for example), split with
    /// [`tokio::io::split`].
    pub fn from_io<T>(io: T, remote: TransportAddr) -> Self
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (r, w) = tokio::io::split(io);
        Self::new(Box::new(r), Box::new(w), remote)
    }

    /// The same stream, with the peer authenticated by this TLS session.
    pub fn with_tls(mut self, tls: Arc<TlsInfo>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The same stream, with the peer process's credentials.
    pub fn with_credentials(mut self, credentials: UnixCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }
}

/// Opens connections to peers.
///
/// The client calls it once per peer connection (and again to reconnect). An
/// implementation bounds its own wait; the caller also bounds it by the call's deadline.
pub trait Dialer: Send + Sync + 'static {
    /// Connects to `peer`.
    fn dial<'a>(&'a self, peer: &'a Peer) -> BoxFuture<'a, io::Result<Transported>>;

    /// How errors name `peer` (by default its `node-id@address` form). Dialers that do not
    /// dial the peer's socket address (Unix sockets) say what they do dial.
    fn describe(&self, peer: &Peer) -> String {
        peer.to_string()
    }
}

/// Accepts connections for a server.
pub trait Listener: Send + 'static {
    /// The next connection.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Transported>>;

    /// The address peers reach this listener at.
    fn local_addr(&self) -> TransportAddr;
}

/// Tries each address of `peer` in turn with `connect`, returning the first success or
/// the last error.
pub(crate) async fn each_addr<F, Fut, T>(peer: &Peer, mut connect: F) -> io::Result<T>
where
    F: FnMut(std::net::SocketAddr) -> Fut,
    Fut: std::future::Future<Output = io::Result<T>>,
{
    let mut last = None;
    for addr in peer.addrs() {
        match connect(*addr).await {
            Ok(t) => return Ok(t),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("the peer has no address")))
}
