//! The ZAP-HTTP "Gen C" wire: frame types, the 48-byte Request and Response structs, the
//! 8-byte Chunk struct, and the header block, as zap-proto/http v0.3.2 and later speak them.
//!
//! Each frame on a connection is `u32 big-endian length ∥ ZAP message` (see
//! [`codec`](crate::codec)); this module turns a ZAP message into `http` types and back,
//! with no I/O. Encoding produces the same bytes as the Go encoder (Title-Case header
//! names by default); decoding is stricter than Go where Go's leniency is unsafe (see
//! `docs/wire.md`): slots that point outside the message, invalid header names and
//! values, statuses outside `100..=999` and the reserved compression, encryption and
//! signing flags are errors, never silent nulls.
//!
//! ```
//! use bytes::Bytes;
//! use zap_http::wire::{self, DecodeLimits, EncodeOptions};
//!
//! let req = http::Request::post("/echo")
//!     .header("content-type", "text/plain")
//!     .body(Bytes::from_static(b"hello"))?;
//! let (parts, body) = req.into_parts();
//! let frame = wire::encode_request(&parts, body, None, &EncodeOptions::default())?;
//!
//! // `frame` is ready for a socket: the 4-byte prefix, then the ZAP message.
//! let decoded = wire::decode_request(frame.message(), &DecodeLimits::default())?;
//! assert_eq!(decoded.request.uri(), "/echo");
//! assert_eq!(decoded.request.headers()["content-type"], "text/plain");
//! assert_eq!(decoded.request.body(), "hello");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod decode;
mod encode;
mod error;
mod frame;
mod headers;

pub use decode::{
    Chunk, DecodedRequest, DecodedResponse, Frame, Reply, decode, decode_chunk, decode_reply,
    decode_request, decode_response, frame_type,
};
pub use encode::{
    EncodedFrame, encode_data, encode_end, encode_request, encode_response, encode_response_head,
};
pub(crate) use encode::{encode_request_in, encode_response_in};
pub use error::WireError;
pub use frame::{
    CHUNK_STRUCT_SIZE, DEFAULT_MAX_FRAME, DecodeLimits, EncodeOptions, FrameType, HeaderCase,
    LENGTH_PREFIX, MESSAGE_OVERHEAD, ReasonPhrase, STRUCT_SIZE, WireProto,
};
pub use headers::{is_frame_owned, is_hop_by_hop};
