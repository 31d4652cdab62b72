//! The node-id handshake, and the extension negotiation inside it.

use bytes::{BufMut, BytesMut};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_util::codec::FramedRead;
use zap_wire::Version;
use zap_wire::codec::{CodecError, PayloadCodec};
use zap_wire::node::{HANDSHAKE_SIZE, Handshake, LENGTH_PREFIX};

use std::sync::Arc;

use crate::error::ConnectionError;
use crate::extension::{EXT_LEN, Extensions};
use crate::identity::{TlsInfo, UnixCredentials};
use crate::options::ConnectionOptions;
use crate::peer::Wire;
use crate::transport::{BoxRead, BoxWrite, TransportAddr, Transported};

/// The largest handshake frame we read: the message and room for later extension
/// versions. Go sends 80 bytes.
const MAX_HANDSHAKE_FRAME: usize = HANDSHAKE_SIZE + 1024;
/// The read buffer a connection starts with (and refills to). Frames are sliced out of
/// it without copying, so a busy connection reads a few hundred small frames per system
/// call; a larger frame grows it as needed.
const READ_BUFFER: usize = 32 * 1024;

/// A connection after its handshake.
pub(crate) struct Established {
    pub(crate) frames: FramedRead<BoxRead, PayloadCodec>,
    pub(crate) writer: BoxWrite,
    pub(crate) remote: TransportAddr,
    pub(crate) peer_node_id: String,
    pub(crate) wire: Wire,
    pub(crate) peer_max_frame: usize,
    pub(crate) tls: Option<Arc<TlsInfo>>,
    pub(crate) credentials: Option<UnixCredentials>,
    #[cfg(feature = "quic")]
    pub(crate) quic: Option<quinn::Connection>,
}

/// What the transport proved, carried from the accepted or dialed stream to the
/// established connection.
struct Proven {
    remote: TransportAddr,
    tls: Option<Arc<TlsInfo>>,
    credentials: Option<UnixCredentials>,
    #[cfg(feature = "quic")]
    quic: Option<quinn::Connection>,
}

/// Splits a transported stream into its halves and what its transport proved.
fn take(t: Transported) -> (BoxRead, BoxWrite, Proven) {
    let proven = Proven {
        remote: t.remote,
        tls: t.tls,
        credentials: t.credentials,
        #[cfg(feature = "quic")]
        quic: t.quic,
    };
    (t.reader, t.writer, proven)
}

fn codec_error(e: CodecError) -> ConnectionError {
    // Whatever fails before both handshakes are through, no request was sent: a TLS
    // peer refusing our certificate after its handshake, for example, shows up here.
    match e {
        CodecError::Io(e) => {
            ConnectionError::Handshake(format!("reading the peer's handshake: {e}"))
        }
        other => ConnectionError::Handshake(other.to_string()),
    }
}

async fn write_handshake(
    writer: &mut BoxWrite,
    node_id: &str,
    ext: Option<Extensions>,
) -> Result<(), ConnectionError> {
    let msg = Handshake::encode(node_id.as_bytes(), Version::V1)
        .map_err(|e| ConnectionError::Handshake(format!("our node id: {e}")))?;
    let ext_len = if ext.is_some() { EXT_LEN } else { 0 };
    let mut buf = BytesMut::with_capacity(LENGTH_PREFIX + HANDSHAKE_SIZE + ext_len);
    buf.put_u32_le((HANDSHAKE_SIZE + ext_len) as u32);
    buf.put_slice(&msg);
    if let Some(ext) = ext {
        buf.put_slice(&ext.encode());
    }
    let io = |e: std::io::Error| ConnectionError::Handshake(format!("writing our handshake: {e}"));
    writer.write_all(&buf).await.map_err(io)?;
    writer.flush().await.map_err(io)
}

