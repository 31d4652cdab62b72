//! Inter-pod frames: the openZro fabric's 3-byte header and every payload layout, with
//! the extensions this crate adds. Pure byte work, no I/O.
//!
//! A frame is `[type u8][payload length u16 BE][payload]`, as openZro ships it. The types
//! openZro defines keep their codes and layouts (WHO_HAS, I_HAVE, FWD, PING, PONG; the
//! HELLO v2 layout is decoded by [`decode_hello_v2`] so that a Go pod is recognised and
//! refused with a clear reason). The extensions are a mutually authenticated handshake
//! (HELLO v3, HELLO_ACK, HELLO_FIN), NOT_HERE (a negative answer), PRESENCE and GOODBYE.
//! `docs/wire.md` in the repository describes every byte.
//!
//! Decoders borrow from their input, check lengths before reading and never allocate
//! more than the frame they are given; [`decode_frame`] refuses a declared length above
//! the caller's limit before buffering it.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::peer_id::{PEER_ID_SIZE, PeerId};

/// Bytes before a frame's payload: type and big-endian u16 length.
pub const FRAME_HEADER_SIZE: usize = 3;
/// The largest payload a frame can carry (the u16 length field).
pub const MAX_FRAME_PAYLOAD: usize = u16::MAX as usize;
/// The inter-pod port openZro uses.
pub const DEFAULT_CLUSTER_PORT: u16 = 7090;
/// The version byte of the handshake this crate speaks.
pub const HELLO_VERSION: u8 = 3;
/// The version byte of the openZro (Go) HELLO.
pub const HELLO_V2_VERSION: u8 = 2;
/// Longest announce address in a HELLO (its length is one byte).
pub const MAX_ADDR_LEN: usize = 255;
/// Size of a node id: a random identifier drawn at every start of a pod.
pub const NODE_ID_SIZE: usize = 16;
/// Size of a handshake nonce.
pub const NONCE_SIZE: usize = 32;
/// Size of an HMAC-SHA256 tag.
pub const MAC_SIZE: usize = 32;
/// Size of a key id: the first bytes of a hash of a cluster secret, so the two sides can
/// agree on a secret without revealing it.
pub const KEY_ID_SIZE: usize = 8;
/// Most key ids one HELLO offers (the current secret and previous ones, for rotation).
pub const MAX_KEY_IDS: usize = 4;
/// Bytes of one presence entry: a peer id and its registration stamp.
pub const PRESENCE_ENTRY_SIZE: usize = PEER_ID_SIZE + 8;
/// Most entries in one PRESENCE frame.
pub const MAX_PRESENCE_ENTRIES: usize = (MAX_FRAME_PAYLOAD - 1) / PRESENCE_ENTRY_SIZE;
/// Largest handshake frame payload accepted before the other side is authenticated.
pub const MAX_HANDSHAKE_PAYLOAD: usize = 512;
/// The openZro HELLO v2 replay window (± this many seconds around now).
pub const HELLO_V2_WINDOW_SECS: u64 = 300;

/// The type byte of a frame. Unknown values are kept (and skipped by the fabric), so
/// that a newer pod can add types.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FrameType(pub u8);

impl FrameType {
    /// The dialer's handshake opening (openZro: the only handshake frame).
    pub const HELLO: Self = Self(0x00);
    /// "Who has this peer?" (openZro).
    pub const WHO_HAS: Self = Self(0x01);
    /// "I have this peer" (openZro).
    pub const I_HAVE: Self = Self(0x02);
    /// Extension: the acceptor's handshake reply, proving it holds the secret.
    pub const HELLO_ACK: Self = Self(0x03);
    /// Extension: the dialer's proof that it holds the secret.
    pub const HELLO_FIN: Self = Self(0x04);
    /// Extension: "this peer is not here" (a negative answer, or after a FWD).
    pub const NOT_HERE: Self = Self(0x05);
    /// Extension: peers attached here came online or went offline.
    pub const PRESENCE: Self = Self(0x06);
    /// Extension: the sender is leaving (or refuses the handshake), with a reason.
    pub const GOODBYE: Self = Self(0x07);
    /// openZro channel open (defined upstream, never sent).
    pub const OPEN: Self = Self(0x10);
    /// openZro channel open answer (defined upstream, never sent).
    pub const OPEN_ACK: Self = Self(0x11);
    /// openZro channel data (defined upstream, never sent).
    pub const DATA: Self = Self(0x12);
    /// openZro channel close (defined upstream, never sent).
    pub const CLOSE: Self = Self(0x13);
    /// A relay Transport message for a peer on the receiving pod (openZro).
    pub const FWD: Self = Self(0x14);
    /// Keepalive probe (defined upstream, sent and answered here).
    pub const PING: Self = Self(0x20);
    /// Keepalive answer.
    pub const PONG: Self = Self(0x21);

