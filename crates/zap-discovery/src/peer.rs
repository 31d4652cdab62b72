//! One discovered (or configured) instance of a service.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::error::{Error, clip};
use crate::names::validate_node_id;

/// Key/value metadata of a peer, ordered by key so that output and comparisons are stable.
pub type Metadata = BTreeMap<String, String>;

/// One instance of a service: who it is (if known), where it listens, what it says about
/// itself, and when we last heard of it.
///
/// A `Peer` is immutable apart from its last-seen time and cheap to clone (one reference
/// count), so snapshots of hundreds of peers cost a pointer copy. Equality compares what
/// the peer *is* (id, service type, addresses, metadata), not when it was seen.
///
/// Addresses are [`SocketAddr`]s, so IPv6 prints as `[fe80::1%2]:9999` and dials correctly,
/// unlike the Go `host:port` string that drops the brackets and the zone.
#[derive(Clone)]
pub struct Peer(Arc<Inner>);

struct Inner {
    node_id: Option<String>,
    service_type: String,
    /// Never empty; the first address is the preferred one.
    addrs: Vec<SocketAddr>,
    metadata: Metadata,
    /// The node id, or the preferred address when the id is unknown.
    key: String,
    /// Nanoseconds between [`epoch`] and the last sighting.
    seen: AtomicU64,
}

impl Clone for Inner {
    fn clone(&self) -> Self {
        Self {
            node_id: self.node_id.clone(),
            service_type: self.service_type.clone(),
            addrs: self.addrs.clone(),
            metadata: self.metadata.clone(),
            key: self.key.clone(),
            seen: AtomicU64::new(self.seen.load(Ordering::Relaxed)),
        }
    }
}

/// The process-wide origin of last-seen times, so that they fit an atomic integer.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_nanos() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

impl Peer {
    /// A peer listening on `addr`, with no node id, service type or metadata, seen now.
    pub fn new(addr: SocketAddr) -> Self {
        Self(Arc::new(Inner {
            node_id: None,
            service_type: String::new(),
            addrs: vec![addr],
            metadata: Metadata::new(),
            key: addr.to_string(),
            seen: AtomicU64::new(now_nanos()),
        }))
    }

    fn edit(mut self, f: impl FnOnce(&mut Inner)) -> Self {
        let inner = Arc::make_mut(&mut self.0);
        f(inner);
        inner.key = match &inner.node_id {
            Some(id) => id.clone(),
            None => inner.addrs[0].to_string(),
        };
        self
    }

    /// Sets the node id (the identity the peer announces, and the key of peer sets).
    pub fn with_node_id(self, node_id: impl Into<String>) -> Self {
        let node_id = node_id.into();
        self.edit(|p| p.node_id = Some(node_id))
    }

    /// Sets the service type the peer was found under.
    pub fn with_service_type(self, service_type: impl Into<String>) -> Self {
        let service_type = service_type.into();
        self.edit(|p| p.service_type = service_type)
    }

    /// Replaces the metadata.
    pub fn with_metadata(self, metadata: Metadata) -> Self {
        self.edit(|p| p.metadata = metadata)
    }

    /// Adds or replaces one metadata entry.
    pub fn with_meta(self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (key, value) = (key.into(), value.into());
        self.edit(|p| {
            p.metadata.insert(key, value);
        })
    }

    /// Appends further addresses after the preferred one, skipping duplicates.
    pub fn with_addrs(self, more: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.edit(|p| {
            for a in more {
                if !p.addrs.contains(&a) {
                    p.addrs.push(a);
                }
            }
        })
    }

    /// The node id the peer announced or was configured with; `None` when only its address
    /// is known (static addresses, DNS records): a client learns the id at handshake.
    pub fn node_id(&self) -> Option<&str> {
        self.0.node_id.as_deref()
    }

    /// What identifies this peer within a set: the node id, else the preferred address.
    pub fn key(&self) -> &str {
        &self.0.key
    }

    /// The service type the peer was found under (empty if never set).
    pub fn service_type(&self) -> &str {
        &self.0.service_type
    }

    /// The preferred address to dial.
    pub fn addr(&self) -> SocketAddr {
        self.0.addrs[0]
    }

