//! Opening byte streams to endpoints: the [`Connect`] trait and plain TCP / Unix.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use tokio::net::TcpStream;

use super::endpoint::Endpoint;
use crate::conn::BoxIo;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Opens byte streams to endpoints: the one pluggable transport point of the client.
///
/// [`TcpConnector`] dials TCP (and Unix sockets); `TlsConnector` (feature `tls`) runs
/// rustls over another connector. The client bounds each call with its connect timeout,
/// so an implementation need not.
pub trait Connect: Send + Sync + 'static {
    /// Opens a stream to `endpoint`.
    fn connect<'a>(&'a self, endpoint: &'a Endpoint) -> BoxFuture<'a, io::Result<BoxIo>>;

    /// True when every stream this connector opens is mutually authenticated TLS: the
    /// peer proved a certificate from the configured roots and this side presents its
    /// own. Local-trust auth ([`NoAuth`](crate::discovery::NoAuth)) is refused otherwise.
    fn is_mutual_tls(&self) -> bool {
        false
    }
}

/// Plain TCP (and Unix-domain sockets for `unix:` endpoints).
///
/// `TCP_NODELAY` is on, since every frame is written whole, and TCP keep-alive probes
/// start after 30 s of silence (as in Go), so a pooled connection to a vanished host is
/// noticed.
#[derive(Debug, Clone)]
pub struct TcpConnector {
    keepalive: Option<Duration>,
}

impl Default for TcpConnector {
    fn default() -> Self {
        Self::new()
    }
}

impl TcpConnector {
    /// A connector with 30 s keep-alive.
    pub fn new() -> Self {
        Self {
            keepalive: Some(Duration::from_secs(30)),
        }
    }

    /// Sets the keep-alive idle time, or turns keep-alive off with `None`.
    pub fn keepalive(mut self, idle: Option<Duration>) -> Self {
        self.keepalive = idle;
        self
    }

    fn tune(&self, stream: &TcpStream) -> io::Result<()> {
        stream.set_nodelay(true)?;
        if let Some(idle) = self.keepalive {
            let ka = socket2::TcpKeepalive::new().with_time(idle);
            socket2::SockRef::from(stream).set_tcp_keepalive(&ka)?;
        }
        Ok(())
    }

    /// Dials a TCP endpoint, trying each resolved address in turn.
    async fn dial(&self, endpoint: &Endpoint) -> io::Result<BoxIo> {
        #[cfg(unix)]
        if let Some(path) = endpoint.unix_path() {
            let stream = tokio::net::UnixStream::connect(path).await?;
            return Ok(Box::new(stream));
        }
        let stream = match (endpoint.addr(), endpoint.host_port()) {
            (Some(addr), _) => TcpStream::connect(addr).await?,
            (None, Some((host, port))) => {
                let mut last = None;
                let mut found = None;
                for addr in tokio::net::lookup_host((host, port)).await? {
                    match TcpStream::connect(addr).await {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                match (found, last) {
                    (Some(s), _) => s,
                    (None, Some(e)) => return Err(e),
                    (None, None) => {
                        return Err(io::Error::new(
                            io::ErrorKind::NotFound,
                            format!("{host} resolved to no address"),
                        ));
                    }
                }
            }
            (None, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "endpoint has no address",
                ));
            }
        };
        self.tune(&stream)?;
        Ok(Box::new(stream))
    }
}

impl Connect for TcpConnector {
    fn connect<'a>(&'a self, endpoint: &'a Endpoint) -> BoxFuture<'a, io::Result<BoxIo>> {
        Box::pin(self.dial(endpoint))
    }
}

impl<C: Connect + ?Sized> Connect for std::sync::Arc<C> {
    fn connect<'a>(&'a self, endpoint: &'a Endpoint) -> BoxFuture<'a, io::Result<BoxIo>> {
        (**self).connect(endpoint)
    }

    fn is_mutual_tls(&self) -> bool {
        (**self).is_mutual_tls()
    }
}
