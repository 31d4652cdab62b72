//! Byte streams under the node protocol: what a connection runs over and who is at the
//! other end of it.
//!
//! The protocol needs a reliable, ordered byte stream split into a read half and a write
//! half ([`Transported`]). [`Dialer`] and [`Listener`] produce them; TCP is built in
//! ([`TcpDialer`], [`TcpListener`]). Other transports (TLS, QUIC streams, Unix sockets)
//! plug in by implementing the two traits; their addresses extend [`TransportAddr`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use zap_discovery::Peer;

/// The read half of a connection.
pub type BoxRead = Box<dyn AsyncRead + Send + Unpin>;
/// The write half of a connection.
pub type BoxWrite = Box<dyn AsyncWrite + Send + Unpin>;

/// Where a connection's far end is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportAddr {
    /// A TCP socket address.
    Tcp(SocketAddr),
}

impl TransportAddr {
    /// The socket address of TCP (and other IP) transports.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            TransportAddr::Tcp(a) => Some(*a),
        }
    }

    /// A short name of the transport: `tcp`.
    pub fn transport(&self) -> &'static str {
        match self {
            TransportAddr::Tcp(_) => "tcp",
        }
    }
}

impl fmt::Display for TransportAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportAddr::Tcp(a) => write!(f, "{a}"),
        }
    }
}

/// A connected byte stream, split, with the address of its far end.
pub struct Transported {
    /// Bytes from the peer.
    pub reader: BoxRead,
    /// Bytes to the peer.
    pub writer: BoxWrite,
    /// The peer's address.
    pub remote: TransportAddr,
}

impl fmt::Debug for Transported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transported")
            .field("remote", &self.remote)
            .finish_non_exhaustive()
    }
}

impl Transported {
    /// A TCP stream, split without a lock, with Nagle's algorithm off (frames are written
    /// whole, so waiting for more bytes only adds latency).
    pub fn tcp(stream: TcpStream) -> io::Result<Self> {
        stream.set_nodelay(true)?;
        let remote = TransportAddr::Tcp(stream.peer_addr()?);
        let (r, w) = stream.into_split();
        Ok(Self {
            reader: Box::new(r),
            writer: Box::new(w),
            remote,
        })
    }

    /// Any bidirectional stream (a TLS stream, for example), split with
    /// [`tokio::io::split`].
    pub fn from_io<T>(io: T, remote: TransportAddr) -> Self
    where
        T: AsyncRead + AsyncWrite + Send + 'static,
    {
        let (r, w) = tokio::io::split(io);
        Self {
            reader: Box::new(r),
            writer: Box::new(w),
            remote,
        }
    }
}

/// Opens connections to peers.
///
/// The client calls it once per peer connection (and again to reconnect). An
/// implementation bounds its own wait; the caller also bounds it by the call's deadline.
pub trait Dialer: Send + Sync + 'static {
    /// Connects to `peer`.
    fn dial<'a>(&'a self, peer: &'a Peer) -> BoxFuture<'a, io::Result<Transported>>;
}

/// Accepts connections for a server.
pub trait Listener: Send + 'static {
    /// The next connection.
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Transported>>;

    /// The address peers reach this listener at.
    fn local_addr(&self) -> TransportAddr;
}

/// Dials TCP: each of the peer's addresses in turn, each bounded by a connect timeout.
#[derive(Debug, Clone)]
pub struct TcpDialer {
    connect_timeout: Duration,
}

impl TcpDialer {
    /// Go's dial timeout.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

    /// A dialer with Go's 5 s connect timeout.
    pub fn new() -> Self {
        Self {
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// A dialer giving up on each address after `timeout`.
    pub fn with_connect_timeout(timeout: Duration) -> Self {
        Self {
            connect_timeout: timeout,
        }
    }
}

impl Default for TcpDialer {
    fn default() -> Self {
        Self::new()
    }
}

impl Dialer for TcpDialer {
    fn dial<'a>(&'a self, peer: &'a Peer) -> BoxFuture<'a, io::Result<Transported>> {
        Box::pin(async move {
            let mut last = None;
            for addr in peer.addrs() {
                match tokio::time::timeout(self.connect_timeout, TcpStream::connect(addr)).await {
                    Ok(Ok(stream)) => return Transported::tcp(stream),
                    Ok(Err(e)) => last = Some(e),
                    Err(_) => {
                        last = Some(io::Error::new(
                            io::ErrorKind::TimedOut,
                            format!(
                                "connect to {addr} timed out after {:?}",
                                self.connect_timeout
                            ),
                        ))
                    }
                }
            }
            Err(last.unwrap_or_else(|| io::Error::other("the peer has no address")))
        })
    }
}

/// A TCP listener.
#[derive(Debug)]
pub struct TcpListener {
    inner: tokio::net::TcpListener,
    local: TransportAddr,
}

impl TcpListener {
    /// Binds `addr` (port 0 picks a free port; [`Listener::local_addr`] tells which).
    pub async fn bind(addr: SocketAddr) -> io::Result<Self> {
        Self::from_tokio(tokio::net::TcpListener::bind(addr).await?)
    }

    /// Wraps a bound tokio listener.
    pub fn from_tokio(inner: tokio::net::TcpListener) -> io::Result<Self> {
        let local = TransportAddr::Tcp(inner.local_addr()?);
        Ok(Self { inner, local })
    }
}

impl Listener for TcpListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Transported>> {
        Box::pin(async move {
            let (stream, _) = self.inner.accept().await?;
            Transported::tcp(stream)
        })
    }

    fn local_addr(&self) -> TransportAddr {
        self.local.clone()
    }
}
