//! [`Listener`]: accepts TCP connections and runs their handshakes side by side.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

use crate::Error;
use crate::config::Config;
use crate::connect::accept;
use crate::stream::ZwingStream;

/// After a failed TCP accept (out of file descriptors, say) there is no event that says
/// the condition has passed, so the loop pauses briefly instead of spinning.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Limits of a [`Listener`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenerOptions {
    /// Handshakes running at once. Beyond this, new TCP connections wait in the kernel's
    /// backlog. Each costs a few kilobytes and, briefly, a millisecond or two of CPU.
    pub max_concurrent_handshakes: usize,
    /// Finished channels waiting for [`Listener::accept`]. When this is full, finished
    /// handshakes wait too, and so, through the limit above, does the TCP accept.
    pub ready_queue: usize,
}

impl Default for ListenerOptions {
    fn default() -> Self {
        Self {
            max_concurrent_handshakes: 64,
            ready_queue: 64,
        }
    }
}

impl ListenerOptions {
    /// Sets [`ListenerOptions::max_concurrent_handshakes`] (at least 1).
    pub fn with_max_concurrent_handshakes(mut self, n: usize) -> Self {
        self.max_concurrent_handshakes = n.max(1);
        self
    }

    /// Sets [`ListenerOptions::ready_queue`] (at least 1).
    pub fn with_ready_queue(mut self, n: usize) -> Self {
        self.ready_queue = n.max(1);
        self
    }
}

/// Counts of a listener's handshakes so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListenerStats {
    /// Handshakes that succeeded.
    pub succeeded: u64,
    /// Handshakes that failed (timeouts, refused or invalid peers, closed connections).
    pub failed: u64,
    /// Handshakes running now.
    pub in_progress: u64,
}

#[derive(Debug, Default)]
struct Counters {
    succeeded: AtomicU64,
    failed: AtomicU64,
    in_progress: AtomicU64,
}

/// A Z-Wing server socket: accepts TCP connections and runs each handshake in its own
/// task, so a slow or silent client delays nobody but itself (luxfi/zwing's `Accept`
/// runs handshakes one after another, with no timeout by default).
///
/// Failed handshakes are logged (`tracing`, target `zap_zwing`), counted in
/// [`Listener::stats`] and dropped; [`Listener::accept`] only ever returns working
/// channels. Dropping the listener stops accepting and abandons handshakes in progress.
///
/// ```no_run
/// # async fn run() -> Result<(), zap_zwing::Error> {
/// use zap_zwing::{Config, Identity, Listener};
/// let mut listener = Listener::bind("127.0.0.1:0", Config::new(Identity::generate()?)).await?;
/// loop {
///     let (stream, addr) = listener.accept().await?;
///     tokio::spawn(async move {
///         // serve `stream`, from `addr`, whose peer is `stream.remote_identity()`
///         # drop((stream, addr));
///     });
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Listener {
    local_addr: SocketAddr,
    ready: mpsc::Receiver<(ZwingStream<TcpStream>, SocketAddr)>,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

impl Listener {
    /// Binds a TCP listener to `addr` and serves Z-Wing on it with default limits.
    ///
    /// # Errors
    /// [`Error::Io`] if the address cannot be bound.
    pub async fn bind<A: ToSocketAddrs>(addr: A, config: Config) -> Result<Self, Error> {
        let tcp = TcpListener::bind(addr).await?;
        Self::from_tcp(tcp, config, ListenerOptions::default())
    }

    /// Serves Z-Wing on a bound TCP listener. Must be called inside a tokio runtime.
    ///
    /// # Errors
    /// [`Error::Io`] if the listener has no local address or there is no tokio runtime.
    pub fn from_tcp(
        tcp: TcpListener,
        config: Config,
        options: ListenerOptions,
    ) -> Result<Self, Error> {
        let local_addr = tcp.local_addr()?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| Error::Io(std::io::Error::other(e)))?;
        let (tx, ready) = mpsc::channel(options.ready_queue.max(1));
        let counters = Arc::new(Counters::default());
        let span = tracing::info_span!("zwing.listener", %local_addr);
        let task =
            runtime.spawn(accept_loop(tcp, config, options, tx, counters.clone()).instrument(span));
        Ok(Self {
            local_addr,
            ready,
            counters,
            task,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The next channel whose handshake succeeded, with the client's address.
    ///
    /// # Errors
    /// [`Error::ListenerClosed`] if the accept loop has stopped.
    pub async fn accept(&mut self) -> Result<(ZwingStream<TcpStream>, SocketAddr), Error> {
        self.ready.recv().await.ok_or(Error::ListenerClosed)
    }

    /// Handshake counts so far.
    pub fn stats(&self) -> ListenerStats {
        ListenerStats {
            succeeded: self.counters.succeeded.load(Ordering::Relaxed),
            failed: self.counters.failed.load(Ordering::Relaxed),
            in_progress: self.counters.in_progress.load(Ordering::Relaxed),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        // Aborting the loop drops its JoinSet, which aborts the handshakes in progress.
        self.task.abort();
    }
}

async fn accept_loop(
    tcp: TcpListener,
    config: Config,
    options: ListenerOptions,
    ready: mpsc::Sender<(ZwingStream<TcpStream>, SocketAddr)>,
    counters: Arc<Counters>,
) {
    let permits = Arc::new(Semaphore::new(options.max_concurrent_handshakes.max(1)));
    let mut handshakes = JoinSet::new();
    loop {
        while handshakes.try_join_next().is_some() {}
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            () = ready.closed() => return,
        };
        let accepted = tokio::select! {
            r = tcp.accept() => r,
            () = ready.closed() => return,
        };
        let (conn, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                tracing::warn!(error = %e, "zwing: TCP accept failed");
                drop(permit);
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let config = config.clone();
        let ready = ready.clone();
        let counters = counters.clone();
        counters.in_progress.fetch_add(1, Ordering::Relaxed);
        let span = tracing::debug_span!("zwing.handshake", %peer);
        handshakes.spawn(
            async move {
                // Held until the channel is handed over, so a slow consumer slows the
                // accept loop instead of piling up finished channels.
                let _permit = permit;
                if let Err(e) = conn.set_nodelay(true) {
                    tracing::debug!(error = %e, "zwing: cannot set TCP_NODELAY");
                }
                let outcome = accept(conn, &config).await;
                counters.in_progress.fetch_sub(1, Ordering::Relaxed);
                match outcome {
                    Ok(stream) => {
                        counters.succeeded.fetch_add(1, Ordering::Relaxed);
                        // A send error means the Listener is gone; the channel closes.
                        let _ = ready.send((stream, peer)).await;
                    }
                    Err(e) => {
                        counters.failed.fetch_add(1, Ordering::Relaxed);
                        tracing::info!(error = %e, "zwing: handshake refused");
                    }
                }
            }
            .instrument(span),
        );
    }
}
