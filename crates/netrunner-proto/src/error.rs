//! Errors: what a decoder, a backend, the server and the client can fail with.

use std::fmt;
use std::time::Duration;

use crate::opcode::Method;

/// Why a message body could not be decoded.
///
/// Every decoder in this crate returns one of these for bad bytes; none panics, and
/// none allocates more than the bytes it was given allow (see [`DecodeOptions`](crate::DecodeOptions)).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes end early, a count is larger than the bytes could hold, or a string is
    /// not UTF-8.
    #[error(transparent)]
    Wire(#[from] zap_wire::Error),
    /// A presence flag other than 0 or 1 (strict decoding only; Go reads any non-zero
    /// as present).
    #[error("{field}: presence flag {value:#04x} is neither 0 nor 1")]
    InvalidFlag {
        /// The field whose flag it is.
        field: &'static str,
        /// The byte found.
        value: u8,
    },
    /// A bool byte other than 0 or 1 (strict decoding only).
    #[error("{field}: bool byte {value:#04x} is neither 0 nor 1")]
    InvalidBool {
        /// The field.
        field: &'static str,
        /// The byte found.
        value: u8,
    },
    /// A map key sent twice (strict decoding only; Go keeps the last value).
    #[error("{field}: key {key:?} appears twice")]
    DuplicateKey {
        /// The map.
        field: &'static str,
        /// The repeated key.
        key: String,
    },
    /// Bytes left after the last field (strict decoding only; Go ignores them).
    #[error("{0} trailing bytes after the last field")]
    TrailingBytes(usize),
    /// More list and map entries in one message than the configured budget.
    #[error("more than {limit} list and map entries in one message")]
    TooManyItems {
        /// The configured budget.
        limit: usize,
    },
    /// A stream-status frame whose first byte is not one of the defined markers.
    #[error("stream status marker {0:#04x} is not 0 (update), 1 (update with cluster) or 2 (end)")]
    UnknownMarker(u8),
}

/// The kind of an error a server reports, carried at the front of the error text.
///
/// Go's error frames carry bare text. This crate's server writes `code: message`, with
/// one of the tokens below, except where Go defines the exact text (unknown opcode,
/// unknown sub-opcode, missing sub-opcode), which it sends unchanged. The client reads
/// both forms back into a code; text it does not recognise is [`ErrorCode::Unknown`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request's arguments are unacceptable (`invalid_argument`).
    InvalidArgument,
    /// A named node, snapshot, chain or peer does not exist (`not_found`).
    NotFound,
    /// Something with that name exists already (`already_exists`).
    AlreadyExists,
    /// The cluster is not in a state that allows the call, e.g. not running
    /// (`failed_precondition`).
    FailedPrecondition,
    /// The server cannot serve now, e.g. it is shutting down (`unavailable`).
    Unavailable,
    /// The backend does not implement the call (`unimplemented`).
    Unimplemented,
    /// The backend failed (`internal`).
    Internal,
    /// The client cancelled the request (`cancelled`).
    Cancelled,
    /// The work did not finish in time (`deadline_exceeded`).
    DeadlineExceeded,
    /// A limit was hit, e.g. a response larger than a frame (`resource_exhausted`).
    ResourceExhausted,
    /// The request body did not decode (`malformed_request`; Go says `unexpected EOF`).
    MalformedRequest,
    /// The opcode is not one the server knows (Go's `zapwire: unknown opcode 0x..`).
    UnknownOpcode,
    /// The sub-opcode is not one the server knows (Go's `zapwire: unknown SubOp 0x.. for
    /// OpStart`): a Go server answers this to every extension of this crate.
    UnknownSubOpcode,
    /// Text with no recognised code.
    Unknown,
}

impl ErrorCode {
    const TOKENS: [(ErrorCode, &'static str); 13] = [
        (ErrorCode::InvalidArgument, "invalid_argument"),
        (ErrorCode::NotFound, "not_found"),
        (ErrorCode::AlreadyExists, "already_exists"),
        (ErrorCode::FailedPrecondition, "failed_precondition"),
        (ErrorCode::Unavailable, "unavailable"),
        (ErrorCode::Unimplemented, "unimplemented"),
        (ErrorCode::Internal, "internal"),
        (ErrorCode::Cancelled, "cancelled"),
        (ErrorCode::DeadlineExceeded, "deadline_exceeded"),
        (ErrorCode::ResourceExhausted, "resource_exhausted"),
        (ErrorCode::MalformedRequest, "malformed_request"),
        (ErrorCode::UnknownOpcode, "unknown_opcode"),
        (ErrorCode::UnknownSubOpcode, "unknown_sub_opcode"),
    ];

    /// The token written before the message (`not_found`, ...).
    pub fn as_str(self) -> &'static str {
        Self::TOKENS
            .iter()
            .find(|(c, _)| *c == self)
            .map_or("unknown", |(_, t)| t)
    }

