//! The mutually authenticated handshake that opens a link between two pods.
//!
//! ```text
//! dialer                                   acceptor
//!   HELLO      v3, addr, node, nonce_d, features, key ids  ─▶
//!          ◀─  HELLO_ACK  v3, addr, node, nonce_a, features, key id, MAC_a
//!   HELLO_FIN  MAC_d                                       ─▶
//! ```
//!
//! `MAC_a = HMAC(secret, acceptor label, HELLO, HELLO_ACK body)` proves the acceptor holds
//! the secret, over the dialer's fresh nonce; `MAC_d = HMAC(secret, dialer label, HELLO,
//! HELLO_ACK)` proves the same of the dialer over the acceptor's fresh nonce. A recorded
//! handshake replayed on a new connection meets a new nonce and fails. A refusal is
//! explained to the other side with a GOODBYE frame before the connection closes.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

use super::frame::{
    self, Features, FrameError, FrameType, Hello, HelloAck, MAX_HANDSHAKE_PAYLOAD, NONCE_SIZE,
    NodeId,
};
use super::secrets::{ACK_LABEL, ClusterSecrets, FIN_LABEL, mac, mac_eq};

/// Why a handshake failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The connection could not be made or broke.
    #[error("connection failed: {0}")]
    Io(String),
    /// The other side closed the connection without a word.
    #[error("the other side closed the connection")]
    Closed,
    /// The handshake did not finish in time.
    #[error("the handshake did not finish within {0:?}")]
    Timeout(Duration),
    /// The first frame was not a HELLO.
    #[error("the first frame was {0}, not HELLO")]
    FirstFrameNotHello(FrameType),
    /// A handshake frame with a bad layout.
    #[error("malformed handshake frame: {0}")]
    Malformed(FrameError),
    /// An openZro (Go) pod sent its replayable HELLO v2; mixed clusters are not formed.
    #[error(
        "an openZro Go pod ({addr}) sent HELLO v2; this fabric speaks the authenticated v3 only"
    )]
    GoPod {
        /// The address the Go pod announced.
        addr: String,
    },
    /// The other side did not sign, but this pod requires a secret.
    #[error("the other side runs unsigned but this pod requires a cluster secret")]
    UnsignedButRequired,
    /// The other side signed, but this pod runs unsigned.
    #[error("the other side signs but this pod runs unsigned")]
    SignedButUnsupported,
    /// No secret in common (a wrong or rotated-out secret).
    #[error("no cluster secret in common")]
    UnknownKey,
    /// The other side's proof does not match: a wrong secret, tampering or a replay.
    #[error("the other side's MAC does not match (wrong secret, tampering or replay)")]
    HmacMismatch,
    /// The other side is this very pod (it is listed in its own discovery answer).
    #[error("connected to itself")]
    SelfConnection,
    /// The other side refused and said why.
    #[error("refused by the other side: {0}")]
    Refused(String),
    /// The system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
}

impl HandshakeError {
    /// A short stable label for metrics (`relay_cluster_hello_rejects_total{reason}`).
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Io(_) => "io",
            Self::Closed => "closed",
            Self::Timeout(_) => "timeout",
            Self::FirstFrameNotHello(_) => "first_frame_not_hello",
            Self::Malformed(_) => "malformed",
            Self::GoPod { .. } => "go_hello_v2",
            Self::UnsignedButRequired => "unsigned_but_required",
            Self::SignedButUnsupported => "signed_but_unsupported",
            Self::UnknownKey => "unknown_key",
            Self::HmacMismatch => "hmac_mismatch",
            Self::SelfConnection => "self",
            Self::Refused(_) => "refused",
            Self::Random(_) => "random",
        }
    }

    /// True when the connection led back to this very pod (either side may notice).
    pub fn is_self_connection(&self) -> bool {
        match self {
            Self::SelfConnection => true,
            Self::Refused(why) => *why == Self::SelfConnection.to_string(),
            _ => false,
        }
    }

    /// Whether the other side should be told (it is still there to listen).
    fn tell_other_side(&self) -> bool {
        !matches!(self, Self::Io(_) | Self::Closed | Self::Refused(_))
    }
}

impl From<std::io::Error> for HandshakeError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Self::Closed
        } else {
            Self::Io(e.to_string())
        }
    }
}

