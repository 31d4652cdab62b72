//! Message-oriented connections: one WebSocket binary message or one QUIC datagram is one
//! relay message. The relay core and the client see only [`MsgReader`] and [`MsgWriter`].

use std::fmt;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::{Message, WebSocketConfig};

use crate::wire::MAX_MESSAGE_SIZE;

type WsRead = Pin<Box<dyn Stream<Item = Result<Message, WsError>> + Send>>;
type WsWrite = Pin<Box<dyn Sink<Message, Error = WsError> + Send>>;

/// How a peer is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// WebSocket at `/relay`, plain or over TLS.
    WebSocket,
    /// QUIC datagrams with ALPN `nb-quic`.
    Quic,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::WebSocket => "ws",
            Self::Quic => "quic",
        })
    }
}

/// WebSocket limits for relay connections: a message never exceeds the relay's limit,
/// so the WebSocket layer refuses bigger ones before buffering them.
pub(crate) fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE_SIZE))
        .max_frame_size(Some(MAX_MESSAGE_SIZE))
}

/// A close code and text, for WebSocket close frames and QUIC application closes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseInfo {
    /// WebSocket close code (also used as the QUIC application error code).
    pub code: u16,
    /// Human-readable reason.
    pub reason: String,
}

impl CloseInfo {
    /// A close with this code and reason, cut to the 123 bytes a WebSocket close frame
    /// can carry.
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        let mut reason = reason.into();
        if reason.len() > MAX_CLOSE_REASON {
            let mut cut = MAX_CLOSE_REASON;
            while !reason.is_char_boundary(cut) {
                cut -= 1;
            }
            reason.truncate(cut);
        }
        Self { code, reason }
    }
}

/// Longest close reason a WebSocket control frame can carry (125 bytes less the code).
const MAX_CLOSE_REASON: usize = 123;

impl fmt::Display for CloseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.reason.is_empty() {
            write!(f, "code {}", self.code)
        } else {
            write!(f, "{} (code {})", self.reason, self.code)
        }
    }
}

/// Why reading the next message failed.
#[derive(Debug)]
pub(crate) enum RecvError {
    /// The other side closed, with its close frame when it sent one.
    Closed(Option<CloseInfo>),
    /// A message longer than the limit.
    TooLarge(usize),
    /// A WebSocket text message.
    NotBinary,
    /// A WebSocket protocol violation.
    Protocol(String),
    /// The transport failed.
    Io(String),
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Closed(Some(info)) => write!(f, "closed by the other side: {info}"),
            Self::Closed(None) => f.write_str("closed by the other side"),
            Self::TooLarge(n) => write!(f, "message of {n} bytes exceeds {MAX_MESSAGE_SIZE}"),
            Self::NotBinary => f.write_str("text message on a binary protocol"),
            Self::Protocol(e) => write!(f, "protocol error: {e}"),
            Self::Io(e) => write!(f, "transport error: {e}"),
        }
    }
}

/// Why writing a message failed.
#[derive(Debug)]
pub(crate) struct SendError(pub(crate) String);

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The receiving half of a message connection.
pub(crate) enum MsgReader {
    Ws(WsRead),
    #[cfg(feature = "quic")]
    Quic(quinn::Connection),
}

/// The sending half of a message connection.
pub(crate) enum MsgWriter {
    Ws(WsWrite),
    #[cfg(feature = "quic")]
    Quic(quinn::Connection),
}

/// Splits a WebSocket into erased halves, whatever stream it runs on.
pub(crate) fn split_ws<S>(ws: WebSocketStream<S>) -> (MsgReader, MsgWriter)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sink, stream) = ws.split();
    (
        MsgReader::Ws(Box::pin(stream)),
        MsgWriter::Ws(Box::pin(sink)),
    )
}

/// Both halves of a QUIC connection (the handle is shared).
#[cfg(feature = "quic")]
pub(crate) fn split_quic(conn: quinn::Connection) -> (MsgReader, MsgWriter) {
    (MsgReader::Quic(conn.clone()), MsgWriter::Quic(conn))
}

