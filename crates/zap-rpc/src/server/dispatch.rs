//! Serving requests on one connection: routing, verification, bounded concurrency,
//! cancellation, deadlines and panics.

use std::collections::{HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context as TaskContext, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::handler::{CallToken, Context, HandlerFuture};
use super::registry::{Entry, Registry};
use crate::conn::shared::{Outgoing, Shared};
use crate::extension::Features;
use crate::frame::Frame;
use crate::message::MessageBuf;
use crate::metrics;
use crate::options::ConnectionOptions;
use crate::peer::PeerInfo;
use crate::status::{ErrorCode, Status};
use crate::switch::Switch;
use crate::verifier::PeerVerifier;

/// Counters a server keeps for [`Server::stats`](super::Server::stats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections_accepted: AtomicU64,
    pub(crate) connections_rejected: AtomicU64,
    pub(crate) calls: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) errors_unsent: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) streams: AtomicU64,
}

/// What every connection of a server shares.
pub(crate) struct ServerCore {
    pub(crate) registry: Registry,
    pub(crate) verifier: Box<dyn PeerVerifier>,
    pub(crate) service_type: String,
    pub(crate) node_id: String,
    pub(crate) handler_timeout: Option<Duration>,
    /// Cancelled when graceful shutdown starts: no new calls.
    pub(crate) draining: Switch,
    /// Cancelled when the server gives up: every handler is cancelled.
    pub(crate) abort: CancellationToken,
    in_flight: AtomicUsize,
    idle: Notify,
    pub(crate) counters: Counters,
}

impl ServerCore {
    pub(crate) fn new(
        registry: Registry,
        verifier: Box<dyn PeerVerifier>,
        service_type: String,
        node_id: String,
        handler_timeout: Option<Duration>,
    ) -> Self {
        Self {
            registry,
            verifier,
            service_type,
            node_id,
            handler_timeout,
            draining: Switch::new(),
            abort: CancellationToken::new(),
            in_flight: AtomicUsize::new(0),
            idle: Notify::new(),
            counters: Counters::default(),
        }
    }

    /// Calls accepted and not yet answered, on all connections.
    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// Waits until no call is in flight.
    pub(crate) async fn wait_idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.in_flight() == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Counts a call as in flight from acceptance until it is answered or dropped.
struct Accepted(Arc<ServerCore>);

impl Accepted {
    fn new(core: &Arc<ServerCore>) -> Self {
        core.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(core.clone())
    }
}

impl Drop for Accepted {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// How an incoming request names its procedure.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target {
    /// By the 32-bit hash (Rust wire).
    Wide(u32),
    /// By the message type in the message's flags (Go wire, raw message types).
    Legacy,
}

/// A request as the reader decoded it.
pub(crate) struct Incoming {
    /// The request id; `None` for fire-and-forget sends.
    pub(crate) id: Option<u32>,
    pub(crate) target: Target,
    /// The caller's timeout in ms (0 = none).
    pub(crate) timeout_ms: u32,
    pub(crate) message: Bytes,
}

/// A verified request waiting for a handler slot.
struct Job {
    id: Option<u32>,
    entry: Arc<Entry>,
    message: MessageBuf,
    deadline: Option<Instant>,
    /// When the request was accepted: its served duration counts from here.
    accepted_at: Instant,
    accepted: Accepted,
}

type Running = Arc<Mutex<HashMap<u32, (u64, CancellationToken)>>>;

fn lock(running: &Running) -> MutexGuard<'_, HashMap<u32, (u64, CancellationToken)>> {
    running.lock().unwrap_or_else(|e| e.into_inner())
}

/// The serving side of one connection, owned by its reader.
pub(crate) struct Serve {
    core: Arc<ServerCore>,
    peer: Arc<PeerInfo>,
    slots: Arc<Semaphore>,
    queue: VecDeque<Job>,
    queued_bytes: usize,
    max_queue: usize,
    max_queued_bytes: usize,
    running: Running,
    generation: u64,
    conn_token: CancellationToken,
    /// A child of `conn_token` held for the connection's life: the token's list of
    /// children then never empties, so it is not freed and reallocated with each call's
    /// token.
    _anchor: CancellationToken,
    /// Tokens of calls that ended with nothing else holding them, for the next calls.
    spare_tokens: Vec<Arc<CallToken>>,
    /// The allocation of the last handler future that finished on its first poll, for
    /// the next call's future.
    spare_future: Option<HandlerFuture>,
    goaway_sent: bool,
}

