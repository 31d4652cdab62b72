//! The error type of the client, the server plumbing and the discovery dialer.

use std::fmt;
use std::io;

use crate::wire::WireError;

/// A boxed error, as tower and http-body use for errors of unknown type.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Which wait ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// Getting a connection: waiting for a free slot under the per-endpoint cap, dialing,
    /// and the TLS handshake.
    Connect,
    /// Sending the request and receiving the response head.
    ResponseHead,
    /// Waiting for the next frame of a streamed response body.
    StreamIdle,
    /// The whole exchange as bounded by the discovery client's HTTP timeout.
    Request,
    /// Waiting for enough peers to appear.
    Discover,
}

impl fmt::Display for TimeoutKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::ResponseHead => "waiting for the response head",
            Self::StreamIdle => "waiting for the next frame of the response stream",
            Self::Request => "request",
            Self::Discover => "waiting for peers",
        })
    }
}

/// Everything a ZAP-HTTP exchange can fail with.
///
/// A streamed response body yields this type too, so a stream cut before its end frame
/// reaches the caller as [`Error::Closed`] (never as a clean end).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Dialing the peer (or the TLS handshake with it) failed.
    #[error("connect to {endpoint}: {source}")]
    Connect {
        /// The endpoint that was dialed.
        endpoint: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// Reading from or writing to an established connection failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The peer sent bytes that are not valid ZAP-HTTP, or a message could not be encoded.
    #[error("wire: {0}")]
    Wire(#[from] WireError),
    /// The request (body, headers and all) does not fit in one frame; nothing was sent.
    #[error("request does not fit in a {max}-byte frame")]
    BodyTooLarge {
        /// The frame limit.
        max: usize,
    },
    /// A wait ran out of time.
    #[error("timed out: {0}")]
    Timeout(TimeoutKind),
    /// The peer closed the connection before the exchange was complete.
    #[error("connection closed {0}")]
    Closed(&'static str),
    /// The request body failed while it was being read.
    #[error("request body: {0}")]
    Body(#[source] BoxError),
    /// The request cannot be sent over ZAP-HTTP (no endpoint, an upgrade, ...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A client or server was configured in a way that cannot work or would be unsafe
    /// (an empty bearer token, local trust without mutual TLS, ...).
    #[error("configuration: {0}")]
    Config(String),
    /// Discovery failed: no peers, or none appeared in time.
    #[error("discovery: {0}")]
    Discovery(#[from] zap_discovery::Error),
    /// An [`AuthAttacher`](crate::discovery::AuthAttacher) refused to authorize the call.
    #[error("auth: {0}")]
    Auth(String),
}

impl Error {
    /// True for a [`Error::Timeout`] of any kind.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout(_))
    }

    /// True when nothing reached the peer: the connection could not be made.
    pub fn is_connect(&self) -> bool {
        matches!(
            self,
            Self::Connect { .. } | Self::Timeout(TimeoutKind::Connect)
        )
    }
}
