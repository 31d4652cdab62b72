//! [`connect`], [`accept`] and [`dial`]: the handshake over any async transport.

use std::future::Future;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};
use tracing::Instrument;

use crate::config::Config;
use crate::handshake::{Initiator, VerifiedInit};
use crate::replay::ReplayCache;
use crate::sizes::{FRAME_HEADER_LEN, HANDSHAKE_INIT_LEN, HANDSHAKE_RESPONSE_LEN};
use crate::stream::ZwingStream;
use crate::wire::{frame_header, frame_len};
use crate::{Error, sizes};

/// Runs the handshake as the initiator (client) over `io` and returns the encrypted
/// stream, whose [`remote_identity`](ZwingStream::remote_identity) is the responder's
/// verified identity.
///
/// The whole handshake is bounded by [`Config::handshake_timeout`]. On any failure `io`
/// is dropped, which closes it.
///
/// # Errors
/// [`Error::HandshakeTimeout`], [`Error::HandshakeClosed`] (the responder hung up, which
/// is how it refuses us), [`Error::IdentityMismatch`] (the responder is not one the
/// [`PeerPolicy`](crate::PeerPolicy) allows), and the verification errors of
/// [`Initiator::finish`].
pub async fn connect<IO>(io: IO, config: &Config) -> Result<ZwingStream<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let span = tracing::info_span!(
        "zwing.connect",
        local = %config.identity().fingerprint().short(),
        remote = tracing::field::Empty,
    );
    let started = Instant::now();
    let result = within(config.handshake_timeout(), run_initiator(io, config))
        .instrument(span.clone())
        .await;
    report(&span, "initiator", started, &result);
    result
}

/// Runs the handshake as the responder (server) over `io` and returns the encrypted
/// stream, whose [`remote_identity`](ZwingStream::remote_identity) is the initiator's
/// verified identity.
///
/// The initiator has shown a valid signature but not yet that it is live: see
/// [`ZwingStream::peer_confirmed`]. The whole handshake is bounded by
/// [`Config::handshake_timeout`], and the responder reads exactly one 6577-byte message
/// before authenticating the peer, whatever length the peer announces. On any failure
/// `io` is dropped, which closes it.
///
/// # Errors
/// [`Error::HandshakeTimeout`], [`Error::HandshakeClosed`], [`Error::Replayed`],
/// [`Error::IdentityMismatch`], and the verification errors of [`VerifiedInit::verify`].
pub async fn accept<IO>(io: IO, config: &Config) -> Result<ZwingStream<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let span = tracing::info_span!(
        "zwing.accept",
        local = %config.identity().fingerprint().short(),
        remote = tracing::field::Empty,
    );
    let started = Instant::now();
    let result = within(config.handshake_timeout(), run_responder(io, config))
        .instrument(span.clone())
        .await;
    report(&span, "responder", started, &result);
    result
}

/// Opens a TCP connection to `addr` (with `TCP_NODELAY`) and runs [`connect`] over it.
/// The handshake timeout bounds the TCP connect and the handshake together.
///
/// # Errors
/// As [`connect`], plus [`Error::Io`] when the TCP connection cannot be opened.
pub async fn dial<A: ToSocketAddrs>(
    addr: A,
    config: &Config,
) -> Result<ZwingStream<TcpStream>, Error> {
    let span = tracing::info_span!(
        "zwing.dial",
        local = %config.identity().fingerprint().short(),
        peer_addr = tracing::field::Empty,
        remote = tracing::field::Empty,
    );
    let started = Instant::now();
    let attempt = async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        if let Ok(peer) = tcp.peer_addr() {
            tracing::Span::current().record("peer_addr", tracing::field::display(peer));
        }
        run_initiator(tcp, config).await
    };
    let result = within(config.handshake_timeout(), attempt)
        .instrument(span.clone())
        .await;
    report(&span, "initiator", started, &result);
    result
}

async fn run_initiator<IO>(mut io: IO, config: &Config) -> Result<ZwingStream<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let identity = config.identity().clone();
    let initiator = off_thread(move || Initiator::new(identity)).await?;
    write_frame(&mut io, initiator.message()).await?;
    let response = read_frame_exact(&mut io, HANDSHAKE_RESPONSE_LEN).await?;
    let established = off_thread(move || initiator.finish(&response)).await?;
    config.peer_policy().check(established.remote_identity())?;
    Ok(established.into_stream(io))
}

