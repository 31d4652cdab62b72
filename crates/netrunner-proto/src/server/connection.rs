//! One served connection: a reader that decodes requests and starts a task for each,
//! and a writer that sends every task's frames.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::timeout;
use tokio_util::codec::{FramedRead, FramedWrite};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use zap_wire::codec::CodecError;
use zap_wire::typed::{ERROR_BIT, MsgType, RESPONSE_BIT};

use crate::backend::{Backend, PeerInfo, RequestContext, StatusSink};
use crate::dispatch;
use crate::error::{Error, ErrorCode, RpcError};
use crate::frame::{FrameCodec, FrameDecoder, Inbound, Outbound};
use crate::messages::{Request, Response, StatusEvent};
use crate::opcode::{Method, OP_FANOUT, sub};
use crate::server::ServerOptions;

/// Frames waiting for the writer. Small: a full queue makes tasks wait, which is the
/// backpressure we want from a peer that reads slowly.
const SEND_QUEUE: usize = 64;

/// Serves the control protocol on one established connection until the peer closes it,
/// `shutdown` is cancelled, or the connection fails.
///
/// The transport is used as given: pass a Z-Wing stream (as [`Server`](crate::Server)
/// does) or another channel you trust. Each request runs in its own task; up to
/// [`ServerOptions::max_in_flight`] run at once. Unknown opcodes, unknown sub-opcodes and
/// malformed bodies are answered with an error frame and the connection carries on.
///
/// On `shutdown`, reading stops, status streams end with their end marker and running
/// requests get [`ServerOptions::shutdown_grace`] to finish; what is still running then
/// is answered with `unavailable`. The same grace applies when the peer closes its side.
///
/// # Errors
/// [`Error::Io`] when the transport fails or the peer breaks the framing.
pub async fn serve_connection<IO, B>(
    io: IO,
    backend: Arc<B>,
    options: ServerOptions,
    peer: PeerInfo,
    shutdown: CancellationToken,
) -> Result<(), Error>
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
    B: Backend,
{
    let span = tracing::info_span!(
        "netrunner.conn",
        peer_addr = tracing::field::Empty,
        remote = tracing::field::Empty,
    );
    if let Some(addr) = peer.addr {
        span.record("peer_addr", tracing::field::display(addr));
    }
    if let Some(id) = &peer.identity {
        span.record("remote", tracing::field::display(id.fingerprint().short()));
    }
    run(io, backend, Arc::new(options), Arc::new(peer), shutdown)
        .instrument(span)
        .await
}

/// Why the read loop stopped.
#[derive(Debug)]
enum End {
    Eof,
    Shutdown,
    Idle,
    WriterFailed,
    Framing(CodecError),
    Runt,
}

struct Registered {
    generation: u64,
    token: CancellationToken,
}

type Registry = Arc<Mutex<HashMap<u32, Registered>>>;

struct Conn<B> {
    backend: Arc<B>,
    options: Arc<ServerOptions>,
    peer: Arc<PeerInfo>,
    tx: mpsc::Sender<Outbound>,
    registry: Registry,
    /// Cancels every request of the connection (grace expired, or the writer died).
    abort: CancellationToken,
    /// Ends every status stream with its end marker.
    streams_end: CancellationToken,
    in_flight: Arc<Semaphore>,
    generation: u64,
}

