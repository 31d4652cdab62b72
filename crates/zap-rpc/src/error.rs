//! The errors of calls, connections, servers and clients.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::status::{ErrorCode, Status};

/// What went wrong with a call, a connection, a server or a client.
///
/// [`Error::kind`] sorts every variant into the few [`ErrorKind`]s callers usually
/// branch on; match on the variants for details.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The peer answered with an error (only Rust peers can).
    #[error("{peer} answered {status}")]
    Remote {
        /// The peer that answered (`node-id@address`).
        peer: String,
        /// What it said.
        status: Status,
    },
    /// The call's deadline passed with no answer.
    #[error("call timed out after {0:?}")]
    Timeout(Duration),
    /// No peer to call: none discovered within the wait, or all gone.
    #[error("no peers of service type {service_type:?}{}", Waited(.waited, .cause))]
    NoPeers {
        /// The service type looked for.
        service_type: String,
        /// How long we waited for peers, if we waited.
        waited: Option<Duration>,
        /// Why discovery found none, if it knows.
        cause: Option<zap_discovery::Error>,
    },
    /// The connection to the peer failed or was lost.
    #[error("connection to {peer}: {reason}")]
    Connection {
        /// The peer (`node-id@address`, or the address before the handshake).
        peer: String,
        /// What happened.
        reason: ConnectionError,
    },
    /// The request is larger than the peer accepts; nothing was sent.
    #[error("frame of {len} bytes exceeds the peer's {max}-byte limit")]
    FrameTooLarge {
        /// The payload length.
        len: usize,
        /// The peer's limit.
        max: usize,
    },
    /// Bytes that are not a ZAP message, or a read past what a message holds (reading a
    /// response with `?` lands here).
    #[error("invalid message: {0}")]
    InvalidMessage(#[from] zap_wire::Error),
    /// A procedure name that cannot be used (empty).
    #[error("invalid procedure name: {0}")]
    InvalidProcedure(zap_wire::Error),
    /// Registering a name twice, or two names with the same 32-bit hash.
    #[error("procedure {name:?} is already registered{}", Clash(.existing))]
    DuplicateProcedure {
        /// The name being registered.
        name: String,
        /// The registered name it clashes with, when that is a different name.
        existing: Option<String>,
    },
    /// Two procedures share a legacy 8-bit opcode and collisions were not allowed.
    #[error(
        "opcode {opcode:#06x} collision: {existing:?} and {new:?} hash to the same code \
         (rename one, or allow collisions and have Rust callers use wide ids)"
    )]
    OpcodeCollision {
        /// The shared opcode.
        opcode: u16,
        /// The procedure already registered.
        existing: String,
        /// The procedure being registered.
        new: String,
    },
    /// A setting that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Discovery failed.
    #[error("discovery: {0}")]
    Discovery(#[from] zap_discovery::Error),
    /// The listener could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        source: Arc<io::Error>,
    },
    /// The client or server was closed.
    #[error("closed")]
    Closed,
    /// A TLS configuration that cannot be used.
    #[cfg(feature = "tls")]
    #[error("{0}")]
    Tls(#[from] crate::transport::TlsError),
}

impl Error {
    /// The class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Remote { status, .. } => match status.code() {
                ErrorCode::UnknownProcedure | ErrorCode::AmbiguousOpcode => {
                    ErrorKind::UnknownProcedure
                }
                ErrorCode::Unauthorized => ErrorKind::Unauthorized,
                ErrorCode::DeadlineExceeded => ErrorKind::DeadlineExceeded,
                ErrorCode::Cancelled => ErrorKind::Cancelled,
                ErrorCode::Overloaded => ErrorKind::Overloaded,
                ErrorCode::MalformedRequest => ErrorKind::InvalidRequest,
                ErrorCode::HandlerError | ErrorCode::Other(_) => ErrorKind::HandlerError,
            },
            Error::Timeout(_) => ErrorKind::DeadlineExceeded,
            Error::NoPeers { .. } => ErrorKind::NoPeers,
            Error::Connection { .. } | Error::Closed => ErrorKind::Connection,
            Error::FrameTooLarge { .. } | Error::InvalidMessage(_) | Error::InvalidProcedure(_) => {
                ErrorKind::InvalidRequest
            }
            Error::DuplicateProcedure { .. }
            | Error::OpcodeCollision { .. }
            | Error::Config(_)
            | Error::Bind { .. } => ErrorKind::Config,
            #[cfg(feature = "tls")]
            Error::Tls(_) => ErrorKind::Config,
            Error::Discovery(_) => ErrorKind::NoPeers,
        }
    }

    /// The status the peer answered with, for [`Error::Remote`].
    pub fn status(&self) -> Option<&Status> {
        match self {
            Error::Remote { status, .. } => Some(status),
            _ => None,
        }
    }

    pub(crate) fn connection(peer: impl fmt::Display, reason: ConnectionError) -> Self {
        Error::Connection {
            peer: peer.to_string(),
            reason,
        }
    }
}

