//! The 36-byte peer identifier of the relay protocol.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

use crate::wire::WireError;

/// Size of a [`PeerId`] on the wire.
pub const PEER_ID_SIZE: usize = 36;

/// The prefix of an identifier derived by [`PeerId::from_identity`].
pub const PEER_ID_PREFIX: [u8; 4] = *b"sha-";

/// A peer's identity on the relay: the ASCII prefix `sha-` and the SHA-256 of the peer's
/// identity string (its WireGuard public key in base64 for openZro and NetBird clients).
///
/// The relay itself treats the 36 bytes as opaque; only clients derive them.
///
/// ```
/// use relay_cluster::PeerId;
///
/// let id = PeerId::from_identity("peer-a");
/// assert_eq!(id.to_string(), "sha-vblMc9U8RAI6cVopcKEMTVT6lVC3D9nTTMSwot5d3L4=");
/// assert_eq!(id.to_string().parse::<PeerId>().unwrap(), id);
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId([u8; PEER_ID_SIZE]);

impl PeerId {
    /// Derives the identifier of the peer whose identity string is `identity`, exactly as
    /// the openZro client does: `sha-` followed by SHA-256 of the string's bytes.
    pub fn from_identity(identity: &str) -> Self {
        let digest = Sha256::digest(identity.as_bytes());
        let mut bytes = [0u8; PEER_ID_SIZE];
        bytes[..4].copy_from_slice(&PEER_ID_PREFIX);
        bytes[4..].copy_from_slice(digest.as_slice());
        Self(bytes)
    }

    /// Wraps 36 raw bytes, whatever they hold.
    pub const fn from_bytes(bytes: [u8; PEER_ID_SIZE]) -> Self {
        Self(bytes)
    }

    /// Reads an identifier from exactly 36 bytes.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, WireError> {
        let array: [u8; PEER_ID_SIZE] = bytes.try_into().map_err(|_| WireError::TooShort {
            what: "peer id",
            need: PEER_ID_SIZE,
            got: bytes.len(),
        })?;
        Ok(Self(array))
    }

    /// The 36 bytes as they travel on the wire.
    pub const fn as_bytes(&self) -> &[u8; PEER_ID_SIZE] {
        &self.0
    }

    /// True when the identifier carries the `sha-` prefix of a derived identity.
    pub fn is_derived(&self) -> bool {
        self.0[..4] == PEER_ID_PREFIX
    }
}

impl fmt::Display for PeerId {
    /// `sha-` and the standard base64 of the digest (as upstream logs it), or `raw:` and
    /// the base64 of all 36 bytes when the prefix is missing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_derived() {
            write!(f, "sha-{}", STANDARD.encode(&self.0[4..]))
        } else {
            write!(f, "raw:{}", STANDARD.encode(self.0))
        }
    }
}

impl fmt::Debug for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PeerId({self})")
    }
}

/// Why a string is not the display form of a [`PeerId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{input}` is not a peer id (expected sha-<base64 of 32 bytes> or raw:<base64 of 36 bytes>)"
)]
pub struct ParsePeerIdError {
    input: String,
}

impl FromStr for PeerId {
    type Err = ParsePeerIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || ParsePeerIdError {
            input: s.chars().take(80).collect(),
        };
        // Bound the work before decoding: the longest valid form is 4 + 48 characters.
        if s.len() > 64 {
            return Err(bad());
        }
        let mut bytes = [0u8; PEER_ID_SIZE];
        if let Some(rest) = s.strip_prefix("sha-") {
            let digest = STANDARD.decode(rest).map_err(|_| bad())?;
            if digest.len() != PEER_ID_SIZE - 4 {
                return Err(bad());
            }
            bytes[..4].copy_from_slice(&PEER_ID_PREFIX);
            bytes[4..].copy_from_slice(&digest);
        } else if let Some(rest) = s.strip_prefix("raw:") {
            let raw = STANDARD.decode(rest).map_err(|_| bad())?;
            bytes = raw.try_into().map_err(|_| bad())?;
        } else {
            return Err(bad());
        }
        Ok(Self(bytes))
    }
}

impl From<[u8; PEER_ID_SIZE]> for PeerId {
    fn from(bytes: [u8; PEER_ID_SIZE]) -> Self {
        Self(bytes)
    }
}

impl AsRef<[u8]> for PeerId {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_ids_round_trip_through_text() {
        let id = PeerId::from_bytes([7u8; PEER_ID_SIZE]);
        assert!(!id.is_derived());
        let text = id.to_string();
        assert!(text.starts_with("raw:"));
        assert_eq!(text.parse::<PeerId>().unwrap(), id);
    }

    #[test]
    fn bad_text_is_refused() {
        for s in [
            "",
            "sha-",
            "sha-AAAA",
            "raw:AAAA",
            "peer-a",
            &"x".repeat(200),
        ] {
            assert!(s.parse::<PeerId>().is_err(), "{s} parsed");
        }
    }

    #[test]
    fn from_slice_needs_exactly_36_bytes() {
        assert!(PeerId::from_slice(&[0; 35]).is_err());
        assert!(PeerId::from_slice(&[0; 37]).is_err());
        assert!(PeerId::from_slice(&[0; 36]).is_ok());
    }
}
