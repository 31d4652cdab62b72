//! What may travel on which QUIC stream, and the QUIC error codes (pure, fuzzed).
//!
//! Over QUIC a connection is a set of streams, each carrying frames of the TCP wire
//! (`u32 LE length ∥ payload`, see [`frame`](crate::frame)):
//!
//! | stream | opened by | carries |
//! |---|---|---|
//! | control: the first bidirectional stream | the dialer | both handshakes, then ping, pong and goaway frames only |
//! | call: every later bidirectional stream | the dialer | exactly one request or call frame, then FIN; back: exactly one response or error frame with the same id, then FIN |
//! | send: a unidirectional stream | the dialer | exactly one plain message or send frame, then FIN |
//!
//! A caller that gives up stops its call stream ([`code::CANCELLED`]), which cancels the
//! handler as a cancel frame does on TCP; cancel frames are never sent over QUIC.

use bytes::Bytes;

use crate::frame::Frame;

/// QUIC application error codes.
pub mod code {
    /// Stream code (RESET_STREAM, STOP_SENDING): the caller gave up on the call.
    pub const CANCELLED: u32 = 0x01;
    /// Stream code: the stream broke the rules (a malformed or misplaced frame, a request
    /// id already in flight, bytes after the frame).
    pub const PROTOCOL: u32 = 0x02;
    /// Stream code: the frame exceeds the receiver's limit; it was not read.
    pub const FRAME_TOO_LARGE: u32 = 0x03;
    /// Stream code: the server will not answer this call (the wire cannot carry its
    /// error, or the connection is closing). The caller fails at once.
    pub const NO_ANSWER: u32 = 0x04;

    /// Connection codes (CONNECTION_CLOSE).
    pub mod conn {
        /// Closed normally (finished, shut down, or the client closed it).
        pub const CLOSED: u32 = 0x00;
        /// The peer broke the protocol (a frame on the wrong stream, a bad handshake).
        pub const PROTOCOL: u32 = 0x01;
        /// Closed for another failure (keepalive timeout, stalled writes); the reason
        /// text says which.
        pub const ERROR: u32 = 0x02;
    }
}

/// Which stream a frame arrived on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// The first bidirectional stream.
    Control,
    /// A later bidirectional stream: one call.
    Call,
    /// A unidirectional stream: one send.
    Send,
}

/// A frame that may not travel where it arrived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// The payload is not a frame of the wire in use.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// A frame of a kind that does not belong on this stream.
    #[error("a {got} frame on a {stream:?} stream")]
    Misplaced {
        /// The stream.
        stream: StreamKind,
        /// The frame's kind.
        got: &'static str,
    },
    /// An answer whose request id is not the call's.
    #[error("answer for request {got} on the stream of request {expected}")]
    WrongId {
        /// The call's request id.
        expected: u32,
        /// The answer's.
        got: u32,
    },
}

impl StreamError {
    /// The stream error code that reports it.
    pub fn code(&self) -> u32 {
        code::PROTOCOL
    }
}

fn kind_name(f: &Frame) -> &'static str {
    match f {
        Frame::Plain { .. } => "plain",
        Frame::Request { .. } => "request",
        Frame::Response { .. } => "response",
        Frame::Call { .. } => "call",
        Frame::Error { .. } => "error",
        Frame::Cancel { .. } => "cancel",
        Frame::Ping { .. } => "ping",
        Frame::Pong { .. } => "pong",
        Frame::Send { .. } => "send",
        Frame::GoAway => "goaway",
        Frame::Unknown { .. } => "unknown",
        Frame::Unrecognized { .. } => "unrecognized",
    }
}

fn decode(payload: &Bytes, go_wire: bool) -> Result<Frame, StreamError> {
    if go_wire {
        Ok(Frame::decode_go(payload.clone()))
    } else {
        Frame::decode_rust(payload.clone()).map_err(|e| StreamError::Malformed(e.to_string()))
    }
}

