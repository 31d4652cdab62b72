//! The bounded outbound queue toward one sibling pod.
//!
//! Everything sent to a pod goes through its queue, drained by the link's writer task,
//! so no caller ever waits on a socket: a pod that cannot keep up fills only its own
//! queue, and the messages beyond the bound are refused (and counted) at once. Control
//! frames (answers, presence, keepalive) go first and are bounded separately, so a flood
//! of data cannot delay a PONG or a NOT_HERE. The writer encodes as many queued frames as
//! fit into one buffer and writes them with one call.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

use super::frame::{self, FRAME_HEADER_SIZE, FrameType};
use crate::peer::lock;
use crate::peer_id::{PEER_ID_SIZE, PeerId};

/// One queued frame.
#[derive(Debug, Clone)]
pub(crate) enum Out {
    /// A relay Transport message for `dst`.
    Fwd { dst: PeerId, msg: Bytes },
    /// A frame with its payload.
    Frame { ty: FrameType, payload: Bytes },
    /// Frames already encoded with their headers (presence batches shared by links).
    Encoded(Bytes),
}

impl Out {
    fn wire_len(&self) -> usize {
        match self {
            Self::Fwd { msg, .. } => FRAME_HEADER_SIZE + PEER_ID_SIZE + msg.len(),
            Self::Frame { payload, .. } => FRAME_HEADER_SIZE + payload.len(),
            Self::Encoded(b) => b.len(),
        }
    }

    fn encode(&self, buf: &mut BytesMut) {
        // Sizes were checked when the frame was queued; an error here cannot happen and
        // would only drop this frame.
        let _ = match self {
            Self::Fwd { dst, msg } => frame::encode_fwd(buf, dst, msg),
            Self::Frame { ty, payload } => frame::encode_frame(buf, *ty, payload),
            Self::Encoded(b) => {
                buf.extend_from_slice(b);
                Ok(())
            }
        };
    }
}

/// Why a frame was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QueueError {
    /// Over the byte bound.
    Full,
    /// The pod's link is gone.
    Closed,
}

#[derive(Default)]
struct Lanes {
    control: VecDeque<Out>,
    control_bytes: usize,
    data: VecDeque<Out>,
    data_bytes: usize,
}

/// The queue toward one sibling. Shared by the successive links to that sibling, so a
/// link replaced by a better one hands its backlog over.
pub(crate) struct OutQueue {
    lanes: Mutex<Lanes>,
    ready: Notify,
    limit: usize,
    closed: AtomicBool,
}

impl OutQueue {
    pub(crate) fn new(limit_bytes: usize) -> Self {
        Self {
            lanes: Mutex::new(Lanes::default()),
            ready: Notify::new(),
            limit: limit_bytes,
            closed: AtomicBool::new(false),
        }
    }

    fn push(&self, out: Out, control: bool) -> Result<(), QueueError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(QueueError::Closed);
        }
        let len = out.wire_len();
        {
            let mut guard = lock(&self.lanes);
            let l = &mut *guard;
            let (q, bytes) = if control {
                (&mut l.control, &mut l.control_bytes)
            } else {
                (&mut l.data, &mut l.data_bytes)
            };
            // An empty lane always takes one frame, so even a frame above the bound moves.
            if *bytes + len > self.limit && !q.is_empty() {
                return Err(QueueError::Full);
            }
            *bytes += len;
            q.push_back(out);
        }
        self.ready.notify_one();
        Ok(())
    }

    /// Queues a data frame (FWD).
    pub(crate) fn push_data(&self, out: Out) -> Result<(), QueueError> {
        self.push(out, false)
    }

    /// Queues a control frame (answers, presence, keepalive).
    pub(crate) fn push_control(&self, out: Out) -> Result<(), QueueError> {
        self.push(out, true)
    }

    /// Encodes queued frames into `buf` (control first) until it holds about `max`
    /// bytes; returns how many frames were taken and whether one was a GOODBYE (after
    /// which nothing more is taken).
    pub(crate) fn drain_into(&self, buf: &mut BytesMut, max: usize) -> (usize, bool) {
        let mut l = lock(&self.lanes);
        let mut n = 0;
        while buf.len() < max {
            let Some(out) = l.control.pop_front() else {
                break;
            };
            l.control_bytes -= out.wire_len();
            out.encode(buf);
            n += 1;
            if let Out::Frame {
                ty: FrameType::GOODBYE,
                ..
            } = out
            {
                return (n, true);
            }
        }
        while buf.len() < max {
            let Some(out) = l.data.pop_front() else {
                break;
            };
            l.data_bytes -= out.wire_len();
            out.encode(buf);
            n += 1;
        }
        (n, false)
    }

    /// Waits until something may be queued (a stored wake-up makes this return at once).
    pub(crate) async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Wakes the writer (after a link takes the queue over).
    pub(crate) fn wake(&self) {
        self.ready.notify_one();
    }

    /// Bytes waiting to be written.
    pub(crate) fn queued_bytes(&self) -> usize {
        let l = lock(&self.lanes);
        l.control_bytes + l.data_bytes
    }

    /// Refuses further frames and returns how many data frames were thrown away.
    pub(crate) fn close(&self) -> u64 {
        self.closed.store(true, Ordering::Release);
        let mut l = lock(&self.lanes);
        let dropped = l.data.len() as u64;
        *l = Lanes::default();
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(n: usize) -> Out {
        Out::Fwd {
            dst: PeerId::from_identity("b"),
            msg: Bytes::from(vec![1u8; n]),
        }
    }

    #[test]
    fn bounded_by_bytes_with_control_first() {
        let q = OutQueue::new(200);
        assert_eq!(q.push_data(fwd(100)), Ok(()));
        assert_eq!(q.push_data(fwd(100)), Err(QueueError::Full));
        q.push_control(Out::Frame {
            ty: FrameType::PONG,
            payload: Bytes::from_static(b"12345678"),
        })
        .unwrap();
        let mut buf = BytesMut::new();
        assert_eq!(q.drain_into(&mut buf, 1 << 16), (2, false));
        assert_eq!(
            buf[0],
            FrameType::PONG.0,
            "control frames are written first"
        );
        assert_eq!(buf.len(), 11 + 3 + 36 + 100);
        assert_eq!(q.queued_bytes(), 0);
        assert_eq!(q.push_data(fwd(100)), Ok(()));
        assert_eq!(q.close(), 1);
        assert_eq!(q.push_data(fwd(1)), Err(QueueError::Closed));
    }

    #[test]
    fn an_empty_lane_takes_an_oversized_frame() {
        let q = OutQueue::new(10);
        assert_eq!(q.push_data(fwd(100)), Ok(()));
        assert_eq!(q.push_data(fwd(1)), Err(QueueError::Full));
    }
}
