//! The relay peer protocol, version 1: message layouts, limits, encoders and decoders.
//!
//! Every message is `[version = 1][type]` followed by a body whose layout depends on the
//! type. Decoders borrow from the input and never allocate; encoders check the upstream
//! size limits before building anything.

use bytes::{BufMut, Bytes, BytesMut};

use crate::peer_id::{PEER_ID_SIZE, PeerId};

/// The only protocol version the relay speaks.
pub const PROTOCOL_VERSION: u8 = 1;

/// The four bytes after the header of Auth and Hello (the STUN magic cookie).
pub const MAGIC: [u8; 4] = [0x21, 0x12, 0xA4, 0x42];

/// Size of the common header: version and type.
pub const HEADER_SIZE: usize = 2;

/// Largest first message the server reads (upstream `MaxHandshakeSize`).
pub const MAX_HANDSHAKE_SIZE: usize = 212;

/// Largest handshake response a client accepts (upstream `MaxHandshakeRespSize`).
pub const MAX_HANDSHAKE_RESPONSE_SIZE: usize = 8192;

/// Largest relay message in either direction (upstream `MaxMessageSize`).
pub const MAX_MESSAGE_SIZE: usize = 8820;

/// Bytes before the payload of a Transport message: header and the 36-byte peer slot.
pub const TRANSPORT_HEADER_SIZE: usize = HEADER_SIZE + PEER_ID_SIZE;

/// Largest payload of a Transport message.
pub const MAX_TRANSPORT_PAYLOAD: usize = MAX_MESSAGE_SIZE - TRANSPORT_HEADER_SIZE;

/// Bytes before the token of an Auth message: header, magic and the sender's id.
pub const AUTH_HEADER_SIZE: usize = HEADER_SIZE + MAGIC.len() + PEER_ID_SIZE;

/// Largest auth token that fits in a handshake message.
pub const MAX_TOKEN_SIZE: usize = MAX_HANDSHAKE_SIZE - AUTH_HEADER_SIZE;

/// Most peer ids one peer-state message carries: `(8820 - 2) / 36`.
pub const MAX_PEERS_PER_STATE_MESSAGE: usize = (MAX_MESSAGE_SIZE - HEADER_SIZE) / PEER_ID_SIZE;

/// The type byte of a relay message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    /// Deprecated handshake with a gob-encoded body (client to server).
    Hello = 1,
    /// Reply to [`MessageType::Hello`] (server to client).
    HelloResponse = 2,
    /// Data for or from another peer (both ways).
    Transport = 3,
    /// Graceful close (both ways).
    Close = 4,
    /// Liveness probe: the server sends it, the client echoes it.
    HealthCheck = 5,
    /// Current handshake (client to server).
    Auth = 6,
    /// Reply to [`MessageType::Auth`] carrying the instance URL (server to client).
    AuthResponse = 7,
    /// Register interest in peers' presence (client to server).
    SubscribePeerState = 8,
    /// Withdraw interest (client to server).
    UnsubscribePeerState = 9,
    /// Peers that are online (server to client).
    PeersOnline = 10,
    /// Peers that went offline (server to client).
    PeersWentOffline = 11,
}