/// Who we are, as the handshake presents it.
#[derive(Debug, Clone)]
pub(crate) struct Local {
    pub(crate) node: NodeId,
    pub(crate) announce: String,
    pub(crate) features: Features,
    pub(crate) secrets: ClusterSecrets,
}

/// A connection that finished the handshake.
#[derive(Debug)]
pub(crate) struct Established {
    pub(crate) stream: TcpStream,
    /// Bytes read past the handshake (frames the other side sent right after it).
    pub(crate) leftover: BytesMut,
    pub(crate) node: NodeId,
    pub(crate) announce: String,
    /// The features both sides offered.
    pub(crate) features: Features,
    pub(crate) dialed_by_me: bool,
}

pub(crate) fn random<const N: usize>() -> Result<[u8; N], HandshakeError> {
    let mut out = [0u8; N];
    getrandom::fill(&mut out).map_err(|e| HandshakeError::Random(e.to_string()))?;
    Ok(out)
}

/// Reads one frame of at most [`MAX_HANDSHAKE_PAYLOAD`] bytes.
async fn read_frame(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
) -> Result<(FrameType, Bytes), HandshakeError> {
    loop {
        if let Some(f) =
            frame::decode_frame(buf, MAX_HANDSHAKE_PAYLOAD).map_err(HandshakeError::Malformed)?
        {
            return Ok(f);
        }
        buf.reserve(1024);
        if stream.read_buf(buf).await? == 0 {
            return Err(HandshakeError::Closed);
        }
    }
}

async fn write_frame(
    stream: &mut TcpStream,
    ty: FrameType,
    payload: &[u8],
) -> Result<(), HandshakeError> {
    let mut out = BytesMut::new();
    frame::encode_frame(&mut out, ty, payload).map_err(HandshakeError::Malformed)?;
    stream.write_all(&out).await?;
    Ok(())
}

/// Tells the other side why, best effort and briefly: it may be gone already.
async fn refuse(stream: &mut TcpStream, why: &HandshakeError) {
    if why.tell_other_side() {
        let reason = frame::encode_goodbye(&why.to_string());
        let _ = timeout(
            Duration::from_millis(200),
            write_frame(stream, FrameType::GOODBYE, &reason),
        )
        .await;
    }
}

fn goodbye(payload: &[u8]) -> HandshakeError {
    HandshakeError::Refused(frame::decode_goodbye(payload).unwrap_or_else(|_| "no reason".into()))
}

