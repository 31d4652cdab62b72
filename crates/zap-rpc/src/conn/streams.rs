//! Calls over QUIC: one stream per call, so that a slow, large or lost call never holds
//! up another (each stream has its own flow control and its own loss recovery).
//!
//! The connection machinery stays the same as over a byte stream (the same shared state,
//! the same reader with its dispatch, the same writer queue); what changes is where frames
//! come from and go to:
//!
//! * **in**: the reader takes the control stream's frames and, on a server, the one frame
//!   of every stream the client opens (read by a task per stream, within a per-connection
//!   memory budget);
//! * **out**: the writer routes each frame by kind: a call opens a stream (a task per
//!   call writes the request and delivers the answer straight to the caller), an answer
//!   goes to its call's stream, a cancel stops a call's stream, a send opens a
//!   unidirectional stream, and ping, pong and goaway go on the control stream.
//!
//! Stream and connection error codes are in [`crate::stream::code`]; the framing rules are
//! [`crate::stream`]'s checks.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::Stream;
use futures_util::future::BoxFuture;
use tokio::io::AsyncWriteExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use zap_wire::codec::{CodecError, PayloadCodec};

use super::reader::{Inbound, deliver_answer};
use super::shared::{Outgoing, Reply, Shared};
use crate::error::ConnectionError;
use crate::frame::{FrameHead, kind};
use crate::metrics;
use crate::options::ConnectionOptions;
use crate::server::dispatch::ServerCore;
use crate::stream::{self, StreamKind, code};
use crate::transport::{BoxRead, BoxWrite};

/// Frames on the control stream are small (ping, pong, goaway); this bounds what a peer
/// can make us buffer there.
const CONTROL_MAX_FRAME: usize = 64 * 1024;
/// Bodies up to this size are copied next to their head and written in one call.
const INLINE_BODY: usize = 4096;
/// Frames read from streams and waiting for the reader.
const INBOUND_QUEUE: usize = 64;

type Queued = (Inbound, Option<OwnedSemaphorePermit>);

fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why a stream ended early.
#[derive(Debug)]
enum StreamFail {
    /// The peer stopped or reset the stream, with this code.
    Peer(u64),
    /// The connection is gone.
    Lost(quinn::ConnectionError),
    /// No progress for the stall timeout.
    Stalled,
    /// A frame longer than the limit; not read.
    TooLarge(usize),
    /// The stream broke the framing rules.
    Protocol(String),
}

impl StreamFail {
    fn read(e: quinn::ReadError) -> Self {
        match e {
            quinn::ReadError::Reset(c) => StreamFail::Peer(c.into_inner()),
            quinn::ReadError::ConnectionLost(c) => StreamFail::Lost(c),
            other => StreamFail::Protocol(other.to_string()),
        }
    }

    fn write(e: quinn::WriteError) -> Self {
        match e {
            quinn::WriteError::Stopped(c) => StreamFail::Peer(c.into_inner()),
            quinn::WriteError::ConnectionLost(c) => StreamFail::Lost(c),
            other => StreamFail::Protocol(other.to_string()),
        }
    }

    /// The code we end our side of the stream with, if it is ours to end.
    fn code(&self) -> Option<u32> {
        match self {
            StreamFail::TooLarge(_) => Some(code::FRAME_TOO_LARGE),
            StreamFail::Protocol(_) | StreamFail::Stalled => Some(code::PROTOCOL),
            StreamFail::Peer(_) | StreamFail::Lost(_) => None,
        }
    }

    fn into_error(self, stall: Duration, max_frame: usize) -> ConnectionError {
        match self {
            StreamFail::Peer(c) => ConnectionError::StreamReset(c),
            StreamFail::Lost(c) => ConnectionError::io(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                format!("QUIC connection lost: {c}"),
            )),
            StreamFail::Stalled => ConnectionError::WriteTimeout(stall),
            StreamFail::TooLarge(n) => ConnectionError::Protocol(format!(
                "an answer of {n} bytes exceeds our {max_frame}-byte limit"
            )),
            StreamFail::Protocol(s) => ConnectionError::Protocol(s),
        }
    }
}

fn end(send: Option<&mut quinn::SendStream>, recv: Option<&mut quinn::RecvStream>, code: u32) {
    let code = quinn::VarInt::from_u32(code);
    if let Some(r) = recv {
        let _ = r.stop(code);
    }
    if let Some(s) = send {
        let _ = s.reset(code);
    }
}

