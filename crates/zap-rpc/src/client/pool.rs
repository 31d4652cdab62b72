//! One connection per peer, made on first use, remade after failures with exponential
//! backoff and jitter.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use zap_discovery::Peer;

use crate::conn::Connection;
use crate::error::{ConnectionError, Error};
use crate::metrics;
use crate::options::ConnectionOptions;
use crate::server::random_u32;
use crate::transport::Dialer;

/// How long to wait before reconnecting after consecutive failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The wait after the first failure.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(5),
        }
    }
}

impl Backoff {
    /// The wait after `failures` consecutive failures: `initial · 2^(failures-1)`, capped
    /// at `max`, then scaled by a random factor in [0.5, 1) so that clients that failed
    /// together do not retry together.
    pub fn delay(&self, failures: u32) -> Duration {
        let exp = failures.saturating_sub(1).min(20);
        let base = self.initial.saturating_mul(1 << exp).min(self.max);
        let jitter = 0.5 + f64::from(random_u32() % 1000) / 2000.0;
        base.mul_f64(jitter)
    }
}

struct State {
    failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<ConnectionError>,
}

/// The connection (or the reason there is none) for one peer.
struct Slot {
    /// The live connection, readable without waiting for a dial in progress.
    live: Mutex<Option<Connection>>,
    /// Held while dialing, so concurrent callers share one dial.
    dialing: tokio::sync::Mutex<()>,
    state: Mutex<State>,
    /// Increases with each failed dial, so a caller that waited on another's dial knows
    /// that it failed.
    failures_seen: AtomicU64,
}

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Slot {
    fn usable(&self) -> Option<Connection> {
        guard(&self.live)
            .as_ref()
            .filter(|c| c.is_usable())
            .cloned()
    }
}

pub(crate) struct Pool {
    dialer: Arc<dyn Dialer>,
    node_id: String,
    options: ConnectionOptions,
    backoff: Backoff,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

impl Pool {
    pub(crate) fn new(
        dialer: Arc<dyn Dialer>,
        node_id: String,
        options: ConnectionOptions,
        backoff: Backoff,
    ) -> Self {
        Self {
            dialer,
            node_id,
            options,
            backoff,
            slots: Mutex::new(HashMap::new()),
        }
    }

    fn slot(&self, key: &str) -> Arc<Slot> {
        let mut slots = guard(&self.slots);
        if let Some(s) = slots.get(key) {
            return s.clone();
        }
        slots
            .entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(Slot {
                    live: Mutex::new(None),
                    dialing: tokio::sync::Mutex::new(()),
                    state: Mutex::new(State {
                        failures: 0,
                        retry_at: None,
                        last_error: None,
                    }),
                    failures_seen: AtomicU64::new(0),
                })
            })
            .clone()
    }

    /// How errors name `peer`.
    pub(crate) fn describe(&self, peer: &Peer) -> String {
        self.dialer.describe(peer)
    }

    /// The peer's live connection (`Ok(Some)`), or that it may be dialed (`Ok(None)`), or
    /// when it may be dialed again if it is backing off (`Err`): one look at the slot,
    /// so choosing a peer and taking its connection do not hash and lock twice.
    pub(crate) fn live(&self, key: &str) -> Result<Option<Connection>, Instant> {
        let slots = guard(&self.slots);
        let Some(slot) = slots.get(key) else {
            return Ok(None);
        };
        if let Some(conn) = slot.usable() {
            return Ok(Some(conn));
        }
        match guard(&slot.state).retry_at {
            Some(at) if at > Instant::now() => Err(at),
            _ => Ok(None),
        }
    }

    /// The peer's connection, dialing it if there is none (unless it is backing off).
    pub(crate) async fn get(&self, peer: &Peer) -> Result<Connection, ConnectionError> {
        let slot = self.slot(peer.key());
        if let Some(c) = slot.usable() {
            return Ok(c);
        }
        let seen = slot.failures_seen.load(Ordering::Acquire);
        let _dialing = slot.dialing.lock().await;
        if let Some(c) = slot.usable() {
            return Ok(c);
        }
        {
            let st = guard(&slot.state);
            if slot.failures_seen.load(Ordering::Acquire) != seen {
                // The dial we waited for failed; share its answer instead of dialing again.
                return Err(st.last_error.clone().unwrap_or(ConnectionError::NotSent));
            }
            if let Some(at) = st.retry_at {
                let now = Instant::now();
                if at > now {
                    return Err(ConnectionError::BackingOff(at - now));
                }
            }
        }
        let span = tracing::debug_span!("zap.client.dial", peer = %self.dialer.describe(peer));
        // Boxed: the dial and handshake are a large state machine that would otherwise be
        // part of every call's future (and copied with it), though calls rarely dial.
        let dialed = tracing::Instrument::instrument(
            Box::pin(Connection::connect(
                &*self.dialer,
                peer,
                &self.node_id,
                &self.options,
            )),
            span,
        )
        .await;
        match dialed {
            Ok(conn) => {
                metrics::client_connect(true);
                *guard(&slot.live) = Some(conn.clone());
                let mut st = guard(&slot.state);
                st.failures = 0;
                st.retry_at = None;
                st.last_error = None;
                Ok(conn)
            }
            Err(e) => {
                metrics::client_connect(false);
                let reason = match e {
                    Error::Connection { reason, .. } => reason,
                    other => ConnectionError::Handshake(other.to_string()),
                };
                let mut st = guard(&slot.state);
                st.failures += 1;
                let wait = self.backoff.delay(st.failures);
                st.retry_at = Some(Instant::now() + wait);
                st.last_error = Some(reason.clone());
                slot.failures_seen.fetch_add(1, Ordering::AcqRel);
                tracing::debug!(%peer, error = %reason, retry_in = ?wait, "dial failed");
                Err(reason)
            }
        }
    }

    /// Forgets a peer that discovery no longer lists; its connection closes once the calls
    /// on it finish.
    pub(crate) fn remove(&self, key: &str) {
        guard(&self.slots).remove(key);
    }

    /// Keeps only the peers `keep` accepts.
    pub(crate) fn retain(&self, keep: impl Fn(&str) -> bool) {
        guard(&self.slots).retain(|k, _| keep(k));
    }

    /// Drops every connection.
    pub(crate) fn clear(&self) {
        let slots: Vec<Arc<Slot>> = guard(&self.slots).drain().map(|(_, s)| s).collect();
        for s in slots {
            if let Some(c) = guard(&s.live).take() {
                c.close();
            }
        }
    }

    /// Open connections.
    pub(crate) fn connections(&self) -> Vec<Connection> {
        guard(&self.slots)
            .values()
            .filter_map(|s| s.usable())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_caps_and_jitters() {
        let b = Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(1),
        };
        for failures in 1..40 {
            let d = b.delay(failures);
            let base = Duration::from_millis(100)
                .saturating_mul(1 << (failures - 1).min(20))
                .min(Duration::from_secs(1));
            assert!(d >= base / 2 && d < base, "{failures}: {d:?} vs {base:?}");
        }
    }
}
