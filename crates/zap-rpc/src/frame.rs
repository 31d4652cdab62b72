//! Frames on a connection: Go's node frames, and the prefixed frames Rust peers add.
//!
//! Every frame is `u32 LE length ∥ payload` (zap-wire's node framing). What the payload
//! holds depends on what the handshake negotiated:
//!
//! * **Go wire** (a Go peer, or extensions off): a plain message, or a call
//!   `u32 LE request id ∥ u32 LE 1|2 ∥ message`, classified as zap-wire's
//!   [`classify`](zap_wire::node::classify) does ([`Frame::decode_go`]).
//! * **Rust wire** (both sides sent an extension block): a payload that starts with
//!   `ZAP\0` is a plain message; every other payload is `u32 LE id ∥ u32 LE kind ∥ body`
//!   ([`Frame::decode_rust`]). Kinds 1 and 2 are Go's request and response, so the Rust
//!   wire is a superset of the Go one. Request ids never take the value whose bytes spell
//!   `ZAP\0` ([`RESERVED_ID`]), so the two cases cannot be confused.
//!
//! | kind | name | id holds | body |
//! |---|---|---|---|
//! | 1 | request | request id | message (procedure = `flags >> 8`) |
//! | 2 | response | request id | message |
//! | 3 | call | request id | `u32 LE procedure hash ∥ u32 LE timeout ms (0 = none) ∥ message` |
//! | 4 | error | request id | `u16 LE code ∥ UTF-8 text` |
//! | 5 | cancel | request id | empty |
//! | 6 | ping | nonce | empty |
//! | 7 | pong | the ping's nonce | empty |
//! | 8 | send | 0 | `u32 LE procedure hash ∥ message` |
//! | 9 | goaway | 0 | empty |
//!
//! Receivers ignore bytes after the fields they know in kinds 5, 6, 7 and 9, and frames of
//! kinds they do not know, so later versions can extend both.

use bytes::{BufMut, Bytes, BytesMut};
use zap_wire::MAGIC;
use zap_wire::node::{self, FrameKind, LENGTH_PREFIX};

use crate::status::ErrorCode;

/// Frame kinds (the second `u32` of a prefixed payload).
pub mod kind {
    /// A call routed by the message type in the message's flags (Go's request).
    pub const REQUEST: u32 = 1;
    /// The answer to a request or call.
    pub const RESPONSE: u32 = 2;
    /// A call by wide (32-bit) procedure id, with a relative timeout.
    pub const CALL: u32 = 3;
    /// A failed call's answer: error code and text.
    pub const ERROR: u32 = 4;
    /// The caller gave up on a request or call.
    pub const CANCEL: u32 = 5;
    /// Keepalive probe.
    pub const PING: u32 = 6;
    /// Keepalive answer.
    pub const PONG: u32 = 7;
    /// Fire-and-forget message to a wide procedure id.
    pub const SEND: u32 = 8;
    /// The sender takes no new calls on this connection; calls in flight finish.
    pub const GOAWAY: u32 = 9;
}

/// The request id that is never allocated: its little-endian bytes spell `ZAP\0`.
pub const RESERVED_ID: u32 = u32::from_le_bytes(MAGIC);

/// The longest frame head: length, id, kind, procedure, timeout.
pub const MAX_HEAD: usize = 20;

/// A decoded frame. Messages are not validated here; the receiver does that so that it can
/// answer a bad one with an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A message with no correlation: Go's `Send`, routed by `flags >> 8`.
    Plain {
        /// The message (and, from Go peers, any bytes after it in the frame).
        message: Bytes,
    },
    /// A call routed by the message type in the message's flags.
    Request {
        /// The request id.
        id: u32,
        /// The request message.
        message: Bytes,
    },
    /// The answer to a request or call.
    Response {
        /// The request id.
        id: u32,
        /// The response message.
        message: Bytes,
    },
    /// A call by wide procedure id (Rust wire).
    Call {
        /// The request id.
        id: u32,
        /// The procedure's 32-bit FNV-1a hash.
        procedure: u32,
        /// Milliseconds the caller will wait, counted from receipt; 0 = no deadline.
        timeout_ms: u32,
        /// The request message, unchanged.
        message: Bytes,
    },
    /// A failed call's answer (Rust wire).
    Error {
        /// The request id.
        id: u32,
        /// Why.
        code: ErrorCode,
        /// Explanation, UTF-8 (read lossily).
        text: Bytes,
    },
    /// The caller gave up on request `id` (Rust wire).
    Cancel {
        /// The request id.
        id: u32,
    },
    /// Keepalive probe (Rust wire).
    Ping {
        /// Echoed in the pong.
        nonce: u32,
    },
    /// Keepalive answer (Rust wire).
    Pong {
        /// The ping's nonce.
        nonce: u32,
    },
    /// A fire-and-forget message to a wide procedure id (Rust wire).
    Send {
        /// The procedure's 32-bit FNV-1a hash.
        procedure: u32,
        /// The message, unchanged.
        message: Bytes,
    },
    /// The peer takes no new calls on this connection (Rust wire).
    GoAway,
    /// A prefixed payload of a kind this version does not know (Rust wire); skipped.
    Unknown {
        /// The id field.
        id: u32,
        /// The kind field.
        kind: u32,
    },
    /// A Go-wire payload that is neither a message nor a call; skipped.
    Unrecognized {
        /// The payload.
        payload: Bytes,
    },
}

