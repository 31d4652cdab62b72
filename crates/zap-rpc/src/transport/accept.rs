//! Accepting in the background: TLS and QUIC listeners run each cryptographic handshake
//! in a task of its own, bounded in number and in time, and finished connections wait in
//! a short queue for the server's accept loop. A client that stalls its handshake costs
//! one slot until the timeout, never the accept loop.
#![cfg_attr(not(feature = "tls"), allow(dead_code))]

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::{CancellationToken, DropGuard};
use tracing::Instrument;

use super::Transported;
use crate::metrics;

/// How many handshakes may run at once, and how long each may take.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HandshakeLimits {
    pub(crate) timeout: Duration,
    pub(crate) max_pending: usize,
}

/// Connections whose handshakes finished, in the order they finished.
pub(crate) struct Handshakes {
    ready: mpsc::Receiver<Transported>,
    _stop: DropGuard,
}

impl std::fmt::Debug for Handshakes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshakes").finish_non_exhaustive()
    }
}

impl Handshakes {
    /// Starts accepting with `accept` (which yields `None` once its source is closed) and
    /// completing each accepted connection with `handshake`. Everything stops when the
    /// returned value is dropped.
    pub(crate) fn spawn<A, AF, X, H, HF>(
        what: &'static str,
        mut accept: A,
        handshake: H,
        limits: HandshakeLimits,
    ) -> Self
    where
        A: FnMut() -> AF + Send + 'static,
        AF: Future<Output = Option<io::Result<X>>> + Send,
        X: Send + 'static,
        H: Fn(X) -> HF + Send + Sync + 'static,
        HF: Future<Output = io::Result<Transported>> + Send + 'static,
    {
        let (tx, ready) = mpsc::channel(32);
        let stop = CancellationToken::new();
        let slots = Arc::new(Semaphore::new(limits.max_pending.max(1)));
        let token = stop.clone();
        let run = async move {
            let mut pause = Duration::from_millis(5);
            loop {
                let permit = tokio::select! {
                    _ = token.cancelled() => return,
                    p = slots.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                };
                let accepted = tokio::select! {
                    _ = token.cancelled() => return,
                    a = accept() => a,
                };
                let raw = match accepted {
                    None => return,
                    Some(Ok(raw)) => {
                        pause = Duration::from_millis(5);
                        raw
                    }
                    Some(Err(e)) => {
                        // Out of descriptors and the like: wait instead of spinning.
                        tracing::warn!(error = %e, retry_in = ?pause, "accept failed");
                        tokio::select! {
                            _ = token.cancelled() => return,
                            _ = tokio::time::sleep(pause) => {}
                        }
                        pause = (pause * 2).min(Duration::from_secs(1));
                        continue;
                    }
                };
                let done = handshake(raw);
                let (tx, token) = (tx.clone(), token.clone());
                tokio::spawn(
                    async move {
                        let _permit = permit;
                        let finished = tokio::select! {
                            _ = token.cancelled() => return,
                            r = tokio::time::timeout(limits.timeout, done) => r,
                        };
                        match finished {
                            Ok(Ok(t)) => {
                                tokio::select! {
                                    _ = token.cancelled() => {}
                                    _ = tx.send(t) => {}
                                }
                            }
                            Ok(Err(e)) => {
                                tracing::debug!(error = %e, "handshake refused");
                                metrics::server_connection_rejected(what);
                            }
                            Err(_) => {
                                tracing::debug!(timeout = ?limits.timeout, "handshake timed out");
                                metrics::server_connection_rejected(what);
                            }
                        }
                    }
                    .in_current_span(),
                );
            }
        };
        tokio::spawn(run.instrument(tracing::debug_span!("zap.handshakes", transport = what)));
        Self {
            ready,
            _stop: stop.drop_guard(),
        }
    }

    /// The next connection whose handshake succeeded.
    pub(crate) async fn next(&mut self) -> io::Result<Transported> {
        self.ready
            .recv()
            .await
            .ok_or_else(|| io::Error::other("the listener stopped accepting"))
    }
}