impl MessageType {
    /// The type for a byte, or `None` for 0 (Unknown) and bytes past 11.
    pub const fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            1 => Self::Hello,
            2 => Self::HelloResponse,
            3 => Self::Transport,
            4 => Self::Close,
            5 => Self::HealthCheck,
            6 => Self::Auth,
            7 => Self::AuthResponse,
            8 => Self::SubscribePeerState,
            9 => Self::UnsubscribePeerState,
            10 => Self::PeersOnline,
            11 => Self::PeersWentOffline,
            _ => return None,
        })
    }

    /// The name used in logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Hello => "Hello",
            Self::HelloResponse => "HelloResponse",
            Self::Transport => "Transport",
            Self::Close => "Close",
            Self::HealthCheck => "HealthCheck",
            Self::Auth => "Auth",
            Self::AuthResponse => "AuthResponse",
            Self::SubscribePeerState => "SubscribePeerState",
            Self::UnsubscribePeerState => "UnsubscribePeerState",
            Self::PeersOnline => "PeersOnline",
            Self::PeersWentOffline => "PeersWentOffline",
        }
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What was wrong with a relay message's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Fewer bytes than the layout needs.
    #[error("{what} needs {need} bytes, got {got}")]
    TooShort {
        /// The part being read.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// More bytes than the protocol allows.
    #[error("{what} of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// The part being checked.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A version byte other than 1.
    #[error("unsupported protocol version {0} (only 1 is spoken)")]
    BadVersion(u8),
    /// A type byte that names no message.
    #[error("unknown message type {0}")]
    UnknownType(u8),
    /// A known message type sent in the wrong direction or at the wrong time.
    #[error("a {0} message is not expected here")]
    UnexpectedType(MessageType),
    /// Auth or Hello without the magic bytes.
    #[error("bad magic bytes {0:02x?}")]
    BadMagic([u8; 4]),
    /// A peer-state body whose length is not a multiple of 36.
    #[error("peer list of {0} bytes is not a whole number of 36-byte ids")]
    RaggedPeerList(usize),
    /// An attempt to encode a peer-state message with no peers.
    #[error("a peer-state message needs at least one peer")]
    EmptyPeerList,
    /// An instance URL that is not UTF-8.
    #[error("the instance URL is not UTF-8")]
    BadUrl,
}

/// A list of peer ids borrowed from a peer-state message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PeerIdList<'a>(&'a [u8]);

impl<'a> PeerIdList<'a> {
    /// Wraps a body that must be a whole number of 36-byte ids.
    pub fn new(body: &'a [u8]) -> Result<Self, WireError> {
        if !body.len().is_multiple_of(PEER_ID_SIZE) {
            return Err(WireError::RaggedPeerList(body.len()));
        }
        Ok(Self(body))
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.0.len() / PEER_ID_SIZE
    }

    /// True when the list holds no id.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ids in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = PeerId> + 'a {
        self.0.chunks_exact(PEER_ID_SIZE).map(|c| {
            let mut id = [0u8; PEER_ID_SIZE];
            id.copy_from_slice(c);
            PeerId::from_bytes(id)
        })
    }

    /// The ids collected into a vector.
    pub fn to_vec(&self) -> Vec<PeerId> {
        self.iter().collect()
    }
}

