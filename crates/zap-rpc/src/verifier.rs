//! Deciding, before dispatch, whether a peer may call a procedure.

use std::collections::{HashMap, HashSet};

use crate::peer::PeerInfo;
use crate::status::Status;

/// Decides whether `peer` may call `procedure`; runs on the connection's reader before a
/// handler is scheduled, so it must be quick and must not block.
///
/// Over plain TCP the identity it sees is the node id the peer *claimed*; see
/// `docs/security.md` before trusting it.
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

/// Go's default: any peer that presented an identity may call anything.
///
/// The handshake never carries an empty node id (we refuse it), so over plain TCP this
/// allows every peer that completed a handshake. Use it on trusted networks only.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalTrust;

impl PeerVerifier for LocalTrust {
    fn verify(&self, peer: &PeerInfo, _procedure: &str) -> Result<(), Status> {
        if peer.identity().is_empty() {
            Err(Status::unauthorized("the peer presented no identity"))
        } else {
            Ok(())
        }
    }
}

/// Per procedure, the identities allowed to call it. Fails closed: a procedure with no
/// entry (or an empty one) can be called by nobody.
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
        if self.is_allowed(peer.identity(), procedure) {
            Ok(())
        } else {
            Err(Status::unauthorized(format!(
                "{:?} may not call {procedure:?}",
                peer.identity()
            )))
        }
    }
}
