//! The state a connection's reader, writer and callers share.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use crate::error::ConnectionError;
use crate::frame::{Frame, FrameHead, RESERVED_ID};
use crate::message::MessageBuf;
use crate::peer::{PeerInfo, Wire};
use crate::status::Status;
use crate::switch::Switch;

/// What the writer is asked to do.
pub(crate) enum Outgoing {
    /// Write a frame. `request` names the call whose request this is, so that a frame
    /// that never left can fail its call as "not sent".
    Frame {
        head: FrameHead,
        body: Bytes,
        request: Option<u32>,
    },
    /// Write everything queued before this, close the write side, end the connection.
    Finish,
    /// The request `id` will get no answer (the Go wire cannot carry its error). Nothing
    /// is sent on TCP; over QUIC its stream is reset so that the caller fails at once.
    Unanswered {
        /// The request id.
        #[cfg_attr(not(feature = "quic"), allow(dead_code))]
        id: u32,
    },
}

impl Outgoing {
    pub(crate) fn frame(frame: &Frame) -> Self {
        let (head, body) = frame.split();
        Outgoing::Frame {
            head,
            body,
            request: None,
        }
    }
}

/// How a call ended, as delivered to the waiting caller.
#[derive(Debug)]
pub(crate) enum Reply {
    Message(MessageBuf),
    Status(Status),
    Failed(ConnectionError),
}

/// Hashes 32-bit ids that are not attacker input: request ids (sequential numbers we
/// chose) and the ids of the procedures a client calls. A multiplicative hash spreads
/// them well at a fraction of SipHash's cost.
#[derive(Clone, Copy, Default)]
pub(crate) struct IdHash;

impl BuildHasher for IdHash {
    type Hasher = IdHasher;

    fn build_hasher(&self) -> IdHasher {
        IdHasher(0)
    }
}

/// The hasher of [`IdHash`].
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u32(&mut self, n: u32) {
        // Fibonacci hashing: the high bits, which hashbrown uses, depend on every bit of n.
        self.0 = (u64::from(n) ^ self.0).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

struct Calls {
    /// Set once the connection is finished: no call may register after that.
    closed: bool,
    waiting: HashMap<u32, oneshot::Sender<Reply>, IdHash>,
}

/// One connection's shared state.
pub(crate) struct Shared {
    pub(crate) peer: PeerInfo,
    pub(crate) peer_max_frame: usize,
    /// Calls travel on streams of their own (QUIC): cancelling stops the stream whatever
    /// the wire, and unanswerable requests are reported.
    pub(crate) per_call_streams: bool,
    calls: Mutex<Calls>,
    next_id: AtomicU32,
    next_nonce: AtomicU32,
    pub(crate) out: mpsc::Sender<Outgoing>,
    pub(crate) closed: Switch,
    reason: OnceLock<ConnectionError>,
    going_away: AtomicBool,
}

impl Shared {
    pub(crate) fn new(
        peer: PeerInfo,
        peer_max_frame: usize,
        out: mpsc::Sender<Outgoing>,
        per_call_streams: bool,
    ) -> Self {
        Self {
            peer,
            peer_max_frame,
            per_call_streams,
            calls: Mutex::new(Calls {
                closed: false,
                waiting: HashMap::default(),
            }),
            next_id: AtomicU32::new(1),
            next_nonce: AtomicU32::new(1),
            out,
            closed: Switch::new(),
            reason: OnceLock::new(),
            going_away: AtomicBool::new(false),
        }
    }

    pub(crate) fn wire(&self) -> Wire {
        self.peer.wire
    }

    fn lock(&self) -> MutexGuard<'_, Calls> {
        // The map stays consistent across a panic elsewhere: every update is one insert
        // or remove.
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers a call and returns its request id and the receiver of its reply.
    ///
    /// Ids start at 1 as in Go, skip 0 and [`RESERVED_ID`] (whose bytes would make the
    /// call prefix read as a message), and skip ids still waiting after a wrap.
    pub(crate) fn register(&self) -> Result<(u32, oneshot::Receiver<Reply>), ConnectionError> {
        let mut calls = self.lock();
        if calls.closed || self.is_closed() {
            // Whatever closed it, this request never left: it may go elsewhere.
            return Err(ConnectionError::NotSent);
        }
        let id = loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            if id != 0 && id != RESERVED_ID && !calls.waiting.contains_key(&id) {
                break id;
            }
        };
        let (tx, rx) = oneshot::channel();
        calls.waiting.insert(id, tx);
        Ok((id, rx))
    }

    /// Removes a call without answering it; true if it was still waiting.
    pub(crate) fn forget(&self, id: u32) -> bool {
        self.lock().waiting.remove(&id).is_some()
    }

    /// Delivers a reply; false if nobody waits for this id (late, duplicate or unknown).
    pub(crate) fn deliver(&self, id: u32, reply: Reply) -> bool {
        let tx = self.lock().waiting.remove(&id);
        match tx {
            Some(tx) => tx.send(reply).is_ok(),
            None => false,
        }
    }

    /// Calls waiting for a reply.
    pub(crate) fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    /// A nonce for a ping (never the reserved id).
    pub(crate) fn nonce(&self) -> u32 {
        loop {
            let n = self.next_nonce.fetch_add(1, Ordering::Relaxed);
            if n != RESERVED_ID {
                return n;
            }
        }
    }

    /// Starts closing: records the first reason and wakes the reader and writer. The
    /// writer then fails what is left (see [`Shared::fail_all`]).
    pub(crate) fn close(&self, reason: ConnectionError) {
        let _ = self.reason.set(reason);
        self.closed.cancel();
    }

    /// Asks the writer to flush what is queued and then close; closes at once if the
    /// writer cannot take the request.
    pub(crate) fn finish(&self) {
        if self.out.try_send(Outgoing::Finish).is_err() {
            self.close(ConnectionError::Local);
        }
    }

    /// Why the connection closed, or `fallback` while it is open.
    pub(crate) fn reason_or(&self, fallback: ConnectionError) -> ConnectionError {
        self.reason.get().cloned().unwrap_or(fallback)
    }

    pub(crate) fn reason(&self) -> Option<ConnectionError> {
        self.reason.get().cloned()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    pub(crate) fn set_going_away(&self) {
        self.going_away.store(true, Ordering::Release);
    }

    pub(crate) fn is_going_away(&self) -> bool {
        self.going_away.load(Ordering::Acquire)
    }

    /// The last step of a connection: no call may register any more, and every waiting
    /// call fails with the close reason.
    pub(crate) fn fail_all(&self) {
        let reason = self.reason_or(ConnectionError::Closed);
        let waiting = {
            let mut calls = self.lock();
            calls.closed = true;
            std::mem::take(&mut calls.waiting)
        };
        for (_, tx) in waiting {
            let _ = tx.send(Reply::Failed(reason.clone()));
        }
    }
}