/// The classes of [`Error`], named as `zap call --json` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The peer has no such procedure (or the legacy opcode is ambiguous).
    UnknownProcedure,
    /// The peer's verifier refused us.
    Unauthorized,
    /// The handler failed.
    HandlerError,
    /// The deadline passed.
    DeadlineExceeded,
    /// The call was cancelled.
    Cancelled,
    /// The peer would not run the call now.
    Overloaded,
    /// Connecting failed or the connection was lost.
    Connection,
    /// There was no peer to call.
    NoPeers,
    /// The request itself is unusable (bad message, bad name, too large).
    InvalidRequest,
    /// The configuration or registration is unusable.
    Config,
}

impl ErrorKind {
    /// The snake_case name: `unknown_procedure`, `unauthorized`, `handler_error`,
    /// `deadline_exceeded`, `cancelled`, `overloaded`, `connection`, `no_peers`,
    /// `invalid_request`, `config`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::UnknownProcedure => "unknown_procedure",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::HandlerError => "handler_error",
            ErrorKind::DeadlineExceeded => "deadline_exceeded",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Connection => "connection",
            ErrorKind::NoPeers => "no_peers",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Config => "config",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a connection could not be made or did not last.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// Connecting failed.
    #[error("dial: {0}")]
    Dial(Arc<io::Error>),
    /// The handshake did not complete.
    #[error("handshake: {0}")]
    Handshake(String),
    /// The handshake did not complete in time.
    #[error("handshake timed out after {0:?}")]
    HandshakeTimeout(Duration),
    /// The peer answered with a different node id than discovery announced.
    #[error("expected node {expected:?}, the peer says it is {got:?}")]
    PeerIdMismatch {
        /// The id discovery reported.
        expected: String,
        /// The id in the handshake.
        got: String,
    },
    /// The peer closed the connection.
    #[error("closed by the peer")]
    Closed,
    /// Reading or writing failed.
    #[error("i/o: {0}")]
    Io(Arc<io::Error>),
    /// Nothing arrived from the peer for this long, pings included.
    #[error("no frame from the peer for {0:?} (keepalive)")]
    KeepaliveTimeout(Duration),
    /// A write made no progress for this long.
    #[error("write stalled for {0:?}")]
    WriteTimeout(Duration),
    /// The peer broke the framing (oversized or malformed frame).
    #[error("protocol error: {0}")]
    Protocol(String),
    /// The request never left: the connection closed before it was written. Safe to
    /// send elsewhere.
    #[error("the request was not sent: the connection closed first")]
    NotSent,
    /// The peer is shutting down this connection.
    #[error("the peer is going away")]
    GoingAway,
    /// We closed the connection.
    #[error("closed locally")]
    Local,
    /// The client is waiting to reconnect after failures.
    #[error("reconnecting in {0:?} after repeated failures")]
    BackingOff(Duration),
    /// The peer ended the call's QUIC stream with this application code (see
    /// [`stream::code`](crate::stream::code)) instead of answering.
    #[error("the peer ended the call's stream: {}", StreamCode(*.0))]
    StreamReset(u64),
}

struct StreamCode(u64);

impl fmt::Display for StreamCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::stream::code;
        let name = match u32::try_from(self.0) {
            Ok(code::CANCELLED) => "cancelled",
            Ok(code::PROTOCOL) => "protocol error",
            Ok(code::FRAME_TOO_LARGE) => "the request exceeds its frame limit",
            Ok(code::NO_ANSWER) => "the call failed and the wire cannot carry the error",
            _ => "unknown code",
        };
        write!(f, "{name} (code {:#x})", self.0)
    }
}

impl ConnectionError {
    /// True when the request certainly did not reach the peer, so it may be retried on
    /// another peer without running twice.
    pub fn request_not_sent(&self) -> bool {
        matches!(
            self,
            ConnectionError::Dial(_)
                | ConnectionError::Handshake(_)
                | ConnectionError::HandshakeTimeout(_)
                | ConnectionError::PeerIdMismatch { .. }
                | ConnectionError::NotSent
                | ConnectionError::GoingAway
                | ConnectionError::BackingOff(_)
        )
    }

    pub(crate) fn io(e: io::Error) -> Self {
        ConnectionError::Io(Arc::new(e))
    }
}

struct Waited<'a>(&'a Option<Duration>, &'a Option<zap_discovery::Error>);

impl fmt::Display for Waited<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(w) = self.0 {
            write!(f, " after waiting {w:?}")?;
        }
        if let Some(c) = self.1 {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

struct Clash<'a>(&'a Option<String>);

impl fmt::Display for Clash<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(other) => write!(f, " (its 32-bit id equals that of {other:?})"),
            None => Ok(()),
        }
    }
}
