//! The 16-byte message header and the constants of the format.

use crate::error::{Error, Result};

/// The four bytes every message starts with: `ZAP\0`.
pub const MAGIC: [u8; 4] = *b"ZAP\0";
/// Bytes in the header: magic, version, flags, root offset, size.
pub const HEADER_SIZE: usize = 16;
/// Objects, lists and raw byte runs start on this boundary.
pub const ALIGNMENT: usize = 8;

/// Low flag bit: the payload is compressed (reserved; nothing implements it).
pub const FLAG_COMPRESSED: u16 = 1 << 0;
/// Low flag bit: the payload is encrypted (reserved; nothing implements it).
pub const FLAG_ENCRYPTED: u16 = 1 << 1;
/// Low flag bit: the payload is signed (reserved; nothing implements it).
pub const FLAG_SIGNED: u16 = 1 << 2;

/// The header version.
///
/// Both versions share one layout; version 2 only marks, for one Go consumer, that
/// structs carry a kind discriminator at byte 0. We write 1 unless asked for 2, because
/// Go v0.6.0 peers reject 2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Version {
    /// Version 1: what luxfi/zap v0.6.0 writes and the only one it reads.
    #[default]
    V1,
    /// Version 2: what newer luxfi/zap writes by default.
    V2,
}

impl Version {
    /// The number on the wire.
    pub const fn as_u16(self) -> u16 {
        match self {
            Version::V1 => 1,
            Version::V2 => 2,
        }
    }

    /// The version for a wire number, if it is one we know.
    pub const fn from_u16(v: u16) -> Option<Self> {
        match v {
            1 => Some(Version::V1),
            2 => Some(Version::V2),
            _ => None,
        }
    }
}

/// A validated message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The format version.
    pub version: Version,
    /// The 16 flag bits: low byte flag bits, high byte the message type by convention.
    pub flags: u16,
    /// Absolute offset of the root object; 0 means no root.
    pub root: u32,
    /// Total message length, header included.
    pub size: u32,
}

impl Header {
    /// Reads and validates the header at the start of `buf`.
    ///
    /// Checks the magic, the version (1 or 2), that `16 <= size <= buf.len()` and that a
    /// non-zero root lies within `16..=size` (a zero-size root object may sit at the very
    /// end). Bytes after `size` are not part of the message and are not looked at.
    pub fn parse(buf: &[u8]) -> Result<Self> {
        let Some(head) = buf.first_chunk::<HEADER_SIZE>() else {
            return Err(Error::Truncated {
                what: "message header",
                needed: HEADER_SIZE,
                available: buf.len(),
            });
        };
        let magic = [head[0], head[1], head[2], head[3]];
        if magic != MAGIC {
            return Err(Error::BadMagic { found: magic });
        }
        let raw_version = u16::from_le_bytes([head[4], head[5]]);
        let version =
            Version::from_u16(raw_version).ok_or(Error::UnsupportedVersion(raw_version))?;
        let flags = u16::from_le_bytes([head[6], head[7]]);
        let root = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
        let size = u32::from_le_bytes([head[12], head[13], head[14], head[15]]);
        if (size as usize) < HEADER_SIZE || size as usize > buf.len() {
            return Err(Error::BadSize {
                size,
                available: buf.len(),
            });
        }
        if root != 0 && ((root as usize) < HEADER_SIZE || root > size) {
            return Err(Error::BadRoot { root, size });
        }
        Ok(Header {
            version,
            flags,
            root,
            size,
        })
    }

    /// The message type that Go nodes route on: the high byte of the flags.
    pub const fn msg_type(&self) -> u8 {
        (self.flags >> 8) as u8
    }

    /// Writes this header into the first 16 bytes of `out`.
    pub fn write(&self, out: &mut [u8; HEADER_SIZE]) {
        out[0..4].copy_from_slice(&MAGIC);
        out[4..6].copy_from_slice(&self.version.as_u16().to_le_bytes());
        out[6..8].copy_from_slice(&self.flags.to_le_bytes());
        out[8..12].copy_from_slice(&self.root.to_le_bytes());
        out[12..16].copy_from_slice(&self.size.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: u16, root: u32, size: u32) -> Vec<u8> {
        let mut b = Vec::new();
        b.extend_from_slice(&MAGIC);
        b.extend_from_slice(&version.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&root.to_le_bytes());
        b.extend_from_slice(&size.to_le_bytes());
        b
    }

    #[test]
    fn rejects_what_go_v0_6_0_accepts() {
        // size < 16 passes Go v0.6.0's Parse; slicing by it would panic in Rust.
        assert!(matches!(
            Header::parse(&header(1, 0, 8)),
            Err(Error::BadSize { size: 8, .. })
        ));
        // A root offset inside the header or past the end.
        assert!(matches!(
            Header::parse(&header(1, 4, 16)),
            Err(Error::BadRoot { .. })
        ));
        assert!(matches!(
            Header::parse(&header(1, 17, 16)),
            Err(Error::BadRoot { .. })
        ));
    }

    #[test]
    fn accepts_both_versions_and_rejects_others() {
        assert_eq!(
            Header::parse(&header(1, 0, 16)).unwrap().version,
            Version::V1
        );
        assert_eq!(
            Header::parse(&header(2, 16, 16)).unwrap().version,
            Version::V2
        );
        assert_eq!(
            Header::parse(&header(3, 0, 16)),
            Err(Error::UnsupportedVersion(3))
        );
    }

    #[test]
    fn size_beyond_buffer_is_an_error() {
        assert!(matches!(
            Header::parse(&header(1, 0, 17)),
            Err(Error::BadSize {
                size: 17,
                available: 16
            })
        ));
    }
}
