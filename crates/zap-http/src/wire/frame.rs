//! Constants, frame types and the options of the encoder and decoder.

use std::fmt;

use bytes::Bytes;

/// Bytes of the big-endian length prefix in front of every ZAP message on a connection.
pub const LENGTH_PREFIX: usize = 4;

/// The default largest ZAP message a connection accepts or sends: 64 MiB, as in Go.
///
/// The length prefix itself is not counted.
pub const DEFAULT_MAX_FRAME: usize = 64 << 20;

/// Bytes of the fixed section of the Request and Response structs: six 8-byte slots.
pub const STRUCT_SIZE: usize = 48;

/// Bytes of the fixed section of the Chunk struct (data and end frames): one slot.
pub const CHUNK_STRUCT_SIZE: usize = 8;

/// Bytes a request or response frame spends before its fields: the 16-byte ZAP header and
/// the 48-byte struct. The largest body a frame can carry is the frame limit minus this,
/// the method or reason, the target, the protocol and the header blocks.
pub const MESSAGE_OVERHEAD: usize = zap_wire::HEADER_SIZE + STRUCT_SIZE;

/// Slot offsets inside the Request struct.
pub(crate) mod request_slot {
    pub(crate) const METHOD: usize = 0;
    pub(crate) const TARGET: usize = 8;
    pub(crate) const PROTO: usize = 16;
    pub(crate) const HEADERS: usize = 24;
    pub(crate) const BODY: usize = 32;
    pub(crate) const TRAILER: usize = 40;
}

/// Slot offsets inside the Response struct (status is an inline `u16` at 0).
pub(crate) mod response_slot {
    pub(crate) const STATUS: usize = 0;
    pub(crate) const REASON: usize = 8;
    pub(crate) const PROTO: usize = 16;
    pub(crate) const HEADERS: usize = 24;
    pub(crate) const BODY: usize = 32;
    pub(crate) const TRAILER: usize = 40;
}

/// The five frame types, carried in the high byte of the ZAP message flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FrameType {
    /// A whole request, body inline (client to server).
    Request = 1,
    /// A whole response, body inline (server to client).
    Response = 2,
    /// The head of a streamed response: status and headers, no body (server to client).
    ResponseHead = 3,
    /// One chunk of a streamed response body.
    Data = 4,
    /// The end of a streamed response, with trailers or none.
    End = 5,
}

impl FrameType {
    /// The frame type for a wire number, if it is one of the five.
    pub const fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => Self::Request,
            2 => Self::Response,
            3 => Self::ResponseHead,
            4 => Self::Data,
            5 => Self::End,
            _ => return None,
        })
    }

    /// The ZAP message flags that announce this type: `type << 8`, low byte zero.
    pub const fn flags(self) -> u16 {
        (self as u16) << 8
    }

    /// A short lower-case name, for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Request => "request",
            Self::Response => "response",
            Self::ResponseHead => "response head",
            Self::Data => "data",
            Self::End => "end",
        }
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#04x})", self.name(), *self as u8)
    }
}

/// How header names are spelled on the wire.
///
/// `http` stores names in lower case. Go encoders send Title-Case (`Content-Type`), and
/// the golden frames need it to match byte for byte, so that is the default. Go decoders
/// accept either.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HeaderCase {
    /// Title-Case, as Go's `CanonicalMIMEHeaderKey`: `x-trace-id` becomes `X-Trace-Id`.
    #[default]
    Canonical,
    /// Lower case, as `http` stores them (slightly cheaper to write).
    Lower,
}

/// Options of the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// How header names are spelled. Default: [`HeaderCase::Canonical`].
    pub header_case: HeaderCase,
    /// The largest ZAP message to produce; bigger ones fail with
    /// [`WireError::FrameTooLarge`](super::WireError::FrameTooLarge) before anything is
    /// written. Default: [`DEFAULT_MAX_FRAME`].
    pub max_frame: usize,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            header_case: HeaderCase::Canonical,
            max_frame: DEFAULT_MAX_FRAME,
        }
    }
}

/// Limits the decoder enforces on what a peer sends, beyond the frame size itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeLimits {
    /// The most header fields a message may carry, headers and trailers together.
    /// Default: 256.
    pub max_headers: usize,
    /// The most bytes the header and trailer blocks of a message may take together.
    /// Default: 256 KiB.
    pub max_header_bytes: usize,
}

impl DecodeLimits {
    /// The default header-count limit.
    pub const DEFAULT_MAX_HEADERS: usize = 256;
    /// The default header-bytes limit.
    pub const DEFAULT_MAX_HEADER_BYTES: usize = 256 << 10;
}

impl Default for DecodeLimits {
    fn default() -> Self {
        Self {
            max_headers: Self::DEFAULT_MAX_HEADERS,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
        }
    }
}

/// The protocol text of a decoded message, kept as a request or response extension when
/// it is not the one its `http::Version` would encode to (`HTTP/1.1`, `HTTP/1.0`, ...).
///
/// The encoder sends it verbatim when present, so a message decoded and re-encoded keeps
/// its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct WireProto(pub Bytes);

/// The reason phrase of a decoded response, kept as a response extension when it differs
/// from the canonical one for its status. The encoder sends it verbatim when present.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReasonPhrase(pub Bytes);

/// The protocol text for a version: what Go peers expect to see.
pub(crate) fn proto_for(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/1.1",
    }
}

/// The version a protocol text stands for; anything unknown (including `ZAP-HTTP/1.0`
/// and empty) is HTTP/1.1, whose semantics ZAP-HTTP carries.
pub(crate) fn version_for(proto: &[u8]) -> http::Version {
    match proto {
        b"HTTP/1.0" => http::Version::HTTP_10,
        b"HTTP/0.9" => http::Version::HTTP_09,
        b"HTTP/2" | b"HTTP/2.0" => http::Version::HTTP_2,
        b"HTTP/3" | b"HTTP/3.0" => http::Version::HTTP_3,
        _ => http::Version::HTTP_11,
    }
}

/// The reason phrase Go sends for a status: the canonical text, or fasthttp's fallback.
pub(crate) fn reason_for(status: http::StatusCode) -> &'static str {
    status.canonical_reason().unwrap_or("Unknown Status Code")
}