/// A Rust-wire payload too short for its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("frame of kind {kind} needs {needed} bytes, got {got}")]
pub struct FrameError {
    /// The kind field (0 when the payload is too short to hold one).
    pub kind: u32,
    /// Bytes the kind needs.
    pub needed: usize,
    /// Bytes present.
    pub got: usize,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

impl Frame {
    /// Classifies a Go-wire payload. Never fails: what is neither a message nor a call is
    /// [`Frame::Unrecognized`].
    pub fn decode_go(payload: Bytes) -> Frame {
        let c = node::classify(&payload);
        let message = payload.slice(c.message_start..);
        match c.kind {
            FrameKind::Plain => Frame::Plain { message },
            FrameKind::Request => Frame::Request {
                id: c.request_id,
                message,
            },
            FrameKind::Response => Frame::Response {
                id: c.request_id,
                message,
            },
            FrameKind::Unrecognized => Frame::Unrecognized { payload },
        }
    }

    /// Decodes a Rust-wire payload.
    pub fn decode_rust(payload: Bytes) -> Result<Frame, FrameError> {
        if payload.starts_with(&MAGIC) {
            return Ok(Frame::Plain { message: payload });
        }
        let need = |kind, needed: usize| {
            if payload.len() < needed {
                Err(FrameError {
                    kind,
                    needed,
                    got: payload.len(),
                })
            } else {
                Ok(())
            }
        };
        need(0, 8)?;
        let id = u32_at(&payload, 0);
        let k = u32_at(&payload, 4);
        Ok(match k {
            kind::REQUEST => Frame::Request {
                id,
                message: payload.slice(8..),
            },
            kind::RESPONSE => Frame::Response {
                id,
                message: payload.slice(8..),
            },
            kind::CALL => {
                need(k, 16)?;
                Frame::Call {
                    id,
                    procedure: u32_at(&payload, 8),
                    timeout_ms: u32_at(&payload, 12),
                    message: payload.slice(16..),
                }
            }
            kind::ERROR => {
                need(k, 10)?;
                Frame::Error {
                    id,
                    code: ErrorCode::from_u16(u16::from_le_bytes([payload[8], payload[9]])),
                    text: payload.slice(10..),
                }
            }
            kind::CANCEL => Frame::Cancel { id },
            kind::PING => Frame::Ping { nonce: id },
            kind::PONG => Frame::Pong { nonce: id },
            kind::SEND => {
                need(k, 12)?;
                Frame::Send {
                    procedure: u32_at(&payload, 8),
                    message: payload.slice(12..),
                }
            }
            kind::GOAWAY => Frame::GoAway,
            other => Frame::Unknown { id, kind: other },
        })
    }

    /// The head (length prefix and prefix fields) and the body to send after it.
    ///
    /// [`Frame::Unknown`] and [`Frame::Unrecognized`] are sent as their raw payloads, for
    /// tests that need to produce such frames.
    pub fn split(&self) -> (FrameHead, Bytes) {
        let mut h = FrameHead::new();
        let body = match self {
            Frame::Plain { message } => message.clone(),
            Frame::Request { id, message } => {
                h.put(*id).put(kind::REQUEST);
                message.clone()
            }
            Frame::Response { id, message } => {
                h.put(*id).put(kind::RESPONSE);
                message.clone()
            }
            Frame::Call {
                id,
                procedure,
                timeout_ms,
                message,
            } => {
                h.put(*id).put(kind::CALL).put(*procedure).put(*timeout_ms);
                message.clone()
            }
            Frame::Error { id, code, text } => {
                h.put(*id).put(kind::ERROR).put_u16(code.as_u16());
                text.clone()
            }
            Frame::Cancel { id } => {
                h.put(*id).put(kind::CANCEL);
                Bytes::new()
            }
            Frame::Ping { nonce } => {
                h.put(*nonce).put(kind::PING);
                Bytes::new()
            }
            Frame::Pong { nonce } => {
                h.put(*nonce).put(kind::PONG);
                Bytes::new()
            }
            Frame::Send { procedure, message } => {
                h.put(0).put(kind::SEND).put(*procedure);
                message.clone()
            }
            Frame::GoAway => {
                h.put(0).put(kind::GOAWAY);
                Bytes::new()
            }
            Frame::Unknown { id, kind } => {
                h.put(*id).put(*kind);
                Bytes::new()
            }
            Frame::Unrecognized { payload } => payload.clone(),
        };
        h.finish(body.len());
        (h, body)
    }

