//! The live set of peers behind every backend: snapshots, change events, subscriptions.
//!
//! A backend owns a [`PeerSet`] and feeds it what it finds; clients read cheap
//! [`Snapshot`]s and [`subscribe`](PeerSet::subscribe) to changes. The initial snapshot of a
//! subscription and the events that follow it are taken under one lock, so a client that
//! applies the events to the snapshot always holds exactly the current set.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::error::Error;
use crate::peer::Peer;

/// How many change events a slow subscriber may fall behind before it gets a
/// [`PeerEvent::Resync`] instead of the individual events.
const EVENT_BUFFER: usize = 256;

/// The default bound on the number of peers a set holds; a flood of announcements on a
/// shared network must not grow memory without limit.
pub const DEFAULT_MAX_PEERS: usize = 4096;

/// An immutable view of a peer set, sorted by [`Peer::key`]; cloning it is one reference
/// count, so taking a snapshot per call is cheap.
#[derive(Clone, Default)]
pub struct Snapshot {
    peers: Arc<[Peer]>,
    version: u64,
}

impl Snapshot {
    /// Increases with every change of the set, so two snapshots can be told apart cheaply.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The peers, sorted by key.
    pub fn peers(&self) -> &[Peer] {
        &self.peers
    }

    /// The peer with this key (node id, or address for peers without one).
    pub fn get(&self, key: &str) -> Option<&Peer> {
        self.peers
            .binary_search_by(|p| p.key().cmp(key))
            .ok()
            .map(|i| &self.peers[i])
    }
}

impl Deref for Snapshot {
    type Target = [Peer];

    fn deref(&self) -> &[Peer] {
        &self.peers
    }
}

impl fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Snapshot")
            .field("version", &self.version)
            .field("peers", &self.peers)
            .finish()
    }
}

/// A change of a peer set.
#[derive(Debug, Clone)]
pub enum PeerEvent {
    /// A peer joined.
    Added(Peer),
    /// A known peer changed its addresses or metadata.
    Updated {
        /// What it was.
        old: Peer,
        /// What it is now.
        new: Peer,
    },
    /// A peer left: it said goodbye, went stale, or disappeared from DNS.
    Removed(Peer),
    /// The subscriber fell behind and missed events; this is the whole current set, and
    /// the events that follow apply to it.
    Resync(Snapshot),
}

struct State {
    service_type: Arc<str>,
    peers: BTreeMap<String, Peer>,
    snapshot: Snapshot,
    events: Option<broadcast::Sender<PeerEvent>>,
    snapshots: Option<watch::Sender<Snapshot>>,
    last_error: Option<Error>,
    max_peers: usize,
}

impl State {
    fn closed(&self) -> bool {
        self.events.is_none()
    }

    /// Publishes a new snapshot after the map changed, then the events that describe it.
    fn publish(&mut self, events: Vec<PeerEvent>) {
        if events.is_empty() {
            return;
        }
        let peers: Arc<[Peer]> = self.peers.values().cloned().collect();
        self.snapshot = Snapshot {
            peers,
            version: self.snapshot.version + 1,
        };
        if let Some(tx) = &self.snapshots {
            tx.send_replace(self.snapshot.clone());
        }
        if let Some(tx) = &self.events {
            for ev in events {
                // No receivers is fine: nobody is listening yet.
                let _ = tx.send(ev);
            }
        }
    }

    fn upsert(&mut self, peer: Peer, events: &mut Vec<PeerEvent>) -> Result<(), Error> {
        match self.peers.get(peer.key()) {
            Some(old) if *old == peer => old.touch(),
            Some(old) => {
                peer.inherit_seen(old);
                let old = old.clone();
                self.peers.insert(peer.key().to_string(), peer.clone());
                events.push(PeerEvent::Updated { old, new: peer });
            }
            None => {
                if self.peers.len() >= self.max_peers {
                    return Err(Error::InvalidConfig(
                        "peer set is full (raise max_peers if this network really has that many)",
                    ));
                }
                self.peers.insert(peer.key().to_string(), peer.clone());
                events.push(PeerEvent::Added(peer));
            }
        }
        Ok(())
    }
}

