//! One framed connection: a byte stream, its read buffer and the frame codec.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Decoder;
use tokio_util::io::poll_read_buf;

use crate::codec::FrameCodec;
use crate::error::Error;
use crate::wire::EncodedFrame;

/// Room made in the read buffer before each read when it is full.
const READ_CHUNK: usize = 8 << 10;

/// A byte stream a client connection can run on: TCP, Unix, TLS, or anything else.
///
/// `Sync` is required so that response bodies, which own their connection while they
/// stream, are `Sync` too (some HTTP libraries ask that of the bodies they wrap).
pub trait Io: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Io for T {}

/// A boxed [`Io`], as connectors return them.
pub type BoxIo = Box<dyn Io>;

/// A stream carrying length-prefixed ZAP messages, one exchange at a time.
pub(crate) struct Conn<T> {
    io: T,
    buf: BytesMut,
    codec: FrameCodec,
    /// Where response heads are encoded; its memory is reused once a frame is sent.
    scratch: BytesMut,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Conn<T> {
    pub(crate) fn new(io: T, max_frame: usize) -> Self {
        Self {
            io,
            buf: BytesMut::new(),
            codec: FrameCodec::with_max_frame(max_frame),
            scratch: BytesMut::new(),
        }
    }

    /// The buffer frames may be encoded into (see [`encode_response_in`]).
    ///
    /// [`encode_response_in`]: crate::wire::encode_response_in
    pub(crate) fn scratch(&mut self) -> &mut BytesMut {
        &mut self.scratch
    }

    /// Bytes received but not yet taken as a frame.
    pub(crate) fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next ZAP message; `Ok(None)` when the peer closed cleanly between frames.
    ///
    /// A close in the middle of a frame is [`Error::Closed`].
    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, Error>> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf)? {
                return Poll::Ready(Ok(Some(frame)));
            }
            if self.buf.capacity() == self.buf.len() {
                self.buf.reserve(READ_CHUNK);
            }
            let n = ready!(poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf))?;
            if n == 0 {
                return Poll::Ready(if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(Error::Closed("in the middle of a frame"))
                });
            }
        }
    }

    /// See [`Conn::poll_frame`].
    pub(crate) async fn read_frame(&mut self) -> Result<Option<Bytes>, Error> {
        poll_fn(|cx| self.poll_frame(cx)).await
    }

    /// Reads whatever arrives next into the buffer; `Ok(0)` at end of stream.
    pub(crate) async fn fill(&mut self) -> io::Result<usize> {
        if self.buf.capacity() == self.buf.len() {
            self.buf.reserve(READ_CHUNK);
        }
        poll_fn(|cx| poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)).await
    }

    /// Resolves when the peer closes (or the stream fails); bytes that arrive meanwhile
    /// are kept for the next frame, up to one frame's worth.
    pub(crate) async fn closed(&mut self) {
        let limit = self.codec.max_frame().saturating_add(4);
        loop {
            if self.buf.len() >= limit {
                return std::future::pending().await;
            }
            match self.fill().await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// Writes a whole frame (vectored when the stream supports it) and flushes it.
    /// The frame is borrowed, so a caller that may resend it keeps it without a clone.
    pub(crate) async fn write(&mut self, frame: &EncodedFrame) -> io::Result<()> {
        self.io.write_all_buf(&mut frame.cursor()).await?;
        self.io.flush().await
    }

    /// True when the connection can carry another exchange: nothing unread is buffered
    /// and a read that must not block finds neither data nor the end of the stream.
    pub(crate) fn is_reusable(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut read_buf = tokio::io::ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(Waker::noop());
        matches!(
            Pin::new(&mut self.io).poll_read(&mut cx, &mut read_buf),
            Poll::Pending
        )
    }

    /// Shuts the write side down, telling the peer no more frames come.
    pub(crate) async fn shutdown(&mut self) {
        let _ = self.io.shutdown().await;
    }
}
