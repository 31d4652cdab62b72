//! [`Config`]: who we are, whom we accept, and how long a handshake may take.

use std::sync::Arc;
use std::time::Duration;

use subtle::{Choice, ConstantTimeEq};

use crate::Error;
use crate::identity::{Identity, IdentityPublic};
use crate::replay::ReplayCache;

/// The handshake timeout unless configured otherwise. luxfi/zwing has none by default,
/// which lets one silent peer hold a connection (and a Go listener) forever.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// Which verified identities a side accepts as its peer.
#[derive(Debug, Clone, Default)]
pub enum PeerPolicy {
    /// Any peer that proves an identity (luxfi/zwing's default when `ExpectedRemote` is
    /// nil). Authenticated, not authorised: anyone can generate an identity.
    #[default]
    AnyAuthenticated,
    /// Only these identities. One entry is luxfi/zwing's `ExpectedRemote` pin.
    Only(Vec<IdentityPublic>),
}

impl PeerPolicy {
    /// Checks a verified identity against the policy. Every allowed identity is compared
    /// in full and in constant time, so timing shows neither which one matched nor where
    /// a near miss differed.
    ///
    /// # Errors
    /// [`Error::IdentityMismatch`] when the identity is not allowed.
    pub fn check(&self, remote: &IdentityPublic) -> Result<(), Error> {
        match self {
            PeerPolicy::AnyAuthenticated => Ok(()),
            PeerPolicy::Only(allowed) => {
                let mut found = Choice::from(0);
                for candidate in allowed {
                    found |= candidate.as_bytes()[..].ct_eq(&remote.as_bytes()[..]);
                }
                if bool::from(found) {
                    Ok(())
                } else {
                    Err(Error::IdentityMismatch {
                        fingerprint: remote.fingerprint(),
                    })
                }
            }
        }
    }
}

/// The settings of one side of a Z-Wing channel. Cheap to clone.
///
/// ```
/// # fn main() -> Result<(), zap_zwing::Error> {
/// use std::time::Duration;
/// use zap_zwing::{Config, Identity};
///
/// let server = Identity::generate()?;
/// let client = Config::new(Identity::generate()?)
///     .with_expected_remote(server.public().clone())
///     .with_handshake_timeout(Some(Duration::from_secs(2)));
/// assert_eq!(client.handshake_timeout(), Some(Duration::from_secs(2)));
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Config {
    identity: Arc<Identity>,
    peers: PeerPolicy,
    handshake_timeout: Option<Duration>,
    replay_cache: Option<Arc<ReplayCache>>,
}

impl Config {
    /// A configuration for `identity` that accepts any authenticated peer, with the
    /// default 5 s handshake timeout and no replay cache.
    pub fn new(identity: impl Into<Arc<Identity>>) -> Self {
        Self {
            identity: identity.into(),
            peers: PeerPolicy::AnyAuthenticated,
            handshake_timeout: Some(DEFAULT_HANDSHAKE_TIMEOUT),
            replay_cache: None,
        }
    }

    /// Accepts only this peer identity (luxfi/zwing's `ExpectedRemote`).
    pub fn with_expected_remote(self, remote: IdentityPublic) -> Self {
        self.with_peer_policy(PeerPolicy::Only(vec![remote]))
    }

    /// Accepts only these peer identities.
    pub fn with_allowed_remotes(self, remotes: impl IntoIterator<Item = IdentityPublic>) -> Self {
        self.with_peer_policy(PeerPolicy::Only(remotes.into_iter().collect()))
    }

    /// Sets the peer policy.
    pub fn with_peer_policy(mut self, peers: PeerPolicy) -> Self {
        self.peers = peers;
        self
    }

    /// Bounds the whole handshake (and, for [`dial`](crate::dial), the TCP connect before
    /// it). `None` waits forever, as luxfi/zwing does by default; avoid it on servers.
    pub fn with_handshake_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Refuses `HandshakeInit` messages this cache has seen (responder side only).
    pub fn with_replay_cache(mut self, cache: Arc<ReplayCache>) -> Self {
        self.replay_cache = Some(cache);
        self
    }

    /// This side's identity.
    pub fn identity(&self) -> &Arc<Identity> {
        &self.identity
    }

    /// Which peers are accepted.
    pub fn peer_policy(&self) -> &PeerPolicy {
        &self.peers
    }

    /// The handshake timeout, if any.
    pub fn handshake_timeout(&self) -> Option<Duration> {
        self.handshake_timeout
    }

    /// The replay cache, if any.
    pub fn replay_cache(&self) -> Option<&Arc<ReplayCache>> {
        self.replay_cache.as_ref()
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("identity", &self.identity)
            .field("peers", &self.peers)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("replay_cache", &self.replay_cache.is_some())
            .finish()
    }
}
