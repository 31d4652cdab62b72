//! The connection framing: `u32 big-endian length ∥ ZAP message`.
//!
//! Unlike zap-wire's node frames (little-endian prefix), ZAP-HTTP puts a big-endian
//! length in front of each message. A zero length is refused, and so is any length above
//! the configured maximum, before a byte of the message is buffered. Memory grows only
//! with bytes that actually arrive: a peer that announces 64 MiB and sends nothing costs
//! nothing.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

use crate::error::Error;
use crate::wire::{DEFAULT_MAX_FRAME, EncodedFrame, LENGTH_PREFIX, WireError};

/// The most a decoder reserves for the rest of a frame beyond the bytes already buffered
/// (plus a small slack, see below).
pub const READ_AHEAD: usize = 64 << 10;

/// Room reserved past the end of an incomplete frame. The read that completes the frame
/// then leaves the buffer not quite full, which tells the reactor the socket is drained:
/// a read that fills its buffer exactly costs one more `recv` that finds nothing.
const READ_SLACK: usize = 512;

/// Splits length-prefixed ZAP messages off a byte stream, and prefixes them on the way out.
///
/// ```
/// use bytes::{Bytes, BytesMut};
/// use tokio_util::codec::{Decoder, Encoder};
/// use zap_http::codec::FrameCodec;
///
/// let mut codec = FrameCodec::new();
/// let mut wire = BytesMut::new();
/// codec.encode(Bytes::from_static(b"ZAP\0 a message"), &mut wire)?;
/// assert_eq!(&wire[..4], &[0, 0, 0, 14]);
/// assert_eq!(codec.decode(&mut wire)?.unwrap(), "ZAP\0 a message");
///
/// wire.extend_from_slice(&[0, 0, 0, 0]);
/// assert!(codec.decode(&mut wire).is_err(), "a zero-length frame is refused");
/// # Ok::<(), zap_http::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct FrameCodec {
    max_frame: usize,
}

impl Default for FrameCodec {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameCodec {
    /// A codec with the 64 MiB default limit.
    pub fn new() -> Self {
        Self::with_max_frame(DEFAULT_MAX_FRAME)
    }

    /// A codec refusing messages longer than `max_frame` bytes (the prefix not counted).
    /// The wire cannot express more than `u32::MAX`.
    pub fn with_max_frame(max_frame: usize) -> Self {
        Self {
            max_frame: max_frame.min(u32::MAX as usize),
        }
    }

    /// The message-size limit.
    pub fn max_frame(&self) -> usize {
        self.max_frame
    }

    fn check(&self, len: usize) -> Result<(), WireError> {
        if len == 0 {
            return Err(WireError::EmptyFrame);
        }
        if len > self.max_frame {
            return Err(WireError::FrameTooLarge {
                len: len as u64,
                max: self.max_frame,
            });
        }
        Ok(())
    }
}

impl Decoder for FrameCodec {
    type Item = Bytes;
    type Error = Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Bytes>, Error> {
        let Some(prefix) = src.first_chunk::<LENGTH_PREFIX>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        self.check(len)?;
        let needed = LENGTH_PREFIX + len;
        if src.len() < needed {
            let missing = needed - src.len();
            src.reserve(missing.min(READ_AHEAD) + READ_SLACK);
            return Ok(None);
        }
        src.advance(LENGTH_PREFIX);
        Ok(Some(src.split_to(len).freeze()))
    }
}

/// Prefixes a bare ZAP message.
impl Encoder<Bytes> for FrameCodec {
    type Error = Error;

    fn encode(&mut self, message: Bytes, dst: &mut BytesMut) -> Result<(), Error> {
        self.check(message.len())?;
        dst.reserve(LENGTH_PREFIX + message.len());
        dst.put_u32(message.len() as u32);
        dst.put_slice(&message);
        Ok(())
    }
}

/// Copies an already prefixed frame (from [`wire`](crate::wire)'s encoders).
impl Encoder<EncodedFrame> for FrameCodec {
    type Error = Error;

    fn encode(&mut self, mut frame: EncodedFrame, dst: &mut BytesMut) -> Result<(), Error> {
        self.check(frame.len().saturating_sub(LENGTH_PREFIX))?;
        dst.reserve(frame.len());
        while frame.has_remaining() {
            let chunk = frame.chunk();
            let n = chunk.len();
            dst.put_slice(chunk);
            frame.advance(n);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announced_giant_reserves_only_a_little() {
        let mut codec = FrameCodec::new();
        let mut buf = BytesMut::new();
        buf.put_u32(60 << 20);
        buf.put_slice(b"ZAP\0");
        assert!(codec.decode(&mut buf).unwrap().is_none());
        assert!(buf.capacity() <= 2 * READ_AHEAD, "{}", buf.capacity());
    }

    #[test]
    fn the_read_that_completes_a_frame_leaves_room() {
        // A read that fills its buffer exactly tells the reactor nothing about whether
        // the socket is drained, and costs one more `recv`; there must be room to spare.
        for len in [1usize, 100, 8 << 10, 64 << 10, (64 << 10) + 200] {
            let mut codec = FrameCodec::new();
            let mut buf = BytesMut::new();
            buf.put_u32(len as u32);
            assert!(codec.decode(&mut buf).unwrap().is_none());
            let missing = len.min(READ_AHEAD);
            assert!(buf.capacity() - buf.len() > missing, "{len}");
        }
    }

    #[test]
    fn limits_are_checked_on_both_sides() {
        let mut codec = FrameCodec::with_max_frame(8);
        let mut buf = BytesMut::new();
        buf.put_u32(9);
        assert!(matches!(
            codec.decode(&mut buf),
            Err(Error::Wire(WireError::FrameTooLarge { len: 9, max: 8 }))
        ));
        assert!(
            codec
                .encode(Bytes::from_static(b"123456789"), &mut BytesMut::new())
                .is_err()
        );
        assert!(matches!(
            codec.encode(Bytes::new(), &mut BytesMut::new()),
            Err(Error::Wire(WireError::EmptyFrame))
        ));
    }

    #[test]
    fn frames_split_at_any_boundary() {
        let mut codec = FrameCodec::new();
        let mut wire = BytesMut::new();
        codec.encode(Bytes::from_static(b"one"), &mut wire).unwrap();
        codec
            .encode(Bytes::from_static(b"two!"), &mut wire)
            .unwrap();
        let all = wire.freeze();
        for cut in 0..all.len() {
            let mut buf = BytesMut::from(&all[..cut]);
            let mut out = Vec::new();
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f);
            }
            buf.extend_from_slice(&all[cut..]);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f);
            }
            assert_eq!(
                out,
                [Bytes::from_static(b"one"), Bytes::from_static(b"two!")]
            );
        }
    }
}
