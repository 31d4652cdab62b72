//! Deciding, before dispatch, whether a peer may call a procedure.

use std::collections::{HashMap, HashSet};

use crate::peer::PeerInfo;
use crate::status::Status;

/// Decides whether `peer` may call `procedure`; runs on the connection's reader before a
/// handler is scheduled, so it must be quick and must not block.
///
/// Over plain TCP the identity it sees is the node id the peer *claimed*; see
/// `docs/security.md` before trusting it. Over mutual TLS and QUIC the identity is the
/// peer's verified certificate ([`PeerInfo::certificate`]); over a Unix socket the kernel
/// reports the peer's uid and pid ([`PeerInfo::credentials`]).
///
/// Closures `Fn(&PeerInfo, &str) -> Result<(), Status>` are verifiers too:
///
/// ```
/// use zap_rpc::{PeerInfo, PeerVerifier, Status};
///
/// let only_loopback = |peer: &PeerInfo, _procedure: &str| {
///     match peer.addr.socket_addr() {
///         Some(a) if a.ip().is_loopback() => Ok(()),
///         _ => Err(Status::unauthorized("loopback callers only")),
///     }
/// };
/// # fn takes(_: impl PeerVerifier) {}
/// takes(only_loopback);
///
/// // Over a Unix socket: only processes of one user.
/// let only_uid_1000 = |peer: &PeerInfo, _procedure: &str| match peer.credentials() {
///     Some(c) if c.uid == 1000 => Ok(()),
///     _ => Err(Status::unauthorized("uid 1000 only")),
/// };
/// takes(only_uid_1000);
///
/// // Over mutual TLS: refuse peers whose certificate does not name the node id they claim.
/// let honest = |peer: &PeerInfo, _procedure: &str| match peer.node_id_status() {
///     zap_rpc::NodeIdStatus::Mismatch => Err(Status::unauthorized("node id not in the certificate")),
///     _ => Ok(()),
/// };
/// takes(honest);
/// ```
pub trait PeerVerifier: Send + Sync + 'static {
    /// `Ok` to allow the call; an error (usually [`Status::unauthorized`]) is the answer
    /// the caller gets instead.
    fn verify(&self, peer: &PeerInfo, procedure: &str) -> Result<(), Status>;
}

impl<F> PeerVerifier for F
where
    F: Fn(&PeerInfo, &str) -> Result<(), Status> + Send + Sync + 'static,
{
    fn verify(&self, peer: &PeerInfo, procedure: &str) -> Result<(), Status> {
        self(peer, procedure)
    }
}

/// Go's default, made sound by the transport: any peer the transport let in may call
/// anything.
///
/// Over mutual TLS and QUIC that means any peer with a certificate from the cluster CA
/// (the CA the server trusts for client certificates): the TLS stack refuses everyone
/// else before the first byte of ZAP. A peer on a secure transport without a certificate
/// is refused. Over plain TCP and Unix sockets it allows every peer that presented a
/// non-empty node id, which every completed handshake has (we refuse empty ids): use it
/// there on trusted networks (or behind socket file permissions) only.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalTrust;

impl PeerVerifier for LocalTrust {
    fn verify(&self, peer: &PeerInfo, _procedure: &str) -> Result<(), Status> {
        if peer.is_authenticated() {
            Ok(())
        } else if peer.addr.scheme().is_secure() {
            Err(Status::unauthorized("the peer presented no certificate"))
        } else if peer.identity().is_empty() {
            Err(Status::unauthorized("the peer presented no identity"))
        } else {
            Ok(())
        }
    }
}

/// Per procedure, the identities allowed to call it. Fails closed: a procedure with no
/// entry (or an empty one) can be called by nobody.
///
/// A peer is allowed if any of its [`identities`](PeerInfo::identities) is listed: over
/// mutual TLS and QUIC the names of its verified certificate (URI and DNS SANs; the CN
/// only when the certificate has no SAN), otherwise the node id it claimed.
///
/// ```
/// use zap_rpc::AllowList;
///
/// let allow = AllowList::new()
///     .allow("kms.sign", ["signer-1", "signer-2"])
///     .allow("Ping", ["signer-1"]);
/// assert!(allow.is_allowed("signer-2", "kms.sign"));
/// assert!(!allow.is_allowed("signer-2", "Ping"));
/// assert!(!allow.is_allowed("signer-1", "kms.delete"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct AllowList {
    allowed: HashMap<String, HashSet<String>>,
}

impl AllowList {
    /// An empty list: nobody may call anything.
    pub fn new() -> Self {
        Self::default()
    }

    /// Allows `identities` to call `procedure` (in addition to those already allowed).
    pub fn allow<I, S>(mut self, procedure: impl Into<String>, identities: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.allowed
            .entry(procedure.into())
            .or_default()
            .extend(identities.into_iter().map(Into::into));
        self
    }

    /// True if `identity` may call `procedure`.
    pub fn is_allowed(&self, identity: &str, procedure: &str) -> bool {
        self.allowed
            .get(procedure)
            .is_some_and(|ids| ids.contains(identity))
    }
}

impl PeerVerifier for AllowList {
    fn verify(&self, peer: &PeerInfo, procedure: &str) -> Result<(), Status> {
        let allowed = self
            .allowed
            .get(procedure)
            .is_some_and(|ids| peer.identities().any(|id| ids.contains(id)));
        if allowed {
            Ok(())
        } else {
            Err(Status::unauthorized(format!(
                "{:?} may not call {procedure:?}",
                peer.identity()
            )))
        }
    }
}