/// A shared, observable set of peers of one service type, keyed by [`Peer::key`].
///
/// Backends hold one and update it; it is also the building block for a custom backend
/// (see the crate example). Updates after [`close`](Self::close) are ignored. Cloning gives
/// another handle to the same set.
#[derive(Clone)]
pub struct PeerSet {
    state: Arc<Mutex<State>>,
}

impl fmt::Debug for PeerSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.lock();
        f.debug_struct("PeerSet")
            .field("service_type", &st.service_type)
            .field("peers", &st.peers.len())
            .field("closed", &st.closed())
            .finish()
    }
}

impl PeerSet {
    /// An empty, open set for `service_type` holding at most [`DEFAULT_MAX_PEERS`] peers.
    pub fn new(service_type: impl Into<String>) -> Self {
        Self::with_max_peers(service_type, DEFAULT_MAX_PEERS)
    }

    /// An empty, open set that refuses new peers beyond `max_peers`.
    pub fn with_max_peers(service_type: impl Into<String>, max_peers: usize) -> Self {
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        let (snapshots, _) = watch::channel(Snapshot::default());
        Self {
            state: Arc::new(Mutex::new(State {
                service_type: Arc::from(service_type.into()),
                peers: BTreeMap::new(),
                snapshot: Snapshot::default(),
                events: Some(events),
                snapshots: Some(snapshots),
                last_error: None,
                max_peers,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the map half-updated in a way that
        // matters more than losing discovery altogether, so keep going with the data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The service type this set holds.
    pub fn service_type(&self) -> Arc<str> {
        self.lock().service_type.clone()
    }

    /// The current peers.
    pub fn snapshot(&self) -> Snapshot {
        self.lock().snapshot.clone()
    }

    /// How many peers the set holds.
    pub fn len(&self) -> usize {
        self.lock().peers.len()
    }

    /// True when the set holds no peers.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a peer, or updates the one with the same key. A peer equal to the one already
    /// held only refreshes its last-seen time and raises no event.
    ///
    /// Fails when the set is full (the peer is not added) or closed.
    pub fn upsert(&self, peer: Peer) -> Result<(), Error> {
        let mut st = self.lock();
        if st.closed() {
            return Err(Error::Stopped);
        }
        let mut events = Vec::new();
        let result = st.upsert(peer, &mut events);
        st.publish(events);
        result
    }

    /// Removes the peer with this key, returning it if it was there.
    pub fn remove(&self, key: &str) -> Option<Peer> {
        let mut st = self.lock();
        if st.closed() {
            return None;
        }
        let gone = st.peers.remove(key)?;
        st.publish(vec![PeerEvent::Removed(gone.clone())]);
        Some(gone)
    }

    /// Replaces the whole set (a DNS answer, a reloaded static list), raising one event per
    /// difference and publishing one snapshot. Peers beyond the bound are left out.
    pub fn replace(&self, peers: impl IntoIterator<Item = Peer>) -> Result<(), Error> {
        let mut st = self.lock();
        if st.closed() {
            return Err(Error::Stopped);
        }
        let mut incoming: BTreeMap<String, Peer> = BTreeMap::new();
        for p in peers {
            incoming.insert(p.key().to_string(), p);
        }
        let mut events = Vec::new();
        let gone: Vec<String> = st
            .peers
            .keys()
            .filter(|k| !incoming.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(p) = st.peers.remove(&key) {
                events.push(PeerEvent::Removed(p));
            }
        }
        let mut result = Ok(());
        for (_, p) in incoming {
            if let Err(e) = st.upsert(p, &mut events) {
                result = Err(e);
            }
        }
        st.publish(events);
        result
    }

    /// Records a sighting of the peer with this key without raising an event.
    pub fn touch(&self, key: &str) {
        if let Some(p) = self.lock().peers.get(key) {
            p.touch();
        }
    }

    /// Remembers the backend's latest failure (or clears it with `None`).
    pub fn set_last_error(&self, error: Option<Error>) {
        self.lock().last_error = error;
    }

    /// The backend's latest failure, if its last attempt failed.
    pub fn last_error(&self) -> Option<Error> {
        self.lock().last_error.clone()
    }

    /// Subscribes to changes. The subscription starts from the current snapshot.
    pub fn subscribe(&self) -> Subscription {
        let st = self.lock();
        match (&st.events, &st.snapshots) {
            (Some(events), Some(snapshots)) => {
                let mut snapshots = snapshots.subscribe();
                snapshots.mark_unchanged();
                Subscription {
                    state: Arc::downgrade(&self.state),
                    events: events.subscribe(),
                    snapshots,
                }
            }
            _ => Subscription::ended(),
        }
    }

    /// Empties the set and ends every subscription. Idempotent.
    pub fn close(&self) {
        let mut st = self.lock();
        if st.closed() {
            return;
        }
        st.peers.clear();
        st.snapshot = Snapshot {
            peers: Arc::from(Vec::new()),
            version: st.snapshot.version + 1,
        };
        if let Some(tx) = st.snapshots.take() {
            tx.send_replace(st.snapshot.clone());
        }
        st.events = None;
    }

    /// True once [`close`](Self::close) ran.
    pub fn is_closed(&self) -> bool {
        self.lock().closed()
    }
}

/// A stream of changes of one peer set.
///
/// Use [`recv`](Self::recv) for individual events (to open and close connections), or
/// [`changed`](Self::changed) to just re-read the set whenever it changes (to rebalance).
/// Both end with `None` once the discovery stops.
#[derive(Debug)]
pub struct Subscription {
    state: Weak<Mutex<State>>,
    events: broadcast::Receiver<PeerEvent>,
    snapshots: watch::Receiver<Snapshot>,
}

impl Subscription {
    fn ended() -> Self {
        let (_, events) = broadcast::channel(1);
        let (_, snapshots) = watch::channel(Snapshot::default());
        Self {
            state: Weak::new(),
            events,
            snapshots,
        }
    }

    /// The current set.
    pub fn snapshot(&self) -> Snapshot {
        self.snapshots.borrow().clone()
    }

    /// The next change, or `None` once the discovery has stopped.
    ///
    /// A subscriber that falls more than 256 events behind receives one
    /// [`PeerEvent::Resync`] with the whole current set instead of the events it missed.
    pub async fn recv(&mut self) -> Option<PeerEvent> {
        match self.events.recv().await {
            Ok(ev) => Some(ev),
            Err(broadcast::error::RecvError::Closed) => None,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                let shared = self.state.upgrade()?;
                let st = shared.lock().unwrap_or_else(|e| e.into_inner());
                let tx = st.events.as_ref()?;
                // Re-subscribing under the lock makes the snapshot and the next events agree.
                self.events = tx.subscribe();
                Some(PeerEvent::Resync(st.snapshot.clone()))
            }
        }
    }

    /// Waits until the set differs from the last one this subscription returned, and
    /// returns it; several changes in a row come back as one. `None` once stopped.
    pub async fn changed(&mut self) -> Option<Snapshot> {
        self.snapshots.changed().await.ok()?;
        Some(self.snapshots.borrow_and_update().clone())
    }

    /// Waits until `ready` accepts the set, at most `timeout`.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        mut ready: impl FnMut(&Snapshot) -> bool,
    ) -> Result<Snapshot, Error> {
        let wait = async {
            let current = self.snapshots.borrow_and_update().clone();
            if ready(&current) {
                return Ok(current);
            }
            loop {
                if self.snapshots.changed().await.is_err() {
                    return Err(Error::Stopped);
                }
                let snap = self.snapshots.borrow_and_update().clone();
                if ready(&snap) {
                    return Ok(snap);
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) => {
                let have = self.snapshots.borrow().len();
                let last_error = self.state.upgrade().and_then(|s| {
                    let st = s.lock().unwrap_or_else(|e| e.into_inner());
                    st.last_error.clone().map(Box::new)
                });
                Err(Error::Timeout {
                    waited: timeout,
                    wanted: None,
                    have,
                    last_error,
                })
            }
        }
    }

    /// Waits until at least `min` peers are known, at most `timeout`.
    pub async fn wait_for_peers(
        &mut self,
        min: usize,
        timeout: Duration,
    ) -> Result<Snapshot, Error> {
        self.wait_for(timeout, |s| s.len() >= min)
            .await
            .map_err(|e| match e {
                Error::Timeout {
                    waited,
                    have,
                    last_error,
                    ..
                } => Error::Timeout {
                    waited,
                    wanted: Some(min),
                    have,
                    last_error,
                },
                other => other,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(id: &str, port: u16) -> Peer {
        Peer::new(([127, 0, 0, 1], port).into()).with_node_id(id)
    }

    #[tokio::test]
    async fn events_follow_the_initial_snapshot() {
        let set = PeerSet::new("_t._tcp");
        set.upsert(peer("a", 1)).unwrap();
        let mut sub = set.subscribe();
        assert_eq!(sub.snapshot().len(), 1);

        set.upsert(peer("b", 2)).unwrap();
        set.upsert(peer("b", 2)).unwrap(); // unchanged: no event
        set.upsert(peer("b", 3)).unwrap();
        set.remove("a");

        assert!(matches!(sub.recv().await, Some(PeerEvent::Added(p)) if p.key() == "b"));
        match sub.recv().await {
            Some(PeerEvent::Updated { old, new }) => {
                assert_eq!(old.addr().port(), 2);
                assert_eq!(new.addr().port(), 3);
            }
            other => panic!("expected an update, got {other:?}"),
        }
        assert!(matches!(sub.recv().await, Some(PeerEvent::Removed(p)) if p.key() == "a"));
        set.close();
        assert!(sub.recv().await.is_none());
        assert!(set.snapshot().is_empty());
        assert!(set.upsert(peer("c", 4)).is_err());
    }

    #[tokio::test]
    async fn replace_reports_each_difference_once() {
        let set = PeerSet::new("_t._tcp");
        set.replace([peer("a", 1), peer("b", 2)]).unwrap();
        let mut sub = set.subscribe();
        let v = sub.snapshot().version();
        set.replace([peer("b", 2), peer("c", 3)]).unwrap();
        let snap = sub.changed().await.unwrap();
        assert_eq!(snap.version(), v + 1);
        let keys: Vec<_> = snap.iter().map(|p| p.key().to_string()).collect();
        assert_eq!(keys, ["b", "c"]);
        assert!(matches!(sub.recv().await, Some(PeerEvent::Removed(p)) if p.key() == "a"));
        assert!(matches!(sub.recv().await, Some(PeerEvent::Added(p)) if p.key() == "c"));
    }

    #[tokio::test]
    async fn a_lagging_subscriber_gets_a_resync() {
        let set = PeerSet::new("_t._tcp");
        let mut sub = set.subscribe();
        for i in 0..(EVENT_BUFFER as u16 + 10) {
            set.upsert(peer(&format!("p{i:04}"), i + 1)).unwrap();
        }
        match sub.recv().await {
            Some(PeerEvent::Resync(snap)) => assert_eq!(snap.len(), EVENT_BUFFER + 10),
            other => panic!("expected a resync, got {other:?}"),
        }
        set.remove("p0000");
        assert!(matches!(sub.recv().await, Some(PeerEvent::Removed(p)) if p.key() == "p0000"));
    }

    #[tokio::test]
    async fn the_bound_holds() {
        let set = PeerSet::with_max_peers("_t._tcp", 2);
        set.upsert(peer("a", 1)).unwrap();
        set.upsert(peer("b", 2)).unwrap();
        assert!(set.upsert(peer("c", 3)).is_err());
        assert!(set.upsert(peer("a", 9)).is_ok(), "updates still apply");
        assert_eq!(set.len(), 2);
    }

    #[tokio::test]
    async fn wait_for_peers_times_out_with_the_last_error() {
        let set = PeerSet::new("_t._tcp");
        set.set_last_error(Some(Error::NoRuntime("test")));
        let mut sub = set.subscribe();
        let err = sub
            .wait_for_peers(1, Duration::from_millis(20))
            .await
            .unwrap_err();
        match err {
            Error::Timeout {
                wanted,
                have,
                last_error,
                ..
            } => {
                assert_eq!((wanted, have), (Some(1), 0));
                assert!(last_error.is_some());
            }
            other => panic!("expected a timeout, got {other}"),
        }
        let waiter =
            tokio::spawn(async move { sub.wait_for_peers(1, Duration::from_secs(5)).await });
        set.upsert(peer("a", 1)).unwrap();
        assert_eq!(waiter.await.unwrap().unwrap().len(), 1);
    }

    #[test]
    fn snapshot_lookup_by_key() {
        let set = PeerSet::new("_t._tcp");
        set.replace([peer("b", 2), peer("a", 1)]).unwrap();
        let snap = set.snapshot();
        assert_eq!(snap.get("b").unwrap().addr().port(), 2);
        assert!(snap.get("zz").is_none());
    }
}
