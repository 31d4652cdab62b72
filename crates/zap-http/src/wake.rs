//! Skipping polls that cannot make progress.
//!
//! A task often drives many requests at once (`join_all` over a batch of calls), and is
//! woken when any one of them can move on; every other request is then polled for
//! nothing, and polling a waiting exchange is not free (a look at the socket's readiness
//! under its lock, the timer). A [`WakeFilter`] gives the waits of one connection their
//! own waker, which notes that it was woken before waking the task, so a poll that comes
//! from someone else's wake-up returns at once.

use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::task::AtomicWaker;

struct Flag {
    woken: AtomicBool,
    task: AtomicWaker,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// One connection's waker for its waits (see the module docs).
pub(crate) struct WakeFilter {
    flag: Arc<Flag>,
    /// Built once: the same waker on every poll lets tokio skip re-registering it.
    waker: Waker,
}

impl Default for WakeFilter {
    fn default() -> Self {
        let flag = Arc::new(Flag {
            woken: AtomicBool::new(true),
            task: AtomicWaker::new(),
        });
        let waker = Waker::from(flag.clone());
        Self { flag, waker }
    }
}

impl WakeFilter {
    /// Runs `fut`, polling it only when something it waits on woke it (and on the first
    /// poll).
    pub(crate) async fn run<F: Future>(&self, fut: F) -> F::Output {
        let mut fut = pin!(fut);
        self.flag.woken.store(true, Ordering::Release);
        poll_fn(|cx| {
            // Registered before the flag is read, so a wake-up in between is not lost.
            self.flag.task.register(cx.waker());
            if !self.flag.woken.swap(false, Ordering::AcqRel) {
                return Poll::Pending;
            }
            fut.as_mut().poll(&mut Context::from_waker(&self.waker))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    #[tokio::test]
    async fn polls_only_after_its_own_wake_up() {
        let filter = WakeFilter::default();
        let polls = AtomicUsize::new(0);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u8>();
        let waiting = filter.run(poll_fn(|cx| {
            polls.fetch_add(1, Ordering::Relaxed);
            rx.poll_recv(cx)
        }));
        let mut waiting = pin!(waiting);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(waiting.as_mut().poll(&mut cx).is_pending());
        // Polls caused by something else do not reach the inner future.
        for _ in 0..5 {
            assert!(waiting.as_mut().poll(&mut cx).is_pending());
        }
        assert_eq!(polls.load(Ordering::Relaxed), 1);
        tx.send(9).unwrap();
        assert_eq!(waiting.as_mut().poll(&mut cx), Poll::Ready(Some(9)));
        assert_eq!(polls.load(Ordering::Relaxed), 2);
    }
}
