//! One multiplexed connection: handshake, a reader task, a writer task, and the calls
//! waiting on it.

pub(crate) mod handshake;
pub(crate) mod reader;
pub(crate) mod shared;
#[cfg(feature = "quic")]
pub(crate) mod streams;
pub(crate) mod writer;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Either};
use tokio::sync::mpsc;
use tracing::Instrument;
use zap_discovery::Peer;

use self::handshake::Established;
use self::shared::{Outgoing, Reply, Shared};
use crate::error::{ConnectionError, Error};
use crate::extension::Features;
use crate::frame::Frame;
use crate::message::MessageBuf;
use crate::options::ConnectionOptions;
use crate::peer::{PeerInfo, Wire};
use crate::procedure::{IntoProcedure, Procedure};
use crate::server::dispatch::Serve;
use crate::status::{ErrorCode, Status};
use crate::transport::Dialer;

/// Builds an established connection's shared state and its reader and writer tasks,
/// which the caller spawns (the server tracks them for shutdown).
///
/// Over a byte stream (TCP, TLS, Unix) the reader reads frames from it and the writer
/// batches frames into it. Over QUIC the reader takes frames from the control stream and
/// from every call stream the peer opens, and the writer routes each frame to its stream
/// ([`streams`]).
pub(crate) fn start(
    est: Established,
    service_type: &str,
    opts: &ConnectionOptions,
    serve: impl FnOnce(&PeerInfo) -> Option<Serve>,
) -> (Arc<Shared>, BoxFuture<'static, ()>, BoxFuture<'static, ()>) {
    let Established {
        frames,
        writer,
        remote,
        peer_node_id,
        wire,
        peer_max_frame,
        tls,
        credentials,
        #[cfg(feature = "quic")]
        quic,
    } = est;
    let mut peer = PeerInfo::new(peer_node_id, remote, service_type, wire);
    if let Some(tls) = tls {
        peer = peer.with_tls(tls);
    }
    if let Some(c) = credentials {
        peer = peer.with_credentials(c);
    }
    let serve = serve(&peer);
    let (tx, rx) = mpsc::channel(opts.send_queue);
    #[cfg(feature = "quic")]
    let per_call_streams = quic.is_some();
    #[cfg(not(feature = "quic"))]
    let per_call_streams = false;
    let shared = Arc::new(Shared::new(peer, peer_max_frame, tx, per_call_streams));
    let span = tracing::debug_span!("zap.conn", peer = %shared.peer, wire = %wire);
    #[cfg(feature = "quic")]
    if let Some(conn) = quic {
        let core = serve.as_ref().map(|s| s.core().clone());
        let (inbound, write, accept) =
            streams::start(conn, frames, writer, shared.clone(), rx, opts, core);
        let reading = reader::run(shared.clone(), inbound, serve, opts.keepalive);
        let read = async move {
            futures_util::future::join(reading, accept).await;
        };
        return (
            shared,
            Box::pin(read.instrument(span.clone())),
            Box::pin(write.instrument(span)),
        );
    }
    let write =
        writer::run(shared.clone(), rx, writer, opts.write_timeout).instrument(span.clone());
    let read = reader::run(
        shared.clone(),
        reader::stream_frames(frames),
        serve,
        opts.keepalive,
    )
    .instrument(span);
    (shared, Box::pin(read), Box::pin(write))
}

/// A client connection to one peer: calls and sends are multiplexed over it, each
/// answered independently (a slow call never delays a fast one).
///
/// Cheap to clone; the connection closes when the last clone is dropped or
/// [`close`](Self::close) is called. Most code uses [`Client`](crate::Client), which keeps
/// one connection per peer and reconnects; this type is for talking to one known peer,
/// as Go's `Node.ConnectDirect` does.
///
/// ```no_run
/// # async fn demo() -> Result<(), zap_rpc::Error> {
/// use zap_rpc::{Connection, ConnectionOptions, MessageBuf, TcpDialer};
/// use zap_discovery::Peer;
///
/// let peer = Peer::new("127.0.0.1:9999".parse().unwrap());
/// let conn = Connection::connect(&TcpDialer::new(), &peer, "my-node", &ConnectionOptions::new()).await?;
/// let reply = conn.call("Echo", MessageBuf::empty(), Some(std::time::Duration::from_secs(1))).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Connection {
    handle: Arc<Handle>,
}

