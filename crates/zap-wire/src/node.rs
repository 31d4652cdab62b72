//! Node framing (luxfi/zap `node.go`): length-prefixed frames, the call prefix and the
//! node-id handshake. Pure functions over bytes; the tokio codec is in `codec`.
//!
//! A frame is `u32 LE length ∥ payload`. A payload is one of:
//!
//! | kind | payload |
//! |---|---|
//! | plain | a ZAP message |
//! | call request | `u32 LE request id ∥ u32 LE 1 ∥ ZAP message` |
//! | call response | `u32 LE request id ∥ u32 LE 2 ∥ ZAP message` |
//!
//! Go tells them apart by bytes 4..8 alone, so a plain version-1 message with flags 0
//! (bytes 4..8 = `01 00 00 00`) is taken for a call and dropped. [`classify`] looks for
//! a valid message where each kind would put it instead.

use crate::error::{Error, Result};
use crate::header::{HEADER_SIZE, Header, Version};
use crate::message::Message;

/// Bytes of the frame length prefix.
pub const LENGTH_PREFIX: usize = 4;
/// Bytes of the call prefix (request id, flag) before a call's message.
pub const CALL_PREFIX: usize = 8;
/// The largest frame payload Go nodes accept: 10 MiB.
pub const DEFAULT_MAX_FRAME: usize = 10 * 1024 * 1024;
/// The call-prefix flag of a request.
pub const FLAG_REQUEST: u32 = 1;
/// The call-prefix flag of a response.
pub const FLAG_RESPONSE: u32 = 2;

/// Bytes of a node id the handshake can carry.
pub const NODE_ID_MAX: usize = 60;
/// Bytes of the handshake message: the header and a 64-byte root object.
pub const HANDSHAKE_SIZE: usize = HEADER_SIZE + 64;

/// What a node frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A message with no correlation (Go's `Send`, broadcasts, the handshake).
    Plain,
    /// A call: the peer waits for a response with the same request id.
    Request,
    /// The answer to a call.
    Response,
    /// Neither: no valid message where any kind would put one. The payload is kept so
    /// the caller can log or answer it; the stream itself is still in sync.
    Unrecognized,
}

impl FrameKind {
    /// The call-prefix flag for calls, `None` for other kinds.
    pub fn call_flag(self) -> Option<u32> {
        match self {
            FrameKind::Request => Some(FLAG_REQUEST),
            FrameKind::Response => Some(FLAG_RESPONSE),
            FrameKind::Plain | FrameKind::Unrecognized => None,
        }
    }

    /// A short lowercase name: `plain`, `request`, `response`, `unrecognized`.
    pub fn as_str(self) -> &'static str {
        match self {
            FrameKind::Plain => "plain",
            FrameKind::Request => "request",
            FrameKind::Response => "response",
            FrameKind::Unrecognized => "unrecognized",
        }
    }
}

/// How a frame payload was classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    /// The kind.
    pub kind: FrameKind,
    /// The request id of a call, 0 otherwise.
    pub request_id: u32,
    /// Where the message starts in the payload (0 or 8).
    pub message_start: usize,
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Classifies a frame payload.
///
/// A call is recognised when bytes 4..8 hold 1 or 2 **and** a valid message starts at
/// byte 8; a plain message when a valid message starts at byte 0. Only a payload where
/// both hold (a call whose request id spells `ZAP\0` and whose inner header also reads
/// as a valid plain header, which no real writer produces) is ambiguous; it is taken as
/// a call, as Go would. A call prefix followed by an invalid message is still reported
/// as a call so that the receiver can answer the request id with an error.
pub fn classify(payload: &[u8]) -> Classified {
    let flag = u32_at(payload, 4);
    let call_kind = match flag {
        Some(FLAG_REQUEST) => Some(FrameKind::Request),
        Some(FLAG_RESPONSE) => Some(FrameKind::Response),
        _ => None,
    };
    let request_id = u32_at(payload, 0).unwrap_or(0);
    let call = |kind| Classified {
        kind,
        request_id,
        message_start: CALL_PREFIX,
    };
    if let Some(kind) = call_kind
        && payload.len() >= CALL_PREFIX
        && Header::parse(&payload[CALL_PREFIX..]).is_ok()
    {
        return call(kind);
    }
    if Header::parse(payload).is_ok() {
        return Classified {
            kind: FrameKind::Plain,
            request_id: 0,
            message_start: 0,
        };
    }
    match call_kind {
        Some(kind) if payload.len() >= CALL_PREFIX => call(kind),
        _ => Classified {
            kind: FrameKind::Unrecognized,
            request_id: 0,
            message_start: 0,
        },
    }
}

/// The frame header for a message of `message_len` bytes: the length prefix and, for
/// calls, the call prefix. Returns the header bytes and how many of them to send.
pub fn frame_header(
    kind: FrameKind,
    request_id: u32,
    message_len: usize,
) -> Result<([u8; 12], usize)> {
    let prefix = match kind.call_flag() {
        Some(_) => CALL_PREFIX,
        None => 0,
    };
    let payload_len = message_len
        .checked_add(prefix)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or(Error::FrameTooLarge {
            len: message_len as u64 + prefix as u64,
            max: u32::MAX as usize,
        })?;
    let mut head = [0u8; 12];
    head[0..4].copy_from_slice(&payload_len.to_le_bytes());
    if let Some(flag) = kind.call_flag() {
        head[4..8].copy_from_slice(&request_id.to_le_bytes());
        head[8..12].copy_from_slice(&flag.to_le_bytes());
    }
    Ok((head, LENGTH_PREFIX + prefix))
}

