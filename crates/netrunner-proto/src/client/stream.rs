//! [`StatusStream`]: the receiving end of a StreamStatus call.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::timeout;

use super::Shared;
use super::table::{StreamItem, StreamState};
use crate::error::Error;
use crate::opcode::Method;
use crate::types::ClusterInfo;

/// Status updates from a StreamStatus call: the cluster now, then once per interval.
///
/// [`StatusStream::next`] returns `None` once the server has ended the stream (its end
/// marker), and an error if it ended it with an error frame or the connection failed.
/// [`StatusStream::cancel`] asks the server to stop and waits for the end marker;
/// dropping the stream asks the same without waiting.
///
/// A reader slower than the server loses the *oldest* queued updates first (each update
/// is a complete snapshot); [`StatusStream::dropped`] counts them.
pub struct StatusStream {
    shared: Arc<Shared>,
    id: u32,
    state: Arc<StreamState>,
    /// How long `next` waits for a frame before giving up on the server.
    stall_limit: Duration,
    call_timeout: Duration,
    finished: bool,
}

impl std::fmt::Debug for StatusStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusStream")
            .field("request_id", &self.id)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl StatusStream {
    pub(super) fn new(
        shared: Arc<Shared>,
        id: u32,
        state: Arc<StreamState>,
        push_interval: Duration,
        call_timeout: Duration,
    ) -> Self {
        Self {
            shared,
            id,
            state,
            stall_limit: push_interval.saturating_add(call_timeout),
            call_timeout,
            finished: false,
        }
    }

    /// The stream's request id.
    pub fn request_id(&self) -> u32 {
        self.id
    }

    /// Updates dropped because the reader fell behind.
    pub fn dropped(&self) -> u64 {
        self.state.dropped()
    }

    /// The next update (`None` inside means the server reported no running cluster),
    /// or `None` when the stream has ended.
    ///
    /// Waits at most one push interval plus the call timeout for a frame; after that
    /// the stream is abandoned and [`Error::Timeout`] returned.
    pub async fn next(&mut self) -> Option<Result<Option<ClusterInfo>, Error>> {
        if self.finished {
            return None;
        }
        loop {
            match self.state.pop() {
                Some(StreamItem::Update(info)) => return Some(Ok(info)),
                Some(StreamItem::End) => {
                    self.finished = true;
                    return None;
                }
                Some(StreamItem::Failed(e)) => {
                    self.finished = true;
                    return Some(Err(e));
                }
                None => {}
            }
            if timeout(self.stall_limit, self.state.changed())
                .await
                .is_err()
            {
                self.finished = true;
                self.shared.abandon(self.id);
                return Some(Err(Error::Timeout {
                    method: Method::StreamStatus,
                    after: self.stall_limit,
                }));
            }
        }
    }

    /// Asks the server to end the stream and waits (at most the call timeout) for its
    /// end marker. Updates that arrive meanwhile are discarded.
    ///
    /// # Errors
    /// The error the stream ended with, if it ended with one, or [`Error::Timeout`] if
    /// the end marker did not come in time.
    pub async fn cancel(mut self) -> Result<(), Error> {
        if self.finished {
            return Ok(());
        }
        let _ = self.shared.cancels.send(self.id);
        let limit = self.call_timeout;
        let drained = timeout(limit, async {
            loop {
                match self.state.pop() {
                    Some(StreamItem::Update(_)) => {}
                    Some(StreamItem::End) => return Ok(()),
                    Some(StreamItem::Failed(e)) => return Err(e),
                    None => self.state.changed().await,
                }
            }
        })
        .await;
        self.finished = true;
        match drained {
            Ok(outcome) => outcome,
            Err(_) => {
                self.shared.table.remove(self.id);
                Err(Error::Timeout {
                    method: Method::StreamStatus,
                    after: limit,
                })
            }
        }
    }
}

impl Drop for StatusStream {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.abandon(self.id);
        }
    }
}