/// Reads exactly `n` bytes; without a copy when they arrive in one chunk. Each read
/// waits at most `stall` when given.
async fn read_exact(
    recv: &mut quinn::RecvStream,
    n: usize,
    stall: Option<Duration>,
) -> Result<Bytes, StreamFail> {
    let mut buf = BytesMut::new();
    while buf.len() < n {
        let next = recv.read_chunk(n - buf.len(), true);
        let chunk = match stall {
            Some(t) => tokio::time::timeout(t, next)
                .await
                .map_err(|_| StreamFail::Stalled)?,
            None => next.await,
        };
        match chunk {
            Ok(Some(c)) if buf.is_empty() && c.bytes.len() == n => return Ok(c.bytes),
            Ok(Some(c)) => buf.extend_from_slice(&c.bytes),
            Ok(None) => {
                return Err(StreamFail::Protocol(
                    "the stream ended inside a frame".into(),
                ));
            }
            Err(e) => return Err(StreamFail::read(e)),
        }
    }
    Ok(buf.freeze())
}

/// Reads a stream's one frame (not checking what follows it: see [`read_end`]).
/// Returns the payload, holding permits of `budget` for its size when a budget is given.
///
/// The length may take as long as the peer needs when `wait_first` (an answer waits for
/// its handler); every other read must progress within `stall`.
async fn read_frame_only(
    recv: &mut quinn::RecvStream,
    max_frame: usize,
    stall: Duration,
    wait_first: bool,
    budget: Option<(&Arc<Semaphore>, usize)>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), StreamFail> {
    let prefix = read_exact(recv, 4, (!wait_first).then_some(stall)).await?;
    let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
    if len > max_frame {
        return Err(StreamFail::TooLarge(len));
    }
    let permit = match budget {
        Some((sem, total)) => {
            let want = u32::try_from(len.clamp(1, total)).unwrap_or(u32::MAX);
            Some(
                sem.clone()
                    .acquire_many_owned(want)
                    .await
                    .map_err(|_| StreamFail::Protocol("the connection is closing".into()))?,
            )
        }
        None => None,
    };
    let body = read_exact(recv, len, Some(stall)).await?;
    Ok((body, permit))
}

/// Checks that the stream ends (FIN) right after its frame.
async fn read_end(recv: &mut quinn::RecvStream, stall: Duration) -> Result<(), StreamFail> {
    match tokio::time::timeout(stall, recv.read_chunk(1, true)).await {
        Err(_) => Err(StreamFail::Stalled),
        Ok(Ok(None)) => Ok(()),
        Ok(Ok(Some(_))) => Err(StreamFail::Protocol("bytes after the frame".into())),
        Ok(Err(e)) => Err(StreamFail::read(e)),
    }
}

/// Reads a stream's one frame and checks that the stream ends right after it.
async fn read_frame(
    recv: &mut quinn::RecvStream,
    max_frame: usize,
    stall: Duration,
    wait_first: bool,
    budget: Option<(&Arc<Semaphore>, usize)>,
) -> Result<(Bytes, Option<OwnedSemaphorePermit>), StreamFail> {
    let read = read_frame_only(recv, max_frame, stall, wait_first, budget).await?;
    read_end(recv, stall).await?;
    Ok(read)
}

/// Writes a frame; each write that makes no progress for `stall` fails it.
async fn write_frame(
    send: &mut quinn::SendStream,
    head: &FrameHead,
    body: Bytes,
    stall: Duration,
) -> Result<(), StreamFail> {
    let mut chunks = if body.len() <= INLINE_BODY {
        let mut b = BytesMut::with_capacity(head.len() + body.len());
        b.put_slice(head.as_bytes());
        b.put_slice(&body);
        vec![b.freeze()]
    } else {
        vec![Bytes::copy_from_slice(head.as_bytes()), body]
    };
    let mut rest = &mut chunks[..];
    while !rest.is_empty() {
        let written = tokio::time::timeout(stall, send.write_chunks(rest))
            .await
            .map_err(|_| StreamFail::Stalled)?
            .map_err(StreamFail::write)?;
        rest = &mut rest[written.chunks..];
    }
    Ok(())
}