async fn run<IO, B>(
    io: IO,
    backend: Arc<B>,
    options: Arc<ServerOptions>,
    peer: Arc<PeerInfo>,
    shutdown: CancellationToken,
) -> Result<(), Error>
where
    IO: AsyncRead + AsyncWrite + Send + 'static,
    B: Backend,
{
    metrics::gauge!("netrunner_connections").increment(1.0);
    let (rd, wr) = tokio::io::split(io);
    let mut frames = FramedRead::new(rd, FrameDecoder::new(options.max_payload));
    let (tx, rx) = mpsc::channel(SEND_QUEUE);
    let writer_done = CancellationToken::new();
    let writer = tokio::spawn(
        write_loop(
            FramedWrite::new(wr, FrameCodec::new(options.max_payload)),
            rx,
            options.write_timeout,
            writer_done.clone(),
        )
        .in_current_span(),
    );
    let mut conn = Conn {
        backend,
        in_flight: Arc::new(Semaphore::new(options.max_in_flight.max(1))),
        options,
        peer,
        tx,
        registry: Arc::default(),
        abort: CancellationToken::new(),
        streams_end: CancellationToken::new(),
        generation: 0,
    };
    let mut tasks = JoinSet::new();

    let end = loop {
        let idle_limit = conn.options.idle_timeout.filter(|_| tasks.is_empty());
        let idle = async move {
            match idle_limit {
                Some(limit) => tokio::time::sleep(limit).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break End::Shutdown,
            () = writer_done.cancelled() => break End::WriterFailed,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            () = idle => break End::Idle,
            item = frames.next() => match item {
                None => break End::Eof,
                Some(Err(e)) => break End::Framing(e),
                Some(Ok(inbound)) => {
                    if let Err(end) = conn
                        .on_inbound(inbound, &mut tasks, &shutdown, &writer_done)
                        .await
                    {
                        break end;
                    }
                }
            },
        }
    };
    drop(frames);
    tracing::debug!(reason = ?end, in_flight = tasks.len(), "netrunner: connection stops reading");

    // Streams end at once; other requests get the grace period.
    conn.streams_end.cancel();
    if matches!(end, End::WriterFailed | End::Framing(_) | End::Runt) {
        conn.abort.cancel();
    }
    let mut grace = Some(Instant::now() + conn.options.shutdown_grace);
    loop {
        let deadline = grace.unwrap_or_else(Instant::now);
        tokio::select! {
            biased;
            joined = tasks.join_next() => if joined.is_none() { break },
            () = writer_done.cancelled(), if !conn.abort.is_cancelled() => conn.abort.cancel(),
            () = tokio::time::sleep_until(deadline.into()), if grace.is_some() => {
                conn.abort.cancel();
                grace = None;
            }
        }
    }
    drop(conn);
    // The writer sends what is queued, then closes our side; its own timeouts bound it.
    let _ = writer.await;
    metrics::gauge!("netrunner_connections").decrement(1.0);
    match end {
        End::Framing(CodecError::Io(e)) => Err(Error::Io(e)),
        End::Framing(CodecError::Wire(e)) => Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            e,
        ))),
        End::Framing(other) => Err(Error::Io(std::io::Error::other(other.to_string()))),
        End::Runt => Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the peer sent a frame without a request id",
        ))),
        End::Eof | End::Shutdown | End::Idle | End::WriterFailed => Ok(()),
    }
}

impl<B: Backend> Conn<B> {
    async fn send(&self, frame: Outbound) {
        // Fails only when the writer is gone, which the read loop notices by itself.
        let _ = self.tx.send(frame).await;
    }

    async fn on_inbound(
        &mut self,
        inbound: Inbound,
        tasks: &mut JoinSet<()>,
        shutdown: &CancellationToken,
        writer_done: &CancellationToken,
    ) -> Result<(), End> {
        let frame = match inbound {
            Inbound::Oversize {
                ty,
                request_id,
                len,
            } => {
                tracing::info!(request_id, len, "netrunner: oversize request skipped");
                let err = RpcError::new(
                    ErrorCode::ResourceExhausted,
                    format!(
                        "a request of {len} bytes exceeds the {}-byte frame limit",
                        self.options.max_payload
                    ),
                );
                self.send(error_frame(
                    error_type(ty.0),
                    request_id,
                    &err,
                    self.options.max_payload,
                ))
                .await;
                return Ok(());
            }
            Inbound::Frame(frame) => frame,
        };
        let Ok((request_id, body)) = frame.split() else {
            // Without an id there is no call to answer; the peer is broken. Say so in
            // a frame it can log, then close so none of its calls waits in vain.
            let err = RpcError::new(
                ErrorCode::MalformedRequest,
                format!(
                    "a frame of type {:#04x} carries {} bytes, fewer than a request id",
                    frame.ty.0,
                    frame.payload.len()
                ),
            );
            self.send(error_frame(
                error_type(frame.ty.0),
                0,
                &err,
                self.options.max_payload,
            ))
            .await;
            return Err(End::Runt);
        };
        if frame.ty.0 == OP_FANOUT && body.first() == Some(&sub::CANCEL) {
            if let Some(entry) = lock(&self.registry).get(&request_id) {
                tracing::debug!(request_id, "netrunner: cancel requested");
                entry.token.cancel();
            }
            return Ok(());
        }
        let request = match Request::decode(frame.ty.0, &body, &self.options.decode) {
            Ok(request) => request,
            Err(e) => {
                tracing::debug!(request_id, error = %e, "netrunner: request refused");
                metrics::counter!("netrunner_requests_total", "method" => "invalid", "outcome" => "refused")
                    .increment(1);
                self.send(error_frame(
                    error_type(frame.ty.0),
                    request_id,
                    &e.to_rpc_error(),
                    self.options.max_payload,
                ))
                .await;
                return Ok(());
            }
        };
        let permit = tokio::select! {
            biased;
            () = shutdown.cancelled() => return Err(End::Shutdown),
            () = writer_done.cancelled() => return Err(End::WriterFailed),
            permit = self.in_flight.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return Err(End::Shutdown),
            },
        };
        self.generation += 1;
        let token = self.abort.child_token();
        lock(&self.registry).insert(
            request_id,
            Registered {
                generation: self.generation,
                token: token.clone(),
            },
        );
        let method = request.method();
        let task = RequestTask {
            backend: self.backend.clone(),
            options: self.options.clone(),
            ctx: RequestContext {
                request_id,
                method,
                peer: self.peer.clone(),
            },
            tx: self.tx.clone(),
            token,
            abort: self.abort.clone(),
            streams_end: self.streams_end.clone(),
            registry: self.registry.clone(),
            generation: self.generation,
            _permit: permit,
        };
        let span = tracing::info_span!("netrunner.request", request_id, method = method.name());
        tasks.spawn(task.run(request).instrument(span));
        Ok(())
    }
}

