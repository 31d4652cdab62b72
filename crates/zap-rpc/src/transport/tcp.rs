//! Plain TCP: Go's transport.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::net::TcpStream;
use zap_discovery::Peer;

use super::{Dialer, Listener, TransportAddr, Transported, each_addr};

/// Connects to `addr` within `timeout`, as a nodelay stream.
pub(crate) async fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
    match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            s.set_nodelay(true)?;
            Ok(s)
        }
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connect to {addr} timed out after {timeout:?}"),
        )),
    }
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
            let stream = each_addr(peer, |a| connect(a, self.connect_timeout)).await?;
            Transported::tcp(stream)
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
