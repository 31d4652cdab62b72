//! [`Server`]: the control server over Z-Wing.

mod connection;
mod options;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::ToSocketAddrs;
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zap_zwing::{IdentityPublic, Listener};

use crate::backend::{Backend, PeerInfo};
use crate::error::Error;

pub use connection::serve_connection;
pub use options::ServerOptions;

/// A control server: a Z-Wing listener and a [`Backend`].
///
/// There is no cleartext mode: every connection completes a Z-Wing handshake (each in
/// its own task, bounded by the configuration's handshake timeout, so one slow client
/// holds up nobody) before a single request is read. Which clients get in is the
/// Z-Wing configuration's [`PeerPolicy`](zap_zwing::PeerPolicy); the backend sees each
/// caller's verified identity in [`RequestContext::peer`](crate::RequestContext).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use netrunner_proto::{Client, Server, SimBackend};
/// use zap_zwing::{Config, Identity};
///
/// let server_id = Identity::generate()?;
/// let pin = server_id.public().clone();
/// let server = Server::bind("127.0.0.1:0", Config::new(server_id), SimBackend::default()).await?;
///
/// let client = Client::dial(
///     server.local_addr(),
///     &Config::new(Identity::generate()?).with_expected_remote(pin),
/// )
/// .await?;
/// assert_eq!(client.rpc_version().await?, netrunner_proto::PROTOCOL_VERSION);
/// server.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    identity: IdentityPublic,
    shutdown: CancellationToken,
    stats: Arc<Counters>,
    task: Option<JoinHandle<()>>,
}

/// Connection counts of a [`Server`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerStats {
    /// Connections whose handshake succeeded and that were served.
    pub accepted: u64,
    /// Connections closed at once because [`ServerOptions::max_connections`] were open.
    pub refused: u64,
    /// Connections being served now.
    pub open: u64,
}

#[derive(Debug, Default)]
struct Counters {
    accepted: AtomicU64,
    refused: AtomicU64,
    open: AtomicU64,
}

impl Server {
    /// Binds `addr` and serves `backend` over Z-Wing with default options.
    ///
    /// # Errors
    /// [`Error::Zwing`] when the address cannot be bound.
    pub async fn bind<B: Backend>(
        addr: impl ToSocketAddrs,
        zwing: zap_zwing::Config,
        backend: B,
    ) -> Result<Self, Error> {
        Self::bind_with(addr, zwing, backend, ServerOptions::default()).await
    }

    /// Binds `addr` and serves `backend` over Z-Wing.
    ///
    /// # Errors
    /// [`Error::Zwing`] when the address cannot be bound.
    pub async fn bind_with<B: Backend>(
        addr: impl ToSocketAddrs,
        zwing: zap_zwing::Config,
        backend: B,
        options: ServerOptions,
    ) -> Result<Self, Error> {
        let identity = zwing.identity().public().clone();
        let listener = Listener::bind(addr, zwing).await?;
        let local_addr = listener.local_addr();
        let shutdown = CancellationToken::new();
        let stats = Arc::new(Counters::default());
        let span = tracing::info_span!(
            "netrunner.server",
            %local_addr,
            identity = %identity.fingerprint().short()
        );
        span.in_scope(|| tracing::info!("netrunner: control server listening"));
        let task = tokio::spawn(
            accept_loop(
                listener,
                Arc::new(backend),
                options,
                shutdown.clone(),
                stats.clone(),
            )
            .instrument(span),
        );
        Ok(Self {
            local_addr,
            identity,
            shutdown,
            stats,
            task: Some(task),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The server's public Z-Wing identity (what clients pin).
    pub fn identity(&self) -> &IdentityPublic {
        &self.identity
    }

    /// Connection counts so far.
    pub fn stats(&self) -> ServerStats {
        ServerStats {
            accepted: self.stats.accepted.load(Ordering::Relaxed),
            refused: self.stats.refused.load(Ordering::Relaxed),
            open: self.stats.open.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting, ends status streams, lets running requests finish within
    /// [`ServerOptions::shutdown_grace`], and returns once every connection is closed.
    pub async fn shutdown(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // The same graceful shutdown, finishing in the background.
        self.shutdown.cancel();
    }
}

async fn accept_loop<B: Backend>(
    mut listener: Listener,
    backend: Arc<B>,
    options: ServerOptions,
    shutdown: CancellationToken,
    stats: Arc<Counters>,
) {
    let slots = Arc::new(Semaphore::new(options.max_connections.max(1)));
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, addr) = match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::error!(error = %e, "netrunner: listener stopped");
                        break;
                    }
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    stats.refused.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(%addr, "netrunner: connection limit reached, closing");
                    drop(stream);
                    continue;
                };
                stats.accepted.fetch_add(1, Ordering::Relaxed);
                stats.open.fetch_add(1, Ordering::Relaxed);
                let peer = PeerInfo {
                    addr: Some(addr),
                    identity: Some(stream.remote_identity().clone()),
                };
                let backend = backend.clone();
                let options = options.clone();
                let shutdown = shutdown.clone();
                let stats = stats.clone();
                connections.spawn(async move {
                    let _slot = slot;
                    if let Err(e) = serve_connection(stream, backend, options, peer, shutdown).await {
                        tracing::info!(%addr, error = %e, "netrunner: connection ended with an error");
                    }
                    stats.open.fetch_sub(1, Ordering::Relaxed);
                });
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
    tracing::info!("netrunner: control server stopped");
}
