//! A fixed list of peers: configured addresses, with or without node ids.

use std::net::SocketAddr;

use crate::discovery::Discovery;
use crate::error::Error;
use crate::peer::Peer;
use crate::peer_set::{PeerSet, Snapshot, Subscription};

/// Discovery over a list the caller provides, e.g. from configuration or a command line.
///
/// Peers without a node id are keyed by address; a client learns their id at handshake.
/// The list can be replaced at run time with [`set_peers`](Self::set_peers) (a config
/// reload), which notifies subscribers of the differences.
#[derive(Debug)]
pub struct StaticDiscovery {
    service_type: String,
    set: PeerSet,
}

impl StaticDiscovery {
    /// A discovery over `peers`, all tagged with `service_type`.
    pub fn new(
        service_type: impl Into<String>,
        peers: impl IntoIterator<Item = Peer>,
    ) -> Result<Self, Error> {
        let service_type = service_type.into();
        let set = PeerSet::new(service_type.clone());
        let this = Self { service_type, set };
        this.set_peers(peers)?;
        Ok(this)
    }

    /// A discovery over bare addresses (node ids unknown).
    pub fn from_addrs(
        service_type: impl Into<String>,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Self, Error> {
        Self::new(service_type, addrs.into_iter().map(Peer::new))
    }

    /// A discovery over `[node-id@]ip:port` strings.
    pub fn parse<S: AsRef<str>>(
        service_type: impl Into<String>,
        specs: impl IntoIterator<Item = S>,
    ) -> Result<Self, Error> {
        let peers = specs
            .into_iter()
            .map(|s| s.as_ref().parse::<Peer>())
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(service_type, peers)
    }

    /// Replaces the list; subscribers see one event per difference.
    pub fn set_peers(&self, peers: impl IntoIterator<Item = Peer>) -> Result<(), Error> {
        let st = self.service_type.clone();
        self.set
            .replace(peers.into_iter().map(|p| p.with_service_type(st.clone())))
    }
}

impl Discovery for StaticDiscovery {
    fn service_type(&self) -> &str {
        &self.service_type
    }
    fn peers(&self) -> Snapshot {
        self.set.snapshot()
    }
    fn peer_count(&self) -> usize {
        self.set.len()
    }
    fn subscribe(&self) -> Subscription {
        self.set.subscribe()
    }
    fn stop(&self) {
        self.set.close();
    }
    fn is_stopped(&self) -> bool {
        self.set.is_closed()
    }
}

impl Drop for StaticDiscovery {
    fn drop(&mut self) {
        self.set.close();
    }
}