/// Reads the peer's handshake: its node id and its extension block, if it sent a valid one.
async fn read_handshake(
    frames: &mut FramedRead<BoxRead, PayloadCodec>,
) -> Result<(String, Option<Extensions>), ConnectionError> {
    let payload = match frames.next().await {
        Some(Ok(p)) => p,
        Some(Err(e)) => return Err(codec_error(e)),
        None => {
            return Err(ConnectionError::Handshake(
                "the peer closed the connection before its handshake (a Go node does this \
                 when it already has a connection from our node id)"
                    .into(),
            ));
        }
    };
    let hs = Handshake::decode(&payload)
        .map_err(|e| ConnectionError::Handshake(format!("peer handshake: {e}")))?;
    let node_id = String::from_utf8_lossy(hs.node_id).into_owned();
    let ext = match Extensions::decode(hs.extension) {
        Ok(ext) => ext,
        Err(e) => {
            // Bytes we cannot read after the message: treat the peer as a Go node.
            tracing::debug!(peer = %node_id, error = %e, "ignoring a malformed extension block");
            None
        }
    };
    Ok((node_id, ext))
}

fn established(
    mut frames: FramedRead<BoxRead, PayloadCodec>,
    writer: BoxWrite,
    proven: Proven,
    peer_node_id: String,
    ours: &ConnectionOptions,
    negotiated: Option<Extensions>,
) -> Established {
    *frames.decoder_mut() = PayloadCodec::new(ours.max_frame);
    let (wire, peer_max_frame) = match negotiated {
        Some(theirs) => (
            Wire::Rust(ours.offered().intersection(theirs.features)),
            theirs.max_frame_bytes(),
        ),
        None => (Wire::Go, zap_wire::node::DEFAULT_MAX_FRAME),
    };
    Established {
        frames,
        writer,
        remote: proven.remote,
        peer_node_id,
        wire,
        peer_max_frame,
        tls: proven.tls,
        credentials: proven.credentials,
        #[cfg(feature = "quic")]
        quic: proven.quic,
    }
}

/// The dialer's side: send first, then read the answer.
pub(crate) async fn dial(
    t: Transported,
    node_id: &str,
    opts: &ConnectionOptions,
) -> Result<Established, ConnectionError> {
    let (reader, mut writer, proven) = take(t);
    let offer = opts
        .extensions
        .then(|| Extensions::new(opts.offered(), opts.max_frame));
    let run = async {
        write_handshake(&mut writer, node_id, offer).await?;
        let mut frames =
            FramedRead::with_capacity(reader, PayloadCodec::new(MAX_HANDSHAKE_FRAME), READ_BUFFER);
        let (peer_id, theirs) = read_handshake(&mut frames).await?;
        // A block in the answer counts only if we offered one.
        let negotiated = offer.and(theirs);
        Ok((frames, peer_id, negotiated))
    };
    let (frames, peer_id, negotiated) =
        tokio::time::timeout(opts.handshake_timeout, run)
            .await
            .map_err(|_| ConnectionError::HandshakeTimeout(opts.handshake_timeout))??;
    Ok(established(
        frames, writer, proven, peer_id, opts, negotiated,
    ))
}

/// The acceptor's side: read the dialer's handshake, answer with ours (with an extension
/// block only if the dialer sent one and extensions are on).
pub(crate) async fn accept(
    t: Transported,
    node_id: &str,
    opts: &ConnectionOptions,
) -> Result<Established, ConnectionError> {
    let (reader, mut writer, proven) = take(t);
    let run = async {
        let mut frames =
            FramedRead::with_capacity(reader, PayloadCodec::new(MAX_HANDSHAKE_FRAME), READ_BUFFER);
        let (peer_id, theirs) = read_handshake(&mut frames).await?;
        let negotiated = if opts.extensions { theirs } else { None };
        let ours = negotiated.map(|_| Extensions::new(opts.offered(), opts.max_frame));
        write_handshake(&mut writer, node_id, ours).await?;
        Ok((frames, peer_id, negotiated))
    };
    let (frames, peer_id, negotiated) =
        tokio::time::timeout(opts.handshake_timeout, run)
            .await
            .map_err(|_| ConnectionError::HandshakeTimeout(opts.handshake_timeout))??;
    Ok(established(
        frames, writer, proven, peer_id, opts, negotiated,
    ))
}
