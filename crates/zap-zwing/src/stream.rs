//! [`ZwingStream`]: the encrypted channel after a handshake, as `AsyncRead + AsyncWrite`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::Error;
use crate::handshake::Role;
use crate::identity::IdentityPublic;
use crate::record::{Opener, Sealer};
use crate::sizes::{FRAME_HEADER_LEN, MAX_RECORD_PLAINTEXT_LEN, TAG_LEN};
use crate::wire::frame_len;

/// Buffers above this size are released once traffic turns to small records, so an idle
/// connection does not keep a 1 MiB buffer from an earlier bulk transfer for long.
const KEEP_BUFFER: usize = 64 * 1024;

/// An encrypted, authenticated Z-Wing channel over a transport `IO`.
///
/// Writes are cut into records of at most 1 048 560 plaintext bytes; each `poll_write`
/// seals one record and hands it to the transport, so call `flush` (or `shutdown`) to be
/// sure the last record has left. Reads return the plaintext of records in order and
/// keep what does not fit the caller's buffer for the next read.
///
/// Any record that fails authentication, a frame over 1 MiB, or a connection cut in the
/// middle of a record makes every later read fail: the channel cannot recover its
/// position. Z-Wing v1 has no close message, so a clean end of stream at a record
/// boundary is reported as end of file, and a truncation exactly at a record boundary
/// cannot be told apart from it.
///
/// Reads wait as long as the transport does: put a deadline around them
/// (`tokio::time::timeout`) where a silent peer must not hold you up.
pub struct ZwingStream<IO> {
    io: IO,
    role: Role,
    remote: IdentityPublic,
    peer_confirmed: bool,
    read: ReadSide,
    write: WriteSide,
}

struct ReadSide {
    opener: Opener,
    state: ReadState,
    header: [u8; FRAME_HEADER_LEN],
    /// Holds the record being received; after an in-place decryption it holds plaintext.
    buf: Vec<u8>,
}

#[derive(Clone, Copy)]
enum ReadState {
    Header { got: usize },
    Body { len: usize, got: usize },
    Plain { pos: usize, end: usize },
    Eof,
    Failed(Failure),
}

struct WriteSide {
    sealer: Sealer,
    /// Sealed frames not yet accepted by the transport: `out[pos..]`.
    out: Vec<u8>,
    pos: usize,
    failed: Option<Failure>,
}

/// Why a direction stopped for good. Kept small and `Copy` so every later call can
/// report it again.
#[derive(Clone, Copy, Debug)]
enum Failure {
    Corrupted,
    TooLarge(usize),
    EmptyFrame,
    Exhausted,
    Truncated,
    Transport(io::ErrorKind),
}

impl Failure {
    fn of(err: &Error) -> Self {
        match err {
            Error::CiphertextCorrupted => Failure::Corrupted,
            Error::MessageTooLarge(n) => Failure::TooLarge(*n),
            Error::SequenceExhausted => Failure::Exhausted,
            Error::Io(e) => Failure::Transport(e.kind()),
            Error::InvalidWireFormat(_) => Failure::EmptyFrame,
            _ => Failure::Corrupted,
        }
    }

    fn to_io(self) -> io::Error {
        match self {
            Failure::Corrupted => Error::CiphertextCorrupted.into(),
            Failure::TooLarge(n) => Error::MessageTooLarge(n).into(),
            Failure::EmptyFrame => Error::InvalidWireFormat("empty frame").into(),
            Failure::Exhausted => Error::SequenceExhausted.into(),
            Failure::Truncated => io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the connection closed in the middle of a Z-Wing record",
            ),
            Failure::Transport(kind) => {
                io::Error::new(kind, "the transport failed earlier on this Z-Wing stream")
            }
        }
    }
}

impl<IO> ZwingStream<IO> {
    pub(crate) fn new(
        io: IO,
        role: Role,
        remote: IdentityPublic,
        send_key: &[u8; 32],
        recv_key: &[u8; 32],
    ) -> Self {
        Self {
            io,
            role,
            remote,
            // The responder signed the transcript, so an initiator knows its peer is live;
            // a responder learns that only when the first record from the initiator opens.
            peer_confirmed: role == Role::Initiator,
            read: ReadSide {
                opener: Opener::new(recv_key),
                state: ReadState::Header { got: 0 },
                header: [0; FRAME_HEADER_LEN],
                buf: Vec::new(),
            },
            write: WriteSide {
                sealer: Sealer::new(send_key),
                out: Vec::new(),
                pos: 0,
                failed: None,
            },
        }
    }

    /// The peer's public identity, verified during the handshake.
    pub fn remote_identity(&self) -> &IdentityPublic {
        &self.remote
    }

    /// The role this side played in the handshake.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether the peer has proven it holds its identity's keys *in this session*.
    ///
    /// Always true for an initiator (the responder signed the transcript). For a
    /// responder it turns true once the first record from the initiator authenticates:
    /// a replayed `HandshakeInit` gets through the handshake but can never produce one.
    pub fn peer_confirmed(&self) -> bool {
        self.peer_confirmed
    }

    /// The underlying transport (for addresses and socket options; writing to it directly
    /// would corrupt the channel, so there is no mutable access).
    pub fn get_ref(&self) -> &IO {
        &self.io
    }
}

impl<IO> std::fmt::Debug for ZwingStream<IO> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ZwingStream")
            .field("role", &self.role)
            .field("remote", &self.remote)
            .field("peer_confirmed", &self.peer_confirmed)
            .finish_non_exhaustive()
    }
}