/// One QUIC connection's streams, shared by its writer and stream tasks.
struct Link {
    conn: quinn::Connection,
    shared: Arc<Shared>,
    go_wire: bool,
    max_frame: usize,
    stall: Duration,
    /// Bytes of requests read from streams and not yet taken by the reader.
    budget: Arc<Semaphore>,
    budget_total: usize,
    inbound: mpsc::Sender<Queued>,
    /// Server: the stream of each call waiting for its answer, by request id.
    answers: Mutex<HashMap<u32, quinn::SendStream>>,
    /// Client: what stops each call in flight, by request id.
    calls: Mutex<HashMap<u32, CancellationToken>>,
    /// Client: woken whenever `calls` becomes empty (a peer's graceful close waits for
    /// the answers still on their streams).
    calls_idle: Notify,
    /// Tasks writing answers (a graceful finish waits for them).
    answering: TaskTracker,
    /// Tasks of calls, sends and incoming streams.
    streams: TaskTracker,
    core: Option<Arc<ServerCore>>,
}

/// Sets up a QUIC connection whose handshake is done: the reader's input, the writer
/// task, and (on a server) the task accepting the client's streams.
pub(crate) fn start(
    conn: quinn::Connection,
    mut control_in: FramedRead<BoxRead, PayloadCodec>,
    control_out: BoxWrite,
    shared: Arc<Shared>,
    rx: mpsc::Receiver<Outgoing>,
    opts: &ConnectionOptions,
    core: Option<Arc<ServerCore>>,
) -> (QuicInbound, BoxFuture<'static, ()>, BoxFuture<'static, ()>) {
    *control_in.decoder_mut() = PayloadCodec::new(CONTROL_MAX_FRAME.min(opts.max_frame));
    let (tx, streams) = mpsc::channel(INBOUND_QUEUE);
    let go_wire = shared.wire().is_go();
    let budget_total = opts
        .max_queued_bytes
        .clamp(1, (u32::MAX as usize).min(Semaphore::MAX_PERMITS));
    let serving = core.is_some();
    let link = Arc::new(Link {
        conn: conn.clone(),
        shared,
        go_wire,
        max_frame: opts.max_frame,
        stall: opts.write_timeout,
        budget: Arc::new(Semaphore::new(budget_total)),
        budget_total,
        inbound: tx,
        answers: Mutex::new(HashMap::new()),
        calls: Mutex::new(HashMap::new()),
        calls_idle: Notify::new(),
        answering: TaskTracker::new(),
        streams: TaskTracker::new(),
        core,
    });
    let inbound = QuicInbound {
        control: control_in,
        control_ended: false,
        draining: None,
        streams,
        conn,
        go_wire,
        link: link.clone(),
    };
    let write = Box::pin(link.clone().run_writer(rx, control_out));
    let accept: BoxFuture<'static, ()> = if serving {
        Box::pin(link.accept_streams())
    } else {
        Box::pin(async {})
    };
    (inbound, write, accept)
}

/// The reader's input over QUIC: control-stream frames first, then frames read from the
/// client's streams.
pub(crate) struct QuicInbound {
    control: FramedRead<BoxRead, PayloadCodec>,
    /// The peer ended the control stream cleanly; what is left is draining.
    control_ended: bool,
    /// After a clean end of the control stream: waits (bounded) for the answers of calls
    /// in flight, which travel on streams of their own and may arrive after it.
    draining: Option<BoxFuture<'static, ()>>,
    streams: mpsc::Receiver<Queued>,
    conn: quinn::Connection,
    go_wire: bool,
    link: Arc<Link>,
}

impl QuicInbound {
    /// The end of the control stream: a clean close ends the connection quietly, anything
    /// else with the reason QUIC gives.
    fn ended(&self, e: Option<CodecError>) -> Option<Result<Inbound, ConnectionError>> {
        match self.conn.close_reason() {
            None | Some(quinn::ConnectionError::LocallyClosed) => match e {
                None => None,
                Some(CodecError::Io(e)) => Some(Err(ConnectionError::io(e))),
                Some(e) => Some(Err(ConnectionError::Protocol(e.to_string()))),
            },
            Some(quinn::ConnectionError::ApplicationClosed(c))
                if c.error_code.into_inner() == u64::from(code::conn::CLOSED) =>
            {
                None
            }
            Some(reason) => Some(Err(ConnectionError::io(std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                format!("QUIC connection closed: {reason}"),
            )))),
        }
    }
}

