//! What can be wrong with a frame.

use super::frame::FrameType;

/// Why bytes are not a valid ZAP-HTTP frame, or why a message cannot be encoded.
///
/// Every decoder returns one of these for bad input and never panics. After a framing
/// error (the length prefix) the connection is out of sync and must be closed; after a
/// decoding error the frame boundary is still known, but the message is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// A length prefix of zero: no ZAP message is that short, and Go refuses it too.
    #[error("zero-length frame")]
    EmptyFrame,
    /// A frame longer than the configured maximum.
    #[error("frame of {len} bytes exceeds the {max}-byte limit")]
    FrameTooLarge {
        /// The declared (or computed) length of the ZAP message.
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The ZAP message itself is malformed (header, pointer or bounds).
    #[error("bad ZAP message: {0}")]
    Message(#[from] zap_wire::Error),
    /// One of the reserved compression, encryption or signing flag bits is set; nothing
    /// in ZAP-HTTP defines them, so the payload cannot be read as plain fields.
    #[error(
        "reserved flag bits {0:#06x} are set (compression, encryption and signing are not defined for ZAP-HTTP)"
    )]
    ReservedFlags(u16),
    /// A frame type outside 1..=5.
    #[error("unknown frame type {0:#04x}")]
    UnknownFrameType(u8),
    /// A valid frame of a type that is not allowed here (a request where a response is
    /// due, data before a response head, ...).
    #[error("expected {expected}, got a {found} frame")]
    UnexpectedFrame {
        /// What the reader was waiting for.
        expected: &'static str,
        /// What arrived.
        found: FrameType,
    },
    /// The message has no root struct.
    #[error("the message has no root struct")]
    NoRoot,
    /// A header block that ends in the middle of a field.
    #[error("truncated header block: {0}")]
    TruncatedHeaders(&'static str),
    /// More header fields than the limit allows.
    #[error("{count} header fields exceed the limit of {max}")]
    TooManyHeaders {
        /// How many fields the message declares (headers and trailers so far).
        count: u64,
        /// The configured limit.
        max: usize,
    },
    /// Header blocks bigger than the limit allows.
    #[error("header blocks of {size} bytes exceed the limit of {max}")]
    HeadersTooLarge {
        /// Bytes of the header blocks so far.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// A header name that is not an HTTP token (empty, spaces, CR, LF, NUL, ...).
    #[error("invalid header name {name:?}")]
    InvalidHeaderName {
        /// The name, lossily decoded and cut to 64 characters.
        name: String,
    },
    /// A header value with bytes HTTP forbids (CR, LF, NUL, other controls).
    #[error("invalid value for header {name}")]
    InvalidHeaderValue {
        /// The header name.
        name: String,
    },
    /// A method that is not an HTTP token.
    #[error("invalid method {method:?}")]
    InvalidMethod {
        /// The method, lossily decoded and cut to 64 characters.
        method: String,
    },
    /// A request target that is not a valid URI in any of the four request-target forms.
    #[error("invalid request target {target:?}")]
    InvalidTarget {
        /// The target, lossily decoded and cut to 64 characters.
        target: String,
    },
    /// A status outside `100..=999`.
    #[error("status {0} is outside 100..=999")]
    InvalidStatus(u16),
    /// A frame whose fields contradict its type (a response head that carries a body).
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
}

/// Cuts peer-supplied text to something safe to log.
pub(crate) fn clip(bytes: &[u8]) -> String {
    const MAX: usize = 64;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    if bytes.len() > MAX {
        format!("{text}…")
    } else {
        text.into_owned()
    }
}