struct Handle {
    shared: Arc<Shared>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        self.shared.finish();
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("peer", &self.handle.shared.peer)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// Removes a call that is abandoned (timed out, dropped) and, once its request was
/// queued for the peer, tells the peer to stop it.
struct InFlight<'a> {
    shared: &'a Arc<Shared>,
    id: u32,
    /// Still waiting for the answer.
    armed: bool,
    /// The request went to the writer, so the peer may be running it.
    sent: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.armed || !self.shared.forget(self.id) || !self.sent {
            return;
        }
        // Over QUIC the cancel stops the call's stream, which every wire understands.
        let can_cancel = self.shared.per_call_streams || self.shared.wire().has(Features::CANCEL);
        if !can_cancel || self.shared.is_closed() {
            return;
        }
        let cancel = Outgoing::frame(&Frame::Cancel { id: self.id });
        if let Err(mpsc::error::TrySendError::Full(cancel)) = self.shared.out.try_send(cancel) {
            // The queue is full; send it as soon as there is room, without holding up the
            // caller that gave up.
            let out = self.shared.out.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    let _ = out.send(cancel).await;
                });
            }
        }
    }
}

impl Connection {
    /// Dials `peer`, runs the handshake as `node_id` and starts the connection.
    ///
    /// When `peer` has a node id (from discovery), the handshake must present the same
    /// one.
    pub async fn connect(
        dialer: &dyn Dialer,
        peer: &Peer,
        node_id: &str,
        opts: &ConnectionOptions,
    ) -> Result<Connection, Error> {
        opts.validate()?;
        let span = tracing::debug_span!("zap.connect", peer = %peer);
        async {
            let t = dialer
                .dial(peer)
                .await
                .map_err(|e| Error::connection(peer, ConnectionError::Dial(Arc::new(e))))?;
            let est = handshake::dial(t, node_id, opts)
                .await
                .map_err(|e| Error::connection(peer, e))?;
            if let Some(expected) = peer.node_id()
                && expected != est.peer_node_id
            {
                return Err(Error::connection(
                    peer,
                    ConnectionError::PeerIdMismatch {
                        expected: expected.to_string(),
                        got: est.peer_node_id,
                    },
                ));
            }
            let (shared, read, write) = start(est, peer.service_type(), opts, |_| None);
            tokio::spawn(read);
            tokio::spawn(write);
            tracing::debug!(wire = %shared.wire(), "connected");
            Ok(Connection {
                handle: Arc::new(Handle { shared }),
            })
        }
        .instrument(span)
        .await
    }

    /// The peer as the handshake described it.
    pub fn peer(&self) -> &PeerInfo {
        &self.handle.shared.peer
    }

    /// The wire in use.
    pub fn wire(&self) -> Wire {
        self.handle.shared.wire()
    }

    /// True once the connection has closed (or started closing).
    pub fn is_closed(&self) -> bool {
        self.handle.shared.is_closed()
    }

    /// True once the peer said it takes no new calls here (graceful shutdown).
    pub fn is_going_away(&self) -> bool {
        self.handle.shared.is_going_away()
    }

    /// True when new calls should go elsewhere: closed or going away.
    pub fn is_usable(&self) -> bool {
        !self.is_closed() && !self.is_going_away()
    }

    /// Why the connection closed, once it has.
    pub fn close_reason(&self) -> Option<ConnectionError> {
        self.handle.shared.reason()
    }

