//! Handlers: what runs a procedure, and the context it runs in.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio_util::sync::{CancellationToken, ReusableBoxFuture};
use tower::util::Oneshot;
use tower::{Service, ServiceExt};

use crate::message::MessageBuf;
use crate::peer::PeerInfo;
use crate::status::Status;

/// What a handler knows about the call it serves.
///
/// Cheap to clone. [`Context::cancelled`] resolves when the caller no longer wants the
/// answer: it cancelled (Rust callers do so by dropping the call), its deadline passed,
/// the connection closed, or the server gave up draining.
#[derive(Debug, Clone)]
pub struct Context {
    peer: Arc<PeerInfo>,
    procedure: Arc<str>,
    request_id: Option<u32>,
    deadline: Option<Instant>,
    cancel: Arc<CallToken>,
}

/// A call's cancellation token, which the connection reuses for a later call once nothing
/// but the connection holds it (see [`CallToken::reusable`]).
#[derive(Debug)]
pub(crate) struct CallToken {
    token: CancellationToken,
    /// Set once a copy of the token left through [`Context::cancellation_token`].
    handed_out: AtomicBool,
}

impl CallToken {
    pub(crate) fn new(token: CancellationToken) -> Arc<Self> {
        Arc::new(Self {
            token,
            handed_out: AtomicBool::new(false),
        })
    }

    pub(crate) fn token(&self) -> &CancellationToken {
        &self.token
    }

    /// True when this call's token can serve another call: no context and no copy of the
    /// token is left anywhere. Asked only of calls that ended on their first poll, whose
    /// token nothing but the connection's own could have cancelled (and a connection
    /// whose token is cancelled starts no more calls).
    pub(crate) fn reusable(this: &Arc<Self>) -> bool {
        Arc::strong_count(this) == 1 && !this.handed_out.load(Ordering::Acquire)
    }
}

impl Context {
    pub(crate) fn new(
        peer: Arc<PeerInfo>,
        procedure: Arc<str>,
        request_id: Option<u32>,
        deadline: Option<Instant>,
        cancel: Arc<CallToken>,
    ) -> Self {
        Self {
            peer,
            procedure,
            request_id,
            deadline,
            cancel,
        }
    }

    /// The calling peer.
    pub fn peer(&self) -> &PeerInfo {
        &self.peer
    }

    /// The procedure's registered name.
    pub fn procedure(&self) -> &str {
        &self.procedure
    }

    /// The request id, or `None` for a fire-and-forget send.
    pub fn request_id(&self) -> Option<u32> {
        self.request_id
    }

    /// When the caller stops waiting: its propagated timeout (Rust callers) or the
    /// server's own handler limit, whichever is sooner. `None` when neither applies.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Time left until the deadline (zero once passed), `None` without a deadline.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// True once the call is cancelled or past its deadline.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.token.is_cancelled() || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Resolves when the call is cancelled or its deadline passes.
    pub async fn cancelled(&self) {
        match self.deadline {
            Some(d) => {
                tokio::select! {
                    _ = self.cancel.token.cancelled() => {}
                    _ = tokio::time::sleep_until(d.into()) => {}
                }
            }
            None => self.cancel.token.cancelled().await,
        }
    }

    /// The cancellation token of this call (deadlines not included), to hand to code that
    /// takes one.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.cancel.handed_out.store(true, Ordering::Release);
        self.cancel.token.clone()
    }
}