fn ws_error(e: WsError) -> RecvError {
    match e {
        WsError::ConnectionClosed | WsError::AlreadyClosed => RecvError::Closed(None),
        WsError::Capacity(CapacityError::MessageTooLong { size, .. }) => RecvError::TooLarge(size),
        WsError::Capacity(e) => RecvError::Protocol(e.to_string()),
        WsError::Protocol(e) => RecvError::Protocol(e.to_string()),
        WsError::Utf8(e) => RecvError::Protocol(e),
        WsError::Io(e) => RecvError::Io(e.to_string()),
        other => RecvError::Io(other.to_string()),
    }
}

#[cfg(feature = "quic")]
fn quic_error(e: quinn::ConnectionError) -> RecvError {
    match e {
        quinn::ConnectionError::ApplicationClosed(close) => RecvError::Closed(Some(CloseInfo {
            code: u16::try_from(close.error_code.into_inner()).unwrap_or(u16::MAX),
            reason: String::from_utf8_lossy(&close.reason).into_owned(),
        })),
        quinn::ConnectionError::LocallyClosed => RecvError::Closed(None),
        other => RecvError::Io(other.to_string()),
    }
}

impl MsgReader {
    /// The next relay message, at most `max` bytes.
    pub(crate) async fn recv(&mut self, max: usize) -> Result<Bytes, RecvError> {
        match self {
            Self::Ws(stream) => loop {
                let msg = match stream.next().await {
                    None => return Err(RecvError::Closed(None)),
                    Some(Err(e)) => return Err(ws_error(e)),
                    Some(Ok(m)) => m,
                };
                match msg {
                    Message::Binary(b) if b.len() > max => {
                        return Err(RecvError::TooLarge(b.len()));
                    }
                    Message::Binary(b) => return Ok(b),
                    Message::Text(_) => return Err(RecvError::NotBinary),
                    Message::Close(frame) => {
                        return Err(RecvError::Closed(frame.map(|f| CloseInfo {
                            code: f.code.into(),
                            reason: f.reason.to_string(),
                        })));
                    }
                    // tungstenite answers pings itself; nothing else reaches here.
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                }
            },
            #[cfg(feature = "quic")]
            Self::Quic(conn) => {
                let b = conn.read_datagram().await.map_err(quic_error)?;
                if b.len() > max {
                    return Err(RecvError::TooLarge(b.len()));
                }
                Ok(b)
            }
        }
    }
}

impl MsgWriter {
    /// Queues one message without flushing (WebSocket) or sends it (QUIC, waiting for
    /// room in the datagram buffer rather than dropping older datagrams).
    pub(crate) async fn feed(&mut self, msg: Bytes) -> Result<(), SendError> {
        match self {
            Self::Ws(sink) => sink
                .feed(Message::Binary(msg))
                .await
                .map_err(|e| SendError(e.to_string())),
            #[cfg(feature = "quic")]
            Self::Quic(conn) => conn
                .send_datagram_wait(msg)
                .await
                .map_err(|e| SendError(e.to_string())),
        }
    }

    /// Pushes fed messages to the network.
    pub(crate) async fn flush(&mut self) -> Result<(), SendError> {
        match self {
            Self::Ws(sink) => sink.flush().await.map_err(|e| SendError(e.to_string())),
            #[cfg(feature = "quic")]
            Self::Quic(_) => Ok(()),
        }
    }

    /// Sends one message and flushes it.
    pub(crate) async fn send(&mut self, msg: Bytes) -> Result<(), SendError> {
        self.feed(msg).await?;
        self.flush().await
    }

    /// Closes the connection with a code and reason the other side can read.
    pub(crate) async fn close(&mut self, info: &CloseInfo) {
        match self {
            Self::Ws(sink) => {
                let frame = CloseFrame {
                    code: info.code.into(),
                    reason: info.reason.as_str().into(),
                };
                // The other side may already be gone; closing is best effort.
                let _ = sink.send(Message::Close(Some(frame))).await;
                let _ = sink.close().await;
            }
            #[cfg(feature = "quic")]
            Self::Quic(conn) => conn.close(quinn::VarInt::from(info.code), info.reason.as_bytes()),
        }
    }
}
