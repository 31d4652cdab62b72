//! Who is at the other end of a connection, and what the handshake settled.

use std::fmt;

use crate::extension::Features;
use crate::transport::TransportAddr;

/// The wire a connection speaks, as the handshake settled it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Wire {
    /// Go's node protocol: no error frames, no cancellation, 8-bit opcodes. Used with Go
    /// peers and with Rust peers that turned extensions off.
    Go,
    /// The Rust extensions, with the features both sides offered.
    Rust(Features),
}

impl Wire {
    /// The features in force (none on the Go wire).
    pub fn features(self) -> Features {
        match self {
            Wire::Go => Features::NONE,
            Wire::Rust(f) => f,
        }
    }

    /// True if `feature` is in force.
    pub fn has(self, feature: Features) -> bool {
        match self {
            Wire::Go => false,
            Wire::Rust(f) => f.contains(feature),
        }
    }

    /// True for the Go wire.
    pub fn is_go(self) -> bool {
        matches!(self, Wire::Go)
    }
}

impl fmt::Display for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Wire::Go => f.write_str("go"),
            Wire::Rust(features) => write!(f, "rust({features})"),
        }
    }
}

/// The peer of a connection, as handlers and verifiers see it.
///
/// Over plain TCP the node id is what the peer *claimed* in the handshake: nothing binds
/// it to the peer, so verifiers that trust it trust a claim (see `docs/security.md`).
/// Transports that authenticate peers add what they proved to this struct.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The node id the peer sent in its handshake.
    pub node_id: String,
    /// Where the connection comes from.
    pub addr: TransportAddr,
    /// The service type of the server side of the connection (ours when serving).
    pub service_type: String,
    /// What the handshake settled.
    pub wire: Wire,
}

impl PeerInfo {
    /// A description of a peer.
    pub fn new(
        node_id: impl Into<String>,
        addr: TransportAddr,
        service_type: impl Into<String>,
        wire: Wire,
    ) -> Self {
        Self {
            node_id: node_id.into(),
            addr,
            service_type: service_type.into(),
            wire,
        }
    }

    /// The identity verifiers decide on: over plain TCP, the claimed node id.
    pub fn identity(&self) -> &str {
        &self.node_id
    }
}

impl fmt::Display for PeerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.node_id, self.addr)
    }
}
