//! tokio-util codecs for node frames and typed frames (feature `codec`).
//!
//! Both decoders refuse a declared length above their maximum before reading the
//! payload, and reserve memory as bytes arrive (at most [`READ_AHEAD`] beyond what is
//! buffered), never for the declared length up front: a peer that announces 10 MiB and
//! sends nothing costs nothing.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::Error;
use crate::node::{self, DEFAULT_MAX_FRAME, FrameKind, LENGTH_PREFIX};
use crate::typed::{self, MAX_TYPED_PAYLOAD, MsgType, TYPED_HEADER_SIZE};

/// The most a decoder reserves beyond the bytes already buffered.
pub const READ_AHEAD: usize = 64 * 1024;

/// What a codec can fail with: the transport, or bytes that break the framing.
///
/// After a framing error the stream is out of sync and should be closed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CodecError {
    /// The underlying transport failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes break the framing (for example a length above the maximum).
    #[error(transparent)]
    Wire(#[from] Error),
}

fn reserve_for(src: &mut BytesMut, needed_total: usize) {
    let missing = needed_total.saturating_sub(src.len());
    src.reserve(missing.min(READ_AHEAD));
}

/// A decoded node frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFrame {
    /// What the frame carries.
    pub kind: FrameKind,
    /// The request id of a call, 0 otherwise.
    pub request_id: u32,
    /// The message (for calls, the bytes after the call prefix; for plain frames, the
    /// whole payload including any bytes after the message's size; for unrecognized
    /// frames, the whole payload). Not validated: parse it with
    /// [`Message::parse`](crate::Message::parse).
    pub message: Bytes,
}

impl NodeFrame {
    /// A plain frame.
    pub fn plain(message: impl Into<Bytes>) -> Self {
        Self {
            kind: FrameKind::Plain,
            request_id: 0,
            message: message.into(),
        }
    }

    /// A call request.
    pub fn request(request_id: u32, message: impl Into<Bytes>) -> Self {
        Self {
            kind: FrameKind::Request,
            request_id,
            message: message.into(),
        }
    }

    /// A call response.
    pub fn response(request_id: u32, message: impl Into<Bytes>) -> Self {
        Self {
            kind: FrameKind::Response,
            request_id,
            message: message.into(),
        }
    }
}

/// A node frame to send whose message is borrowed.
#[derive(Debug, Clone, Copy)]
pub struct NodeFrameRef<'a> {
    /// What the frame carries (`Unrecognized` is sent like `Plain`).
    pub kind: FrameKind,
    /// The request id of a call; ignored otherwise.
    pub request_id: u32,
    /// The message bytes.
    pub message: &'a [u8],
}

/// The node framing of luxfi/zap: `u32 LE length ∥ payload`, 10 MiB maximum by default.
///
/// ```
/// use bytes::BytesMut;
/// use tokio_util::codec::{Decoder, Encoder};
/// use zap_wire::codec::{NodeCodec, NodeFrame};
/// use zap_wire::node::FrameKind;
///
/// let mut codec = NodeCodec::new();
/// let mut wire = BytesMut::new();
/// let msg = zap_wire::Builder::new().to_vec(0x0100)?;
/// codec.encode(NodeFrame::request(1, msg.clone()), &mut wire)?;
/// let frame = codec.decode(&mut wire)?.expect("a whole frame");
/// assert_eq!(frame.kind, FrameKind::Request);
/// assert_eq!(frame.request_id, 1);
/// assert_eq!(frame.message, msg);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NodeCodec {
    max_frame: usize,
}

impl Default for NodeCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl NodeCodec {
    /// A codec with Go's 10 MiB limit.
    pub fn new() -> Self {
        Self::with_max_frame(DEFAULT_MAX_FRAME)
    }

    /// A codec with a different payload limit.
    pub fn with_max_frame(max_frame: usize) -> Self {
        Self { max_frame }
    }

    /// The payload limit.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    fn write(
        &self,
        kind: FrameKind,
        request_id: u32,
        message: &[u8],
        dst: &mut BytesMut,
    ) -> Result<(), CodecError> {
        let (head, head_len) = node::frame_header(kind, request_id, message.len())?;
        let payload_len = head_len - LENGTH_PREFIX + message.len();
        if payload_len > self.max_frame {
            return Err(Error::FrameTooLarge {
                len: payload_len as u64,
                max: self.max_frame,
            }
            .into());
        }
        dst.reserve(head_len + message.len());
        dst.put_slice(&head[..head_len]);
        dst.put_slice(message);
        Ok(())
    }
}