/// A procedure's implementation: an async function of the context and the request
/// message, returning a response message or an error [`Status`].
///
/// Implemented for closures and functions of that shape:
///
/// ```
/// use zap_rpc::{Context, MessageBuf, Status};
///
/// async fn echo(_ctx: Context, req: MessageBuf) -> Result<MessageBuf, Status> {
///     Ok(req)
/// }
/// # fn takes(_: impl zap_rpc::Handler) {}
/// takes(echo);
/// takes(|ctx: Context, _req: MessageBuf| async move {
///     Err::<MessageBuf, _>(Status::handler_error(format!("{} is not ready", ctx.procedure())))
/// });
/// ```
///
/// and, through [`ServiceHandler`], for any tower `Service<Request>`. A hand-written
/// implementation names its future type; one that cannot (or would rather not) boxes it:
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use zap_rpc::{Context, Handler, MessageBuf, Status};
///
/// struct Greeter {
///     greeting: MessageBuf,
/// }
///
/// impl Handler for Greeter {
///     type Future = Pin<Box<dyn Future<Output = Result<MessageBuf, Status>> + Send>>;
///
///     fn call(&self, _ctx: Context, _request: MessageBuf) -> Self::Future {
///         let greeting = self.greeting.clone();
///         Box::pin(async move { Ok(greeting) })
///     }
/// }
/// # fn takes(_: impl Handler) {}
/// # takes(Greeter { greeting: MessageBuf::empty() });
/// ```
///
/// The returned future is first polled on the connection's own task, so a handler that
/// answers at once costs no task of its own; one that has to wait continues in a task.
/// The server keeps the futures of a procedure in a reused allocation, so a handler that
/// answers at once costs no allocation either. As in any async code, blocking or
/// CPU-heavy work belongs in `tokio::task::spawn_blocking`, or it holds up the
/// connection's other frames.
pub trait Handler: Send + Sync + 'static {
    /// The future of one call.
    type Future: Future<Output = Result<MessageBuf, Status>> + Send + 'static;

    /// Runs the procedure for one call.
    fn call(&self, ctx: Context, request: MessageBuf) -> Self::Future;
}

impl<F, Fut> Handler for F
where
    F: Fn(Context, MessageBuf) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<MessageBuf, Status>> + Send + 'static,
{
    type Future = Fut;

    fn call(&self, ctx: Context, request: MessageBuf) -> Fut {
        self(ctx, request)
    }
}

/// A started handler's future, in an allocation that later calls reuse.
pub(crate) type HandlerFuture = ReusableBoxFuture<'static, Result<MessageBuf, Status>>;

/// A [`Handler`] with its future type erased, as the registry keeps it.
pub(crate) trait ErasedHandler: Send + Sync + 'static {
    /// Starts a call, placing its future in `spare` when there is one (no allocation
    /// when the future there has the same size and alignment).
    fn start(
        &self,
        ctx: Context,
        request: MessageBuf,
        spare: Option<HandlerFuture>,
    ) -> HandlerFuture;
}

impl<H: Handler> ErasedHandler for H {
    fn start(
        &self,
        ctx: Context,
        request: MessageBuf,
        spare: Option<HandlerFuture>,
    ) -> HandlerFuture {
        let fut = self.call(ctx, request);
        match spare {
            Some(mut slot) => {
                slot.set(fut);
                slot
            }
            None => ReusableBoxFuture::new(fut),
        }
    }
}

/// The request a tower service handler receives.
#[derive(Debug, Clone)]
pub struct Request {
    /// The call's context.
    pub context: Context,
    /// The request message.
    pub message: MessageBuf,
}

/// Adapts a tower `Service<Request, Response = MessageBuf, Error = Status>` into a
/// [`Handler`], so tower middleware (timeouts, rate limits, load shedding) can wrap
/// procedures. The service is cloned per call and driven with `oneshot`, so its readiness
/// is respected. It must be `Sync`; wrap services that are not in
/// `tower::util::BoxCloneSyncService` or `tower::buffer::Buffer`.
#[derive(Debug, Clone)]
pub struct ServiceHandler<S>(pub S);

impl<S> Handler for ServiceHandler<S>
where
    S: Service<Request, Response = MessageBuf, Error = Status> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
{
    type Future = Oneshot<S, Request>;

    fn call(&self, context: Context, message: MessageBuf) -> Self::Future {
        self.0.clone().oneshot(Request { context, message })
    }
}
