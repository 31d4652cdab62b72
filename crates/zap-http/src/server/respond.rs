//! Writing responses: inline when small and of known size, streamed otherwise.

use std::pin::pin;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http::{HeaderValue, Response, StatusCode, header};
use http_body::Body;
use http_body_util::BodyExt;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Config;
use super::connection::status_for;
use crate::body::Incoming;
use crate::conn::Conn;
use crate::error::{BoxError, Error};
use crate::timer::Elapsed;
use crate::wire::{
    CHUNK_STRUCT_SIZE, EncodedFrame, MESSAGE_OVERHEAD, WireError, encode_data, encode_end,
    encode_response, encode_response_head, encode_response_in,
};

async fn send<IO>(conn: &mut Conn<IO>, frame: EncodedFrame, timeout: Duration) -> Result<(), Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    match conn.write_within(&frame, timeout).await {
        Ok(r) => r.map_err(Error::Io),
        Err(Elapsed) => Err(Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "writing a response frame timed out",
        ))),
    }
}

/// Writes a short plain-text response with `status`.
pub(super) async fn write_status<IO>(
    conn: &mut Conn<IO>,
    status: StatusCode,
    text: &str,
    cfg: &Config,
) -> Result<(), Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let mut response = Response::new(());
    *response.status_mut() = status;
    if !text.is_empty() {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    let (parts, ()) = response.into_parts();
    let frame = encode_response(
        &parts,
        Bytes::copy_from_slice(text.as_bytes()),
        None,
        &cfg.encode,
    )?;
    send(conn, frame, cfg.write_timeout).await
}

/// Answers a request frame that could not be read (Go parity: 400 with the reason as
/// the body); the caller closes the connection afterwards.
pub(super) async fn reject<IO>(conn: &mut Conn<IO>, e: &WireError, cfg: &Config)
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let status = status_for(e);
    metrics::counter!("zap_http_server_malformed_frames_total").increment(1);
    tracing::debug!(error = %e, status = status.as_u16(), "rejecting a request frame");
    let _ = write_status(conn, status, &format!("malformed request frame: {e}"), cfg).await;
}

/// Writes the service's response. An error means the connection must be closed: either
/// a write failed, or the body failed after the head went out, and the missing end
/// frame tells the client its stream was cut.
pub(super) async fn write_response<IO, B>(
    conn: &mut Conn<IO>,
    response: Response<B>,
    head_only: bool,
    cfg: &Config,
) -> Result<(), Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    B: Body,
    B::Error: Into<BoxError>,
{
    let (parts, body) = response.into_parts();
    if head_only || body.is_end_stream() {
        let frame = encode_response(&parts, Bytes::new(), None, &cfg.encode)?;
        return send(conn, frame, cfg.write_timeout).await;
    }
    let inline_max = cfg
        .inline_threshold
        .min(cfg.encode.max_frame.saturating_sub(MESSAGE_OVERHEAD));
    if let Some(n) = body.size_hint().exact()
        && n <= inline_max as u64
    {
        // A body may send more than its hint; the frame limit bounds what is buffered.
        let (data, trailers) = match crate::body::collect_small(body, cfg.encode.max_frame).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "response body failed before anything was sent");
                return Box::pin(write_status(
                    conn,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "",
                    cfg,
                ))
                .await;
            }
        };
        let encoded = encode_response_in(
            &parts,
            &data,
            trailers.as_ref(),
            &cfg.encode,
            conn.scratch(),
        );
        return match encoded {
            Ok(frame) => send(conn, frame, cfg.write_timeout).await,
            // Small for the threshold but not for this server's frame limit: stream it.
            Err(WireError::FrameTooLarge { .. }) => {
                Box::pin(stream(conn, &parts, Incoming::full(data, trailers), cfg)).await
            }
            Err(e) => {
                tracing::warn!(error = %e, "response cannot be encoded");
                Box::pin(write_status(
                    conn,
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "",
                    cfg,
                ))
                .await
            }
        };
    }
    // Boxed: streaming is the rare path, and its state is large. Inline, it would make
    // every exchange's future bigger, and futures are moved (copied) as they are built.
    Box::pin(stream(conn, &parts, body, cfg)).await
}

/// Sends a response as a head, one data frame per body frame (split to fit the frame
/// limit), and an end frame with the trailers. Waiting for the body is raced against the
/// client leaving, so an endless stream to a departed client ends too.
async fn stream<IO, B>(
    conn: &mut Conn<IO>,
    parts: &http::response::Parts,
    body: B,
    cfg: &Config,
) -> Result<(), Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
    B: Body,
    B::Error: Into<BoxError>,
{
    send(
        conn,
        encode_response_head(parts, &cfg.encode)?,
        cfg.write_timeout,
    )
    .await?;
    let max_chunk = cfg
        .encode
        .max_frame
        .saturating_sub(zap_wire::HEADER_SIZE + CHUNK_STRUCT_SIZE)
        .max(1);
    let mut body = pin!(body);
    let trailers = loop {
        let next = tokio::select! {
            // Box the error at once: the body's own error type need not be Send.
            next = body.frame() => next.map(|r| r.map_err(Into::<BoxError>::into)),
            () = conn.closed() => return Err(Error::Closed("by the client during the response stream")),
        };
        let frame = match next {
            None => break None,
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "response body failed mid-stream; cutting the stream");
                return Err(Error::Body(e));
            }
        };
        match frame.into_data() {
            Ok(mut data) => {
                while data.has_remaining() {
                    let n = data.remaining().min(max_chunk);
                    let chunk = data.copy_to_bytes(n);
                    send(conn, encode_data(chunk, &cfg.encode)?, cfg.write_timeout).await?;
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    break Some(trailers);
                }
            }
        }
    };
    send(
        conn,
        encode_end(trailers.as_ref(), &cfg.encode)?,
        cfg.write_timeout,
    )
    .await
}
