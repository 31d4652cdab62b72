//! Who is at the other end of a connection, and what the handshake settled.

use std::fmt;
use std::sync::Arc;

use crate::extension::Features;
use crate::identity::{NodeIdStatus, PeerCertificate, TlsInfo, UnixCredentials};
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
/// Over mutual TLS and QUIC the peer's verified certificate is here ([`PeerInfo::tls`]) and
/// [`identity`](PeerInfo::identity) comes from it; the claimed node id is then only a hint,
/// and [`node_id_status`](PeerInfo::node_id_status) says whether the certificate backs it.
/// Over a Unix socket the kernel's credentials of the peer process are here
/// ([`PeerInfo::credentials`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The node id the peer sent in its handshake (a claim; see above).
    pub node_id: String,
    /// Where the connection comes from, and over which transport.
    pub addr: TransportAddr,
    /// The service type of the server side of the connection (ours when serving).
    pub service_type: String,
    /// What the handshake settled.
    pub wire: Wire,
    /// The verified certificate and session details (mutual TLS, QUIC).
    pub tls: Option<Arc<TlsInfo>>,
    /// The peer process's credentials (Unix sockets).
    pub credentials: Option<UnixCredentials>,
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
            tls: None,
            credentials: None,
        }
    }

    /// The same peer, authenticated by this TLS session.
    pub fn with_tls(mut self, tls: Arc<TlsInfo>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// The same peer, with these Unix socket credentials.
    pub fn with_credentials(mut self, credentials: UnixCredentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// The TLS session, over mutual TLS and QUIC.
    pub fn tls(&self) -> Option<&TlsInfo> {
        self.tls.as_deref()
    }

    /// The peer's verified certificate, over mutual TLS and QUIC.
    pub fn certificate(&self) -> Option<&PeerCertificate> {
        self.tls.as_deref().map(|t| &t.certificate)
    }

    /// The peer process's credentials, over a Unix socket.
    pub fn credentials(&self) -> Option<UnixCredentials> {
        self.credentials
    }

    /// True when the transport authenticated the peer with a certificate.
    pub fn is_authenticated(&self) -> bool {
        self.tls.is_some()
    }

    /// The identity verifiers decide on: the certificate's primary name
    /// ([`PeerCertificate::primary_name`]; empty if the certificate names nothing) when
    /// there is a certificate, else the claimed node id.
    pub fn identity(&self) -> &str {
        match self.certificate() {
            Some(c) => c.primary_name().unwrap_or(""),
            None => &self.node_id,
        }
    }

    /// Every identity of the peer: the certificate's names when there is a certificate
    /// (URI SANs, DNS SANs, the CN only without SANs), else the claimed node id.
    /// [`AllowList`](crate::AllowList) allows a peer if any of them is allowed.
    pub fn identities(&self) -> Box<dyn Iterator<Item = &str> + '_> {
        match self.certificate() {
            Some(c) => Box::new(c.names()),
            None => Box::new(std::iter::once(self.node_id.as_str())),
        }
    }

    /// Whether the peer's certificate backs the node id it claimed.
    pub fn node_id_status(&self) -> NodeIdStatus {
        match self.certificate() {
            None => NodeIdStatus::Claimed,
            Some(c) if c.has_name(&self.node_id) => NodeIdStatus::Verified,
            Some(_) => NodeIdStatus::Mismatch,
        }
    }
}

/// `node-id@address`; with a certificate that does not name the node id,
/// `node-id(cert: name)@address`.
impl fmt::Display for PeerInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.node_id_status() == NodeIdStatus::Mismatch {
            write!(
                f,
                "{}(cert: {})@{}",
                self.node_id,
                self.identity(),
                self.addr
            )
        } else {
            write!(f, "{}@{}", self.node_id, self.addr)
        }
    }
}
