//! The extension block Rust peers append to the node-id handshake.
//!
//! The handshake message is 80 bytes; Go reads the message by its size field and ignores
//! whatever follows inside the frame. A Rust dialer puts this block there; a Rust acceptor
//! that finds one answers with its own, and both then speak the Rust wire with the
//! features both offered. A Go acceptor answers with a bare handshake, and the dialer falls
//! back to the Go wire. A Rust acceptor never sends a block to a peer that sent none.
//!
//! Version 1 block, 12 bytes:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | magic `ZAPX` (`5a 41 50 58`) |
//! | 4 | version, u8: 1 |
//! | 5 | reserved, u8: 0 (ignored) |
//! | 6..8 | feature bits, u16 LE ([`Features`]) |
//! | 8..12 | largest frame payload the sender accepts, u32 LE (0 = 10 MiB) |
//!
//! A receiver reads the fields of version 1 from any block of version 1 or later and
//! ignores the bytes after them, so later versions can append fields.

use std::fmt;

use zap_wire::node::DEFAULT_MAX_FRAME;

/// The block's first four bytes.
pub const EXT_MAGIC: [u8; 4] = *b"ZAPX";
/// The block version this crate writes.
pub const EXT_VERSION: u8 = 1;
/// Bytes of a version 1 block.
pub const EXT_LEN: usize = 12;

/// What a Rust peer offers; the features in force are those both sides offered.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Features(u16);

impl Features {
    /// Error frames (kind 4): failed calls are answered instead of left to time out.
    pub const ERRORS: Features = Features(1 << 0);
    /// Cancel frames (kind 5): a caller that gives up stops the handler.
    pub const CANCEL: Features = Features(1 << 1);
    /// Relative timeouts in call frames: the handler knows the caller's deadline.
    pub const DEADLINE: Features = Features(1 << 2);
    /// Ping/pong (kinds 6, 7): dead peers are detected without waiting for TCP.
    pub const KEEPALIVE: Features = Features(1 << 3);
    /// Call and send frames by 32-bit procedure hash (kinds 3, 8): no 8-bit collisions.
    pub const WIDE_IDS: Features = Features(1 << 4);
    /// Goaway frames (kind 9): graceful shutdown without failing calls.
    pub const GOAWAY: Features = Features(1 << 5);
    /// Everything this version implements.
    pub const ALL: Features = Features(0b11_1111);
    /// Nothing: the Go wire.
    pub const NONE: Features = Features(0);

    const NAMES: [(Features, &'static str); 6] = [
        (Self::ERRORS, "errors"),
        (Self::CANCEL, "cancel"),
        (Self::DEADLINE, "deadline"),
        (Self::KEEPALIVE, "keepalive"),
        (Self::WIDE_IDS, "wide-ids"),
        (Self::GOAWAY, "goaway"),
    ];

    /// The bits on the wire.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Features from wire bits; bits this version does not know are kept (they drop out
    /// at the intersection).
    pub const fn from_bits(bits: u16) -> Self {
        Self(bits)
    }

    /// True if every feature of `other` is in `self`.
    pub const fn contains(self, other: Features) -> bool {
        self.0 & other.0 == other.0
    }

    /// The features in both.
    pub const fn intersection(self, other: Features) -> Features {
        Features(self.0 & other.0)
    }

    /// `self` without the features of `other`.
    pub const fn without(self, other: Features) -> Features {
        Features(self.0 & !other.0)
    }
}

impl std::ops::BitOr for Features {
    type Output = Features;

    fn bitor(self, rhs: Features) -> Features {
        Features(self.0 | rhs.0)
    }
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Features({self})")
    }
}