    /// The name for logs: `FWD`, or `FrameType(0xff)` for an unknown byte.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x00 => "HELLO",
            0x01 => "WHO_HAS",
            0x02 => "I_HAVE",
            0x03 => "HELLO_ACK",
            0x04 => "HELLO_FIN",
            0x05 => "NOT_HERE",
            0x06 => "PRESENCE",
            0x07 => "GOODBYE",
            0x10 => "OPEN",
            0x11 => "OPEN_ACK",
            0x12 => "DATA",
            0x13 => "CLOSE",
            0x14 => "FWD",
            0x20 => "PING",
            0x21 => "PONG",
            _ => return None,
        })
    }
}

impl fmt::Display for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "FrameType({:#04x})", self.0),
        }
    }
}

impl fmt::Debug for FrameType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// What was wrong with a frame's bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// A payload longer than the frame (or the caller's) limit.
    #[error("{what} of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// What was measured.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
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
    /// A fixed-size payload of the wrong length.
    #[error("{what} must be {want} bytes, got {got}")]
    BadLength {
        /// The payload.
        what: &'static str,
        /// Its size.
        want: usize,
        /// Bytes present.
        got: usize,
    },
    /// A HELLO version this pod does not speak.
    #[error("HELLO version {0} is not spoken here (version 3 is)")]
    Version(u8),
    /// A field with a value the layout does not allow.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// A connection ended in the middle of a frame.
    #[error("the connection ended inside a frame ({0} bytes buffered)")]
    Truncated(usize),
}

/// Appends one frame to `buf`. Refuses a payload over [`MAX_FRAME_PAYLOAD`] before
/// writing anything.
pub fn encode_frame(buf: &mut BytesMut, ty: FrameType, payload: &[u8]) -> Result<(), FrameError> {
    let len = check_payload(payload.len())?;
    buf.reserve(FRAME_HEADER_SIZE + payload.len());
    buf.put_u8(ty.0);
    buf.put_u16(len);
    buf.put_slice(payload);
    Ok(())
}

/// Appends a FWD frame carrying `msg` (a complete relay Transport message) for `dst`,
/// without building the payload separately.
pub fn encode_fwd(buf: &mut BytesMut, dst: &PeerId, msg: &[u8]) -> Result<(), FrameError> {
    let len = check_payload(PEER_ID_SIZE + msg.len())?;
    buf.reserve(FRAME_HEADER_SIZE + usize::from(len));
    buf.put_u8(FrameType::FWD.0);
    buf.put_u16(len);
    buf.put_slice(dst.as_bytes());
    buf.put_slice(msg);
    Ok(())
}

fn check_payload(len: usize) -> Result<u16, FrameError> {
    u16::try_from(len).map_err(|_| FrameError::TooLarge {
        what: "frame payload",
        len,
        max: MAX_FRAME_PAYLOAD,
    })
}

/// Takes one complete frame off the front of `buf`: `Ok(None)` when more bytes are
/// needed. A declared length above `max_payload` is refused before anything is buffered,
/// so a reader never holds more than `max_payload` plus its read size.
pub fn decode_frame(
    buf: &mut BytesMut,
    max_payload: usize,
) -> Result<Option<(FrameType, Bytes)>, FrameError> {
    let Some((ty, len)) = peek_header(buf, max_payload)? else {
        return Ok(None);
    };
    if buf.len() < FRAME_HEADER_SIZE + len {
        buf.reserve(FRAME_HEADER_SIZE + len - buf.len());
        return Ok(None);
    }
    buf.advance(FRAME_HEADER_SIZE);
    Ok(Some((ty, buf.split_to(len).freeze())))
}

/// Reads the header at the front of `bytes`, if complete: the type and payload length.
pub fn peek_header(
    bytes: &[u8],
    max_payload: usize,
) -> Result<Option<(FrameType, usize)>, FrameError> {
    if bytes.len() < FRAME_HEADER_SIZE {
        return Ok(None);
    }
    let len = usize::from(u16::from_be_bytes([bytes[1], bytes[2]]));
    if len > max_payload {
        return Err(FrameError::TooLarge {
            what: "frame payload",
            len,
            max: max_payload,
        });
    }
    Ok(Some((FrameType(bytes[0]), len)))
}

/// A pod's random identity for one run; it changes at every start, so a restarted pod
/// is a new node to its siblings.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(pub [u8; NODE_ID_SIZE]);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0[..6] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId(")?;
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// Extension features a pod offers in its HELLO; a link uses those both sides offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Features(pub u32);