/// Splits `u32 LE length ∥ payload` frames off a buffer without looking inside them,
/// with the same limits as [`NodeCodec`]. For protocols that put their own prefix in the
/// payload (zap-rpc between Rust peers); [`NodeCodec`] is built on it.
#[derive(Debug, Clone, Copy)]
pub struct PayloadCodec {
    max_frame: usize,
}

impl PayloadCodec {
    /// A codec refusing payloads above `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self { max_frame }
    }

    /// The payload limit.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }
}

impl Decoder for PayloadCodec {
    type Item = Bytes;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, CodecError> {
        let Some(prefix) = src.first_chunk::<LENGTH_PREFIX>() else {
            return Ok(None);
        };
        let len = u32::from_le_bytes(*prefix) as usize;
        if len > self.max_frame {
            return Err(Error::FrameTooLarge {
                len: len as u64,
                max: self.max_frame,
            }
            .into());
        }
        if src.len() < LENGTH_PREFIX + len {
            reserve_for(src, LENGTH_PREFIX + len);
            return Ok(None);
        }
        src.advance(LENGTH_PREFIX);
        Ok(Some(src.split_to(len).freeze()))
    }
}

impl Decoder for NodeCodec {
    type Item = NodeFrame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<NodeFrame>, CodecError> {
        let Some(payload) = PayloadCodec::new(self.max_frame).decode(src)? else {
            return Ok(None);
        };
        let c = node::classify(&payload);
        Ok(Some(NodeFrame {
            kind: c.kind,
            request_id: c.request_id,
            message: payload.slice(c.message_start..),
        }))
    }
}

impl Encoder<NodeFrame> for NodeCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: NodeFrame, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.write(frame.kind, frame.request_id, &frame.message, dst)
    }
}

impl Encoder<NodeFrameRef<'_>> for NodeCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: NodeFrameRef<'_>, dst: &mut BytesMut) -> Result<(), CodecError> {
        self.write(frame.kind, frame.request_id, frame.message, dst)
    }
}

/// A decoded typed frame: its type byte and payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedFrame {
    /// The type byte.
    pub ty: MsgType,
    /// Everything after the type byte (for calls and responses, the request id first).
    pub payload: Bytes,
}

impl TypedFrame {
    /// A call or response frame: `request_id ∥ body`.
    pub fn call(ty: MsgType, request_id: u32, body: &[u8]) -> Self {
        let mut payload = BytesMut::with_capacity(4 + body.len());
        payload.put_u32(request_id);
        payload.put_slice(body);
        Self {
            ty,
            payload: payload.freeze(),
        }
    }

    /// The request id, when the payload is long enough to carry one.
    pub fn request_id(&self) -> Option<u32> {
        self.payload
            .first_chunk::<4>()
            .map(|id| u32::from_be_bytes(*id))
    }

    /// The body after the request id (empty when there is none).
    pub fn body(&self) -> Bytes {
        if self.payload.len() >= 4 {
            self.payload.slice(4..)
        } else {
            Bytes::new()
        }
    }

    /// The request id and body, or an error when the payload is shorter than an id.
    pub fn split(&self) -> Result<(u32, Bytes), Error> {
        let (id, _) = typed::split_request_id(&self.payload)?;
        Ok((id, self.payload.slice(4..)))
    }
}

/// A typed frame to send whose body is borrowed.
#[derive(Debug, Clone, Copy)]
pub struct TypedFrameRef<'a> {
    /// The type byte.
    pub ty: MsgType,
    /// The request id written before the body, if any.
    pub request_id: Option<u32>,
    /// The body.
    pub body: &'a [u8],
}

/// The typed framing of luxfi/api: `u32 BE length ∥ type ∥ payload`, 16 MiB maximum.
#[derive(Debug, Clone, Copy)]
pub struct TypedCodec {
    max_payload: usize,
}

impl Default for TypedCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl TypedCodec {
    /// A codec with the 16 MiB limit of luxfi/api.
    pub fn new() -> Self {
        Self::with_max_payload(MAX_TYPED_PAYLOAD)
    }

    /// A codec with a different payload limit.
    pub fn with_max_payload(max_payload: usize) -> Self {
        Self { max_payload }
    }