/// Checks the one frame of a stream a client opened (`stream` is [`StreamKind::Call`]
/// or [`StreamKind::Send`]) and returns its request id (calls) or `None` (sends).
pub fn check_request(
    payload: &Bytes,
    go_wire: bool,
    stream: StreamKind,
) -> Result<Option<u32>, StreamError> {
    let frame = decode(payload, go_wire)?;
    match (stream, &frame) {
        (StreamKind::Call, Frame::Request { id, .. } | Frame::Call { id, .. }) => Ok(Some(*id)),
        (StreamKind::Send, Frame::Plain { .. } | Frame::Send { .. }) => Ok(None),
        (stream, f) => Err(StreamError::Misplaced {
            stream,
            got: kind_name(f),
        }),
    }
}

/// Checks the answer on the stream of request `id`.
pub fn check_answer(payload: &Bytes, go_wire: bool, id: u32) -> Result<Frame, StreamError> {
    let frame = decode(payload, go_wire)?;
    match &frame {
        Frame::Response { id: got, .. } | Frame::Error { id: got, .. } if *got == id => Ok(frame),
        Frame::Response { id: got, .. } | Frame::Error { id: got, .. } => {
            Err(StreamError::WrongId {
                expected: id,
                got: *got,
            })
        }
        f => Err(StreamError::Misplaced {
            stream: StreamKind::Call,
            got: kind_name(f),
        }),
    }
}

/// Checks a frame on the control stream after the handshake: ping, pong, goaway and
/// kinds this version does not know (skipped, so later versions can add some) on the
/// Rust wire; nothing at all on the Go wire.
pub fn check_control(payload: &Bytes, go_wire: bool) -> Result<(), StreamError> {
    let frame = decode(payload, go_wire)?;
    match frame {
        Frame::Ping { .. } | Frame::Pong { .. } | Frame::GoAway | Frame::Unknown { .. }
            if !go_wire =>
        {
            Ok(())
        }
        f => Err(StreamError::Misplaced {
            stream: StreamKind::Control,
            got: kind_name(&f),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Frame;

    fn payload(f: &Frame) -> Bytes {
        Bytes::copy_from_slice(&f.encode()[4..])
    }

    fn msg() -> Bytes {
        Bytes::from_static(b"ZAP\0\x01\x00\x00\x00\x10\x00\x00\x00\x10\x00\x00\x00")
    }

    #[test]
    fn each_stream_takes_only_its_frames() {
        let call = payload(&Frame::Call {
            id: 7,
            procedure: 1,
            timeout_ms: 0,
            message: msg(),
        });
        assert_eq!(check_request(&call, false, StreamKind::Call), Ok(Some(7)));
        assert!(check_request(&call, false, StreamKind::Send).is_err());
        let send = payload(&Frame::Send {
            procedure: 1,
            message: msg(),
        });
        assert_eq!(check_request(&send, false, StreamKind::Send), Ok(None));
        let plain = payload(&Frame::Plain { message: msg() });
        assert_eq!(check_request(&plain, true, StreamKind::Send), Ok(None));
        let request = payload(&Frame::Request {
            id: 3,
            message: msg(),
        });
        assert_eq!(check_request(&request, true, StreamKind::Call), Ok(Some(3)));
        let ping = payload(&Frame::Ping { nonce: 1 });
        assert!(check_request(&ping, false, StreamKind::Call).is_err());
        assert_eq!(check_control(&ping, false), Ok(()));
        assert!(check_control(&ping, true).is_err());
        assert!(check_control(&call, false).is_err());
    }

    #[test]
    fn answers_must_carry_the_calls_id() {
        let ok = payload(&Frame::Response {
            id: 9,
            message: msg(),
        });
        assert!(check_answer(&ok, false, 9).is_ok());
        assert!(check_answer(&ok, true, 9).is_ok());
        assert_eq!(
            check_answer(&ok, false, 8),
            Err(StreamError::WrongId {
                expected: 8,
                got: 9
            })
        );
        let short = Bytes::from_static(&[1, 0, 0]);
        assert!(check_answer(&short, false, 1).is_err());
        assert!(check_request(&short, false, StreamKind::Call).is_err());
    }
}