    /// The whole frame, length prefix included, in one buffer.
    pub fn encode(&self) -> BytesMut {
        let (head, body) = self.split();
        let mut out = BytesMut::with_capacity(head.len() + body.len());
        out.put_slice(head.as_bytes());
        out.put_slice(&body);
        out
    }
}

/// The bytes of a frame before its body: the `u32 LE` length prefix and up to four prefix
/// fields, kept inline so that queuing a frame allocates nothing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    bytes: [u8; MAX_HEAD],
    len: u8,
}

impl std::fmt::Debug for FrameHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FrameHead({:02x?})", self.as_bytes())
    }
}

impl FrameHead {
    fn new() -> Self {
        Self {
            bytes: [0; MAX_HEAD],
            len: LENGTH_PREFIX as u8,
        }
    }

    fn put(&mut self, v: u32) -> &mut Self {
        let at = self.len as usize;
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
        self.len += 4;
        self
    }

    fn put_u16(&mut self, v: u16) -> &mut Self {
        let at = self.len as usize;
        self.bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
        self.len += 2;
        self
    }

    /// Writes the length prefix for a body of `body_len` bytes (saturating: the sender
    /// checks sizes against the peer's limit before it gets here).
    fn finish(&mut self, body_len: usize) {
        let payload = (self.len as usize - LENGTH_PREFIX).saturating_add(body_len);
        let payload = u32::try_from(payload).unwrap_or(u32::MAX);
        self.bytes[..4].copy_from_slice(&payload.to_le_bytes());
    }

    /// The head's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// How many bytes the head has.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Always false: a head holds at least the length prefix.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The payload length this head announces.
    pub fn payload_len(&self) -> usize {
        u32_at(&self.bytes, 0) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg() -> Bytes {
        Bytes::from_static(b"ZAP\0\x01\x00\x00\x42\x10\x00\x00\x00\x18\x00\x00\x00\x07\x00\x00\x00\x00\x00\x00\x00")
    }

    #[test]
    fn every_kind_round_trips_on_the_rust_wire() {
        let frames = [
            Frame::Plain { message: msg() },
            Frame::Request {
                id: 1,
                message: msg(),
            },
            Frame::Response {
                id: 2,
                message: msg(),
            },
            Frame::Call {
                id: 3,
                procedure: 0xdead_beef,
                timeout_ms: 1500,
                message: msg(),
            },
            Frame::Error {
                id: 4,
                code: ErrorCode::Overloaded,
                text: Bytes::from_static(b"busy"),
            },
            Frame::Cancel { id: 5 },
            Frame::Ping { nonce: 6 },
            Frame::Pong { nonce: 6 },
            Frame::Send {
                procedure: 7,
                message: msg(),
            },
            Frame::GoAway,
            Frame::Unknown { id: 9, kind: 77 },
        ];
        for f in frames {
            let wire = f.encode();
            let len = u32::from_le_bytes([wire[0], wire[1], wire[2], wire[3]]) as usize;
            assert_eq!(len + 4, wire.len());
            let back = Frame::decode_rust(Bytes::copy_from_slice(&wire[4..])).unwrap();
            assert_eq!(back, f);
        }
    }

    #[test]
    fn go_frames_encode_as_node_go_does() {
        // The captured Go call request: len 32, id 1, flag 1, message.
        let wire = Frame::Request {
            id: 1,
            message: msg(),
        }
        .encode();
        assert_eq!(&wire[..12], &[32, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0]);
        let plain = Frame::Plain { message: msg() }.encode();
        assert_eq!(&plain[..4], &[24, 0, 0, 0]);
        assert_eq!(
            Frame::decode_go(Bytes::copy_from_slice(&wire[4..])),
            Frame::Request {
                id: 1,
                message: msg()
            }
        );
    }

    #[test]
    fn short_payloads_are_errors_not_panics() {
        for len in 0..16 {
            let p = Bytes::from(vec![0u8; len]);
            let _ = Frame::decode_rust(p.clone());
            let _ = Frame::decode_go(p);
        }
        let mut call = vec![1, 0, 0, 0];
        call.extend_from_slice(&kind::CALL.to_le_bytes());
        assert_eq!(
            Frame::decode_rust(Bytes::from(call)),
            Err(FrameError {
                kind: 3,
                needed: 16,
                got: 8
            })
        );
    }

    #[test]
    fn reserved_id_spells_the_magic() {
        assert_eq!(RESERVED_ID.to_le_bytes(), *b"ZAP\0");
    }
}
