//! A parsed message: a validated header over borrowed bytes.

use crate::error::{Error, Result};
use crate::header::{HEADER_SIZE, Header, Version};
use crate::lenient::LenientObject;
use crate::object::Object;

/// Limits a reader enforces beyond the format's own rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// How many pointers deep a reader may follow from the root. Cycles in hostile input
    /// end here instead of looping forever.
    pub max_depth: u16,
}

impl ReadLimits {
    /// The default depth limit.
    pub const DEFAULT_MAX_DEPTH: u16 = 64;
}

impl Default for ReadLimits {
    fn default() -> Self {
        Self {
            max_depth: Self::DEFAULT_MAX_DEPTH,
        }
    }
}

/// A ZAP message: a validated header and a zero-copy view of its bytes.
///
/// Parsing checks the header only (magic, version, size, root); pointers are checked as
/// they are followed, so parsing costs the same for any message size. Every accessor of
/// [`Object`] and [`List`](crate::List) is bounds-checked and returns a `Result`.
///
/// ```
/// use zap_wire::{Builder, Message};
///
/// let mut b = Builder::new();
/// let mut root = b.object(16);
/// root.set_u32(0, 42);
/// root.set_text(8, "hello");
/// root.finish_root();
/// let bytes = b.finish(0x0100)?.to_vec();
///
/// let msg = Message::parse(&bytes)?;
/// assert_eq!(msg.msg_type(), 1);
/// let root = msg.root().expect("has a root");
/// assert_eq!(root.u32(0)?, 42);
/// assert_eq!(root.text(8)?, Some("hello"));
/// # Ok::<(), zap_wire::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    bytes: &'a [u8],
    header: Header,
    limits: ReadLimits,
}

impl<'a> Message<'a> {
    /// Parses a message from the start of `buf` with the default limits.
    ///
    /// Bytes after the header's size are not part of the message (Go ignores them too);
    /// [`Message::parse_exact`] refuses them.
    pub fn parse(buf: &'a [u8]) -> Result<Self> {
        Self::parse_with(buf, ReadLimits::default())
    }

    /// Parses a message that must fill `buf` exactly.
    pub fn parse_exact(buf: &'a [u8]) -> Result<Self> {
        let msg = Self::parse(buf)?;
        if msg.size() != buf.len() {
            return Err(Error::BadSize {
                size: msg.header.size,
                available: buf.len(),
            });
        }
        Ok(msg)
    }

    /// Parses a message from the start of `buf` with the given limits.
    pub fn parse_with(buf: &'a [u8], limits: ReadLimits) -> Result<Self> {
        let header = Header::parse(buf)?;
        Ok(Self {
            bytes: &buf[..header.size as usize],
            header,
            limits,
        })
    }

    /// The limits this message is read with.
    pub fn limits(&self) -> ReadLimits {
        self.limits
    }

    /// The validated header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// The format version.
    pub fn version(&self) -> Version {
        self.header.version
    }

    /// All 16 flag bits.
    pub fn flags(&self) -> u16 {
        self.header.flags
    }

    /// The message type Go nodes route on: `flags >> 8`.
    pub fn msg_type(&self) -> u8 {
        self.header.msg_type()
    }

    /// The absolute root offset; 0 when the message has no root.
    pub fn root_offset(&self) -> u32 {
        self.header.root
    }

    /// The message length in bytes, header included.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// The message's bytes (exactly `size` of them).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The root object, or `None` when the root offset is 0.
    pub fn root(&self) -> Option<Object<'a>> {
        match self.header.root {
            0 => None,
            root => Some(Object::new(
                self.bytes,
                root as usize,
                0,
                self.limits.max_depth,
            )),
        }
    }

    /// The root with Go's zero-default semantics: a missing root reads as all zeros.
    pub fn root_lenient(&self) -> LenientObject<'a> {
        LenientObject::new(self.root())
    }

    /// An object at an absolute offset, for formats that place objects by convention.
    pub fn object_at(&self, offset: usize) -> Result<Object<'a>> {
        if offset < HEADER_SIZE || offset > self.bytes.len() {
            return Err(Error::BadPointer {
                slot: 0,
                target: offset as i64,
                size: self.bytes.len(),
            });
        }
        Ok(Object::new(self.bytes, offset, 0, self.limits.max_depth))
    }
}
