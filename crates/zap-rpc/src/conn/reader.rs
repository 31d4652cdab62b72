//! The reader task: one per connection, the only code that reads from the socket.
//!
//! It never waits for a handler (Go runs them inline, so one slow handler stalls every
//! frame behind it): requests go to a bounded queue and start as handler slots free up,
//! and the reader stops reading only when the queue is full. A handler's first poll runs
//! here, so one that answers at once costs no task and its answer joins the batch the
//! writer sends next; one that has to wait continues in a task of its own. Responses,
//! cancels and pings are handled at once.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use tokio::time::sleep_until;
use tokio_util::codec::FramedRead;
use zap_wire::codec::{CodecError, PayloadCodec};

use super::shared::{Outgoing, Reply, Shared};
use crate::error::ConnectionError;
use crate::extension::Features;
use crate::frame::Frame;
use crate::message::MessageBuf;
use crate::options::Keepalive;
use crate::server::dispatch::{Incoming, Serve, Target};
use crate::status::{ErrorCode, Status};
use crate::transport::BoxRead;

/// After this many frames in a row the reader lets the other tasks run before reading on.
///
/// Without the pause a peer that sends hundreds of frames at once gets no answer until
/// all of them are read and handled, and then sits idle while this side waits for its
/// next batch: the two sides take turns instead of working at the same time. Pausing
/// every few dozen frames lets the writer send what is answered so far (and the callers
/// woken by answers queue their next requests), so the peer starts on it while we read
/// on. A batch still carries dozens of frames, so the system calls per frame stay few.
const FRAMES_PER_TURN: u32 = 64;

/// What the reader receives.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A frame's payload.
    Payload(Bytes),
    /// The caller stopped the stream of request `id` (QUIC): a cancel, whatever the wire.
    #[cfg_attr(not(feature = "quic"), allow(dead_code))]
    Cancel(u32),
}

/// The frames of a byte stream, as the reader takes them.
pub(crate) fn stream_frames(
    frames: FramedRead<BoxRead, PayloadCodec>,
) -> impl Stream<Item = Result<Inbound, ConnectionError>> + Send + Unpin + 'static {
    frames.map(|r| match r {
        Ok(p) => Ok(Inbound::Payload(p)),
        Err(CodecError::Io(e)) => Err(ConnectionError::io(e)),
        Err(e) => Err(ConnectionError::Protocol(e.to_string())),
    })
}

/// Keepalive state.
///
/// While the reader is paused (its request queue is full) it cannot hear the peer, so
/// silence does not count against the peer then; pings still go out on schedule so that the
/// peer, which hears nothing from slow handlers, knows we are alive.
struct Liveness {
    cfg: Keepalive,
    /// When we last received a frame (or resumed reading), as of the last timer wake.
    last_rx: Instant,
    /// A frame arrived since the timer last woke. Frames set this instead of reading the
    /// clock each; the timer then counts them as heard when it wakes, which delays a
    /// timeout by at most the time between two wakes.
    heard: bool,
    /// When we last sent a ping.
    last_ping: Option<Instant>,
}

impl Liveness {
    fn new(cfg: Keepalive) -> Self {
        Self {
            cfg,
            last_rx: Instant::now(),
            heard: false,
            last_ping: None,
        }
    }

    /// The last sign of life in either direction that a ping would be measured from.
    fn quiet_since(&self) -> Instant {
        self.last_ping.map_or(self.last_rx, |p| p.max(self.last_rx))
    }

    fn next_wake(&self, reading: bool) -> Instant {
        let ping_at = self.quiet_since() + self.cfg.interval;
        if reading {
            ping_at.min(self.last_rx + self.cfg.timeout)
        } else {
            ping_at
        }
    }
}

