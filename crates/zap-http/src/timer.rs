//! Timeouts for the waits of one connection, cheap enough to put on every exchange.
//!
//! `tokio::time::timeout` reads the clock, and registers a timer that it removes again
//! when the wait ends, every time it runs. The waits of a connection come many times a
//! second, most of them finish on the first poll (a frame already buffered, a write the
//! socket takes whole), and the others are followed by another wait of the same kind. So
//! a [`Deadline`] reads the clock only once a wait has to wait, and a connection keeps one
//! timer for its waits. A timer due earlier than the new deadline is left alone: if it
//! fires first, it is moved on to the deadline then, so a busy connection touches its
//! timer about once per timeout period instead of once per wait.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::runtime::{Handle, Id};
use tokio::time::{Instant, Sleep};

/// A wait ran past its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Elapsed;

/// One reusable timer (see the module docs).
#[derive(Default)]
pub(crate) struct Deadline {
    sleep: Option<Pin<Box<Sleep>>>,
    /// The runtime whose timer wheel holds `sleep`: a connection may move to another
    /// runtime, and a timer must not be polled after its own runtime shut down.
    runtime: Option<Id>,
    /// When the current wait times out; `sleep` may be due earlier (never later).
    due: Option<Instant>,
}

impl Deadline {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Arms the timer to expire at `at`.
    fn arm(&mut self, at: Instant) {
        let runtime = Handle::try_current().ok().map(|h| h.id());
        match self.sleep.as_mut() {
            Some(sleep) if self.runtime == runtime => {
                // Due later would be too late: move it. Due earlier (the usual case, the
                // last wait's deadline): leave it; `poll_expired` moves it on if it fires.
                if sleep.deadline() > at {
                    sleep.as_mut().reset(at);
                }
            }
            _ => {
                self.sleep = Some(Box::pin(tokio::time::sleep_until(at)));
                self.runtime = runtime;
            }
        }
        self.due = Some(at);
    }

    fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let (Some(sleep), Some(due)) = (self.sleep.as_mut(), self.due) else {
            return Poll::Pending;
        };
        loop {
            ready!(sleep.as_mut().poll(cx));
            if sleep.deadline() >= due {
                return Poll::Ready(());
            }
            // An earlier wait's deadline: this wait has time left.
            sleep.as_mut().reset(due);
        }
    }

    /// Runs `fut` to completion, or fails once it has waited for `limit`, counted from
    /// its first poll that did not finish.
    pub(crate) async fn within<F: Future>(
        &mut self,
        limit: Duration,
        fut: F,
    ) -> Result<F::Output, Elapsed> {
        let mut fut = pin!(fut);
        let mut armed = false;
        poll_fn(|cx| {
            if let Poll::Ready(out) = fut.as_mut().poll(cx) {
                return Poll::Ready(Ok(out));
            }
            if !armed {
                armed = true;
                self.arm(Instant::now() + limit);
            }
            self.poll_expired(cx).map(|()| Err(Elapsed))
        })
        .await
    }

    /// [`within`](Self::within) with an optional limit: `None` waits as long as it takes.
    pub(crate) async fn within_opt<F: Future>(
        &mut self,
        limit: Option<Duration>,
        fut: F,
    ) -> Result<F::Output, Elapsed> {
        match limit {
            Some(limit) => self.within(limit, fut).await,
            None => Ok(fut.await),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_ready_future_never_arms_and_a_slow_one_times_out_each_time() {
        let mut d = Deadline::new();
        assert_eq!(
            d.within(Duration::from_millis(10), async { 7 }).await,
            Ok(7)
        );
        assert!(d.sleep.is_none(), "no timer for a wait that did not wait");
        for _ in 0..3 {
            let slow = d
                .within(Duration::from_millis(10), std::future::pending::<()>())
                .await;
            assert_eq!(slow, Err(Elapsed));
        }
        // Re-armed after firing, and extended while still armed.
        let (tx, rx) = tokio::sync::oneshot::channel::<u8>();
        let send = async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            let _ = tx.send(1);
        };
        let (got, ()) = tokio::join!(d.within(Duration::from_millis(10), rx), send);
        assert_eq!(got.map(Result::ok), Ok(Some(1)));
        let again = d
            .within(Duration::from_millis(20), std::future::pending::<()>())
            .await;
        assert_eq!(again, Err(Elapsed));
    }

    #[tokio::test]
    async fn a_timer_left_due_early_does_not_cut_the_next_wait_short() {
        let mut d = Deadline::new();
        // The first wait arms the timer for 10 ms and ends at once.
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let quick = async {
            tokio::task::yield_now().await;
            let _ = tx.send(());
        };
        let (got, ()) = tokio::join!(d.within(Duration::from_millis(10), rx), quick);
        assert!(got.is_ok());
        // The next wait may take 60 ms: the timer still due at 10 ms must not end it.
        let started = Instant::now();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let slow = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            let _ = tx.send(());
        };
        let (got, ()) = tokio::join!(d.within(Duration::from_millis(60), rx), slow);
        assert!(got.is_ok(), "the wait ended early");
        assert!(started.elapsed() >= Duration::from_millis(30));
        // And it still times out, at its own deadline.
        let started = Instant::now();
        let late = d
            .within(Duration::from_millis(20), std::future::pending::<()>())
            .await;
        assert_eq!(late, Err(Elapsed));
        assert!(started.elapsed() >= Duration::from_millis(20));
    }
}
