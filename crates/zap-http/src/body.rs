//! [`Incoming`]: the body of a request a server received or a response a client received.

use std::fmt;
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Limited};
use tokio::time::{Instant, Sleep};

use crate::client::pool::Pooled;
use crate::error::{BoxError, Error, TimeoutKind};
use crate::wire::{Chunk, DecodeLimits, decode_chunk};

/// The body of a received message: inline (the whole body arrived in one frame), or a
/// stream of data frames ending with an end frame.
///
/// A streamed body owns its connection. The connection returns to the pool when the end
/// frame has been read, and is closed if the body is dropped before that. A stream that
/// stops before its end frame yields [`Error::Closed`]; a wait for the next frame longer
/// than the client's stream-idle timeout yields [`Error::Timeout`]. Neither ever looks
/// like a clean end.
pub struct Incoming {
    kind: Kind,
}

enum Kind {
    Full {
        data: Option<Bytes>,
        trailers: Option<HeaderMap>,
    },
    Stream(Box<Streaming>),
}

pub(crate) struct Streaming {
    conn: Option<Pooled>,
    limits: DecodeLimits,
    idle: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Incoming {
    /// An empty body.
    pub fn empty() -> Self {
        Self::full(Bytes::new(), None)
    }

    /// A body that is all here: `data`, then `trailers` if any.
    pub fn full(data: Bytes, trailers: Option<HeaderMap>) -> Self {
        Self {
            kind: Kind::Full {
                data: (!data.is_empty()).then_some(data),
                trailers,
            },
        }
    }

    pub(crate) fn stream(conn: Pooled, limits: DecodeLimits, idle: Option<Duration>) -> Self {
        Self {
            kind: Kind::Stream(Box::new(Streaming {
                conn: Some(conn),
                limits,
                idle,
                timer: None,
            })),
        }
    }

    /// True for a body that arrives in frames after the head (frame types 3, 4, 5).
    pub fn is_streamed(&self) -> bool {
        matches!(self.kind, Kind::Stream(_))
    }
}

impl Default for Incoming {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for Incoming {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full { data, trailers } => f
                .debug_struct("Incoming::Full")
                .field("len", &data.as_ref().map_or(0, Bytes::len))
                .field("trailers", &trailers.is_some())
                .finish(),
            Kind::Stream(s) => f
                .debug_struct("Incoming::Stream")
                .field("open", &s.conn.is_some())
                .finish(),
        }
    }
}

impl Streaming {
    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        loop {
            let Some(pooled) = self.conn.as_mut() else {
                return Poll::Ready(None);
            };
            match pooled.conn().poll_frame(cx) {
                Poll::Ready(Ok(Some(message))) => {
                    if let (Some(timer), Some(idle)) = (self.timer.as_mut(), self.idle) {
                        timer.as_mut().reset(Instant::now() + idle);
                    }
                    match decode_chunk(message, &self.limits) {
                        Ok(Chunk::Data(data)) if data.is_empty() => continue,
                        Ok(Chunk::Data(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                        Ok(Chunk::End(trailers)) => {
                            if let Some(conn) = self.conn.take() {
                                conn.release();
                            }
                            return Poll::Ready(trailers.map(|t| Ok(Frame::trailers(t))));
                        }
                        Err(e) => {
                            self.conn = None;
                            return Poll::Ready(Some(Err(e.into())));
                        }
                    }
                }
                Poll::Ready(Ok(None)) => {
                    self.conn = None;
                    return Poll::Ready(Some(Err(Error::Closed(
                        "before the end of the response stream",
                    ))));
                }
                Poll::Ready(Err(e)) => {
                    self.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Pending => {
                    let Some(idle) = self.idle else {
                        return Poll::Pending;
                    };
                    let timer = self
                        .timer
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                    if timer.as_mut().poll(cx).is_ready() {
                        self.conn = None;
                        return Poll::Ready(Some(Err(Error::Timeout(TimeoutKind::StreamIdle))));
                    }
                    return Poll::Pending;
                }
            }
        }
    }
}

impl Body for Incoming {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match &mut self.kind {
            Kind::Full { data, trailers } => Poll::Ready(
                data.take()
                    .map(|d| Ok(Frame::data(d)))
                    .or_else(|| trailers.take().map(|t| Ok(Frame::trailers(t)))),
            ),
            Kind::Stream(s) => s.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full { data, trailers } => data.is_none() && trailers.is_none(),
            Kind::Stream(s) => s.conn.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Kind::Stream(s) if s.conn.is_none() => SizeHint::with_exact(0),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}

/// Reads a whole body of at most `max` bytes. A body of one data frame (the usual case)
/// is kept as that frame's buffer: no list of chunks is allocated, nothing is copied.
pub(crate) async fn collect_small<B>(
    body: B,
    max: usize,
) -> Result<(Bytes, Option<HeaderMap>), BoxError>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    let mut body = pin!(Limited::new(body, max));
    let mut first: Option<Bytes> = None;
    let mut more: Option<BytesMut> = None;
    let mut trailers: Option<HeaderMap> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame?;
        match frame.into_data() {
            Ok(mut data) => {
                let chunk = data.copy_to_bytes(data.remaining());
                if let Some(buf) = more.as_mut() {
                    buf.extend_from_slice(&chunk);
                } else if let Some(head) = first.take() {
                    let mut buf = BytesMut::with_capacity(head.len() + chunk.len());
                    buf.extend_from_slice(&head);
                    buf.extend_from_slice(&chunk);
                    more = Some(buf);
                } else {
                    first = Some(chunk);
                }
            }
            Err(frame) => {
                if let Ok(t) = frame.into_trailers() {
                    match trailers.as_mut() {
                        Some(all) => all.extend(t),
                        None => trailers = Some(t),
                    }
                }
            }
        }
    }
    let data = match more {
        Some(buf) => buf.freeze(),
        None => first.unwrap_or_default(),
    };
    Ok((data, trailers))
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http_body_util::StreamBody;

    use super::*;

    fn frames(parts: Vec<Frame<Bytes>>) -> impl Body<Data = Bytes, Error = Infallible> {
        StreamBody::new(futures_util::stream::iter(parts.into_iter().map(Ok)))
    }

    #[tokio::test]
    async fn one_frame_is_kept_and_several_are_joined_with_their_trailers() {
        let one = Bytes::from_static(b"whole");
        let (data, trailers) = collect_small(frames(vec![Frame::data(one.clone())]), 64)
            .await
            .unwrap();
        assert_eq!(data.as_ptr(), one.as_ptr(), "a single frame is not copied");
        assert!(trailers.is_none());

        let mut t = HeaderMap::new();
        t.insert("x-sum", "7".parse().unwrap());
        let body = frames(vec![
            Frame::data(Bytes::from_static(b"ab")),
            Frame::data(Bytes::new()),
            Frame::data(Bytes::from_static(b"cd")),
            Frame::trailers(t),
        ]);
        let (data, trailers) = collect_small(body, 64).await.unwrap();
        assert_eq!(data, "abcd");
        assert_eq!(trailers.unwrap()["x-sum"], "7");

        let big = frames(vec![Frame::data(Bytes::from_static(b"12345"))]);
        let err = collect_small(big, 4).await.unwrap_err();
        assert!(err.is::<http_body_util::LengthLimitError>());
    }
}
