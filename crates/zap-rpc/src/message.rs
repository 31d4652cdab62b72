//! Owned, validated ZAP messages: what requests and responses carry.

use std::fmt;

use bytes::{Bytes, BytesMut};
use zap_wire::{Builder, HEADER_SIZE, Header, Message};

/// An owned ZAP message whose header has been validated.
///
/// Cloning is a reference count; nothing is copied when a message moves between the
/// socket, a handler and the caller. Bytes after the header's size (which Go ignores) are
/// not part of the message and are dropped.
///
/// ```
/// use zap_rpc::MessageBuf;
///
/// let mut b = zap_wire::Builder::new();
/// let mut root = b.object(8);
/// root.set_u32(0, 7);
/// root.finish_root();
/// let msg = MessageBuf::from_builder(&mut b, 0x4200)?;
/// assert_eq!(msg.msg_type(), 0x42);
/// assert_eq!(msg.parse()?.root().unwrap().u32(0)?, 7);
/// # Ok::<(), zap_wire::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct MessageBuf {
    bytes: Bytes,
    header: HeaderBits,
}

/// The header fields we need often, kept so that no accessor re-parses.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct HeaderBits {
    flags: u16,
}

impl MessageBuf {
    /// Validates `bytes` as a message (header checks only: magic, version, size, root),
    /// keeping exactly the message's bytes.
    pub fn new(bytes: impl Into<Bytes>) -> Result<Self, zap_wire::Error> {
        let mut bytes = bytes.into();
        let header = Header::parse(&bytes)?;
        bytes.truncate(header.size as usize);
        Ok(Self {
            bytes,
            header: HeaderBits {
                flags: header.flags,
            },
        })
    }

    /// The smallest message: a 16-byte header with no root and flags 0.
    pub fn empty() -> Self {
        // Built by hand (not through `Builder`) so that this cannot fail.
        let mut head = [0u8; HEADER_SIZE];
        Header {
            version: zap_wire::Version::V1,
            flags: 0,
            root: 0,
            size: HEADER_SIZE as u32,
        }
        .write(&mut head);
        Self {
            bytes: Bytes::copy_from_slice(&head),
            header: HeaderBits { flags: 0 },
        }
    }

    /// Finishes `builder` with `flags` and takes the message.
    pub fn from_builder(builder: &mut Builder, flags: u16) -> Result<Self, zap_wire::Error> {
        let bytes = builder.finish(flags)?;
        Self::new(Bytes::copy_from_slice(bytes))
    }

    /// A message whose root object holds `value` as a `u32` at offset 0 (and nothing else),
    /// with the given flags. Handy for tests and the `zap` command.
    pub fn with_u32(value: u32, flags: u16) -> Self {
        let mut b = Builder::with_capacity(32);
        let mut root = b.object(8);
        root.set_u32(0, value);
        root.finish_root();
        match b.finish(flags) {
            Ok(bytes) => Self::new(Bytes::copy_from_slice(bytes)).unwrap_or_else(|_| Self::empty()),
            // A 24-byte message cannot exceed the format's limits.
            Err(_) => Self::empty(),
        }
    }

    /// The message read in place. Never fails for a `MessageBuf` (its header was
    /// validated); the `Result` is the reader's own.
    pub fn parse(&self) -> Result<Message<'_>, zap_wire::Error> {
        Message::parse(&self.bytes)
    }

    /// The 16 flag bits.
    pub fn flags(&self) -> u16 {
        self.header.flags
    }

    /// The message type Go nodes route on (`flags >> 8`).
    pub fn msg_type(&self) -> u8 {
        (self.header.flags >> 8) as u8
    }

    /// The message's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The message's bytes, shared.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The message's bytes, shared.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Length in bytes, header included.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// True for a header-only message.
    pub fn is_empty(&self) -> bool {
        self.bytes.len() == HEADER_SIZE
    }

    /// A copy with all 16 flag bits replaced, as Go's zapclient does before a call
    /// (`withFlags`): the message type becomes the procedure's opcode and the low flag
    /// bits are cleared. Returns `self` unchanged (no copy) when the flags already match.
    pub fn with_flags(&self, flags: u16) -> Self {
        if flags == self.header.flags {
            return self.clone();
        }
        let mut out = BytesMut::from(&self.bytes[..]);
        out[6..8].copy_from_slice(&flags.to_le_bytes());
        Self {
            bytes: out.freeze(),
            header: HeaderBits { flags },
        }
    }
}

impl Default for MessageBuf {
    fn default() -> Self {
        Self::empty()
    }
}

impl fmt::Debug for MessageBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MessageBuf")
            .field("len", &self.bytes.len())
            .field("flags", &format_args!("{:#06x}", self.header.flags))
            .finish()
    }
}

impl AsRef<[u8]> for MessageBuf {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl TryFrom<Bytes> for MessageBuf {
    type Error = zap_wire::Error;

    fn try_from(bytes: Bytes) -> Result<Self, zap_wire::Error> {
        Self::new(bytes)
    }
}

impl TryFrom<Vec<u8>> for MessageBuf {
    type Error = zap_wire::Error;

    fn try_from(bytes: Vec<u8>) -> Result<Self, zap_wire::Error> {
        Self::new(bytes)
    }
}

impl From<MessageBuf> for Bytes {
    fn from(m: MessageBuf) -> Bytes {
        m.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_the_go_empty_message() {
        assert_eq!(
            hex(MessageBuf::empty().as_bytes()),
            "5a415000010000000000000010000000"
        );
    }

    #[test]
    fn with_flags_matches_zapclient_nil_payload() {
        // zapclient's nil payload stub has a root at 16; build the same and rewrite.
        let stub = MessageBuf::new(
            b"\x5a\x41\x50\x00\x01\x00\x00\x00\x10\x00\x00\x00\x10\x00\x00\x00".to_vec(),
        )
        .unwrap();
        let ping = stub.with_flags(zap_wire::procedure_opcode("Ping").unwrap());
        assert_eq!(hex(ping.as_bytes()), "5a415000010000701000000010000000");
        assert_eq!(ping.msg_type(), 0x70);
    }

    #[test]
    fn trailing_bytes_are_dropped_and_garbage_refused() {
        let mut v = MessageBuf::with_u32(5, 0x100).as_bytes().to_vec();
        let len = v.len();
        v.extend_from_slice(b"trailing");
        assert_eq!(MessageBuf::new(v).unwrap().len(), len);
        assert!(MessageBuf::new(vec![1, 2, 3]).is_err());
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