    /// Waits until the connection closes and says why.
    pub async fn closed(&self) -> ConnectionError {
        self.handle.shared.closed.cancelled().await;
        self.handle.shared.reason_or(ConnectionError::Closed)
    }

    /// Calls waiting for an answer.
    pub fn in_flight(&self) -> usize {
        self.handle.shared.waiting()
    }

    /// Closes now: waiting calls fail with [`ConnectionError::Local`].
    pub fn close(&self) {
        self.handle.shared.close(ConnectionError::Local);
    }

    /// Calls `procedure` with `message` and waits for the answer, at most `timeout`.
    ///
    /// Dropping the returned future abandons the call; on the Rust wire the peer is told
    /// to cancel its handler.
    pub async fn call(
        &self,
        procedure: impl IntoProcedure,
        message: MessageBuf,
        timeout: Option<Duration>,
    ) -> Result<MessageBuf, Error> {
        let procedure = procedure.into_procedure()?;
        let started = Instant::now();
        let deadline = timeout.map(|t| started + t);
        let span = tracing::debug_span!(
            "zap.call",
            procedure = %procedure,
            peer = %self.handle.shared.peer,
            request_id = tracing::field::Empty,
            outcome = tracing::field::Empty,
        );
        let call = self.call_until(&procedure, message, deadline, started);
        let result = traced(&span, bounded(deadline, started, call)).await;
        if !span.is_disabled() {
            span.record(
                "outcome",
                match &result {
                    Ok(_) => "ok",
                    Err(e) => e.kind().as_str(),
                },
            );
        }
        result
    }

    /// Calls with `deadline` sent to the peer; the caller enforces it locally (one timer
    /// per call, not one per layer). `now` is the caller's latest reading of the clock,
    /// from which the time left is counted (a clock read costs more than the
    /// microseconds it would correct).
    pub(crate) async fn call_until(
        &self,
        procedure: &Procedure,
        message: MessageBuf,
        deadline: Option<Instant>,
        now: Instant,
    ) -> Result<MessageBuf, Error> {
        let shared = &self.handle.shared;
        let fail = |reason| Error::connection(&shared.peer, reason);
        {
            let (id, rx) = shared.register().map_err(fail)?;
            let mut guard = InFlight {
                shared,
                id,
                armed: true,
                sent: false,
            };
            if tracing::level_enabled!(tracing::Level::DEBUG) {
                tracing::Span::current().record("request_id", id);
            }
            let frame = request_frame(shared.wire(), procedure, id, message, deadline, now);
            let (head, body) = frame.split();
            if head.payload_len() > shared.peer_max_frame {
                return Err(Error::FrameTooLarge {
                    len: head.payload_len(),
                    max: shared.peer_max_frame,
                });
            }
            let out = Outgoing::Frame {
                head,
                body,
                request: Some(id),
            };
            if shared.out.send(out).await.is_err() {
                return Err(fail(ConnectionError::NotSent));
            }
            guard.sent = true;
            let reply = rx.await;
            guard.armed = false;
            match reply {
                Ok(Reply::Message(m)) => Ok(m),
                Ok(Reply::Status(status)) => Err(Error::Remote {
                    peer: shared.peer.to_string(),
                    status: name_unknown(status, procedure),
                }),
                Ok(Reply::Failed(reason)) => Err(fail(reason)),
                Err(_) => Err(fail(shared.reason_or(ConnectionError::Closed))),
            }
        }
    }

    /// Sends `message` to `procedure` without waiting for an answer (Go's `Send`).
    /// Returns once the frame is queued for writing.
    pub async fn send(
        &self,
        procedure: impl IntoProcedure,
        message: MessageBuf,
    ) -> Result<(), Error> {
        let procedure = procedure.into_procedure()?;
        let shared = &self.handle.shared;
        if shared.is_closed() {
            return Err(Error::connection(&shared.peer, ConnectionError::NotSent));
        }
        let frame = send_frame(shared.wire(), &procedure, message);
        let (head, body) = frame.split();
        if head.payload_len() > shared.peer_max_frame {
            return Err(Error::FrameTooLarge {
                len: head.payload_len(),
                max: shared.peer_max_frame,
            });
        }
        shared
            .out
            .send(Outgoing::Frame {
                head,
                body,
                request: None,
            })
            .await
            .map_err(|_| Error::connection(&shared.peer, ConnectionError::NotSent))
    }
}