/// Comma-separated names, `none` when empty.
impl fmt::Display for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (feature, name) in Self::NAMES {
            if self.contains(feature) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        let unknown = self.0 & !Self::ALL.0;
        if unknown != 0 {
            if !first {
                f.write_str(",")?;
            }
            write!(f, "{unknown:#06x}")?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// One side's extension block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extensions {
    /// The features offered.
    pub features: Features,
    /// The largest frame payload the sender accepts.
    pub max_frame: u32,
}

/// Bytes after the handshake message that are not a valid extension block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExtensionError {
    /// Fewer bytes than a version 1 block.
    #[error("extension block of {0} bytes is shorter than {EXT_LEN}")]
    Short(usize),
    /// The first four bytes are not `ZAPX`.
    #[error("extension block does not start with ZAPX")]
    BadMagic,
    /// Version 0 is not defined.
    #[error("extension block version 0")]
    BadVersion,
}

impl Extensions {
    /// A block offering `features` and accepting frames up to `max_frame` bytes.
    pub fn new(features: Features, max_frame: usize) -> Self {
        Self {
            features,
            max_frame: u32::try_from(max_frame).unwrap_or(u32::MAX),
        }
    }

    /// The 12 bytes of a version 1 block.
    pub fn encode(&self) -> [u8; EXT_LEN] {
        let mut out = [0u8; EXT_LEN];
        out[..4].copy_from_slice(&EXT_MAGIC);
        out[4] = EXT_VERSION;
        out[6..8].copy_from_slice(&self.features.bits().to_le_bytes());
        out[8..12].copy_from_slice(&self.max_frame.to_le_bytes());
        out
    }

    /// Reads the bytes a peer put after its handshake message: `Ok(None)` when there are
    /// none (a Go peer), an error when they are not a block.
    pub fn decode(bytes: &[u8]) -> Result<Option<Self>, ExtensionError> {
        if bytes.is_empty() {
            return Ok(None);
        }
        if bytes.len() < EXT_LEN {
            return Err(ExtensionError::Short(bytes.len()));
        }
        if bytes[..4] != EXT_MAGIC {
            return Err(ExtensionError::BadMagic);
        }
        if bytes[4] == 0 {
            return Err(ExtensionError::BadVersion);
        }
        let features = Features::from_bits(u16::from_le_bytes([bytes[6], bytes[7]]));
        let max_frame = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        Ok(Some(Self {
            features,
            max_frame,
        }))
    }

    /// The peer's frame limit in bytes (0 on the wire means Go's 10 MiB).
    pub fn max_frame_bytes(&self) -> usize {
        match self.max_frame {
            0 => DEFAULT_MAX_FRAME,
            n => n as usize,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_bytes_are_as_documented() {
        let b = Extensions::new(Features::ALL, 0x0010_0000).encode();
        assert_eq!(b, [0x5a, 0x41, 0x50, 0x58, 1, 0, 0x3f, 0, 0, 0, 0x10, 0]);
        assert_eq!(
            Extensions::decode(&b).unwrap(),
            Some(Extensions {
                features: Features::ALL,
                max_frame: 0x0010_0000
            })
        );
    }

    #[test]
    fn later_versions_are_read_and_garbage_refused() {
        let mut b = Extensions::new(Features::ERRORS, 0).encode().to_vec();
        b[4] = 7;
        b.extend_from_slice(b"future fields");
        let e = Extensions::decode(&b).unwrap().unwrap();
        assert_eq!(e.features, Features::ERRORS);
        assert_eq!(e.max_frame_bytes(), DEFAULT_MAX_FRAME);
        assert_eq!(Extensions::decode(&[]), Ok(None));
        assert_eq!(Extensions::decode(b"ZAPX"), Err(ExtensionError::Short(4)));
        assert_eq!(
            Extensions::decode(&[0u8; 12]),
            Err(ExtensionError::BadMagic)
        );
        b[4] = 0;
        assert_eq!(Extensions::decode(&b), Err(ExtensionError::BadVersion));
    }

    #[test]
    fn features_display_and_intersect() {
        assert_eq!(Features::NONE.to_string(), "none");
        assert_eq!(
            (Features::ERRORS | Features::WIDE_IDS).to_string(),
            "errors,wide-ids"
        );
        let theirs = Features::from_bits(0x8000) | Features::CANCEL;
        assert_eq!(Features::ALL.intersection(theirs), Features::CANCEL);
        assert_eq!(theirs.to_string(), "cancel,0x8000");
    }
}