impl Features {
    /// Sends and reads PRESENCE frames.
    pub const PRESENCE: Self = Self(1);
    /// Answers WHO_HAS and stray FWDs with NOT_HERE.
    pub const NOT_HERE: Self = Self(2);
    /// Sends PING and answers with PONG.
    pub const KEEPALIVE: Self = Self(4);

    /// True when every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// The features both sides offer.
    pub const fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Both sets.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

/// A key id: the first 8 bytes of SHA-256(`"zap-relay-fabric key id"` ‖ secret).
pub type KeyId = [u8; KEY_ID_SIZE];

/// The dialer's opening (HELLO v3): who it is, where it listens, a fresh nonce, and which
/// secrets it can use (none for an unsigned fabric).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello<'a> {
    /// The dialer's announce address, `host:port`.
    pub addr: &'a str,
    /// The dialer's node id.
    pub node: NodeId,
    /// A fresh random nonce, bound into the acceptor's MAC.
    pub nonce: [u8; NONCE_SIZE],
    /// Features the dialer offers.
    pub features: Features,
    /// Key ids of the secrets the dialer accepts, at most [`MAX_KEY_IDS`]; empty when it
    /// runs unsigned.
    pub key_ids: Vec<KeyId>,
}

/// The acceptor's reply: who it is, its nonce, and (signed fabrics) the key it chose with
/// a MAC over the whole transcript so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloAck<'a> {
    /// The acceptor's announce address.
    pub addr: &'a str,
    /// The acceptor's node id.
    pub node: NodeId,
    /// A fresh random nonce, bound into the dialer's MAC.
    pub nonce: [u8; NONCE_SIZE],
    /// Features the acceptor offers.
    pub features: Features,
    /// The chosen key and the MAC, or `None` when unsigned.
    pub auth: Option<(KeyId, [u8; MAC_SIZE])>,
}

fn put_addr(buf: &mut BytesMut, addr: &str) -> Result<(), FrameError> {
    let len = u8::try_from(addr.len()).map_err(|_| FrameError::TooLarge {
        what: "announce address",
        len: addr.len(),
        max: MAX_ADDR_LEN,
    })?;
    if addr.is_empty() || !addr.is_ascii() {
        return Err(FrameError::Invalid(
            "announce address (must be non-empty ASCII)",
        ));
    }
    buf.put_u8(len);
    buf.put_slice(addr.as_bytes());
    Ok(())
}

/// A cursor over a payload that reports what was missing.
struct Cursor<'a> {
    rest: &'a [u8],
    what: &'static str,
    consumed: usize,
}

impl<'a> Cursor<'a> {
    fn new(rest: &'a [u8], what: &'static str) -> Self {
        Self {
            rest,
            what,
            consumed: 0,
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        if self.rest.len() < n {
            return Err(FrameError::TooShort {
                what: self.what,
                need: self.consumed + n,
                got: self.consumed + self.rest.len(),
            });
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        self.consumed += n;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8, FrameError> {
        Ok(self.take(1)?[0])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], FrameError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, FrameError> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, FrameError> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    fn addr(&mut self) -> Result<&'a str, FrameError> {
        let len = usize::from(self.u8()?);
        let bytes = self.take(len)?;
        if bytes.is_empty() || !bytes.is_ascii() {
            return Err(FrameError::Invalid(
                "announce address (must be non-empty ASCII)",
            ));
        }
        std::str::from_utf8(bytes).map_err(|_| FrameError::Invalid("announce address"))
    }

    fn end(&self) -> Result<(), FrameError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(FrameError::BadLength {
                what: self.what,
                want: self.consumed,
                got: self.consumed + self.rest.len(),
            })
        }
    }
}

/// Encodes a HELLO v3 payload.
pub fn encode_hello(h: &Hello<'_>) -> Result<Bytes, FrameError> {
    if h.key_ids.len() > MAX_KEY_IDS {
        return Err(FrameError::TooLarge {
            what: "key id list",
            len: h.key_ids.len(),
            max: MAX_KEY_IDS,
        });
    }
    let mut buf = BytesMut::with_capacity(64 + h.addr.len() + KEY_ID_SIZE * h.key_ids.len());
    buf.put_u8(HELLO_VERSION);
    put_addr(&mut buf, h.addr)?;
    buf.put_slice(&h.node.0);
    buf.put_slice(&h.nonce);
    buf.put_u32(h.features.0);
    // Bounded by MAX_KEY_IDS above.
    buf.put_u8(h.key_ids.len() as u8);
    for k in &h.key_ids {
        buf.put_slice(k);
    }
    Ok(buf.freeze())
}