impl<IO: AsyncRead + Unpin> ZwingStream<IO> {
    fn fail_read(&mut self, err: Error) -> Poll<io::Result<()>> {
        tracing::debug!(error = %err, remote = %self.remote.fingerprint().short(), "zwing: inbound record rejected");
        self.read.state = ReadState::Failed(Failure::of(&err));
        Poll::Ready(Err(err.into()))
    }

    fn fail_read_with(&mut self, failure: Failure) -> Poll<io::Result<()>> {
        tracing::debug!(?failure, remote = %self.remote.fingerprint().short(), "zwing: inbound stream failed");
        self.read.state = ReadState::Failed(failure);
        Poll::Ready(Err(failure.to_io()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for ZwingStream<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            match this.read.state {
                ReadState::Plain { pos, end } => {
                    let n = (end - pos).min(buf.remaining());
                    buf.put_slice(&this.read.buf[pos..pos + n]);
                    this.read.state = if pos + n == end {
                        ReadState::Header { got: 0 }
                    } else {
                        ReadState::Plain { pos: pos + n, end }
                    };
                    return Poll::Ready(Ok(()));
                }
                ReadState::Eof => return Poll::Ready(Ok(())),
                ReadState::Failed(failure) => return Poll::Ready(Err(failure.to_io())),
                ReadState::Header { got } => {
                    let mut rb = ReadBuf::new(&mut this.read.header[got..]);
                    if let Err(e) = ready!(Pin::new(&mut this.io).poll_read(cx, &mut rb)) {
                        this.read.state = ReadState::Failed(Failure::Transport(e.kind()));
                        return Poll::Ready(Err(e));
                    }
                    let n = rb.filled().len();
                    if n == 0 {
                        if got == 0 {
                            this.read.state = ReadState::Eof;
                            return Poll::Ready(Ok(()));
                        }
                        return this.fail_read_with(Failure::Truncated);
                    }
                    if got + n < FRAME_HEADER_LEN {
                        this.read.state = ReadState::Header { got: got + n };
                        continue;
                    }
                    let len = match frame_len(this.read.header) {
                        Ok(len) => len,
                        Err(e) => return this.fail_read(e),
                    };
                    if len < TAG_LEN {
                        return this.fail_read(Error::CiphertextCorrupted);
                    }
                    if len <= KEEP_BUFFER / 4 && this.read.buf.len() > KEEP_BUFFER {
                        this.read.buf = Vec::new();
                    }
                    if this.read.buf.len() < len {
                        this.read.buf.resize(len, 0);
                    }
                    this.read.state = ReadState::Body { len, got: 0 };
                }
                ReadState::Body { len, got } => {
                    let mut rb = ReadBuf::new(&mut this.read.buf[got..len]);
                    if let Err(e) = ready!(Pin::new(&mut this.io).poll_read(cx, &mut rb)) {
                        this.read.state = ReadState::Failed(Failure::Transport(e.kind()));
                        return Poll::Ready(Err(e));
                    }
                    let n = rb.filled().len();
                    if n == 0 {
                        return this.fail_read_with(Failure::Truncated);
                    }
                    if got + n < len {
                        this.read.state = ReadState::Body { len, got: got + n };
                        continue;
                    }
                    let plain_len = len - TAG_LEN;
                    if plain_len > 0 && buf.remaining() >= plain_len {
                        // The whole plaintext fits: decrypt straight into the caller's
                        // buffer, which is written only once the tag has verified.
                        let out = &mut buf.initialize_unfilled_to(plain_len)[..plain_len];
                        if let Err(e) = this.read.opener.open_into(&this.read.buf[..len], out) {
                            return this.fail_read(e);
                        }
                        buf.advance(plain_len);
                        this.peer_confirmed = true;
                        this.read.state = ReadState::Header { got: 0 };
                        return Poll::Ready(Ok(()));
                    }
                    match this.read.opener.open_in_place(&mut this.read.buf[..len]) {
                        Ok(_) => this.peer_confirmed = true,
                        Err(e) => return this.fail_read(e),
                    }
                    // An empty record carries nothing to return; a read that returned no
                    // bytes would mean end of file, so go on to the next record.
                    this.read.state = if plain_len == 0 {
                        ReadState::Header { got: 0 }
                    } else {
                        ReadState::Plain {
                            pos: 0,
                            end: plain_len,
                        }
                    };
                }
            }
        }
    }
}

impl<IO: AsyncWrite + Unpin> ZwingStream<IO> {
    /// Hands sealed bytes to the transport until none are left.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(failure) = self.write.failed {
            return Poll::Ready(Err(failure.to_io()));
        }
        while self.write.pos < self.write.out.len() {
            let pending = &self.write.out[self.write.pos..];
            match ready!(Pin::new(&mut self.io).poll_write(cx, pending)) {
                Ok(0) => {
                    self.write.failed = Some(Failure::Transport(io::ErrorKind::WriteZero));
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => self.write.pos += n,
                Err(e) => {
                    self.write.failed = Some(Failure::Transport(e.kind()));
                    return Poll::Ready(Err(e));
                }
            }
        }
        self.write.out.clear();
        self.write.pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for ZwingStream<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        // At most one write's records wait in memory: older ones leave first.
        ready!(this.poll_drain(cx))?;
        let n = data.len().min(MAX_RECORD_PLAINTEXT_LEN);
        if n <= KEEP_BUFFER / 4 && this.write.out.capacity() > KEEP_BUFFER {
            this.write.out = Vec::new();
        }
        if let Err(e) = this
            .write
            .sealer
            .seal_frame(&data[..n], &mut this.write.out)
        {
            tracing::debug!(error = %e, "zwing: cannot seal record");
            return Poll::Ready(Err(e.into()));
        }
        // Start sending now; what the transport does not take yet leaves on the next
        // write or flush. The bytes are accepted either way.
        if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}