impl Stream for QuicInbound {
    type Item = Result<Inbound, ConnectionError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if !this.control_ended {
            match Pin::new(&mut this.control).poll_next(cx) {
                Poll::Ready(Some(Ok(p))) => {
                    return Poll::Ready(Some(match stream::check_control(&p, this.go_wire) {
                        Ok(()) => Ok(Inbound::Payload(p)),
                        Err(e) => Err(ConnectionError::Protocol(format!("control stream: {e}"))),
                    }));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(this.ended(Some(e))),
                Poll::Ready(None) => match this.ended(None) {
                    Some(err) => return Poll::Ready(Some(err)),
                    None => {
                        // QUIC orders bytes within a stream only: the end of the control
                        // stream can overtake answers still on their call streams.
                        this.control_ended = true;
                        this.draining = Some(Box::pin(this.link.clone().calls_done()));
                    }
                },
                Poll::Pending => {}
            }
        }
        if let Some(draining) = &mut this.draining {
            return match draining.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
        match this.streams.poll_recv(cx) {
            // The permit is released here: the request now counts against the reader's
            // own queue limits.
            Poll::Ready(Some((item, _permit))) => Poll::Ready(Some(Ok(item))),
            Poll::Ready(None) | Poll::Pending => Poll::Pending,
        }
    }
}

impl Link {
    async fn run_writer(self: Arc<Self>, mut rx: mpsc::Receiver<Outgoing>, mut control: BoxWrite) {
        let shared = self.shared.clone();
        let outcome = loop {
            let next = tokio::select! {
                biased;
                _ = shared.closed.cancelled() => break None,
                n = rx.recv() => n,
            };
            match next {
                None | Some(Outgoing::Finish) => break Some(self.finish(&mut control).await),
                Some(Outgoing::Unanswered { id }) => {
                    if let Some(mut send) = guard(&self.answers).remove(&id) {
                        end(Some(&mut send), None, code::NO_ANSWER);
                    }
                }
                Some(Outgoing::Frame {
                    head,
                    body,
                    request,
                }) => {
                    if let Err(e) = self.route(head, body, request, &mut control).await {
                        break Some(e);
                    }
                }
            }
        };
        if let Some(reason) = outcome {
            shared.close(reason);
        }
        self.close(&shared.reason_or(ConnectionError::Local));
        super::writer::fail_unsent(&shared, &mut rx);
    }

    /// Sends a frame where it belongs.
    async fn route(
        self: &Arc<Self>,
        head: FrameHead,
        body: Bytes,
        request: Option<u32>,
        control: &mut BoxWrite,
    ) -> Result<(), ConnectionError> {
        let h = head.as_bytes();
        if h.len() < 12 {
            // Only a plain message has a bare length prefix: a send.
            self.spawn_send(head, body);
            return Ok(());
        }
        let id = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        match u32::from_le_bytes([h[8], h[9], h[10], h[11]]) {
            kind::REQUEST | kind::CALL if request.is_some() => self.spawn_call(id, head, body),
            kind::SEND => self.spawn_send(head, body),
            kind::RESPONSE | kind::ERROR => self.spawn_answer(id, head, body),
            kind::CANCEL => {
                if let Some(stop) = guard(&self.calls).remove(&id) {
                    stop.cancel();
                }
            }
            _ => {
                let write = async {
                    control.write_all(h).await?;
                    if !body.is_empty() {
                        control.write_all(&body).await?;
                    }
                    control.flush().await
                };
                match tokio::time::timeout(self.stall, write).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => return Err(ConnectionError::io(e)),
                    Err(_) => return Err(ConnectionError::WriteTimeout(self.stall)),
                }
            }
        }
        Ok(())
    }

    /// A call: its own stream, the request out, the answer straight to the caller.
    fn spawn_call(self: &Arc<Self>, id: u32, head: FrameHead, body: Bytes) {
        let stop = CancellationToken::new();
        guard(&self.calls).insert(id, stop.clone());
        let link = self.clone();
        self.streams.spawn(async move {
            link.call(id, &head, body, &stop).await;
            // Ids are unique among calls in flight, so the entry is this call's.
            let mut calls = guard(&link.calls);
            calls.remove(&id);
            if calls.is_empty() {
                link.calls_idle.notify_waiters();
            }
        });
    }

    /// Waits until no call is in flight, at most the stall timeout.
    async fn calls_done(self: Arc<Self>) {
        let wait = async {
            loop {
                let idle = self.calls_idle.notified();
                if guard(&self.calls).is_empty() {
                    return;
                }
                idle.await;
            }
        };
        let _ = tokio::time::timeout(self.stall, wait).await;
    }