/// Decodes a HELLO v3 payload. A v2 (openZro Go) HELLO gives [`FrameError::Version`]
/// with 2; see [`decode_hello_v2`].
pub fn decode_hello(payload: &[u8]) -> Result<Hello<'_>, FrameError> {
    let mut c = Cursor::new(payload, "HELLO");
    let version = c.u8()?;
    if version != HELLO_VERSION {
        return Err(FrameError::Version(version));
    }
    let addr = c.addr()?;
    let node = NodeId(c.array()?);
    let nonce = c.array()?;
    let features = Features(c.u32()?);
    let n = usize::from(c.u8()?);
    if n > MAX_KEY_IDS {
        return Err(FrameError::TooLarge {
            what: "key id list",
            len: n,
            max: MAX_KEY_IDS,
        });
    }
    let mut key_ids = Vec::with_capacity(n);
    for _ in 0..n {
        key_ids.push(c.array()?);
    }
    c.end()?;
    Ok(Hello {
        addr,
        node,
        nonce,
        features,
        key_ids,
    })
}

/// Encodes a HELLO_ACK payload; `auth` is filled by the handshake after the MAC is known,
/// so this writes everything the MAC covers ([`encode_hello_ack_body`]) and the tail.
pub fn encode_hello_ack(a: &HelloAck<'_>) -> Result<Bytes, FrameError> {
    let mut buf = BytesMut::from(&encode_hello_ack_body(a)?[..]);
    if let Some((_, mac)) = &a.auth {
        buf.put_slice(mac);
    }
    Ok(buf.freeze())
}

/// The part of a HELLO_ACK payload that its MAC covers: everything but the MAC.
pub fn encode_hello_ack_body(a: &HelloAck<'_>) -> Result<Bytes, FrameError> {
    let mut buf = BytesMut::with_capacity(64 + a.addr.len() + KEY_ID_SIZE);
    buf.put_u8(HELLO_VERSION);
    put_addr(&mut buf, a.addr)?;
    buf.put_slice(&a.node.0);
    buf.put_slice(&a.nonce);
    buf.put_u32(a.features.0);
    match &a.auth {
        None => buf.put_u8(0),
        Some((key, _)) => {
            buf.put_u8(1);
            buf.put_slice(key);
        }
    }
    Ok(buf.freeze())
}

/// Decodes a HELLO_ACK payload; also returns the length of the part its MAC covers.
pub fn decode_hello_ack(payload: &[u8]) -> Result<(HelloAck<'_>, usize), FrameError> {
    let mut c = Cursor::new(payload, "HELLO_ACK");
    let version = c.u8()?;
    if version != HELLO_VERSION {
        return Err(FrameError::Version(version));
    }
    let addr = c.addr()?;
    let node = NodeId(c.array()?);
    let nonce = c.array()?;
    let features = Features(c.u32()?);
    let (auth, body) = match c.u8()? {
        0 => (None, c.consumed),
        1 => {
            let key = c.array()?;
            let body = c.consumed;
            (Some((key, c.array()?)), body)
        }
        _ => return Err(FrameError::Invalid("HELLO_ACK auth flag")),
    };
    c.end()?;
    Ok((
        HelloAck {
            addr,
            node,
            nonce,
            features,
            auth,
        },
        body,
    ))
}

/// Encodes a HELLO_FIN payload: `[0]` unsigned, or `[1][MAC]`.
pub fn encode_hello_fin(mac: Option<&[u8; MAC_SIZE]>) -> Bytes {
    let mut buf = BytesMut::with_capacity(1 + MAC_SIZE);
    match mac {
        None => buf.put_u8(0),
        Some(m) => {
            buf.put_u8(1);
            buf.put_slice(m);
        }
    }
    buf.freeze()
}

/// Decodes a HELLO_FIN payload.
pub fn decode_hello_fin(payload: &[u8]) -> Result<Option<[u8; MAC_SIZE]>, FrameError> {
    let mut c = Cursor::new(payload, "HELLO_FIN");
    let mac = match c.u8()? {
        0 => None,
        1 => Some(c.array()?),
        _ => return Err(FrameError::Invalid("HELLO_FIN auth flag")),
    };
    c.end()?;
    Ok(mac)
}

/// A peer id payload (WHO_HAS, NOT_HERE): exactly 36 bytes.
pub fn decode_peer(payload: &[u8], what: &'static str) -> Result<PeerId, FrameError> {
    if payload.len() != PEER_ID_SIZE {
        return Err(FrameError::BadLength {
            what,
            want: PEER_ID_SIZE,
            got: payload.len(),
        });
    }
    let mut id = [0u8; PEER_ID_SIZE];
    id.copy_from_slice(payload);
    Ok(PeerId::from_bytes(id))
}