/// Call tokens a connection keeps for reuse.
const SPARE_TOKENS: usize = 64;

impl Serve {
    pub(crate) fn new(core: Arc<ServerCore>, peer: PeerInfo, opts: &ConnectionOptions) -> Self {
        let conn_token = core.abort.child_token();
        Self {
            core,
            peer: Arc::new(peer),
            slots: Arc::new(Semaphore::new(opts.max_in_flight)),
            queue: VecDeque::new(),
            queued_bytes: 0,
            max_queue: opts.max_in_flight,
            max_queued_bytes: opts.max_queued_bytes,
            running: Arc::default(),
            generation: 0,
            _anchor: conn_token.child_token(),
            spare_tokens: Vec::new(),
            spare_future: None,
            conn_token,
            goaway_sent: false,
        }
    }

    /// What every connection of the server shares.
    #[cfg_attr(not(feature = "quic"), allow(dead_code))]
    pub(crate) fn core(&self) -> &Arc<ServerCore> {
        &self.core
    }

    /// True while the reader may read another frame: the queue has room.
    pub(crate) fn has_room(&self) -> bool {
        self.queue.is_empty()
            || (self.queue.len() < self.max_queue && self.queued_bytes < self.max_queued_bytes)
    }

    pub(crate) fn has_queued(&self) -> bool {
        !self.queue.is_empty()
    }

    /// A handler slot (waits while all are busy).
    pub(crate) fn slot(
        &self,
    ) -> impl std::future::Future<Output = Option<OwnedSemaphorePermit>> + use<> {
        let slots = self.slots.clone();
        async move { slots.acquire_owned().await.ok() }
    }

    /// Resolves once graceful shutdown starts and no goaway has been sent yet.
    pub(crate) fn draining(&self) -> impl std::future::Future<Output = ()> + use<> {
        let draining = self.core.draining.token().clone();
        let sent = self.goaway_sent;
        async move {
            if sent {
                std::future::pending::<()>().await;
            }
            draining.cancelled().await
        }
    }

    /// Tells a Rust peer that no new calls will be taken here.
    pub(crate) async fn on_drain(&mut self, shared: &Shared) {
        if self.goaway_sent {
            return;
        }
        self.goaway_sent = true;
        if shared.wire().has(Features::GOAWAY) {
            let _ = shared.out.send(Outgoing::frame(&Frame::GoAway)).await;
        }
    }

    /// Routes, verifies and queues a request, or answers it with an error at once.
    pub(crate) async fn on_request(&mut self, shared: &Arc<Shared>, req: Incoming) {
        match self.admit(shared, &req) {
            Ok(job) => {
                self.queued_bytes += job.message.len();
                self.queue.push_back(job);
                self.start_ready(shared);
            }
            Err((entry, status)) => {
                let name = entry.as_deref().unwrap_or("(unknown)");
                metrics::server_call(name, status.code().as_str(), Duration::ZERO);
                self.core.counters.errors.fetch_add(1, Ordering::Relaxed);
                answer(shared, &self.core, req.id, Err(status), name).await;
            }
        }
    }