/// The node-id handshake each side sends first (dialer first).
///
/// An 80-byte message: the header (version 1, flags 0, root 16) and a 64-byte root
/// object holding the id bytes at 0..60 (zero padded) and the id length as `u32` at 60.
/// Rust peers may send extension bytes after the message inside the same frame; Go
/// peers never read past the message's size, so they do not see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake<'a> {
    /// The node id the peer claims (a hint only: it is not authenticated).
    pub node_id: &'a [u8],
    /// Frame bytes after the handshake message (empty from Go peers).
    pub extension: &'a [u8],
}

impl<'a> Handshake<'a> {
    /// Encodes the handshake message for `node_id` (1..=60 bytes).
    ///
    /// Go stores the full length of a longer id next to its first 60 bytes, which every
    /// reader then rejects; we refuse such ids up front instead.
    pub fn encode(node_id: &[u8], version: Version) -> Result<[u8; HANDSHAKE_SIZE]> {
        if node_id.is_empty() || node_id.len() > NODE_ID_MAX {
            return Err(Error::BadHandshake {
                len: node_id.len() as u64,
            });
        }
        let mut out = [0u8; HANDSHAKE_SIZE];
        let header = Header {
            version,
            flags: 0,
            root: HEADER_SIZE as u32,
            size: HANDSHAKE_SIZE as u32,
        };
        let mut head = [0u8; HEADER_SIZE];
        header.write(&mut head);
        out[..HEADER_SIZE].copy_from_slice(&head);
        out[HEADER_SIZE..HEADER_SIZE + node_id.len()].copy_from_slice(node_id);
        out[HEADER_SIZE + NODE_ID_MAX..].copy_from_slice(&(node_id.len() as u32).to_le_bytes());
        Ok(out)
    }

    /// Decodes a handshake from a plain frame's payload.
    pub fn decode(payload: &'a [u8]) -> Result<Self> {
        let msg = Message::parse(payload)?;
        let root = msg
            .root()
            .ok_or(Error::MalformedFrame("handshake has no root object"))?;
        let len = root.u32(NODE_ID_MAX)?;
        if len == 0 || len as usize > NODE_ID_MAX {
            return Err(Error::BadHandshake {
                len: u64::from(len),
            });
        }
        let node_id = root.raw(0, len as usize)?;
        Ok(Self {
            node_id,
            extension: &payload[msg.size()..],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_v1_message_with_zero_flags_is_plain() {
        // Bytes 4..8 of this message read as 1, which Go takes for a call request.
        let msg = Handshake::encode(b"node-a", Version::V1).unwrap();
        assert_eq!(u32_at(&msg, 4), Some(FLAG_REQUEST));
        assert_eq!(classify(&msg).kind, FrameKind::Plain);
    }

    #[test]
    fn plain_v2_message_with_zero_flags_is_plain() {
        let msg = Handshake::encode(b"node-a", Version::V2).unwrap();
        assert_eq!(u32_at(&msg, 4), Some(FLAG_RESPONSE));
        assert_eq!(classify(&msg).kind, FrameKind::Plain);
    }

    #[test]
    fn call_prefix_with_broken_message_is_still_a_call() {
        let payload = [7, 0, 0, 0, 1, 0, 0, 0, 0xff, 0xff];
        let c = classify(&payload);
        assert_eq!(c.kind, FrameKind::Request);
        assert_eq!(c.request_id, 7);
    }

    #[test]
    fn garbage_is_unrecognized() {
        assert_eq!(classify(&[]).kind, FrameKind::Unrecognized);
        assert_eq!(classify(&[1, 2, 3]).kind, FrameKind::Unrecognized);
        assert_eq!(classify(&[0; 40]).kind, FrameKind::Unrecognized);
    }

    #[test]
    fn handshake_ids_are_bounded() {
        assert!(Handshake::encode(b"", Version::V1).is_err());
        assert!(Handshake::encode(&[b'x'; 61], Version::V1).is_err());
        let max = Handshake::encode(&[b'x'; 60], Version::V1).unwrap();
        assert_eq!(Handshake::decode(&max).unwrap().node_id, &[b'x'; 60][..]);
    }

    #[test]
    fn handshake_keeps_extension_bytes() {
        let mut frame = Handshake::encode(b"rust-1", Version::V1).unwrap().to_vec();
        frame.extend_from_slice(b"EXT");
        let hs = Handshake::decode(&frame).unwrap();
        assert_eq!(hs.node_id, b"rust-1");
        assert_eq!(hs.extension, b"EXT");
    }

    #[test]
    fn handshake_with_bad_length_is_refused() {
        let mut msg = Handshake::encode(b"abc", Version::V1).unwrap();
        msg[76..80].copy_from_slice(&61u32.to_le_bytes());
        assert_eq!(
            Handshake::decode(&msg),
            Err(Error::BadHandshake { len: 61 })
        );
        msg[76..80].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(Handshake::decode(&msg), Err(Error::BadHandshake { len: 0 }));
    }
}