/// Connects to `target` (from `source_ip` when given, so the sibling sees this pod's
/// address) and runs the dialer's side.
pub(crate) async fn dial(
    local: &Local,
    target: SocketAddr,
    source_ip: Option<IpAddr>,
    connect_timeout: Duration,
    handshake_timeout: Duration,
) -> Result<Established, HandshakeError> {
    let connect = async {
        let socket = match target {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        if let Some(ip) = source_ip.filter(|ip| ip.is_ipv4() == target.is_ipv4()) {
            // Best effort: where the pod IP is not a local address, the kernel chooses.
            let _ = socket.bind(SocketAddr::new(ip, 0));
        }
        socket.connect(target).await
    };
    let mut stream = timeout(connect_timeout, connect)
        .await
        .map_err(|_| HandshakeError::Timeout(connect_timeout))??;
    let _ = stream.set_nodelay(true);
    match timeout(handshake_timeout, dialer_side(local, &mut stream)).await {
        Ok(Ok((node, announce, features, leftover))) => Ok(Established {
            stream,
            leftover,
            node,
            announce,
            features,
            dialed_by_me: true,
        }),
        Ok(Err(e)) => {
            refuse(&mut stream, &e).await;
            Err(e)
        }
        Err(_) => Err(HandshakeError::Timeout(handshake_timeout)),
    }
}

async fn dialer_side(
    local: &Local,
    stream: &mut TcpStream,
) -> Result<(NodeId, String, Features, BytesMut), HandshakeError> {
    let nonce: [u8; NONCE_SIZE] = random()?;
    let hello = frame::encode_hello(&Hello {
        addr: &local.announce,
        node: local.node,
        nonce,
        features: local.features,
        key_ids: local.secrets.key_ids(),
    })
    .map_err(HandshakeError::Malformed)?;
    write_frame(stream, FrameType::HELLO, &hello).await?;

    let mut buf = BytesMut::with_capacity(1024);
    let (ty, payload) = read_frame(stream, &mut buf).await?;
    match ty {
        FrameType::HELLO_ACK => {}
        FrameType::GOODBYE => return Err(goodbye(&payload)),
        other => {
            return Err(HandshakeError::Malformed(FrameError::Invalid(
                match other {
                    FrameType::HELLO => "HELLO from the acceptor",
                    _ => "frame before HELLO_ACK",
                },
            )));
        }
    }
    let (ack, body_len) = frame::decode_hello_ack(&payload).map_err(HandshakeError::Malformed)?;
    if ack.node == local.node {
        return Err(HandshakeError::SelfConnection);
    }
    let fin_mac = match (local.secrets.is_empty(), ack.auth) {
        (true, None) => None,
        (true, Some(_)) => return Err(HandshakeError::SignedButUnsupported),
        (false, None) => return Err(HandshakeError::UnsignedButRequired),
        (false, Some((key, their_mac))) => {
            let secret = local.secrets.get(&key).ok_or(HandshakeError::UnknownKey)?;
            let want = mac(secret, ACK_LABEL, &[&hello, &payload[..body_len]]);
            if !mac_eq(&want, &their_mac) {
                return Err(HandshakeError::HmacMismatch);
            }
            Some(mac(secret, FIN_LABEL, &[&hello, &payload]))
        }
    };
    write_frame(
        stream,
        FrameType::HELLO_FIN,
        &frame::encode_hello_fin(fin_mac.as_ref()),
    )
    .await?;
    Ok((
        ack.node,
        ack.addr.to_owned(),
        local.features.intersect(ack.features),
        buf,
    ))
}

/// Runs the acceptor's side on an accepted connection.
pub(crate) async fn accept(
    local: &Local,
    mut stream: TcpStream,
    handshake_timeout: Duration,
) -> Result<Established, HandshakeError> {
    let _ = stream.set_nodelay(true);
    match timeout(handshake_timeout, acceptor_side(local, &mut stream)).await {
        Ok(Ok((node, announce, features, leftover))) => Ok(Established {
            stream,
            leftover,
            node,
            announce,
            features,
            dialed_by_me: false,
        }),
        Ok(Err(e)) => {
            refuse(&mut stream, &e).await;
            Err(e)
        }
        Err(_) => {
            let e = HandshakeError::Timeout(handshake_timeout);
            refuse(&mut stream, &e).await;
            Err(e)
        }
    }
}

async fn acceptor_side(
    local: &Local,
    stream: &mut TcpStream,
) -> Result<(NodeId, String, Features, BytesMut), HandshakeError> {
    let mut buf = BytesMut::with_capacity(1024);
    let (ty, hello_bytes) = read_frame(stream, &mut buf).await?;
    if ty != FrameType::HELLO {
        return Err(HandshakeError::FirstFrameNotHello(ty));
    }
    let hello = match frame::decode_hello(&hello_bytes) {
        Ok(h) => h,
        Err(FrameError::Version(2)) => {
            let addr = frame::decode_hello_v2(&hello_bytes, None, 0)
                .map(|h| h.addr.to_owned())
                .or_else(|_| {
                    // Stale or signed: the address is still readable for the log.
                    hello_bytes
                        .get(2..2 + usize::from(*hello_bytes.get(1).unwrap_or(&0)))
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .ok_or(())
                })
                .unwrap_or_else(|()| "?".into());
            return Err(HandshakeError::GoPod { addr });
        }
        Err(e) => return Err(HandshakeError::Malformed(e)),
    };
    if hello.node == local.node {
        return Err(HandshakeError::SelfConnection);
    }
    let chosen = match (local.secrets.is_empty(), hello.key_ids.is_empty()) {
        (true, true) => None,
        (true, false) => return Err(HandshakeError::SignedButUnsupported),
        (false, true) => return Err(HandshakeError::UnsignedButRequired),
        (false, false) => Some(
            local
                .secrets
                .choose(&hello.key_ids)
                .ok_or(HandshakeError::UnknownKey)?,
        ),
    };
    let nonce: [u8; NONCE_SIZE] = random()?;
    let mut ack = HelloAck {
        addr: &local.announce,
        node: local.node,
        nonce,
        features: local.features,
        auth: chosen.map(|(key, _)| (key, [0u8; 32])),
    };
    let body = frame::encode_hello_ack_body(&ack).map_err(HandshakeError::Malformed)?;
    if let (Some((key, secret)), Some(auth)) = (chosen, ack.auth.as_mut()) {
        *auth = (key, mac(secret, ACK_LABEL, &[&hello_bytes, &body]));
    }
    let ack_bytes = frame::encode_hello_ack(&ack).map_err(HandshakeError::Malformed)?;
    write_frame(stream, FrameType::HELLO_ACK, &ack_bytes).await?;

    let (ty, fin) = read_frame(stream, &mut buf).await?;
    match ty {
        FrameType::HELLO_FIN => {}
        FrameType::GOODBYE => return Err(goodbye(&fin)),
        _ => {
            return Err(HandshakeError::Malformed(FrameError::Invalid(
                "frame before HELLO_FIN",
            )));
        }
    }
    let their_mac = frame::decode_hello_fin(&fin).map_err(HandshakeError::Malformed)?;
    match (chosen, their_mac) {
        (None, None) => {}
        (None, Some(_)) => return Err(HandshakeError::SignedButUnsupported),
        (Some(_), None) => return Err(HandshakeError::UnsignedButRequired),
        (Some((_, secret)), Some(theirs)) => {
            let want = mac(secret, FIN_LABEL, &[&hello_bytes, &ack_bytes]);
            if !mac_eq(&want, &theirs) {
                return Err(HandshakeError::HmacMismatch);
            }
        }
    }
    Ok((
        hello.node,
        hello.addr.to_owned(),
        local.features.intersect(hello.features),
        buf,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    fn local(secrets: &[&str], node: u8, addr: &str) -> Local {
        Local {
            node: NodeId([node; 16]),
            announce: addr.into(),
            features: Features::PRESENCE.union(Features::NOT_HERE),
            secrets: ClusterSecrets::new(secrets),
        }
    }

    async fn run(
        d: Local,
        a: Local,
    ) -> (
        Result<Established, HandshakeError>,
        Result<Established, HandshakeError>,
    ) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let t = Duration::from_secs(2);
        let acceptor = async {
            let (s, _) = listener.accept().await.unwrap();
            accept(&a, s, t).await
        };
        let dialer = dial(&d, addr, None, t, t);
        let (d, a) = tokio::join!(dialer, acceptor);
        (d, a)
    }

    #[tokio::test]
    async fn matching_secrets_establish_both_ways() {
        let (d, a) = run(
            local(&["new", "old"], 1, "127.0.0.1:1"),
            local(&["old"], 2, "127.0.0.1:2"),
        )
        .await;
        let (d, a) = (d.unwrap(), a.unwrap());
        assert_eq!(d.node, NodeId([2; 16]));
        assert_eq!(a.node, NodeId([1; 16]));
        assert_eq!(a.announce, "127.0.0.1:1");
        assert!(d.dialed_by_me && !a.dialed_by_me);
    }

    #[tokio::test]
    async fn refusals_name_their_reason_on_both_sides() {
        let (d, a) = run(local(&["x"], 1, "h:1"), local(&["y"], 2, "h:2")).await;
        assert_eq!(a.unwrap_err(), HandshakeError::UnknownKey);
        assert!(
            matches!(d.unwrap_err(), HandshakeError::Refused(r) if r.contains("no cluster secret"))
        );

        let (d, a) = run(local(&[], 1, "h:1"), local(&["y"], 2, "h:2")).await;
        assert_eq!(a.unwrap_err(), HandshakeError::UnsignedButRequired);
        assert!(d.is_err());

        let (d, a) = run(local(&["y"], 1, "h:1"), local(&[], 2, "h:2")).await;
        assert_eq!(a.unwrap_err(), HandshakeError::SignedButUnsupported);
        assert!(d.is_err());

        let (d, a) = run(local(&["y"], 7, "h:1"), local(&["y"], 7, "h:2")).await;
        assert_eq!(a.unwrap_err(), HandshakeError::SelfConnection);
        assert!(d.is_err());

        let (d, a) = run(local(&[], 1, "h:1"), local(&[], 2, "h:2")).await;
        assert!(d.is_ok() && a.is_ok(), "both unsigned is allowed");
    }
}