    /// Decides whether a request runs; a refusal names the procedure when it is known.
    fn admit(&self, shared: &Shared, req: &Incoming) -> Result<Job, (Option<Arc<str>>, Status)> {
        self.core.counters.calls.fetch_add(1, Ordering::Relaxed);
        let message = MessageBuf::new(req.message.clone()).map_err(|e| {
            (
                None,
                Status::new(
                    ErrorCode::MalformedRequest,
                    format!("the request is not a ZAP message: {e}"),
                ),
            )
        })?;
        let registry = &self.core.registry;
        let entry = match req.target {
            Target::Wide(hash) => registry.by_wide(hash),
            Target::Legacy => registry.by_msg_type(message.msg_type()),
        }
        .map_err(|s| (None, s))?;
        self.core
            .verifier
            .verify(&self.peer, &entry.name)
            .map_err(|s| (Some(entry.name.clone()), s))?;
        if self.core.draining.is_cancelled() {
            return Err((
                Some(entry.name.clone()),
                Status::overloaded("the server is shutting down"),
            ));
        }
        let now = Instant::now();
        let caller = (req.timeout_ms > 0 && shared.wire().has(Features::DEADLINE))
            .then(|| now + Duration::from_millis(u64::from(req.timeout_ms)));
        let own = self.core.handler_timeout.map(|t| now + t);
        let deadline = match (caller, own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(Job {
            id: req.id,
            entry: entry.clone(),
            message,
            deadline,
            accepted_at: now,
            accepted: Accepted::new(&self.core),
        })
    }

    /// The caller gave up on `id`: drop it if still queued, cancel its handler if running.
    pub(crate) fn on_cancel(&mut self, id: u32) {
        if let Some(at) = self.queue.iter().position(|j| j.id == Some(id)) {
            if let Some(job) = self.queue.remove(at) {
                self.queued_bytes -= job.message.len();
                self.core.counters.cancelled.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        if let Some((_, token)) = lock(&self.running).get(&id) {
            token.cancel();
        }
    }

    /// Starts queued requests while handler slots are free, without waiting for one.
    pub(crate) fn start_ready(&mut self, shared: &Arc<Shared>) {
        while !self.queue.is_empty() && self.slots.available_permits() > 0 {
            self.start_next(None, shared);
        }
    }

    /// Starts the next queued request, in `slot` if one was acquired for it, or else in
    /// one that is free.
    ///
    /// The handler's first poll runs here, on the connection's task: a handler that
    /// answers at once (most do) costs no task, no timer, no entry in the table of
    /// running calls and no slot (it held none while nothing else ran), and its answer
    /// is queued before the reader takes the next frame. A handler that has to wait
    /// takes a slot and continues in a task of its own, where the caller's cancel, the
    /// deadline and the connection's end stop it. Only this connection's reader takes
    /// slots, so one seen free before the handler's first poll is still free after it.
    pub(crate) fn start_next(&mut self, slot: Option<OwnedSemaphorePermit>, shared: &Arc<Shared>) {
        let Some(job) = self.queue.pop_front() else {
            return;
        };
        self.queued_bytes -= job.message.len();
        // A spare token is never cancelled on its own (it served only calls that ended on
        // their first poll, which are never in the table of running calls); at most the
        // connection's token above it was, and then this connection takes no new calls.
        let call = self
            .spare_tokens
            .pop()
            .unwrap_or_else(|| CallToken::new(self.conn_token.child_token()));
        let Job {
            id,
            entry,
            message,
            deadline,
            accepted_at: started,
            accepted,
        } = job;
        let ctx = Context::new(
            self.peer.clone(),
            entry.name.clone(),
            id,
            deadline,
            call.clone(),
        );
        let span = tracing::debug_span!(
            "zap.serve",
            procedure = %entry.name,
            peer = %self.peer,
            request_id = id,
            outcome = tracing::field::Empty,
        );
        let spare = self.spare_future.take();
        // A disabled span is not entered: that costs something even when nothing records.
        let traced = !span.is_disabled();
        let start = || begin(&entry, &self.core, ctx, message, spare, deadline);
        let begun = if traced {
            span.in_scope(start)
        } else {
            start()
        };
        let fut = match begun {
            Begun::Done(result, spare) => {
                self.spare_future = spare;
                let _entered = traced.then(|| span.enter());
                let answer = conclude(shared, &self.core, &entry, id, Some(result), started);
                if let Some(out) = answer
                    && let Err(mpsc::error::TrySendError::Full(out)) = shared.out.try_send(out)
                {
                    // The writer is behind: wait for room in a task, not in the reader,
                    // holding a slot so that such tasks stay as few as handlers.
                    let slot = slot.or_else(|| self.slots.clone().try_acquire_owned().ok());
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let _ = shared.out.send(out).await;
                        drop((slot, accepted));
                    });
                }
                if CallToken::reusable(&call) && self.spare_tokens.len() < SPARE_TOKENS {
                    self.spare_tokens.push(call);
                }
                return;
            }
            Begun::Running(fut) => fut,
        };
        let slot = slot.or_else(|| self.slots.clone().try_acquire_owned().ok());
        let token = call.token().clone();
        self.generation += 1;
        let generation = self.generation;
        if let Some(id) = id {
            lock(&self.running).insert(id, (generation, token.clone()));
        }
        let running = self.running.clone();
        let core = self.core.clone();
        let shared = shared.clone();
        tokio::spawn(
            async move {
                let _slot = slot;
                let outcome = finish_handler(&entry, &core, fut, &token, deadline).await;
                if let Some(id) = id {
                    let mut running = lock(&running);
                    if running.get(&id).is_some_and(|(g, _)| *g == generation) {
                        running.remove(&id);
                    }
                }
                if let Some(out) = conclude(&shared, &core, &entry, id, outcome, started) {
                    // A closed connection cannot take the answer; the caller already knows.
                    let _ = shared.out.send(out).await;
                }
                drop(accepted);
            }
            .instrument(span),
        );
    }

    /// The connection is gone: cancel its handlers and drop what waits.
    pub(crate) fn close(&mut self) {
        self.conn_token.cancel();
        self.queue.clear();
        self.queued_bytes = 0;
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.close();
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> &str {
    if let Some(s) = p.downcast_ref::<&str>() {
        s
    } else if let Some(s) = p.downcast_ref::<String>() {
        s
    } else {
        "(no message)"
    }
}

/// How a handler's first poll went.
enum Begun {
    /// It answered (or panicked) at once; the allocation its future used, unless a panic
    /// left it in doubt.
    Done(Result<MessageBuf, Status>, Option<HandlerFuture>),
    /// It waits for something; the future is to be polled again.
    Running(HandlerFuture),
}

/// A panic in a handler as the caller sees it.
fn panicked(entry: &Entry, core: &ServerCore, p: &(dyn std::any::Any + Send)) -> Status {
    // The text stays in our logs; the caller learns only that the handler failed.
    tracing::error!(procedure = %entry.name, panic = panic_text(p), "handler panicked");
    metrics::server_panic(&entry.name);
    core.counters.panics.fetch_add(1, Ordering::Relaxed);
    Status::handler_error("the handler panicked")
}

/// A handler's result, where a handler that gave up because its context fired at the
/// deadline failed because of the deadline, whatever it says.
fn settle(
    result: Result<MessageBuf, Status>,
    deadline: Option<Instant>,
) -> Result<MessageBuf, Status> {
    match result {
        Err(_) if deadline.is_some_and(|d| Instant::now() >= d) => {
            Err(Status::deadline_exceeded("the call's deadline passed"))
        }
        r => r,
    }
}

/// Creates the handler's future and polls it once.
///
/// The poll uses a waker that does nothing: a future left pending is polled again at
/// once by the task that continues it ([`finish_handler`], whose first poll is the
/// handler's), which registers the real waker.
fn begin(
    entry: &Entry,
    core: &ServerCore,
    ctx: Context,
    message: MessageBuf,
    spare: Option<HandlerFuture>,
    deadline: Option<Instant>,
) -> Begun {
    let started = AssertUnwindSafe(|| entry.handler.start(ctx, message, spare));
    let mut fut = match std::panic::catch_unwind(started) {
        Ok(fut) => fut,
        Err(p) => return Begun::Done(Err(panicked(entry, core, &*p)), None),
    };
    let mut cx = TaskContext::from_waker(Waker::noop());
    match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(&mut cx))) {
        Ok(Poll::Ready(r)) => Begun::Done(settle(r, deadline), Some(fut)),
        Ok(Poll::Pending) => Begun::Running(fut),
        Err(p) => Begun::Done(Err(panicked(entry, core, &*p)), None),
    }
}

/// Runs a started handler to its answer, or `None` when the call was abandoned
/// (cancelled by the caller, connection gone, server aborting).
async fn finish_handler(
    entry: &Entry,
    core: &ServerCore,
    fut: HandlerFuture,
    token: &CancellationToken,
    deadline: Option<Instant>,
) -> Option<Result<MessageBuf, Status>> {
    let expire = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        r = AssertUnwindSafe(fut).catch_unwind() => Some(match r {
            Ok(r) => settle(r, deadline),
            Err(p) => Err(panicked(entry, core, &*p)),
        }),
        _ = token.cancelled() => None,
        _ = expire => Some(Err(Status::deadline_exceeded("the call's deadline passed"))),
    }
}

