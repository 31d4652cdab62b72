//! The crate's error type.

use std::time::Duration;

use crate::auth::AuthError;
use crate::conn::CloseInfo;
use crate::wire::WireError;

/// Everything that can go wrong when serving or using the relay.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Bytes that are not a valid relay message.
    #[error("malformed relay message: {0}")]
    Wire(#[from] WireError),
    /// The validator refused the peer's token.
    #[error("authentication failed: {0}")]
    Auth(#[from] AuthError),
    /// A client opened with the deprecated gob-encoded Hello, which this relay refuses.
    #[error("the deprecated Hello handshake is not supported; use Auth (type 6)")]
    DeprecatedHello,
    /// The relay refused the connection during the handshake and said why.
    #[error("the relay refused the connection: {0}")]
    Refused(CloseInfo),
    /// The connection closed; the other side's close frame when it sent one.
    #[error("the connection closed{}", .0.as_ref().map(|c| format!(": {c}")).unwrap_or_default())]
    Closed(Option<CloseInfo>),
    /// A network wait passed its deadline.
    #[error("{what} timed out after {after:?}")]
    Timeout {
        /// What was being waited for.
        what: &'static str,
        /// The deadline that passed.
        after: Duration,
    },
    /// The other side broke the protocol (e.g. a text WebSocket message).
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// A relay URL that cannot be used.
    #[error("invalid relay URL `{url}`: {why}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// A configuration that cannot work.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// A socket operation failed.
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The WebSocket upgrade failed.
    #[error("WebSocket handshake failed: {0}")]
    WebSocket(String),
    /// TLS set-up or handshake failed.
    #[cfg(feature = "tls")]
    #[error("TLS error: {0}")]
    Tls(#[from] rustls::Error),
    /// The QUIC connection could not be opened or failed.
    #[cfg(feature = "quic")]
    #[error("QUIC error: {0}")]
    Quic(String),
    /// `listen` was called on a server that is already listening.
    #[error("the server is already listening")]
    AlreadyListening,
    /// The local side is shutting down.
    #[error("shutting down")]
    Shutdown,
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
