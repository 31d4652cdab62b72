//! The per-endpoint connection pool.
//!
//! Each endpoint has a LIFO stack of idle connections (the most recently used first, so
//! the others can age out) and, when a cap is set, a semaphore of active connections.
//! A connection is created only when its request holds a permit and no idle connection
//! is left, so the connections open to one endpoint never exceed the cap. A connection
//! goes back to the stack only through [`Pooled::release`], called after a complete
//! exchange; dropping a [`Pooled`] closes it, which is what makes an abandoned or broken
//! exchange safe: nothing half-read is ever reused.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::endpoint::Endpoint;
use crate::conn::{BoxIo, Conn};
use crate::error::Error;

/// Pool settings (see the client builder for their meaning and defaults).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PoolConfig {
    pub(crate) max_idle_per_endpoint: usize,
    pub(crate) idle_timeout: Duration,
    pub(crate) max_per_endpoint: Option<usize>,
}

struct IdleConn {
    conn: Conn<BoxIo>,
    since: Instant,
}

struct Slot {
    /// Tells a slot apart from a later one for the same endpoint, so a connection from an
    /// evicted slot is closed instead of joining the new one.
    id: u64,
    idle: Vec<IdleConn>,
    permits: Option<Arc<Semaphore>>,
}

struct Inner {
    slots: Mutex<HashMap<Endpoint, Slot>>,
    cfg: PoolConfig,
    next_id: AtomicU64,
    /// When the pool was made; sweeps are timed in milliseconds since then.
    born: Instant,
    /// Milliseconds from `born` to the last sweep: an atomic, so the check that runs on
    /// every checkout takes no lock.
    last_sweep: AtomicU64,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<Endpoint, Slot>> {
        // The map holds no invariant a panic could break halfway; keep using it.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn expired(&self, idle: &IdleConn, now: Instant) -> bool {
        now.saturating_duration_since(idle.since) >= self.cfg.idle_timeout
    }

    /// Pops the most recently used idle connection of `slot` that is neither expired nor
    /// dead, dropping the dead ones on the way.
    fn pop_idle(&self, slot: &mut Slot, endpoint: &Endpoint, now: Instant) -> Option<Conn<BoxIo>> {
        while let Some(mut idle) = slot.idle.pop() {
            if self.expired(&idle, now) {
                // Everything below it is older still.
                slot.idle.clear();
                return None;
            }
            if idle.conn.is_reusable() {
                return Some(idle.conn);
            }
            tracing::debug!(endpoint = %endpoint, "discarding a pooled connection the peer closed");
        }
        None
    }

    /// Drops expired idle connections everywhere and forgets slots with nothing in them,
    /// at most twice per idle timeout.
    fn sweep(&self, now: Instant) {
        let at = millis(now.saturating_duration_since(self.born));
        let last = self.last_sweep.load(Ordering::Relaxed);
        if at.saturating_sub(last) < millis(self.cfg.idle_timeout / 2)
            || self
                .last_sweep
                .compare_exchange(last, at, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let mut slots = self.lock();
        slots.retain(|_, slot| {
            slot.idle.retain(|c| !self.expired(c, now));
            let in_use = slot
                .permits
                .as_ref()
                .is_some_and(|p| Some(p.available_permits()) != self.cfg.max_per_endpoint);
            !slot.idle.is_empty() || in_use
        });
    }
}

/// A shared pool; cloning gives another handle to the same connections.
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

impl Pool {
    pub(crate) fn new(cfg: PoolConfig) -> Self {
        Self {
            inner: Arc::new(Inner {
                slots: Mutex::new(HashMap::new()),
                cfg,
                next_id: AtomicU64::new(1),
                born: Instant::now(),
                last_sweep: AtomicU64::new(0),
            }),
        }
    }

    pub(crate) fn downgrade(&self) -> WeakPool {
        WeakPool(Arc::downgrade(&self.inner))
    }