/// An I_HAVE answer: the peer, the answering pod's reply counter (as openZro) and, as an
/// extension, the registration stamp of the peer's attachment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IHave {
    /// The peer.
    pub peer: PeerId,
    /// The answering pod's reply counter (openZro's `seqno`); informational.
    pub seqno: u32,
    /// When the peer attached, as a hybrid-logical-clock stamp (microseconds); 0 from an
    /// openZro pod, which does not send it.
    pub stamp: u64,
}

/// Length of an openZro I_HAVE payload.
pub const I_HAVE_V2_SIZE: usize = PEER_ID_SIZE + 4;
/// Length of an I_HAVE payload with the stamp extension.
pub const I_HAVE_SIZE: usize = I_HAVE_V2_SIZE + 8;

/// Encodes an I_HAVE payload with the stamp (48 bytes).
pub fn encode_i_have(a: &IHave) -> Bytes {
    let mut buf = BytesMut::with_capacity(I_HAVE_SIZE);
    buf.put_slice(a.peer.as_bytes());
    buf.put_u32(a.seqno);
    buf.put_u64(a.stamp);
    buf.freeze()
}

/// Decodes an I_HAVE payload of 40 (openZro) or 48 bytes.
pub fn decode_i_have(payload: &[u8]) -> Result<IHave, FrameError> {
    if payload.len() != I_HAVE_V2_SIZE && payload.len() != I_HAVE_SIZE {
        return Err(FrameError::BadLength {
            what: "I_HAVE",
            want: I_HAVE_SIZE,
            got: payload.len(),
        });
    }
    let mut c = Cursor::new(payload, "I_HAVE");
    let peer = PeerId::from_bytes(c.array()?);
    let seqno = c.u32()?;
    let stamp = if c.rest.is_empty() { 0 } else { c.u64()? };
    Ok(IHave { peer, seqno, stamp })
}

/// Splits a FWD payload into the destination and the relay message (not checked here:
/// the receiving relay checks that it is a Transport message).
pub fn decode_fwd(payload: &[u8]) -> Result<(PeerId, &[u8]), FrameError> {
    if payload.len() < PEER_ID_SIZE {
        return Err(FrameError::TooShort {
            what: "FWD",
            need: PEER_ID_SIZE,
            got: payload.len(),
        });
    }
    let (dst, msg) = payload.split_at(PEER_ID_SIZE);
    let mut id = [0u8; PEER_ID_SIZE];
    id.copy_from_slice(dst);
    Ok((PeerId::from_bytes(id), msg))
}

/// What a PRESENCE frame says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum PresenceOp {
    /// Part of a full snapshot of the sender's peers; staged until [`PresenceOp::SnapshotEnd`].
    Snapshot = 0,
    /// These peers came online here.
    Online = 1,
    /// These peers went offline here.
    Offline = 2,
    /// The snapshot is complete: it replaces everything known about the sender's peers.
    SnapshotEnd = 3,
    /// These registrations ended here because the peer attached to another pod more
    /// recently: forget them without telling subscribers the peer went offline.
    Moved = 4,
}

/// One peer in a PRESENCE frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PresenceEntry {
    /// The peer.
    pub peer: PeerId,
    /// Its registration stamp (hybrid logical clock, microseconds): the newest wins.
    pub stamp: u64,
}

/// Encodes PRESENCE frames (with headers) for `entries`, split so that each frame stays
/// within the frame limit. `SnapshotEnd` takes no entries.
pub fn encode_presence(buf: &mut BytesMut, op: PresenceOp, entries: &[PresenceEntry]) {
    if entries.is_empty() {
        buf.put_u8(FrameType::PRESENCE.0);
        buf.put_u16(1);
        buf.put_u8(op as u8);
        return;
    }
    for chunk in entries.chunks(MAX_PRESENCE_ENTRIES) {
        let len = 1 + chunk.len() * PRESENCE_ENTRY_SIZE;
        buf.reserve(FRAME_HEADER_SIZE + len);
        buf.put_u8(FrameType::PRESENCE.0);
        // At most 1 + 1489 * 44 = 65517 bytes, by MAX_PRESENCE_ENTRIES.
        buf.put_u16(len as u16);
        buf.put_u8(op as u8);
        for e in chunk {
            buf.put_slice(e.peer.as_bytes());
            buf.put_u64(e.stamp);
        }
    }
}

/// A decoded PRESENCE payload; the entries are read lazily from the borrowed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Presence<'a> {
    /// What happened.
    pub op: PresenceOp,
    entries: &'a [u8],
}