async fn run_responder<IO>(mut io: IO, config: &Config) -> Result<ZwingStream<IO>, Error>
where
    IO: AsyncRead + AsyncWrite + Unpin,
{
    let init = read_frame_exact(&mut io, HANDSHAKE_INIT_LEN).await?;
    let replay = config
        .replay_cache()
        .map(|cache| (cache, ReplayCache::key(&init)));
    // A known copy is refused before it costs any public-key work.
    if let Some((cache, key)) = &replay
        && cache.contains(key)
    {
        return Err(Error::Replayed);
    }
    let verified = off_thread(move || VerifiedInit::verify(&init)).await?;
    config.peer_policy().check(verified.remote_identity())?;
    // Only verified messages are remembered, so junk cannot push real entries out.
    if let Some((cache, key)) = replay
        && !cache.insert(key)
    {
        return Err(Error::Replayed);
    }
    let identity = config.identity().clone();
    let (response, established) = off_thread(move || verified.respond(&identity)).await?;
    write_frame(&mut io, &response).await?;
    Ok(established.into_stream(io))
}

/// Public-key work takes a millisecond or more; it runs on tokio's blocking pool so a
/// burst of handshakes does not stall the tasks sharing a worker thread. Outside a tokio
/// runtime it runs inline.
async fn off_thread<T, F>(work: F) -> Result<T, Error>
where
    F: FnOnce() -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => handle.spawn_blocking(work).await.map_err(|e| {
            Error::Io(std::io::Error::other(format!(
                "the handshake's crypto task did not finish: {e}"
            )))
        })?,
        Err(_) => work(),
    }
}

async fn within<T>(
    limit: Option<Duration>,
    fut: impl Future<Output = Result<T, Error>>,
) -> Result<T, Error> {
    match limit {
        Some(limit) => tokio::time::timeout(limit, fut)
            .await
            .map_err(|_| Error::HandshakeTimeout(limit))?,
        None => fut.await,
    }
}

async fn write_frame<W: AsyncWrite + Unpin>(io: &mut W, payload: &[u8]) -> Result<(), Error> {
    let mut frame = Vec::with_capacity(FRAME_HEADER_LEN + payload.len());
    frame.extend_from_slice(&frame_header(payload.len())?);
    frame.extend_from_slice(payload);
    io.write_all(&frame).await.map_err(closed_is_closed)?;
    io.flush().await.map_err(closed_is_closed)?;
    Ok(())
}

/// Reads one handshake frame that must be exactly `expected` bytes: every Z-Wing v1
/// handshake message has a fixed size, so nothing larger is ever buffered before the
/// peer is authenticated.
async fn read_frame_exact<R: AsyncRead + Unpin>(
    io: &mut R,
    expected: usize,
) -> Result<Vec<u8>, Error> {
    let mut header = [0u8; FRAME_HEADER_LEN];
    io.read_exact(&mut header).await.map_err(closed_is_closed)?;
    let len = frame_len(header)?;
    if len != expected {
        return Err(Error::InvalidWireFormat(
            if expected == sizes::HANDSHAKE_INIT_LEN {
                "a HandshakeInit is exactly 6577 bytes"
            } else {
                "a HandshakeResponse is exactly 7715 bytes"
            },
        ));
    }
    let mut payload = vec![0u8; len];
    io.read_exact(&mut payload)
        .await
        .map_err(closed_is_closed)?;
    Ok(payload)
}

fn closed_is_closed(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::BrokenPipe => Error::HandshakeClosed,
        _ => Error::Io(e),
    }
}

/// Records the outcome on the span, in the log and in the metrics.
fn report<IO>(
    span: &tracing::Span,
    role: &'static str,
    started: Instant,
    result: &Result<ZwingStream<IO>, Error>,
) {
    let elapsed = started.elapsed();
    let outcome = match result {
        Ok(stream) => {
            let remote = stream.remote_identity().fingerprint().short();
            span.record("remote", tracing::field::display(&remote));
            span.in_scope(|| {
                tracing::debug!(
                    elapsed_ms = elapsed.as_secs_f64() * 1e3,
                    "zwing: handshake done"
                );
            });
            "ok"
        }
        Err(e) => {
            span.in_scope(|| tracing::debug!(error = %e, "zwing: handshake failed"));
            match e {
                Error::HandshakeTimeout(_) => "timeout",
                Error::HandshakeClosed => "closed",
                Error::IdentityMismatch { .. } | Error::Replayed => "refused",
                Error::Io(_) => "io",
                _ => "invalid",
            }
        }
    };
    metrics::counter!("zwing_handshakes_total", "role" => role, "outcome" => outcome).increment(1);
    metrics::histogram!("zwing_handshake_seconds", "role" => role).record(elapsed.as_secs_f64());
}