    /// The payload limit.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }
}

impl Decoder for TypedCodec {
    type Item = TypedFrame;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<TypedFrame>, CodecError> {
        let Some(head) = src.first_chunk::<TYPED_HEADER_SIZE>() else {
            return Ok(None);
        };
        let (len, ty) = typed::parse_typed_header(head, self.max_payload)?;
        if src.len() < TYPED_HEADER_SIZE + len {
            reserve_for(src, TYPED_HEADER_SIZE + len);
            return Ok(None);
        }
        src.advance(TYPED_HEADER_SIZE);
        Ok(Some(TypedFrame {
            ty,
            payload: src.split_to(len).freeze(),
        }))
    }
}

impl Encoder<TypedFrame> for TypedCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: TypedFrame, dst: &mut BytesMut) -> Result<(), CodecError> {
        let head = typed::typed_header(frame.ty, frame.payload.len(), self.max_payload)?;
        dst.reserve(TYPED_HEADER_SIZE + frame.payload.len());
        dst.put_slice(&head);
        dst.put_slice(&frame.payload);
        Ok(())
    }
}

impl Encoder<TypedFrameRef<'_>> for TypedCodec {
    type Error = CodecError;

    fn encode(&mut self, frame: TypedFrameRef<'_>, dst: &mut BytesMut) -> Result<(), CodecError> {
        let id_len = if frame.request_id.is_some() { 4 } else { 0 };
        let payload_len = id_len + frame.body.len();
        let head = typed::typed_header(frame.ty, payload_len, self.max_payload)?;
        dst.reserve(TYPED_HEADER_SIZE + payload_len);
        dst.put_slice(&head);
        if let Some(id) = frame.request_id {
            dst.put_u32(id);
        }
        dst.put_slice(frame.body);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_length_does_not_reserve_memory() {
        let mut codec = NodeCodec::new();
        let mut src = BytesMut::new();
        src.put_u32_le(10 * 1024 * 1024);
        src.put_slice(&[0; 16]);
        assert!(codec.decode(&mut src).unwrap().is_none());
        assert!(
            src.capacity() <= 20 + READ_AHEAD,
            "reserved {} bytes for a 10 MiB promise",
            src.capacity()
        );
    }

    #[test]
    fn oversized_frames_are_refused_before_reading() {
        let mut codec = NodeCodec::with_max_frame(100);
        let mut src = BytesMut::new();
        src.put_u32_le(101);
        assert!(matches!(
            codec.decode(&mut src),
            Err(CodecError::Wire(Error::FrameTooLarge {
                len: 101,
                max: 100
            }))
        ));
        let mut typed = TypedCodec::with_max_payload(100);
        let mut src = BytesMut::new();
        src.put_u32(101);
        src.put_u8(1);
        assert!(matches!(
            typed.decode(&mut src),
            Err(CodecError::Wire(Error::FrameTooLarge {
                len: 101,
                max: 100
            }))
        ));
    }

    #[test]
    fn encoder_refuses_oversized_messages() {
        let mut codec = NodeCodec::with_max_frame(10);
        let mut dst = BytesMut::new();
        let err = codec.encode(NodeFrame::plain(vec![0u8; 11]), &mut dst);
        assert!(matches!(
            err,
            Err(CodecError::Wire(Error::FrameTooLarge { .. }))
        ));
        assert!(dst.is_empty());
    }

    #[test]
    fn typed_round_trip_with_split_delivery() {
        let mut codec = TypedCodec::new();
        let mut wire = BytesMut::new();
        codec
            .encode(
                TypedFrameRef {
                    ty: MsgType::request(62),
                    request_id: Some(3),
                    body: &[1],
                },
                &mut wire,
            )
            .unwrap();
        assert_eq!(&wire[..], &[0, 0, 0, 5, 0x3e, 0, 0, 0, 3, 1]);
        let mut partial = BytesMut::new();
        for (i, b) in wire.iter().enumerate() {
            partial.put_u8(*b);
            let got = codec.decode(&mut partial).unwrap();
            if i + 1 < wire.len() {
                assert!(got.is_none());
            } else {
                let f = got.unwrap();
                assert_eq!(f.ty, MsgType(0x3e));
                assert_eq!(f.split().unwrap(), (3, Bytes::from_static(&[1])));
            }
        }
    }
}