impl std::fmt::Debug for PeerIdList<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A message a client sends, as the server reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientMessage<'a> {
    /// The deprecated handshake; its gob body is not decoded.
    Hello {
        /// The id the client claims.
        peer: PeerId,
    },
    /// The handshake.
    Auth {
        /// The id the client claims.
        peer: PeerId,
        /// The opaque token for the validator.
        token: &'a [u8],
    },
    /// Data for another peer.
    Transport {
        /// The destination.
        dst: PeerId,
        /// The opaque payload.
        payload: &'a [u8],
    },
    /// The client is leaving.
    Close,
    /// The echo of a server health check.
    HealthCheck,
    /// Interest in these peers' presence.
    Subscribe(PeerIdList<'a>),
    /// No more interest in these peers.
    Unsubscribe(PeerIdList<'a>),
}

/// A message the server sends, as a client reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMessage<'a> {
    /// The deprecated handshake reply (gob body, not decoded).
    HelloResponse(&'a [u8]),
    /// The handshake reply.
    AuthResponse {
        /// The relay's instance URL, e.g. `rels://relay.example.com:443`.
        url: &'a str,
    },
    /// Data from another peer.
    Transport {
        /// The sender.
        src: PeerId,
        /// The opaque payload.
        payload: &'a [u8],
    },
    /// The server is closing the connection.
    Close,
    /// A liveness probe to echo.
    HealthCheck,
    /// These peers are online.
    PeersOnline(PeerIdList<'a>),
    /// These peers went offline.
    PeersWentOffline(PeerIdList<'a>),
}

/// Checks the header and returns the message type.
pub fn message_type(msg: &[u8]) -> Result<MessageType, WireError> {
    if msg.len() < HEADER_SIZE {
        return Err(WireError::TooShort {
            what: "message header",
            need: HEADER_SIZE,
            got: msg.len(),
        });
    }
    if msg[0] != PROTOCOL_VERSION {
        return Err(WireError::BadVersion(msg[0]));
    }
    MessageType::from_byte(msg[1]).ok_or(WireError::UnknownType(msg[1]))
}

fn check_size(msg: &[u8]) -> Result<(), WireError> {
    if msg.len() > MAX_MESSAGE_SIZE {
        return Err(WireError::TooLarge {
            what: "message",
            len: msg.len(),
            max: MAX_MESSAGE_SIZE,
        });
    }
    Ok(())
}

fn magic_and_peer(msg: &[u8], what: &'static str) -> Result<PeerId, WireError> {
    if msg.len() < AUTH_HEADER_SIZE {
        return Err(WireError::TooShort {
            what,
            need: AUTH_HEADER_SIZE,
            got: msg.len(),
        });
    }
    let magic: [u8; 4] = [msg[2], msg[3], msg[4], msg[5]];
    if magic != MAGIC {
        return Err(WireError::BadMagic(magic));
    }
    PeerId::from_slice(&msg[6..AUTH_HEADER_SIZE])
}

fn transport_parts(msg: &[u8]) -> Result<(PeerId, &[u8]), WireError> {
    if msg.len() < TRANSPORT_HEADER_SIZE {
        return Err(WireError::TooShort {
            what: "Transport message",
            need: TRANSPORT_HEADER_SIZE,
            got: msg.len(),
        });
    }
    let peer = PeerId::from_slice(&msg[HEADER_SIZE..TRANSPORT_HEADER_SIZE])?;
    Ok((peer, &msg[TRANSPORT_HEADER_SIZE..]))
}

/// Decodes a message sent by a client. Types only a server sends are refused with
/// [`WireError::UnexpectedType`].
pub fn decode_client(msg: &[u8]) -> Result<ClientMessage<'_>, WireError> {
    check_size(msg)?;
    Ok(match message_type(msg)? {
        MessageType::Hello => ClientMessage::Hello {
            peer: magic_and_peer(msg, "Hello message")?,
        },
        MessageType::Auth => ClientMessage::Auth {
            peer: magic_and_peer(msg, "Auth message")?,
            token: &msg[AUTH_HEADER_SIZE..],
        },
        MessageType::Transport => {
            let (dst, payload) = transport_parts(msg)?;
            ClientMessage::Transport { dst, payload }
        }
        MessageType::Close => ClientMessage::Close,
        MessageType::HealthCheck => ClientMessage::HealthCheck,
        MessageType::SubscribePeerState => {
            ClientMessage::Subscribe(PeerIdList::new(&msg[HEADER_SIZE..])?)
        }
        MessageType::UnsubscribePeerState => {
            ClientMessage::Unsubscribe(PeerIdList::new(&msg[HEADER_SIZE..])?)
        }
        other => return Err(WireError::UnexpectedType(other)),
    })
}

/// Decodes a message sent by a server. Types only a client sends are refused with
/// [`WireError::UnexpectedType`].
pub fn decode_server(msg: &[u8]) -> Result<ServerMessage<'_>, WireError> {
    Ok(match message_type(msg)? {
        MessageType::HelloResponse => {
            check_handshake_response(msg)?;
            ServerMessage::HelloResponse(&msg[HEADER_SIZE..])
        }
        MessageType::AuthResponse => {
            check_handshake_response(msg)?;
            let url = std::str::from_utf8(&msg[HEADER_SIZE..]).map_err(|_| WireError::BadUrl)?;
            ServerMessage::AuthResponse { url }
        }
        MessageType::Transport => {
            check_size(msg)?;
            let (src, payload) = transport_parts(msg)?;
            ServerMessage::Transport { src, payload }
        }
        MessageType::Close => ServerMessage::Close,
        MessageType::HealthCheck => ServerMessage::HealthCheck,
        MessageType::PeersOnline => {
            check_size(msg)?;
            ServerMessage::PeersOnline(PeerIdList::new(&msg[HEADER_SIZE..])?)
        }
        MessageType::PeersWentOffline => {
            check_size(msg)?;
            ServerMessage::PeersWentOffline(PeerIdList::new(&msg[HEADER_SIZE..])?)
        }
        other => return Err(WireError::UnexpectedType(other)),
    })
}

fn check_handshake_response(msg: &[u8]) -> Result<(), WireError> {
    if msg.len() > MAX_HANDSHAKE_RESPONSE_SIZE {
        return Err(WireError::TooLarge {
            what: "handshake response",
            len: msg.len(),
            max: MAX_HANDSHAKE_RESPONSE_SIZE,
        });
    }
    Ok(())
}

fn header(buf: &mut BytesMut, ty: MessageType) {
    buf.put_u8(PROTOCOL_VERSION);
    buf.put_u8(ty as u8);
}

/// Encodes an Auth message: the sender's id and its token (at most [`MAX_TOKEN_SIZE`] bytes).
pub fn encode_auth(peer: &PeerId, token: &[u8]) -> Result<Bytes, WireError> {
    if token.len() > MAX_TOKEN_SIZE {
        return Err(WireError::TooLarge {
            what: "auth token",
            len: token.len(),
            max: MAX_TOKEN_SIZE,
        });
    }
    let mut buf = BytesMut::with_capacity(AUTH_HEADER_SIZE + token.len());
    header(&mut buf, MessageType::Auth);
    buf.put_slice(&MAGIC);
    buf.put_slice(peer.as_bytes());
    buf.put_slice(token);
    Ok(buf.freeze())
}

/// Encodes an AuthResponse carrying the instance URL.
pub fn encode_auth_response(url: &str) -> Result<Bytes, WireError> {
    if HEADER_SIZE + url.len() > MAX_HANDSHAKE_RESPONSE_SIZE {
        return Err(WireError::TooLarge {
            what: "handshake response",
            len: HEADER_SIZE + url.len(),
            max: MAX_HANDSHAKE_RESPONSE_SIZE,
        });
    }
    let mut buf = BytesMut::with_capacity(HEADER_SIZE + url.len());
    header(&mut buf, MessageType::AuthResponse);
    buf.put_slice(url.as_bytes());
    Ok(buf.freeze())
}

/// Encodes a Transport message. `peer` is the destination when a client sends it and the
/// source when the server delivers it.
pub fn encode_transport(peer: &PeerId, payload: &[u8]) -> Result<Bytes, WireError> {
    if payload.len() > MAX_TRANSPORT_PAYLOAD {
        return Err(WireError::TooLarge {
            what: "Transport payload",
            len: payload.len(),
            max: MAX_TRANSPORT_PAYLOAD,
        });
    }
    let mut buf = BytesMut::with_capacity(TRANSPORT_HEADER_SIZE + payload.len());
    header(&mut buf, MessageType::Transport);
    buf.put_slice(peer.as_bytes());
    buf.put_slice(payload);
    Ok(buf.freeze())
}

/// Rewrites the peer slot of a Transport message with `src`, the sender as the receiver
/// must see it. The bytes are reused when nothing else shares them.
pub fn stamp_source(msg: Bytes, src: &PeerId) -> Result<Bytes, WireError> {
    transport_parts(&msg)?;
    let mut buf = BytesMut::from(msg);
    buf[HEADER_SIZE..TRANSPORT_HEADER_SIZE].copy_from_slice(src.as_bytes());
    Ok(buf.freeze())
}

/// The destination (or source) in a Transport message's peer slot.
pub fn transport_peer(msg: &[u8]) -> Result<PeerId, WireError> {
    transport_parts(msg).map(|(p, _)| p)
}

/// The two-byte Close message.
pub fn encode_close() -> Bytes {
    Bytes::from_static(&[PROTOCOL_VERSION, MessageType::Close as u8])
}

/// The two-byte HealthCheck message.
pub fn encode_health_check() -> Bytes {
    Bytes::from_static(&[PROTOCOL_VERSION, MessageType::HealthCheck as u8])
}

/// Which of the four peer-state messages to encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerStateKind {
    /// SubscribePeerState (client to server).
    Subscribe,
    /// UnsubscribePeerState (client to server).
    Unsubscribe,
    /// PeersOnline (server to client).
    Online,
    /// PeersWentOffline (server to client).
    Offline,
}