    /// A connection to `endpoint`: an idle one that is still alive (unless `fresh`), or a
    /// new one from `connect`. Waits for a permit first when the endpoint is capped;
    /// the caller bounds the whole call with its connect timeout.
    pub(crate) async fn checkout<F, Fut>(
        &self,
        endpoint: &Endpoint,
        fresh: bool,
        connect: F,
    ) -> Result<Pooled, Error>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Conn<BoxIo>, Error>>,
    {
        let now = Instant::now();
        self.inner.sweep(now);
        // The usual case, a free permit and an idle connection, takes one lock.
        let (slot_id, permit, idle) = {
            let mut slots = self.inner.lock();
            let slot = slots.entry(endpoint.clone()).or_insert_with(|| Slot {
                id: self.inner.next_id.fetch_add(1, Ordering::Relaxed),
                idle: Vec::new(),
                permits: self
                    .inner
                    .cfg
                    .max_per_endpoint
                    .map(|n| Arc::new(Semaphore::new(n))),
            });
            let permit = match &slot.permits {
                None => Permit::Unlimited,
                Some(sem) => match sem.clone().try_acquire_owned() {
                    Ok(p) => Permit::Held(p),
                    Err(_) => Permit::Wait(sem.clone()),
                },
            };
            let idle = match permit {
                Permit::Wait(_) => None,
                _ if fresh => None,
                _ => self.inner.pop_idle(slot, endpoint, now),
            };
            (slot.id, permit, idle)
        };
        let (permit, idle) = match permit {
            Permit::Unlimited => (None, idle),
            Permit::Held(p) => (Some(p), idle),
            Permit::Wait(sem) => {
                // The semaphore is never closed, so acquiring only fails if it were.
                let p = sem
                    .acquire_owned()
                    .await
                    .map_err(|_| Error::Closed("the pool was shut down"))?;
                let idle = if fresh {
                    None
                } else {
                    self.take_idle(endpoint, slot_id, Instant::now())
                };
                (Some(p), idle)
            }
        };
        if let Some(conn) = idle {
            return Ok(Pooled {
                conn,
                endpoint: endpoint.clone(),
                slot_id,
                pool: self.downgrade(),
                _permit: permit,
                reused: true,
            });
        }
        let conn = connect().await?;
        Ok(Pooled {
            conn,
            endpoint: endpoint.clone(),
            slot_id,
            pool: self.downgrade(),
            _permit: permit,
            reused: false,
        })
    }

    /// The most recently used idle connection that is neither expired nor dead.
    fn take_idle(&self, endpoint: &Endpoint, slot_id: u64, now: Instant) -> Option<Conn<BoxIo>> {
        let mut slots = self.inner.lock();
        let slot = slots.get_mut(endpoint).filter(|s| s.id == slot_id)?;
        self.inner.pop_idle(slot, endpoint, now)
    }

    /// Closes the idle connections to `endpoint` and makes its active ones close when
    /// they finish instead of returning.
    pub(crate) fn evict(&self, endpoint: &Endpoint) {
        let removed = self.inner.lock().remove(endpoint);
        if removed.is_some() {
            tracing::debug!(endpoint = %endpoint, "evicted the connections of an endpoint");
        }
    }

    /// Evicts every endpoint for which `keep` is false.
    pub(crate) fn retain(&self, mut keep: impl FnMut(&Endpoint) -> bool) {
        self.inner.lock().retain(|ep, _| keep(ep));
    }

    /// Idle connections held for `endpoint`.
    pub(crate) fn idle(&self, endpoint: &Endpoint) -> usize {
        self.inner.lock().get(endpoint).map_or(0, |s| s.idle.len())
    }

    /// Endpoints the pool holds state for.
    pub(crate) fn endpoints(&self) -> Vec<Endpoint> {
        self.inner.lock().keys().cloned().collect()
    }
}

/// Whole milliseconds of `d`, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// The permit a checkout holds under the per-endpoint cap.
enum Permit {
    /// No cap is set.
    Unlimited,
    /// Taken at once.
    Held(OwnedSemaphorePermit),
    /// None was free: wait on this semaphore, outside the pool's lock.
    Wait(Arc<Semaphore>),
}

/// A pool handle that does not keep the pool alive.
#[derive(Clone)]
pub(crate) struct WeakPool(Weak<Inner>);

impl WeakPool {
    pub(crate) fn upgrade(&self) -> Option<Pool> {
        self.0.upgrade().map(|inner| Pool { inner })
    }
}

/// A connection checked out of the pool for one exchange.
pub(crate) struct Pooled {
    conn: Conn<BoxIo>,
    endpoint: Endpoint,
    slot_id: u64,
    pool: WeakPool,
    _permit: Option<OwnedSemaphorePermit>,
    /// True when the connection came from the idle stack (it may have gone stale).
    pub(crate) reused: bool,
}

impl Pooled {
    pub(crate) fn conn(&mut self) -> &mut Conn<BoxIo> {
        &mut self.conn
    }

    /// Returns the connection after a complete exchange. It is closed instead when bytes
    /// beyond the exchange arrived, its endpoint was evicted, or the stack is full.
    pub(crate) fn release(self) {
        let conn = self.conn;
        if conn.buffered() != 0 {
            tracing::debug!(endpoint = %self.endpoint, "closing a connection with unexpected bytes");
            return;
        }
        let Some(pool) = self.pool.upgrade() else {
            return;
        };
        let mut slots = pool.inner.lock();
        if let Some(slot) = slots.get_mut(&self.endpoint)
            && slot.id == self.slot_id
            && slot.idle.len() < pool.inner.cfg.max_idle_per_endpoint
        {
            slot.idle.push(IdleConn {
                conn,
                since: Instant::now(),
            });
        }
    }
}