struct RequestTask<B> {
    backend: Arc<B>,
    options: Arc<ServerOptions>,
    ctx: RequestContext,
    tx: mpsc::Sender<Outbound>,
    token: CancellationToken,
    abort: CancellationToken,
    streams_end: CancellationToken,
    registry: Registry,
    generation: u64,
    _permit: OwnedSemaphorePermit,
}

impl<B: Backend> RequestTask<B> {
    async fn run(self, request: Request) {
        let started = Instant::now();
        let method = self.ctx.method;
        let request_id = self.ctx.request_id;
        let result = if method == Method::StreamStatus {
            self.stream(&request).await
        } else {
            self.unary(request).await
        };
        let max = self.options.max_payload;
        let (frame, outcome) = match &result {
            Ok(response) => match response_frame(method.opcode(), request_id, response, max) {
                Ok(frame) => (frame, "ok"),
                Err(e) => (
                    error_frame(MsgType::error(method.opcode()).0, request_id, &e, max),
                    "too_large",
                ),
            },
            Err(e) => (
                error_frame(MsgType::error(method.opcode()).0, request_id, e, max),
                outcome_label(e.code()),
            ),
        };
        {
            let mut registry = lock(&self.registry);
            if registry
                .get(&request_id)
                .is_some_and(|r| r.generation == self.generation)
            {
                registry.remove(&request_id);
            }
        }
        let _ = self.tx.send(frame).await;
        let elapsed = started.elapsed();
        match &result {
            Ok(_) => tracing::debug!(
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "netrunner: request done"
            ),
            Err(e) => {
                tracing::info!(elapsed_ms = elapsed.as_secs_f64() * 1e3, error = %e, "netrunner: request failed")
            }
        }
        metrics::counter!("netrunner_requests_total", "method" => method.name(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("netrunner_request_seconds", "method" => method.name())
            .record(elapsed.as_secs_f64());
    }

    async fn unary(&self, request: Request) -> Result<Response, RpcError> {
        let method = self.ctx.method;
        let work = AssertUnwindSafe(dispatch::unary(&*self.backend, self.ctx.clone(), request))
            .catch_unwind();
        tokio::select! {
            biased;
            () = self.token.cancelled() => Err(self.cancelled()),
            outcome = work => outcome.unwrap_or_else(|_| {
                tracing::error!("netrunner: the backend panicked");
                Err(RpcError::internal(format!("the backend panicked while serving {method}")))
            }),
        }
    }

    async fn stream(&self, request: &Request) -> Result<Response, RpcError> {
        let Some(interval) = request.push_interval() else {
            let ns = match request {
                Request::StreamStatus { push_interval_ns } => *push_interval_ns,
                _ => 0,
            };
            return Err(RpcError::invalid_argument(format!(
                "the push interval must be positive, got {ns} ns"
            )));
        };
        let interval = interval.max(self.options.min_push_interval);
        let sink = StatusSink::new(
            self.tx.clone(),
            self.ctx.request_id,
            self.options.max_payload,
        );
        let work = AssertUnwindSafe(self.backend.stream_status(self.ctx.clone(), interval, sink))
            .catch_unwind();
        let outcome = tokio::select! {
            biased;
            () = self.token.cancelled() => Ok(()),
            () = self.streams_end.cancelled() => Ok(()),
            outcome = work => outcome.unwrap_or_else(|_| {
                tracing::error!("netrunner: the backend panicked");
                Err(RpcError::internal("the backend panicked while streaming status"))
            }),
        };
        outcome.map(|()| Response::Status(StatusEvent::End))
    }

    fn cancelled(&self) -> RpcError {
        if self.abort.is_cancelled() {
            RpcError::new(ErrorCode::Unavailable, "the server is shutting down")
        } else {
            RpcError::new(ErrorCode::Cancelled, "cancelled by the client")
        }
    }
}

fn outcome_label(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Cancelled => "cancelled",
        ErrorCode::Unavailable => "unavailable",
        ErrorCode::Internal => "internal",
        _ => "error",
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding this lock cannot leave the map half-changed (each access
    // is one insert, lookup or remove), so a poisoned lock is still good to use.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The type byte of an error answer to a frame of type `ty`: Go ORs both flag bits
/// into whatever byte came (so a stray response frame 0xbc is answered with 0xfc).
fn error_type(ty: u8) -> u8 {
    ty | RESPONSE_BIT | ERROR_BIT
}

/// A success frame, or the error to send instead when it would exceed the limit.
pub(crate) fn response_frame(
    opcode: u8,
    request_id: u32,
    response: &Response,
    max_payload: usize,
) -> Result<Outbound, RpcError> {
    let body = response.body();
    if 4 + body.len() > max_payload {
        return Err(RpcError::new(
            ErrorCode::ResourceExhausted,
            format!(
                "the response is {} bytes, over the {max_payload}-byte frame limit",
                4 + body.len()
            ),
        ));
    }
    Ok(Outbound {
        ty: MsgType::response(opcode),
        request_id,
        body,
    })
}

/// An error frame whose text is cut (at a character boundary) to fit the limit.
pub(crate) fn error_frame(
    type_byte: u8,
    request_id: u32,
    err: &RpcError,
    max_payload: usize,
) -> Outbound {
    let mut text = err.to_wire_text();
    let room = max_payload.saturating_sub(4);
    if text.len() > room {
        let mut cut = room;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
    }
    Outbound {
        ty: MsgType(type_byte),
        request_id,
        body: text.into_bytes(),
    }
}

/// Sends queued frames, flushing whenever the queue runs dry, and closes the write side
/// once every sender is gone. A peer that takes nothing for `write_timeout` ends it.
pub(crate) async fn write_loop<W>(
    mut sink: FramedWrite<W, FrameCodec>,
    mut rx: mpsc::Receiver<Outbound>,
    write_timeout: std::time::Duration,
    done: CancellationToken,
) where
    W: AsyncWrite + Unpin,
{
    let _done = done.drop_guard();
    let result: Result<(), Error> = async {
        while let Some(frame) = rx.recv().await {
            feed(&mut sink, frame, write_timeout).await?;
            while let Ok(frame) = rx.try_recv() {
                feed(&mut sink, frame, write_timeout).await?;
            }
            timed(write_timeout, sink.flush()).await?;
        }
        timed(write_timeout, sink.close()).await?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        tracing::debug!(error = %e, "netrunner: writer stopped");
        // Best effort: let the peer see the end rather than a silent stall.
        let _ = timeout(write_timeout, sink.get_mut().shutdown()).await;
    }
}

async fn feed<W: AsyncWrite + Unpin>(
    sink: &mut FramedWrite<W, FrameCodec>,
    frame: Outbound,
    limit: std::time::Duration,
) -> Result<(), Error> {
    timed(limit, sink.feed(frame)).await
}

async fn timed(
    limit: std::time::Duration,
    fut: impl std::future::Future<Output = Result<(), CodecError>>,
) -> Result<(), Error> {
    match timeout(limit, fut).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(CodecError::Io(e))) => Err(Error::Io(e)),
        Ok(Err(e)) => Err(Error::Io(std::io::Error::other(e.to_string()))),
        Err(_) => Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the peer took no bytes for {limit:?}"),
        ))),
    }
}