impl PeerStateKind {
    const fn message_type(self) -> MessageType {
        match self {
            Self::Subscribe => MessageType::SubscribePeerState,
            Self::Unsubscribe => MessageType::UnsubscribePeerState,
            Self::Online => MessageType::PeersOnline,
            Self::Offline => MessageType::PeersWentOffline,
        }
    }
}

/// Encodes a peer-state message, split into as many messages as needed to keep each
/// within [`MAX_PEERS_PER_STATE_MESSAGE`] ids. An empty list is refused, as upstream does.
pub fn encode_peer_state(kind: PeerStateKind, peers: &[PeerId]) -> Result<Vec<Bytes>, WireError> {
    if peers.is_empty() {
        return Err(WireError::EmptyPeerList);
    }
    Ok(peers
        .chunks(MAX_PEERS_PER_STATE_MESSAGE)
        .map(|chunk| {
            let mut buf = BytesMut::with_capacity(HEADER_SIZE + chunk.len() * PEER_ID_SIZE);
            header(&mut buf, kind.message_type());
            for p in chunk {
                buf.put_slice(p.as_bytes());
            }
            buf.freeze()
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_match_upstream() {
        assert_eq!(MAX_PEERS_PER_STATE_MESSAGE, 244);
        assert_eq!(MAX_TOKEN_SIZE, 170);
        assert_eq!(TRANSPORT_HEADER_SIZE, 38);
    }

    #[test]
    fn peer_state_splits_at_244() {
        let peers: Vec<PeerId> = (0..500u32)
            .map(|i| PeerId::from_identity(&i.to_string()))
            .collect();
        let msgs = encode_peer_state(PeerStateKind::Online, &peers).unwrap();
        assert_eq!(msgs.len(), 3);
        assert!(msgs.iter().all(|m| m.len() <= MAX_MESSAGE_SIZE));
        let mut back = Vec::new();
        for m in &msgs {
            match decode_server(m).unwrap() {
                ServerMessage::PeersOnline(list) => back.extend(list.iter()),
                other => panic!("decoded as {other:?}"),
            }
        }
        assert_eq!(back, peers);
        assert_eq!(
            encode_peer_state(PeerStateKind::Subscribe, &[]),
            Err(WireError::EmptyPeerList)
        );
    }

    #[test]
    fn ragged_lists_and_wrong_directions_are_refused() {
        let mut m = vec![1, 8];
        m.extend_from_slice(&[0; 37]);
        assert_eq!(decode_client(&m), Err(WireError::RaggedPeerList(37)));
        assert_eq!(
            decode_client(&[1, 10]),
            Err(WireError::UnexpectedType(MessageType::PeersOnline))
        );
        assert_eq!(
            decode_server(&[1, 6]),
            Err(WireError::UnexpectedType(MessageType::Auth))
        );
        assert_eq!(decode_client(&[2, 3]), Err(WireError::BadVersion(2)));
        assert_eq!(decode_client(&[1, 0]), Err(WireError::UnknownType(0)));
        assert_eq!(decode_client(&[1, 12]), Err(WireError::UnknownType(12)));
        assert!(matches!(
            decode_client(&[1]),
            Err(WireError::TooShort { .. })
        ));
    }

    #[test]
    fn stamping_rewrites_only_the_slot() {
        let dst = PeerId::from_identity("b");
        let src = PeerId::from_identity("a");
        let msg = encode_transport(&dst, b"payload").unwrap();
        let stamped = stamp_source(msg, &src).unwrap();
        assert_eq!(
            decode_server(&stamped).unwrap(),
            ServerMessage::Transport {
                src,
                payload: b"payload"
            }
        );
        assert!(stamp_source(Bytes::from_static(&[1, 3, 0]), &src).is_err());
    }

    #[test]
    fn oversized_encodes_are_refused() {
        let p = PeerId::from_identity("x");
        assert!(encode_transport(&p, &vec![0; MAX_TRANSPORT_PAYLOAD]).is_ok());
        assert!(encode_transport(&p, &vec![0; MAX_TRANSPORT_PAYLOAD + 1]).is_err());
        assert!(encode_auth(&p, &[0; MAX_TOKEN_SIZE]).is_ok());
        assert!(encode_auth(&p, &[0; MAX_TOKEN_SIZE + 1]).is_err());
    }
}