impl<'a> Presence<'a> {
    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len() / PRESENCE_ENTRY_SIZE
    }

    /// True without entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries in order.
    pub fn entries(&self) -> impl ExactSizeIterator<Item = PresenceEntry> + 'a {
        self.entries.chunks_exact(PRESENCE_ENTRY_SIZE).map(|c| {
            let mut id = [0u8; PEER_ID_SIZE];
            id.copy_from_slice(&c[..PEER_ID_SIZE]);
            let mut stamp = [0u8; 8];
            stamp.copy_from_slice(&c[PEER_ID_SIZE..]);
            PresenceEntry {
                peer: PeerId::from_bytes(id),
                stamp: u64::from_be_bytes(stamp),
            }
        })
    }
}

/// Decodes a PRESENCE payload.
pub fn decode_presence(payload: &[u8]) -> Result<Presence<'_>, FrameError> {
    let Some((&op, entries)) = payload.split_first() else {
        return Err(FrameError::TooShort {
            what: "PRESENCE",
            need: 1,
            got: 0,
        });
    };
    let op = match op {
        0 => PresenceOp::Snapshot,
        1 => PresenceOp::Online,
        2 => PresenceOp::Offline,
        3 => PresenceOp::SnapshotEnd,
        4 => PresenceOp::Moved,
        _ => return Err(FrameError::Invalid("PRESENCE operation")),
    };
    if !entries.len().is_multiple_of(PRESENCE_ENTRY_SIZE) {
        return Err(FrameError::Invalid(
            "PRESENCE entries (not a whole number of 44-byte entries)",
        ));
    }
    if op == PresenceOp::SnapshotEnd && !entries.is_empty() {
        return Err(FrameError::Invalid("PRESENCE snapshot end with entries"));
    }
    Ok(Presence { op, entries })
}

/// Longest GOODBYE reason.
pub const MAX_GOODBYE_REASON: usize = 255;

/// Encodes a GOODBYE payload: a UTF-8 reason, cut to [`MAX_GOODBYE_REASON`] bytes.
pub fn encode_goodbye(reason: &str) -> Bytes {
    let mut cut = reason.len().min(MAX_GOODBYE_REASON);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    Bytes::copy_from_slice(&reason.as_bytes()[..cut])
}

/// Decodes a GOODBYE payload (invalid UTF-8 is replaced, never refused).
pub fn decode_goodbye(payload: &[u8]) -> Result<String, FrameError> {
    if payload.len() > MAX_GOODBYE_REASON {
        return Err(FrameError::TooLarge {
            what: "GOODBYE reason",
            len: payload.len(),
            max: MAX_GOODBYE_REASON,
        });
    }
    Ok(String::from_utf8_lossy(payload).into_owned())
}

/// Longest PING payload (ours is an 8-byte sequence number; openZro's is empty).
pub const MAX_PING_PAYLOAD: usize = 64;

type HmacSha256 = Hmac<Sha256>;

/// The openZro HELLO v2, decoded (see [`decode_hello_v2`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelloV2<'a> {
    /// The announce address.
    pub addr: &'a str,
    /// Unix seconds when it was sent.
    pub timestamp: u64,
    /// Whether it carried an HMAC.
    pub signed: bool,
}

/// Why an openZro HELLO v2 is refused, with upstream's metric reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HelloV2Error {
    /// Bad layout or version.
    #[error("malformed HELLO v2")]
    Malformed,
    /// Outside the ±5 min window.
    #[error("HELLO v2 timestamp outside the replay window")]
    StaleTimestamp,
    /// Unsigned, but a secret is configured.
    #[error("unsigned HELLO v2 but a secret is required")]
    UnsignedButRequired,
    /// Signed, but no secret is configured.
    #[error("signed HELLO v2 but no secret is configured")]
    SignedButUnsupported,
    /// The HMAC does not match.
    #[error("HELLO v2 HMAC mismatch")]
    HmacMismatch,
}

impl HelloV2Error {
    /// The label openZro's `relay_cluster_hello_rejects_total` uses.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::StaleTimestamp => "stale_timestamp",
            Self::UnsignedButRequired => "unsigned_but_required",
            Self::SignedButUnsupported => "signed_but_unsupported",
            Self::HmacMismatch => "hmac_mismatch",
        }
    }
}

/// Encodes an openZro HELLO v2 payload: version 2, the address, the Unix time and, with
/// a secret, HMAC-SHA256 keyed with the raw secret over everything before the MAC length.
pub fn encode_hello_v2(
    addr: &str,
    unix_secs: u64,
    secret: Option<&[u8]>,
) -> Result<Bytes, FrameError> {
    let mut buf = BytesMut::with_capacity(11 + addr.len() + MAC_SIZE);
    buf.put_u8(HELLO_V2_VERSION);
    put_addr(&mut buf, addr)?;
    buf.put_u64(unix_secs);
    match secret {
        Some(key) => {
            let mut mac = <HmacSha256 as KeyInit>::new_from_slice(key)
                .expect("HMAC accepts keys of any length");
            mac.update(&buf);
            let tag = mac.finalize().into_bytes();
            buf.put_u8(MAC_SIZE as u8);
            buf.put_slice(tag.as_slice());
        }
        None => buf.put_u8(0),
    }
    Ok(buf.freeze())
}

