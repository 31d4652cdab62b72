//! The process layout every contender runs in: servers on their own thread(s) and
//! runtime, clients and the measuring loop on the calling thread and a second runtime.
//!
//! Client and server never share a runtime, so each hop of a call crosses threads the way
//! it crosses processes in production, and each side's allocations are counted apart.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use core_affinity::CoreId;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::oneshot;

use crate::alloc::{AllocCounter, Side};
use crate::config::{Config, Pinning};
use crate::cpu::Threads;
use crate::error::BenchError;

/// How long a server may take to start before the harness gives up on it.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// The two sides of the harness.
pub(crate) struct Layout {
    threads: Arc<Threads>,
    client: Option<Runtime>,
    server: Handle,
    server_runtime: Option<Runtime>,
    server_thread: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

/// Pins the calling thread to one of `cpus`, tags it for the allocation counter and
/// records it as one of `side`'s for CPU accounting.
fn enter(
    side: Side,
    pinning: Pinning,
    counter: Option<AllocCounter>,
    cpus: &[CoreId],
    threads: &Threads,
) {
    threads.register(side);
    if let Some(c) = counter {
        (c.tag_thread)(side);
    }
    let cpu = match (pinning, side) {
        (Pinning::None, _) | (_, Side::Other) => return,
        (Pinning::Same, _) | (Pinning::Split, Side::Client) => 0,
        (Pinning::Split, Side::Server) => 1,
    };
    if let Some(id) = cpus.get(cpu % cpus.len().max(1))
        && !core_affinity::set_for_current(*id)
    {
        tracing::warn!(cpu, "pinning failed; thread stays unpinned");
    }
}

/// The CPUs this process may run on, read once, before the first thread is pinned: a
/// pinned thread (the caller's stays pinned between groups) and its children see only
/// their one CPU.
fn cpus(cfg: &Config) -> Vec<CoreId> {
    static CPUS: OnceLock<Vec<CoreId>> = OnceLock::new();
    if cfg.pinning == Pinning::None {
        return Vec::new();
    }
    CPUS.get_or_init(|| {
        core_affinity::get_core_ids().unwrap_or_else(|| {
            tracing::warn!("cannot read the CPU list; threads stay unpinned");
            Vec::new()
        })
    })
    .clone()
}

fn runtime(
    side: Side,
    cfg: &Config,
    cpus: &[CoreId],
    threads: &Arc<Threads>,
) -> Result<Runtime, BenchError> {
    let mut b = if cfg.workers == 0 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(cfg.workers);
        let (pinning, counter, cpus) = (cfg.pinning, cfg.allocs, cpus.to_vec());
        let threads = threads.clone();
        b.on_thread_start(move || enter(side, pinning, counter, &cpus, &threads));
        b
    };
    b.enable_all()
        .thread_name(match side {
            Side::Client => "zap-bench-client",
            Side::Server => "zap-bench-server",
            Side::Other => "zap-bench",
        })
        .build()
        .map_err(|e| BenchError::io("building a tokio runtime", e))
}

impl Layout {
    /// Starts the server side and builds the client runtime; tags and pins the calling
    /// thread as the client.
    pub(crate) fn start(cfg: &Config) -> Result<Self, BenchError> {
        let cpus = cpus(cfg);
        let threads = Arc::new(Threads::default());
        enter(Side::Client, cfg.pinning, cfg.allocs, &cpus, &threads);
        let client = runtime(Side::Client, cfg, &cpus, &threads)?;
        if cfg.workers > 0 {
            let rt = runtime(Side::Server, cfg, &cpus, &threads)?;
            return Ok(Self {
                threads,
                client: Some(client),
                server: rt.handle().clone(),
                server_runtime: Some(rt),
                server_thread: None,
            });
        }
        // One thread drives the server runtime, as the client's thread drives its own.
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let server_cfg = cfg.clone();
        let server_threads = threads.clone();
        let thread = std::thread::Builder::new()
            .name("zap-bench-server".into())
            .spawn(move || {
                let t = &server_threads;
                enter(
                    Side::Server,
                    server_cfg.pinning,
                    server_cfg.allocs,
                    &cpus,
                    t,
                );
                let rt = match runtime(Side::Server, &server_cfg, &cpus, t) {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = handle_tx.send(Err(e));
                        return;
                    }
                };
                let _ = handle_tx.send(Ok(rt.handle().clone()));
                rt.block_on(async {
                    let _ = stop_rx.await;
                });
                rt.shutdown_timeout(Duration::from_secs(2));
            })
            .map_err(|e| BenchError::io("starting the server thread", e))?;
        let server = handle_rx
            .recv_timeout(START_TIMEOUT)
            .map_err(|_| BenchError::Timeout {
                what: "the server runtime".into(),
                secs: START_TIMEOUT.as_secs(),
            })??;
        Ok(Self {
            threads,
            client: Some(client),
            server,
            server_runtime: None,
            server_thread: Some((stop_tx, thread)),
        })
    }

    /// The threads of each side, for CPU accounting.
    pub(crate) fn threads(&self) -> &Threads {
        &self.threads
    }

    /// Runs the measuring future on the client side, on the calling thread.
    pub(crate) fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.client
            .as_ref()
            .expect("the client runtime lives until the layout is dropped")
            .block_on(f)
    }

    /// Starts a server on the server side: `setup` runs there and returns what the
    /// client needs (an address) and what must stay alive while the layout lives.
    pub(crate) async fn serve<T, K, F>(&self, what: &'static str, setup: F) -> Result<T, BenchError>
    where
        F: Future<Output = Result<(T, K), BenchError>> + Send + 'static,
        T: Send + 'static,
        K: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        self.server.spawn(async move {
            match setup.await {
                Ok((value, keep)) => {
                    let _ = tx.send(Ok(value));
                    // Held until the server runtime shuts down with the layout.
                    let _keep = keep;
                    std::future::pending::<()>().await;
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                }
            }
        });
        match tokio::time::timeout(START_TIMEOUT, rx).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => Err(BenchError::contender(
                what,
                "server task ended before starting",
            )),
            Err(_) => Err(BenchError::Timeout {
                what: format!("starting the {what} server"),
                secs: START_TIMEOUT.as_secs(),
            }),
        }
    }
}

impl Drop for Layout {
    fn drop(&mut self) {
        // Clients first, so servers see their connections close rather than vanish.
        if let Some(rt) = self.client.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
        if let Some(rt) = self.server_runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
        if let Some((stop, thread)) = self.server_thread.take() {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}
