//! Frames on the connection: zap-wire's typed frames, read so that a frame over the
//! limit is skipped rather than fatal.
//!
//! Go's transport stops reading an oversize frame's header and carries on at the next
//! byte, which is the middle of the refused payload: the connection is out of step from
//! then on. [`FrameDecoder`] instead keeps the request id (the payload's first four
//! bytes), discards the rest as it arrives without buffering it, and reports the frame
//! as [`Inbound::Oversize`], so the receiver can answer that one request with an error
//! and keep serving the connection.

use bytes::{Buf, BytesMut};
use tokio_util::codec::{Decoder, Encoder};
use zap_wire::codec::{CodecError, TypedCodec, TypedFrame, TypedFrameRef};
use zap_wire::typed::{MAX_TYPED_PAYLOAD, MsgType, TYPED_HEADER_SIZE};

/// The largest payload (request id included) either side sends or accepts by default:
/// luxfi/api's 16 MiB.
pub const DEFAULT_MAX_PAYLOAD: usize = MAX_TYPED_PAYLOAD;

/// A frame read from the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A frame within the limit.
    Frame(TypedFrame),
    /// A frame over the limit, skipped.
    Oversize {
        /// Its type byte.
        ty: MsgType,
        /// Its request id (every oversize payload is long enough to carry one).
        request_id: u32,
        /// The payload length it announced.
        len: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Skip {
    ty: MsgType,
    len: u64,
    left: u64,
    id: [u8; 4],
    id_got: usize,
}

/// Splits typed frames off the byte stream, skipping those over the limit.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    inner: TypedCodec,
    max_payload: usize,
    skip: Option<Skip>,
}

impl FrameDecoder {
    /// A decoder accepting payloads up to `max_payload` bytes (at least 4: room for a
    /// request id).
    pub fn new(max_payload: usize) -> Self {
        let max_payload = max_payload.max(4);
        Self {
            inner: TypedCodec::with_max_payload(max_payload),
            max_payload,
            skip: None,
        }
    }
}

impl Decoder for FrameDecoder {
    type Item = Inbound;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        loop {
            if let Some(skip) = &mut self.skip {
                while skip.id_got < 4 && skip.left > 0 && !src.is_empty() {
                    skip.id[skip.id_got] = src[0];
                    skip.id_got += 1;
                    skip.left -= 1;
                    src.advance(1);
                }
                let n = src
                    .len()
                    .min(usize::try_from(skip.left).unwrap_or(usize::MAX));
                src.advance(n);
                skip.left -= n as u64;
                if skip.left > 0 {
                    // Nothing is kept: the buffer shrinks back as the skipped bytes go.
                    return Ok(None);
                }
                let done = *skip;
                self.skip = None;
                return Ok(Some(Inbound::Oversize {
                    ty: done.ty,
                    request_id: u32::from_be_bytes(done.id),
                    len: done.len,
                }));
            }
            let Some(head) = src.first_chunk::<TYPED_HEADER_SIZE>() else {
                return Ok(None);
            };
            let len = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
            if len > self.max_payload as u64 {
                // Any payload over the limit is longer than 4 bytes, so it has an id.
                self.skip = Some(Skip {
                    ty: MsgType(head[4]),
                    len,
                    left: len,
                    id: [0; 4],
                    id_got: 0,
                });
                src.advance(TYPED_HEADER_SIZE);
                continue;
            }
            return Ok(self.inner.decode(src)?.map(Inbound::Frame));
        }
    }
}

/// A frame to send: type, request id and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// The type byte.
    pub ty: MsgType,
    /// The request id.
    pub request_id: u32,
    /// The body after the id.
    pub body: Vec<u8>,
}

impl Outbound {
    /// The payload length (id and body).
    pub fn payload_len(&self) -> usize {
        4 + self.body.len()
    }
}

/// Writes [`Outbound`] frames with zap-wire's typed codec and reads with
/// [`FrameDecoder`].
#[derive(Debug, Clone)]
pub struct FrameCodec {
    decoder: FrameDecoder,
    encoder: TypedCodec,
}

impl FrameCodec {
    /// A codec with the same payload limit both ways (at least 4 bytes).
    pub fn new(max_payload: usize) -> Self {
        let max_payload = max_payload.max(4);
        Self {
            decoder: FrameDecoder::new(max_payload),
            encoder: TypedCodec::with_max_payload(max_payload),
        }
    }
}

impl Decoder for FrameCodec {
    type Item = Inbound;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Inbound>, CodecError> {
        self.decoder.decode(src)
    }
}

impl Encoder<Outbound> for FrameCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: Outbound, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.encoder.encode(
            TypedFrameRef {
                ty: frame.ty,
                request_id: Some(frame.request_id),
                body: &frame.body,
            },
            dst,
        )
    }
}

/// The bytes of one frame, for tests and tools.
///
/// # Errors
/// [`zap_wire::Error::FrameTooLarge`] when the payload exceeds `max_payload`.
pub fn encode_frame(frame: &Outbound, max_payload: usize) -> Result<Vec<u8>, zap_wire::Error> {
    let head = zap_wire::typed::typed_header(frame.ty, frame.payload_len(), max_payload)?;
    let mut out = Vec::with_capacity(TYPED_HEADER_SIZE + frame.payload_len());
    out.extend_from_slice(&head);
    out.extend_from_slice(&frame.request_id.to_be_bytes());
    out.extend_from_slice(&frame.body);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn oversize_frames_are_skipped_and_the_next_frame_is_read() {
        let mut d = FrameDecoder::new(8);
        let mut src = BytesMut::new();
        src.put_u32(20);
        src.put_u8(0x3e);
        src.put_u32(77);
        assert_eq!(d.decode(&mut src).unwrap(), None);
        src.put_slice(&[0xaa; 10]);
        assert_eq!(d.decode(&mut src).unwrap(), None);
        assert!(src.is_empty(), "skipped bytes are not kept");
        src.put_slice(&[0xaa; 6]);
        // The next frame follows straight away.
        src.put_slice(&[0, 0, 0, 4, 0x3c, 0, 0, 0, 1]);
        assert_eq!(
            d.decode(&mut src).unwrap(),
            Some(Inbound::Oversize {
                ty: MsgType(0x3e),
                request_id: 77,
                len: 20
            })
        );
        match d.decode(&mut src).unwrap() {
            Some(Inbound::Frame(f)) => {
                assert_eq!(f.ty, MsgType(0x3c));
                assert_eq!(f.request_id(), Some(1));
            }
            other => panic!("expected the ping frame, got {other:?}"),
        }
    }

    #[test]
    fn byte_at_a_time_delivery_decodes_the_same() {
        let mut wire = Vec::new();
        wire.extend_from_slice(&[0, 0, 0, 12, 0x3e, 0, 0, 0, 9]);
        wire.extend_from_slice(&[1; 8]);
        wire.extend_from_slice(&[0, 0, 0, 5, 0x3e, 0, 0, 0, 3, 1]);
        let mut d = FrameDecoder::new(6);
        let mut src = BytesMut::new();
        let mut got = Vec::new();
        for b in wire {
            src.put_u8(b);
            while let Some(item) = d.decode(&mut src).unwrap() {
                got.push(item);
            }
        }
        assert_eq!(got.len(), 2);
        assert!(matches!(
            got[0],
            Inbound::Oversize {
                request_id: 9,
                len: 12,
                ..
            }
        ));
        assert!(matches!(&got[1], Inbound::Frame(f) if f.request_id() == Some(3)));
    }
}