/// Decodes and checks an openZro HELLO v2 exactly as the Go pod does (length, version,
/// the ±5 min window, then the HMAC rules). This crate never *accepts* a v2 HELLO on a
/// link, since v2 is replayable; the decoder lets a pod recognise a Go sibling and say so.
pub fn decode_hello_v2<'a>(
    payload: &'a [u8],
    secret: Option<&[u8]>,
    now_unix_secs: u64,
) -> Result<HelloV2<'a>, HelloV2Error> {
    let mut c = Cursor::new(payload, "HELLO v2");
    if payload.len() < 11 || c.u8().ok() != Some(HELLO_V2_VERSION) {
        return Err(HelloV2Error::Malformed);
    }
    let len = usize::from(c.u8().map_err(|_| HelloV2Error::Malformed)?);
    let addr = c.take(len).map_err(|_| HelloV2Error::Malformed)?;
    let addr = std::str::from_utf8(addr).map_err(|_| HelloV2Error::Malformed)?;
    let ts = c.u64().map_err(|_| HelloV2Error::Malformed)?;
    if ts.abs_diff(now_unix_secs) > HELLO_V2_WINDOW_SECS {
        return Err(HelloV2Error::StaleTimestamp);
    }
    let signed_len = c.consumed;
    let mac_len = usize::from(c.u8().map_err(|_| HelloV2Error::Malformed)?);
    let mac = c.take(mac_len).map_err(|_| HelloV2Error::Malformed)?;
    match secret.filter(|s| !s.is_empty()) {
        Some(key) => {
            if mac_len == 0 {
                return Err(HelloV2Error::UnsignedButRequired);
            }
            if mac_len != MAC_SIZE {
                return Err(HelloV2Error::HmacMismatch);
            }
            let mut m = <HmacSha256 as KeyInit>::new_from_slice(key)
                .expect("HMAC accepts keys of any length");
            m.update(&payload[..signed_len]);
            let want = m.finalize().into_bytes();
            if !bool::from(want.as_slice().ct_eq(mac)) {
                return Err(HelloV2Error::HmacMismatch);
            }
        }
        None if mac_len != 0 => return Err(HelloV2Error::SignedButUnsupported),
        None => {}
    }
    Ok(HelloV2 {
        addr,
        timestamp: ts,
        signed: mac_len != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(mut buf: BytesMut) -> Vec<(FrameType, Bytes)> {
        let mut out = Vec::new();
        while let Some(f) = decode_frame(&mut buf, MAX_FRAME_PAYLOAD).unwrap() {
            out.push(f);
        }
        assert!(buf.is_empty());
        out
    }

    #[test]
    fn frames_round_trip_at_the_limits() {
        let mut buf = BytesMut::new();
        for len in [0usize, 1, 60_000, MAX_FRAME_PAYLOAD] {
            encode_frame(&mut buf, FrameType::DATA, &vec![7u8; len]).unwrap();
        }
        let lens: Vec<usize> = frames(buf).iter().map(|(_, p)| p.len()).collect();
        assert_eq!(lens, [0, 1, 60_000, MAX_FRAME_PAYLOAD]);
        let mut buf = BytesMut::new();
        assert!(matches!(
            encode_frame(&mut buf, FrameType::DATA, &vec![0; MAX_FRAME_PAYLOAD + 1]),
            Err(FrameError::TooLarge { .. })
        ));
        assert!(buf.is_empty(), "nothing is written for a refused frame");
    }

    #[test]
    fn partial_frames_wait_and_oversized_headers_are_refused_early() {
        let mut buf = BytesMut::from(&[0x14u8, 0x00][..]);
        assert_eq!(decode_frame(&mut buf, 100).unwrap(), None);
        buf.put_u8(5);
        buf.put_slice(b"abc");
        assert_eq!(decode_frame(&mut buf, 100).unwrap(), None);
        buf.put_slice(b"de");
        assert_eq!(
            decode_frame(&mut buf, 100).unwrap(),
            Some((FrameType::FWD, Bytes::from_static(b"abcde")))
        );
        let mut big = BytesMut::from(&[0x00u8, 0xff, 0xff][..]);
        assert!(matches!(
            decode_frame(&mut big, MAX_HANDSHAKE_PAYLOAD),
            Err(FrameError::TooLarge { len: 65535, .. })
        ));
    }

    #[test]
    fn names_are_log_safe() {
        assert_eq!(FrameType::FWD.to_string(), "FWD");
        assert_eq!(FrameType(0xff).to_string(), "FrameType(0xff)");
    }

    #[test]
    fn handshake_payloads_round_trip() {
        let hello = Hello {
            addr: "10.0.5.7:7090",
            node: NodeId([1; 16]),
            nonce: [2; 32],
            features: Features::PRESENCE.union(Features::NOT_HERE),
            key_ids: vec![[3; 8], [4; 8]],
        };
        let bytes = encode_hello(&hello).unwrap();
        assert_eq!(decode_hello(&bytes).unwrap(), hello);
        for cut in 0..bytes.len() {
            assert!(decode_hello(&bytes[..cut]).is_err());
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(matches!(
            decode_hello(&long),
            Err(FrameError::BadLength { .. })
        ));

        let ack = HelloAck {
            addr: "10.0.5.8:7090",
            node: NodeId([5; 16]),
            nonce: [6; 32],
            features: Features::KEEPALIVE,
            auth: Some(([7; 8], [8; 32])),
        };
        let bytes = encode_hello_ack(&ack).unwrap();
        let (back, body) = decode_hello_ack(&bytes).unwrap();
        assert_eq!(back, ack);
        assert_eq!(&bytes[..body], &encode_hello_ack_body(&ack).unwrap()[..]);
        assert_eq!(
            decode_hello_fin(&encode_hello_fin(Some(&[9; 32]))).unwrap(),
            Some([9; 32])
        );
        assert_eq!(decode_hello_fin(&encode_hello_fin(None)).unwrap(), None);
        assert!(decode_hello_fin(&[2]).is_err());
    }

    #[test]
    fn lookup_and_presence_payloads() {
        let p = PeerId::from_identity("b");
        let ih = IHave {
            peer: p,
            seqno: 0xDEAD_BEEF,
            stamp: 42,
        };
        assert_eq!(decode_i_have(&encode_i_have(&ih)).unwrap(), ih);
        let v2 = &encode_i_have(&ih)[..I_HAVE_V2_SIZE];
        assert_eq!(decode_i_have(v2).unwrap().stamp, 0);
        assert!(decode_i_have(&[0; 41]).is_err());
        assert!(decode_peer(&[0; 35], "WHO_HAS").is_err());

        let entries: Vec<PresenceEntry> = (0..3000u64)
            .map(|i| PresenceEntry {
                peer: PeerId::from_identity(&i.to_string()),
                stamp: i,
            })
            .collect();
        let mut buf = BytesMut::new();
        encode_presence(&mut buf, PresenceOp::Snapshot, &entries);
        encode_presence(&mut buf, PresenceOp::SnapshotEnd, &[]);
        let decoded = frames(buf);
        assert_eq!(decoded.len(), 4);
        let mut back = Vec::new();
        for (ty, payload) in &decoded[..3] {
            assert_eq!(*ty, FrameType::PRESENCE);
            let pr = decode_presence(payload).unwrap();
            assert_eq!(pr.op, PresenceOp::Snapshot);
            back.extend(pr.entries());
        }
        assert_eq!(back, entries);
        assert_eq!(
            decode_presence(&decoded[3].1).unwrap().op,
            PresenceOp::SnapshotEnd
        );
        assert!(decode_presence(&[1, 0, 0]).is_err());
        assert!(decode_presence(&[9]).is_err());
    }

    #[test]
    fn hello_v2_follows_upstream_rules() {
        let now = 1_764_000_000;
        let signed = encode_hello_v2("10.0.5.7:7090", now, Some(b"s")).unwrap();
        assert_eq!(
            decode_hello_v2(&signed, Some(b"s"), now).unwrap().addr,
            "10.0.5.7:7090"
        );
        assert_eq!(
            decode_hello_v2(&signed, Some(b"t"), now),
            Err(HelloV2Error::HmacMismatch)
        );
        assert_eq!(
            decode_hello_v2(&signed, None, now),
            Err(HelloV2Error::SignedButUnsupported)
        );
        assert_eq!(
            decode_hello_v2(&signed, Some(b"s"), now + 301),
            Err(HelloV2Error::StaleTimestamp)
        );
        let unsigned = encode_hello_v2("a:1", now, None).unwrap();
        assert_eq!(
            decode_hello_v2(&unsigned, Some(b"s"), now),
            Err(HelloV2Error::UnsignedButRequired)
        );
        assert!(decode_hello_v2(&unsigned, None, now).is_ok());
        assert_eq!(
            decode_hello_v2(&[2], None, now),
            Err(HelloV2Error::Malformed)
        );
    }
}