    /// Every known address, the preferred one first.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.0.addrs
    }

    /// The metadata the peer announced (mDNS TXT entries other than `id`, DNS details).
    pub fn metadata(&self) -> &Metadata {
        &self.0.metadata
    }

    /// One metadata value.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.0.metadata.get(key).map(String::as_str)
    }

    /// When the backend last saw this peer (announced, answered, resolved or configured).
    pub fn last_seen(&self) -> Instant {
        epoch() + Duration::from_nanos(self.0.seen.load(Ordering::Relaxed))
    }

    /// How long ago the peer was last seen.
    pub fn age(&self) -> Duration {
        self.last_seen().elapsed()
    }

    /// Records a sighting without changing what the peer is, so no change event is due.
    pub(crate) fn touch(&self) {
        self.0.seen.fetch_max(now_nanos(), Ordering::Relaxed);
    }

    /// Carries the last-seen time of `older` over to this peer if it is more recent.
    pub(crate) fn inherit_seen(&self, older: &Peer) {
        self.0
            .seen
            .fetch_max(older.0.seen.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

impl PartialEq for Peer {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
            || (self.0.node_id == other.0.node_id
                && self.0.service_type == other.0.service_type
                && self.0.addrs == other.0.addrs
                && self.0.metadata == other.0.metadata)
    }
}

impl Eq for Peer {}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("node_id", &self.0.node_id)
            .field("service_type", &self.0.service_type)
            .field("addrs", &self.0.addrs)
            .field("metadata", &self.0.metadata)
            .field("age", &self.age())
            .finish()
    }
}

/// `node-id@address`, or just the address when the id is unknown.
impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0.node_id {
            Some(id) => write!(f, "{id}@{}", self.addr()),
            None => write!(f, "{}", self.addr()),
        }
    }
}

/// Parses `[node-id@]address`, e.g. `node-1@127.0.0.1:9000` or `[::1]:9000`.
impl FromStr for Peer {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidPeer {
            input: clip(s),
            reason,
        };
        let (id, addr) = match s.rsplit_once('@') {
            Some((id, addr)) => (Some(id), addr),
            None => (None, s),
        };
        let addr: SocketAddr = addr
            .parse()
            .map_err(|_| bad("expected [node-id@]ip:port, e.g. node-1@127.0.0.1:9000"))?;
        if addr.port() == 0 {
            return Err(bad("port 0 cannot be dialed"));
        }
        let peer = Peer::new(addr);
        Ok(match id {
            Some(id) => {
                validate_node_id(id)?;
                peer.with_node_id(id)
            }
            None => peer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv6Addr, SocketAddrV6};

    #[test]
    fn ipv6_addresses_keep_brackets_and_zone() {
        let addr = SocketAddr::V6(SocketAddrV6::new(
            "fe80::1".parse::<Ipv6Addr>().unwrap(),
            9999,
            0,
            2,
        ));
        let peer = Peer::new(addr);
        assert_eq!(peer.key(), "[fe80::1%2]:9999");
        assert_eq!(peer.to_string(), "[fe80::1%2]:9999");
    }

    #[test]
    fn key_is_node_id_when_known() {
        let peer = Peer::new("127.0.0.1:9000".parse().unwrap()).with_node_id("n1");
        assert_eq!(peer.key(), "n1");
        assert_eq!(peer.to_string(), "n1@127.0.0.1:9000");
    }

    #[test]
    fn parse_round_trips() {
        for text in ["n1@127.0.0.1:9000", "[::1]:9000", "a@b@10.0.0.1:1"] {
            let peer: Peer = text.parse().unwrap();
            assert_eq!(peer.to_string(), text);
        }
        assert!("127.0.0.1".parse::<Peer>().is_err());
        assert!("n@127.0.0.1:0".parse::<Peer>().is_err());
        assert!("@127.0.0.1:1".parse::<Peer>().is_err());
    }

    #[test]
    fn equality_ignores_last_seen_and_touch_moves_it_forward() {
        let a = Peer::new("127.0.0.1:1".parse().unwrap()).with_meta("k", "v");
        let before = a.last_seen();
        let b = a.clone().with_meta("k", "v");
        assert_eq!(a, b);
        b.touch();
        assert!(b.last_seen() >= before);
        assert_ne!(a, a.clone().with_meta("k", "w"));
    }
}