    async fn call(&self, id: u32, head: &FrameHead, body: Bytes, stop: &CancellationToken) {
        let opened = tokio::select! {
            _ = stop.cancelled() => return,
            _ = self.shared.closed.cancelled() => return,
            r = self.conn.open_bi() => r,
        };
        let (mut send, mut recv) = match opened {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(request_id = id, error = %e, "no stream for the call");
                self.shared
                    .deliver(id, Reply::Failed(ConnectionError::NotSent));
                return;
            }
        };
        let exchange = async {
            write_frame(&mut send, head, body, self.stall).await?;
            let _ = send.finish();
            // The answer goes to the caller as soon as its frame is complete; the end of
            // the stream is checked afterwards.
            let (payload, _) =
                read_frame_only(&mut recv, self.max_frame, self.stall, true, None).await?;
            stream::check_answer(&payload, self.go_wire, id)
                .map_err(|e| StreamFail::Protocol(e.to_string()))
        };
        let outcome = tokio::select! {
            biased;
            _ = stop.cancelled() => None,
            _ = self.shared.closed.cancelled() => return,
            r = exchange => Some(r),
        };
        match outcome {
            // The caller gave up: tell the server to stop the handler.
            None => end(Some(&mut send), Some(&mut recv), code::CANCELLED),
            Some(Ok(frame)) => {
                deliver_answer(&self.shared, frame);
                if let Err(e) = read_end(&mut recv, self.stall).await {
                    tracing::debug!(request_id = id, error = ?e, "the answer stream did not end cleanly");
                    if let Some(c) = e.code() {
                        end(None, Some(&mut recv), c);
                    }
                }
            }
            Some(Err(fail)) => {
                if let Some(c) = fail.code() {
                    end(Some(&mut send), Some(&mut recv), c);
                }
                tracing::debug!(request_id = id, error = ?fail, "call stream failed");
                let reason = fail.into_error(self.stall, self.max_frame);
                self.shared.deliver(id, Reply::Failed(reason));
            }
        }
    }

    /// A send: a unidirectional stream with one frame.
    fn spawn_send(self: &Arc<Self>, head: FrameHead, body: Bytes) {
        let link = self.clone();
        self.streams.spawn(async move {
            let opened = tokio::select! {
                _ = link.shared.closed.cancelled() => return,
                r = link.conn.open_uni() => r,
            };
            let Ok(mut send) = opened else { return };
            match write_frame(&mut send, &head, body, link.stall).await {
                Ok(()) => {
                    let _ = send.finish();
                }
                Err(e) => tracing::debug!(error = ?e, "send stream failed"),
            }
        });
    }

    /// An answer: onto the stream of its call, then wait until the caller has it (so a
    /// graceful close does not discard it).
    fn spawn_answer(self: &Arc<Self>, id: u32, head: FrameHead, body: Bytes) {
        let Some(mut send) = guard(&self.answers).remove(&id) else {
            tracing::trace!(
                request_id = id,
                "no stream for the answer: the caller gave up"
            );
            return;
        };
        let stall = self.stall;
        self.answering.spawn(async move {
            match write_frame(&mut send, &head, body, stall).await {
                Ok(()) => {
                    let _ = send.finish();
                    let _ = tokio::time::timeout(stall, send.stopped()).await;
                }
                Err(e) => {
                    tracing::debug!(request_id = id, error = ?e, "writing the answer failed");
                    if let Some(c) = e.code() {
                        end(Some(&mut send), None, c);
                    }
                }
            }
        });
    }

    /// Server: accepts the client's streams until the connection ends.
    async fn accept_streams(self: Arc<Self>) {
        loop {
            tokio::select! {
                _ = self.shared.closed.cancelled() => break,
                bi = self.conn.accept_bi() => match bi {
                    Ok((send, recv)) => {
                        self.count_stream();
                        self.streams.spawn(self.clone().serve_call(send, recv));
                    }
                    Err(_) => break,
                },
                uni = self.conn.accept_uni() => match uni {
                    Ok(recv) => {
                        self.count_stream();
                        self.streams.spawn(self.clone().serve_send(recv));
                    }
                    Err(_) => break,
                },
            }
        }
    }

    fn count_stream(&self) {
        if let Some(core) = &self.core {
            core.counters
                .streams
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        metrics::server_stream();
    }

    /// Reads a client stream's frame within the budget; refuses the stream if it breaks
    /// the rules.
    async fn read_request(
        &self,
        recv: &mut quinn::RecvStream,
        send: Option<&mut quinn::SendStream>,
        kind: StreamKind,
    ) -> Option<(Bytes, Option<u32>, Option<OwnedSemaphorePermit>)> {
        let read = tokio::select! {
            _ = self.shared.closed.cancelled() => return None,
            r = read_frame(recv, self.max_frame, self.stall, false, Some((&self.budget, self.budget_total))) => r,
        };
        let refuse = |send: Option<&mut quinn::SendStream>,
                      recv: &mut quinn::RecvStream,
                      code: u32,
                      why: &dyn std::fmt::Display| {
            tracing::debug!(peer = %self.shared.peer, reason = %why, code, "refusing a stream");
            end(send, Some(recv), code);
        };
        let (payload, permit) = match read {
            Ok(r) => r,
            Err(fail) => {
                if let Some(c) = fail.code() {
                    refuse(send, recv, c, &format_args!("{fail:?}"));
                }
                return None;
            }
        };
        match stream::check_request(&payload, self.go_wire, kind) {
            Ok(id) => Some((payload, id, permit)),
            Err(e) => {
                refuse(send, recv, e.code(), &e);
                None
            }
        }
    }

    /// Server: one call stream.
    async fn serve_call(self: Arc<Self>, mut send: quinn::SendStream, mut recv: quinn::RecvStream) {
        let Some((payload, id, permit)) = self
            .read_request(&mut recv, Some(&mut send), StreamKind::Call)
            .await
        else {
            return;
        };
        let Some(id) = id else { return };
        let stopped = send.stopped();
        {
            let mut answers = guard(&self.answers);
            if answers.contains_key(&id) {
                drop(answers);
                tracing::debug!(
                    request_id = id,
                    "refusing a call whose id is already in flight"
                );
                end(Some(&mut send), Some(&mut recv), code::PROTOCOL);
                return;
            }
            answers.insert(id, send);
        }
        if self
            .inbound
            .send((Inbound::Payload(payload), permit))
            .await
            .is_err()
        {
            return;
        }
        // Until the answer is acknowledged, a stop from the caller cancels the call.
        tokio::select! {
            _ = self.shared.closed.cancelled() => {}
            r = stopped => {
                if matches!(r, Ok(Some(_))) && guard(&self.answers).remove(&id).is_some() {
                    let _ = self.inbound.send((Inbound::Cancel(id), None)).await;
                }
            }
        }
    }

    /// Server: one send stream.
    async fn serve_send(self: Arc<Self>, mut recv: quinn::RecvStream) {
        if let Some((payload, _, permit)) =
            self.read_request(&mut recv, None, StreamKind::Send).await
        {
            let _ = self.inbound.send((Inbound::Payload(payload), permit)).await;
        }
    }

    /// Graceful end, each wait bounded by the stall timeout: answers written and
    /// acknowledged, then the end of the control stream, then the peer's own end (its
    /// close, or the end of its control stream), and only then does the connection close.
    /// Closing a QUIC connection discards whatever the peer has not yet read, so the
    /// peer closes first.
    async fn finish(&self, control: &mut BoxWrite) -> ConnectionError {
        self.answering.close();
        let _ = tokio::time::timeout(self.stall, self.answering.wait()).await;
        let _ = tokio::time::timeout(self.stall, control.shutdown()).await;
        let peer_done = async {
            tokio::select! {
                _ = self.conn.closed() => {}
                _ = self.shared.closed.cancelled() => {}
            }
        };
        let _ = tokio::time::timeout(self.stall, peer_done).await;
        ConnectionError::Local
    }

    /// Closes the QUIC connection with a code for `reason` and lets go of every stream.
    fn close(&self, reason: &ConnectionError) {
        let (c, text) = match reason {
            ConnectionError::Local | ConnectionError::Closed => {
                (code::conn::CLOSED, String::from("closed"))
            }
            ConnectionError::Protocol(s) => (code::conn::PROTOCOL, s.clone()),
            other => (code::conn::ERROR, other.to_string()),
        };
        let text: Vec<u8> = text.bytes().take(256).collect();
        self.conn.close(quinn::VarInt::from_u32(c), &text);
        for (_, stop) in guard(&self.calls).drain() {
            stop.cancel();
        }
        guard(&self.answers).clear();
        self.streams.close();
        self.answering.close();
    }
}
