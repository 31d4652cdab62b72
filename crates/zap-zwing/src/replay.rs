//! [`ReplayCache`]: refuses a `HandshakeInit` seen before.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// Remembers the `HandshakeInit` messages a responder accepted, so that a recorded one
/// replayed within `window` is refused before it costs a signature check, an
/// encapsulation and a signature.
///
/// Z-Wing v1's `HandshakeInit` has no nonce or timestamp: a copy is as valid as the
/// original. Honest initiators never repeat one, because the ML-DSA-65 half of the
/// signature is freshly randomised each time (luxfi/zwing and this crate both sign that
/// way), and ML-DSA signatures cannot be altered into different valid ones, so a byte-exact
/// match is a replay.
///
/// The cache holds at most `capacity` entries; when it is full the oldest is forgotten
/// first, which shortens the window under a flood instead of refusing honest clients.
/// Share one cache between all listeners of a server (it is behind an `Arc` in
/// [`Config`](crate::Config)).
#[derive(Debug)]
pub struct ReplayCache {
    window: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    seen: HashSet<[u8; 32]>,
    order: VecDeque<(Instant, [u8; 32])>,
}

impl ReplayCache {
    /// A cache that remembers each accepted message for `window`, holding at most
    /// `capacity` of them (at least one).
    pub fn new(window: Duration, capacity: usize) -> Self {
        Self {
            window,
            capacity: capacity.max(1),
            inner: Mutex::new(Inner::default()),
        }
    }

    /// How long a message is remembered.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// The most messages remembered at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many messages are remembered now.
    pub fn len(&self) -> usize {
        let mut inner = self.lock();
        inner.expire(Instant::now(), self.window);
        inner.seen.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key a message is remembered by.
    pub(crate) fn key(message: &[u8]) -> [u8; 32] {
        Sha256::digest(message).into()
    }

    /// Whether a message with this key was accepted within the window.
    pub(crate) fn contains(&self, key: &[u8; 32]) -> bool {
        let mut inner = self.lock();
        inner.expire(Instant::now(), self.window);
        inner.seen.contains(key)
    }

    /// Remembers a key; false if it was already there (two copies racing each other).
    pub(crate) fn insert(&self, key: [u8; 32]) -> bool {
        let now = Instant::now();
        let mut inner = self.lock();
        inner.expire(now, self.window);
        if inner.seen.contains(&key) {
            return false;
        }
        while inner.seen.len() >= self.capacity {
            let Some((_, oldest)) = inner.order.pop_front() else {
                break;
            };
            inner.seen.remove(&oldest);
        }
        inner.seen.insert(key);
        inner.order.push_back((now, key));
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // The sets stay consistent even if a holder panicked: every update is complete
        // before the guard drops, so a poisoned lock is safe to keep using.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn expire(&mut self, now: Instant, window: Duration) {
        while let Some((at, key)) = self.order.front().copied() {
            if now.duration_since(at) < window {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_copy_is_refused() {
        let cache = ReplayCache::new(Duration::from_secs(60), 10);
        let k = ReplayCache::key(b"init");
        assert!(!cache.contains(&k));
        assert!(cache.insert(k));
        assert!(cache.contains(&k));
        assert!(!cache.insert(k));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn capacity_forgets_the_oldest() {
        let cache = ReplayCache::new(Duration::from_secs(60), 2);
        let keys: Vec<_> = (0u8..3).map(|i| ReplayCache::key(&[i])).collect();
        for k in &keys {
            assert!(cache.insert(*k));
        }
        assert_eq!(cache.len(), 2);
        assert!(!cache.contains(&keys[0]));
        assert!(cache.contains(&keys[2]));
    }

    #[test]
    fn entries_expire_after_the_window() {
        let cache = ReplayCache::new(Duration::ZERO, 4);
        let k = ReplayCache::key(b"x");
        assert!(cache.insert(k));
        assert!(!cache.contains(&k));
        assert!(cache.is_empty());
    }
}
