//! A one-way switch that hot paths check and tasks wait on.

use std::sync::atomic::{AtomicBool, Ordering};

use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

/// A [`CancellationToken`] whose [`is_cancelled`](Self::is_cancelled) is one atomic load:
/// the token's own check takes a lock, and closed and draining states are checked on
/// every call and request. Cancel it only through [`cancel`](Self::cancel) (a copy of
/// [`token`](Self::token) is for waiting).
#[derive(Debug, Default)]
pub(crate) struct Switch {
    token: CancellationToken,
    on: AtomicBool,
}

impl Switch {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Turns it on and wakes every waiter.
    pub(crate) fn cancel(&self) {
        self.on.store(true, Ordering::Release);
        self.token.cancel();
    }

    /// True once [`cancel`](Self::cancel) ran.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.on.load(Ordering::Acquire)
    }

    /// Resolves once [`cancel`](Self::cancel) ran.
    pub(crate) fn cancelled(&self) -> WaitForCancellationFuture<'_> {
        self.token.cancelled()
    }

    /// The token, to wait on elsewhere.
    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }
}