    fn from_token(token: &str) -> Option<ErrorCode> {
        Self::TOKENS
            .iter()
            .find(|(_, t)| *t == token)
            .map(|(c, _)| *c)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a [`Backend`](crate::Backend) returns and a client receives: a code and a
/// human-readable message.
///
/// ```
/// use netrunner_proto::{ErrorCode, RpcError};
///
/// let e = RpcError::not_found("node \"beta\" does not exist");
/// assert_eq!(e.to_wire_text(), "not_found: node \"beta\" does not exist");
/// let back = RpcError::from_wire_text(&e.to_wire_text());
/// assert_eq!(back, e);
/// // Go's own texts are recognised too.
/// let go = RpcError::from_wire_text("zapwire: unknown SubOp 0x05 for OpStart");
/// assert_eq!(go.code(), ErrorCode::UnknownSubOpcode);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcError {
    code: ErrorCode,
    message: String,
}

impl RpcError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// [`ErrorCode::InvalidArgument`].
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidArgument, message)
    }

    /// [`ErrorCode::NotFound`].
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// [`ErrorCode::AlreadyExists`].
    pub fn already_exists(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::AlreadyExists, message)
    }

    /// [`ErrorCode::FailedPrecondition`].
    pub fn failed_precondition(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::FailedPrecondition, message)
    }

    /// [`ErrorCode::Unimplemented`] for `method`.
    pub fn unimplemented(method: Method) -> Self {
        Self::new(
            ErrorCode::Unimplemented,
            format!("{method} is not implemented by this backend"),
        )
    }

    /// [`ErrorCode::Internal`].
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// The code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The message (without the code token).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The error frame's text: `code: message`, except for text that already names its
    /// kind the way Go writes it (`zapwire: unknown opcode 0x05`, `unexpected EOF`, ...),
    /// which goes out unchanged so Go tools see Go's words.
    pub fn to_wire_text(&self) -> String {
        if self.code == ErrorCode::Unknown || go_text_code(&self.message) == Some(self.code) {
            self.message.clone()
        } else {
            format!("{}: {}", self.code, self.message)
        }
    }

    /// Reads an error frame's text back, from this crate's servers or from Go's.
    pub fn from_wire_text(text: &str) -> Self {
        if let Some(code) = go_text_code(text) {
            return Self::new(code, text);
        }
        if let Some((token, rest)) = text.split_once(": ")
            && let Some(code) = ErrorCode::from_token(token)
        {
            return Self::new(code, rest);
        }
        Self::new(ErrorCode::Unknown, text)
    }
}

/// The code of an error text as Go's zapwire and transport write it.
fn go_text_code(text: &str) -> Option<ErrorCode> {
    if text.starts_with("zapwire: unknown opcode") {
        Some(ErrorCode::UnknownOpcode)
    } else if text.starts_with("zapwire: unknown SubOp") {
        Some(ErrorCode::UnknownSubOpcode)
    } else if text.starts_with("zapwire: missing sub-opcode") || text == "unexpected EOF" {
        Some(ErrorCode::MalformedRequest)
    } else if text.starts_with("handler panic") {
        Some(ErrorCode::Internal)
    } else {
        None
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_wire_text())
    }
}

impl std::error::Error for RpcError {}

/// What a client call or a server can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The Z-Wing handshake failed (timeout, refused, wrong identity, ...).
    #[error("Z-Wing: {0}")]
    Zwing(#[from] zap_zwing::Error),
    /// The transport failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The connection is gone (closed by either side, or failed earlier); calls that
    /// were waiting on it fail with this at once.
    #[error("connection closed: {reason}")]
    ConnectionClosed {
        /// Why, as far as this side knows.
        reason: String,
    },
    /// No answer within the call's timeout; the request was cancelled on the server.
    #[error("{method} got no answer within {after:?}")]
    Timeout {
        /// The call.
        method: Method,
        /// The timeout.
        after: Duration,
    },
    /// Opening the connection took longer than allowed.
    #[error("connecting to {addr} timed out after {after:?}")]
    ConnectTimeout {
        /// The address.
        addr: String,
        /// The timeout.
        after: Duration,
    },
    /// The server answered with an error frame.
    #[error("remote error: {0}")]
    Remote(RpcError),
    /// The request is larger than a frame may be; nothing was sent.
    #[error("the {method} request is {len} bytes, over the {max}-byte frame limit")]
    RequestTooLarge {
        /// The call.
        method: Method,
        /// The request payload size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The server announced a response larger than the limit; it was skipped unread.
    #[error("the {method} response is {len} bytes, over the {max}-byte frame limit")]
    ResponseTooLarge {
        /// The call.
        method: Method,
        /// The announced size.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The response body did not decode.
    #[error("cannot decode the {method} response: {source}")]
    Decode {
        /// The call.
        method: Method,
        /// What was wrong.
        source: DecodeError,
    },
    /// The response's type byte does not belong to the request's opcode.
    #[error("{method} was answered with frame type {got:#04x}, expected {expected:#04x}")]
    UnexpectedResponse {
        /// The call.
        method: Method,
        /// `opcode | 0x80`.
        expected: u8,
        /// What came.
        got: u8,
    },
    /// An argument the protocol cannot carry, refused before sending.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    /// The server's error, if this is one.
    pub fn remote(&self) -> Option<&RpcError> {
        match self {
            Error::Remote(e) => Some(e),
            _ => None,
        }
    }

    pub(crate) fn closed(reason: impl Into<String>) -> Self {
        Error::ConnectionClosed {
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_texts_round_trip_and_go_texts_are_classified() {
        for (code, _) in ErrorCode::TOKENS {
            let e = RpcError::new(code, "something: with a colon");
            assert_eq!(RpcError::from_wire_text(&e.to_wire_text()), e);
        }
        let cases = [
            ("zapwire: unknown opcode 0x05", ErrorCode::UnknownOpcode),
            (
                "zapwire: unknown SubOp 0x07 for OpStart",
                ErrorCode::UnknownSubOpcode,
            ),
            (
                "zapwire: missing sub-opcode byte",
                ErrorCode::MalformedRequest,
            ),
            ("unexpected EOF", ErrorCode::MalformedRequest),
            ("handler panic: boom", ErrorCode::Internal),
            ("node not found", ErrorCode::Unknown),
        ];
        for (text, code) in cases {
            let e = RpcError::from_wire_text(text);
            assert_eq!(e.code(), code, "{text}");
            assert_eq!(e.message(), text);
            assert_eq!(e.to_wire_text(), text, "Go texts go out unchanged");
        }
    }
}