/// Records how a call ended and returns its answer, if it has one to send.
fn conclude(
    shared: &Shared,
    core: &ServerCore,
    entry: &Entry,
    id: Option<u32>,
    outcome: Option<Result<MessageBuf, Status>>,
    started: Instant,
) -> Option<Outgoing> {
    let label = match &outcome {
        Some(Ok(_)) => "ok",
        Some(Err(s)) => s.code().as_str(),
        None => "cancelled",
    };
    let elapsed = started.elapsed();
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        tracing::Span::current().record("outcome", label);
    }
    tracing::debug!(elapsed_us = elapsed.as_micros() as u64, "served");
    entry.metrics.record(label, elapsed);
    match outcome {
        Some(result) => {
            if result.is_err() {
                core.counters.errors.fetch_add(1, Ordering::Relaxed);
            }
            answer_frame(shared, core, id, result, &entry.name)
        }
        None => {
            core.counters.cancelled.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Sends the answer to a request: the response, an error frame, or (on the Go wire, which
/// has no error frames) a log line and a metric.
pub(crate) async fn answer(
    shared: &Shared,
    core: &ServerCore,
    id: Option<u32>,
    result: Result<MessageBuf, Status>,
    procedure: &str,
) {
    if let Some(out) = answer_frame(shared, core, id, result, procedure) {
        // A closed connection cannot take the answer; the caller already knows.
        let _ = shared.out.send(out).await;
    }
}

/// What [`answer`] queues for the writer, if anything.
fn answer_frame(
    shared: &Shared,
    core: &ServerCore,
    id: Option<u32>,
    result: Result<MessageBuf, Status>,
    procedure: &str,
) -> Option<Outgoing> {
    let Some(id) = id else {
        if let Err(status) = result {
            tracing::debug!(%procedure, peer = %shared.peer, %status, "send failed");
        }
        return None;
    };
    let frame = match result {
        Ok(message) if message.len() + 8 <= shared.peer_max_frame => Frame::Response {
            id,
            message: message.into_bytes(),
        },
        Ok(message) => {
            let status = Status::handler_error(format!(
                "the response of {} bytes exceeds the caller's {}-byte frame limit",
                message.len(),
                shared.peer_max_frame
            ));
            return answer_frame(shared, core, Some(id), Err(status), procedure);
        }
        Err(status) if shared.wire().has(Features::ERRORS) => Frame::Error {
            id,
            code: status.code(),
            text: Bytes::from(status.message().to_string()),
        },
        Err(status) => {
            core.counters.errors_unsent.fetch_add(1, Ordering::Relaxed);
            metrics::server_error_unsent(status.code().as_str());
            if shared.per_call_streams {
                // The call has a stream of its own: resetting it tells the caller at once.
                tracing::debug!(%procedure, peer = %shared.peer, request_id = id, %status, "call failed; resetting its stream");
                return Some(Outgoing::Unanswered { id });
            }
            tracing::warn!(
                %procedure,
                peer = %shared.peer,
                request_id = id,
                %status,
                "call failed; the peer speaks the Go wire, which cannot carry errors, so it \
                 gets no answer and waits for its own timeout"
            );
            return None;
        }
    };
    Some(Outgoing::frame(&frame))
}
