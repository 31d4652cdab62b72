//! One framed connection: a byte stream, its read buffer and the frame codec.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::Decoder;
use tokio_util::io::poll_read_buf;

use crate::codec::FrameCodec;
use crate::error::Error;
use crate::timer::{Deadline, Elapsed};
use crate::wake::WakeFilter;
use crate::wire::EncodedFrame;

/// The least room the read buffer has before each read.
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
    link: Link<T>,
    /// Where frames are encoded; its memory is reused once a frame is sent.
    scratch: BytesMut,
    /// Bounds waits for frames (and, on the client, for a response head).
    read_timer: Deadline,
    /// Bounds writes that the socket does not take at once.
    write_timer: Deadline,
    /// Keeps polls of a waiting client exchange from touching the socket when another
    /// request of the same task was woken.
    wake: WakeFilter,
}

/// The byte stream and its read side, apart from the timers so both can be borrowed.
struct Link<T> {
    io: T,
    buf: BytesMut,
    codec: FrameCodec,
}

impl<T: AsyncRead + AsyncWrite + Unpin> Link<T> {
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, Error>> {
        loop {
            if let Some(frame) = self.codec.decode(&mut self.buf)? {
                return Poll::Ready(Ok(Some(frame)));
            }
            self.make_room();
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

    /// Makes room for a read. A little room left after the last frame is not enough:
    /// the next frame would be read in pieces, each a `recv`, and a buffer that the
    /// previous frames no longer share is taken back whole instead.
    fn make_room(&mut self) {
        if self.buf.capacity() - self.buf.len() < READ_CHUNK {
            self.buf.reserve(READ_CHUNK);
        }
    }

    async fn fill(&mut self) -> io::Result<usize> {
        self.make_room();
        poll_fn(|cx| poll_read_buf(Pin::new(&mut self.io), cx, &mut self.buf)).await
    }

    async fn write(&mut self, frame: &EncodedFrame) -> io::Result<()> {
        match frame.contiguous() {
            // The usual small frame: a plain write, without setting up a vectored one.
            Some(bytes) => self.io.write_all(bytes).await?,
            None => self.io.write_all_buf(&mut frame.cursor()).await?,
        }
        self.io.flush().await
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Conn<T> {
    pub(crate) fn new(io: T, max_frame: usize) -> Self {
        Self {
            link: Link {
                io,
                buf: BytesMut::new(),
                codec: FrameCodec::with_max_frame(max_frame),
            },
            scratch: BytesMut::new(),
            read_timer: Deadline::new(),
            write_timer: Deadline::new(),
            wake: WakeFilter::default(),
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
        self.link.buf.len()
    }

    /// The next ZAP message; `Ok(None)` when the peer closed cleanly between frames.
    ///
    /// A close in the middle of a frame is [`Error::Closed`].
    pub(crate) fn poll_frame(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Bytes>, Error>> {
        self.link.poll_frame(cx)
    }

    /// [`Conn::poll_frame`], failing with [`Elapsed`] once it waited `limit` for the
    /// rest of the frame.
    pub(crate) async fn read_frame_within(
        &mut self,
        limit: Duration,
    ) -> Result<Result<Option<Bytes>, Error>, Elapsed> {
        let link = &mut self.link;
        self.read_timer
            .within(limit, poll_fn(|cx| link.poll_frame(cx)))
            .await
    }

    /// Reads whatever arrives next into the buffer (`Ok(0)` at end of stream), waiting
    /// at most `limit` (`None`: as long as it takes).
    pub(crate) async fn fill_within(
        &mut self,
        limit: Option<Duration>,
    ) -> Result<io::Result<usize>, Elapsed> {
        self.read_timer.within_opt(limit, self.link.fill()).await
    }

    /// Resolves when the peer closes (or the stream fails); bytes that arrive meanwhile
    /// are kept for the next frame, up to one frame's worth.
    pub(crate) async fn closed(&mut self) {
        let limit = self.link.codec.max_frame().saturating_add(4);
        loop {
            if self.link.buf.len() >= limit {
                return std::future::pending().await;
            }
            match self.link.fill().await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    }

    /// Writes a whole frame (vectored when the stream supports it) and flushes it,
    /// failing with [`Elapsed`] once the socket stopped taking bytes for `limit`. The
    /// frame is borrowed, so a caller that may resend it keeps it without a clone.
    pub(crate) async fn write_within(
        &mut self,
        frame: &EncodedFrame,
        limit: Duration,
    ) -> Result<io::Result<()>, Elapsed> {
        self.write_timer.within(limit, self.link.write(frame)).await
    }

    /// Sends a request frame and reads the frame that answers it, all within `limit`.
    /// The error says whether the write failed (nothing may have reached the peer) or
    /// the read did.
    pub(crate) async fn round_trip_within(
        &mut self,
        frame: &EncodedFrame,
        limit: Duration,
    ) -> Result<Result<Option<Bytes>, RoundTripError>, Elapsed> {
        let link = &mut self.link;
        let exchange = async {
            link.write(frame).await.map_err(RoundTripError::Write)?;
            poll_fn(|cx| link.poll_frame(cx))
                .await
                .map_err(RoundTripError::Read)
        };
        self.wake.run(self.read_timer.within(limit, exchange)).await
    }

    /// True when the connection can carry another exchange: nothing unread is buffered
    /// and a read that must not block finds neither data nor the end of the stream.
    pub(crate) fn is_reusable(&mut self) -> bool {
        if !self.link.buf.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        let mut read_buf = tokio::io::ReadBuf::new(&mut probe);
        let mut cx = Context::from_waker(Waker::noop());
        matches!(
            Pin::new(&mut self.link.io).poll_read(&mut cx, &mut read_buf),
            Poll::Pending
        )
    }

    /// Shuts the write side down, telling the peer no more frames come.
    pub(crate) async fn shutdown(&mut self) {
        let _ = self.link.io.shutdown().await;
    }
}

/// How [`Conn::round_trip_within`] failed.
pub(crate) enum RoundTripError {
    /// Writing the request failed.
    Write(io::Error),
    /// The request went out; reading the answer failed.
    Read(Error),
}