/// The request frame for a call: by wide id between Rust peers, by opcode in the message
/// flags otherwise (copying the message to rewrite them, as Go's zapclient does), and
/// untouched for raw message types.
fn request_frame(
    wire: Wire,
    procedure: &Procedure,
    id: u32,
    message: MessageBuf,
    deadline: Option<Instant>,
    now: Instant,
) -> Frame {
    match procedure.id() {
        Some(pid) if wire.has(Features::WIDE_IDS) => {
            let timeout_ms = match deadline {
                Some(d) if wire.has(Features::DEADLINE) => {
                    let left = d.saturating_duration_since(now);
                    // Round up so that a sub-millisecond remainder is not "no deadline".
                    u32::try_from(left.as_millis().saturating_add(1)).unwrap_or(u32::MAX)
                }
                _ => 0,
            };
            Frame::Call {
                id,
                procedure: pid.hash(),
                timeout_ms,
                message: message.into_bytes(),
            }
        }
        Some(pid) => Frame::Request {
            id,
            message: message.with_flags(pid.opcode()).into_bytes(),
        },
        None => Frame::Request {
            id,
            message: message.into_bytes(),
        },
    }
}

fn send_frame(wire: Wire, procedure: &Procedure, message: MessageBuf) -> Frame {
    match procedure.id() {
        Some(pid) if wire.has(Features::WIDE_IDS) => Frame::Send {
            procedure: pid.hash(),
            message: message.into_bytes(),
        },
        Some(pid) => Frame::Plain {
            message: message.with_flags(pid.opcode()).into_bytes(),
        },
        None => Frame::Plain {
            message: message.into_bytes(),
        },
    }
}

/// `fut` failing with [`Error::Timeout`] (the time since `started`) once `deadline`
/// passes, or `fut` itself without a deadline. (Built from combinators, not an async
/// block, for the same reason as [`traced`].)
pub(crate) fn bounded<T, F>(
    deadline: Option<Instant>,
    started: Instant,
    fut: F,
) -> Either<impl std::future::Future<Output = Result<T, Error>>, F>
where
    F: std::future::Future<Output = Result<T, Error>>,
{
    match deadline {
        Some(d) => Either::Left(
            tokio::time::timeout_at(d.into(), fut)
                .map(move |r| r.unwrap_or_else(|_| Err(Error::Timeout(started.elapsed())))),
        ),
        None => Either::Right(fut),
    }
}

/// `fut` inside `span`, or bare when the span is disabled: entering and leaving a span on
/// every poll costs something even when nothing records it, and a call is polled several
/// times. (A plain function returning either, not an `async fn`, so that the future is
/// stored once, not once as an argument and again while awaited.)
pub(crate) fn traced<F: std::future::Future>(
    span: &tracing::Span,
    fut: F,
) -> Either<F, tracing::instrument::Instrumented<F>> {
    if span.is_disabled() {
        Either::Left(fut)
    } else {
        Either::Right(fut.instrument(span.clone()))
    }
}

/// The peer knows a wide procedure only by its hash, so its "unknown procedure" answer
/// cannot name it; the caller can, and says which name it called.
fn name_unknown(status: Status, procedure: &Procedure) -> Status {
    match procedure.name() {
        Some(name) if status.code() == ErrorCode::UnknownProcedure => Status::new(
            status.code(),
            format!("no procedure {name:?} on the peer ({})", status.message()),
        ),
        _ => status,
    }
}