/// Runs until the peer closes, the framing breaks, keepalive gives up or the connection
/// is closed locally; then closes the connection and cancels the handlers it started.
pub(crate) async fn run<S>(
    shared: Arc<Shared>,
    mut frames: S,
    mut serve: Option<Serve>,
    keepalive: Option<Keepalive>,
) where
    S: Stream<Item = Result<Inbound, ConnectionError>> + Unpin,
{
    let mut live = keepalive
        .filter(|_| shared.wire().has(Features::KEEPALIVE))
        .map(Liveness::new);
    let timer = sleep_until(
        live.as_ref()
            .map_or_else(Instant::now, |l| l.next_wake(true))
            .into(),
    );
    tokio::pin!(timer);
    let mut was_reading = true;
    // Made once, not per frame: each cancellation future costs a lock to make.
    let closed = shared.closed.cancelled();
    tokio::pin!(closed);
    let draining = serve.as_ref().map(Serve::draining);
    let draining = async move {
        match draining {
            Some(d) => d.await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(draining);
    let mut drained = false;

    let reason = 'conn: loop {
        let can_read = serve.as_ref().is_none_or(Serve::has_room);
        if can_read
            && !was_reading
            && let Some(l) = live.as_mut()
        {
            // The pause was ours, not the peer's silence.
            l.last_rx = Instant::now();
        }
        was_reading = can_read;
        let queued = serve.as_ref().is_some_and(Serve::has_queued);
        let slot = serve.as_ref().filter(|_| queued).map(Serve::slot);
        tokio::select! {
            biased;
            _ = &mut closed => break None,
            Some(slot) = async { slot?.await }, if queued => {
                if let Some(serve) = serve.as_mut() {
                    serve.start_next(Some(slot), &shared);
                    serve.start_ready(&shared);
                }
            }
            () = &mut draining, if !drained => {
                drained = true;
                if let Some(serve) = serve.as_mut() {
                    serve.on_drain(&shared).await;
                }
            }
            next = frames.next(), if can_read => {
                // Frames already read are taken here one after another, without going
                // round the select (which polls every other branch, each at some cost)
                // until the turn ends or the stream has nothing ready.
                let mut next = next;
                let mut in_turn = 0u32;
                loop {
                    match next {
                        None => break 'conn Some(ConnectionError::Closed),
                        Some(Err(e)) => break 'conn Some(e),
                        Some(Ok(Inbound::Payload(payload))) => {
                            if let Some(l) = live.as_mut() {
                                l.heard = true;
                            }
                            if let Err(e) = on_payload(&shared, serve.as_mut(), payload).await {
                                break 'conn Some(e);
                            }
                        }
                        Some(Ok(Inbound::Cancel(id))) => {
                            if let Some(serve) = serve.as_mut() {
                                serve.on_cancel(id);
                            }
                        }
                    }
                    in_turn += 1;
                    if in_turn >= FRAMES_PER_TURN {
                        tokio::task::yield_now().await;
                        break;
                    }
                    if !serve.as_ref().is_none_or(Serve::has_room) {
                        break;
                    }
                    match poll_fn(|cx| Poll::Ready(frames.poll_next_unpin(cx))).await {
                        Poll::Ready(more) => next = more,
                        Poll::Pending => break,
                    }
                }
            }
            _ = &mut timer, if live.is_some() => {
                let Some(l) = live.as_mut() else { continue };
                let now = Instant::now();
                if std::mem::take(&mut l.heard) {
                    l.last_rx = now;
                }
                let silent = now.saturating_duration_since(l.last_rx);
                if can_read && silent >= l.cfg.timeout {
                    break Some(ConnectionError::KeepaliveTimeout(silent));
                }
                if now.saturating_duration_since(l.quiet_since()) >= l.cfg.interval {
                    l.last_ping = Some(now);
                    let ping = Frame::Ping { nonce: shared.nonce() };
                    if shared.out.send(Outgoing::frame(&ping)).await.is_err() {
                        break None;
                    }
                }
                timer.as_mut().reset(l.next_wake(can_read).into());
            }
        }
    };
    if let Some(reason) = reason {
        tracing::debug!(peer = %shared.peer, %reason, "connection ended");
        shared.close(reason);
    }
    if let Some(serve) = serve.as_mut() {
        serve.close();
    }
}

/// Handles one frame; an error closes the connection.
async fn on_payload(
    shared: &Arc<Shared>,
    serve: Option<&mut Serve>,
    payload: Bytes,
) -> Result<(), ConnectionError> {
    let frame = if shared.wire().is_go() {
        Frame::decode_go(payload)
    } else {
        Frame::decode_rust(payload).map_err(|e| ConnectionError::Protocol(e.to_string()))?
    };
    let request = |id, target, timeout_ms, message| Incoming {
        id,
        target,
        timeout_ms,
        message,
    };
    let incoming = match frame {
        Frame::Response { .. } | Frame::Error { .. } => {
            deliver_answer(shared, frame);
            return Ok(());
        }
        Frame::Cancel { id } => {
            if let Some(serve) = serve {
                serve.on_cancel(id);
            }
            return Ok(());
        }
        Frame::Ping { nonce } => {
            let _ = shared
                .out
                .send(Outgoing::frame(&Frame::Pong { nonce }))
                .await;
            return Ok(());
        }
        Frame::Pong { .. } => return Ok(()),
        Frame::GoAway => {
            tracing::debug!(peer = %shared.peer, "the peer is going away");
            shared.set_going_away();
            return Ok(());
        }
        Frame::Unknown { id, kind } => {
            tracing::debug!(peer = %shared.peer, id, kind, "skipping a frame of unknown kind");
            return Ok(());
        }
        Frame::Unrecognized { payload } => {
            tracing::debug!(
                peer = %shared.peer,
                len = payload.len(),
                "skipping a frame that is neither a message nor a call"
            );
            return Ok(());
        }
        Frame::Plain { message } => request(None, Target::Legacy, 0, message),
        Frame::Request { id, message } => request(Some(id), Target::Legacy, 0, message),
        Frame::Call {
            id,
            procedure,
            timeout_ms,
            message,
        } => request(Some(id), Target::Wide(procedure), timeout_ms, message),
        Frame::Send { procedure, message } => request(None, Target::Wide(procedure), 0, message),
    };
    match serve {
        Some(serve) => serve.on_request(shared, incoming).await,
        None => refuse(shared, incoming).await,
    }
    Ok(())
}

/// Hands a response or error frame to the call waiting for it.
pub(crate) fn deliver_answer(shared: &Shared, frame: Frame) {
    let (id, reply) = match frame {
        Frame::Response { id, message } => (
            id,
            match MessageBuf::new(message) {
                Ok(m) => Reply::Message(m),
                Err(e) => Reply::Failed(ConnectionError::Protocol(format!(
                    "the response is not a ZAP message: {e}"
                ))),
            },
        ),
        Frame::Error { id, code, text } => (
            id,
            Reply::Status(Status::new(code, String::from_utf8_lossy(&text))),
        ),
        _ => return,
    };
    if !shared.deliver(id, reply) {
        tracing::trace!(peer = %shared.peer, request_id = id, "late or unknown answer dropped");
    }
}

/// A request on a connection that serves nothing (a client's).
async fn refuse(shared: &Shared, req: Incoming) {
    match req.id {
        Some(id) if shared.wire().has(Features::ERRORS) => {
            let frame = Frame::Error {
                id,
                code: ErrorCode::UnknownProcedure,
                text: Bytes::from_static(b"this peer serves no procedures"),
            };
            let _ = shared.out.send(Outgoing::frame(&frame)).await;
        }
        _ => {
            tracing::debug!(peer = %shared.peer, "dropping a request to a peer that serves nothing");
        }
    }
}
