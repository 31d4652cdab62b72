//! The peers attached to one relay, keyed by id, with replace-on-reconnect.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::cluster::{DispatchError, LocalPeerDispatcher};
use crate::peer::{Disconnect, Peer};
use crate::peer_id::PeerId;
use crate::wire;

/// Buffered presence changes per watcher before it lags (and must resync).
const PRESENCE_BUFFER: usize = 1024;

/// A local peer came or went; see [`Store::watch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PresenceEvent {
    /// The peer.
    pub peer: PeerId,
    /// The connection, unique within the relay; a reconnect has a new one.
    pub conn_id: u64,
    /// True when it attached (or reattached), false when it left.
    pub online: bool,
}

/// The attached peers. Cheap to clone; all clones share the same map.
///
/// It is also the relay's [`LocalPeerDispatcher`], the entry point for messages that a
/// cross-pod fabric brings from other pods.
#[derive(Clone)]
pub struct Store {
    inner: Arc<StoreInner>,
}

struct StoreInner {
    peers: RwLock<HashMap<PeerId, Peer>>,
    next_conn: AtomicU64,
    presence: broadcast::Sender<PresenceEvent>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("peers", &self.len()).finish()
    }
}

impl Default for Store {
    fn default() -> Self {
        Self::new()
    }
}

impl Store {
    /// An empty store.
    pub fn new() -> Self {
        let (presence, _) = broadcast::channel(PRESENCE_BUFFER);
        Self {
            inner: Arc::new(StoreInner {
                peers: RwLock::new(HashMap::new()),
                next_conn: AtomicU64::new(1),
                presence,
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<PeerId, Peer>> {
        self.inner
            .peers
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<PeerId, Peer>> {
        self.inner
            .peers
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The peer attached with this id.
    pub fn get(&self, id: &PeerId) -> Option<Peer> {
        self.read().get(id).cloned()
    }

    /// True when a peer with this id is attached.
    pub fn contains(&self, id: &PeerId) -> bool {
        self.read().contains_key(id)
    }

    /// Number of attached peers.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// True when no peer is attached.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// The ids of all attached peers.
    pub fn peer_ids(&self) -> Vec<PeerId> {
        self.read().keys().copied().collect()
    }

    /// Every attached peer.
    pub fn peers(&self) -> Vec<Peer> {
        self.read().values().cloned().collect()
    }

    /// Closes the connection of the peer with this id; true when one was attached.
    pub fn disconnect(&self, id: &PeerId) -> bool {
        match self.get(id) {
            Some(peer) => {
                peer.close();
                true
            }
            None => false,
        }
    }

    /// A stream of presence changes of local peers, for a fabric that pushes presence to
    /// other pods. A receiver that falls more than 1024 events behind gets
    /// `RecvError::Lagged` and should resync from [`Store::peer_ids`].
    pub fn watch(&self) -> broadcast::Receiver<PresenceEvent> {
        self.inner.presence.subscribe()
    }

    pub(crate) fn next_conn_id(&self) -> u64 {
        self.inner.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// Adds a peer; a connection already attached with the same id is returned so the
    /// caller can close it. The caller publishes the presence change once subscribers
    /// have been told, so that watchers never see it before them.
    pub(crate) fn insert(&self, peer: Peer) -> Option<Peer> {
        self.write().insert(peer.id(), peer)
    }

    /// Removes `peer` only if it is still the attached connection for its id; removing a
    /// replaced connection does nothing. True when it was removed.
    pub(crate) fn remove(&self, peer: &Peer) -> bool {
        let mut peers = self.write();
        match peers.get(&peer.id()) {
            Some(current) if current.conn_id() == peer.conn_id() => {
                peers.remove(&peer.id());
                true
            }
            _ => false,
        }
    }

    /// Tells watchers about a presence change.
    pub(crate) fn publish(&self, peer: &Peer, online: bool) {
        // No watcher is fine: the send only fails when nobody listens.
        let _ = self.inner.presence.send(PresenceEvent {
            peer: peer.id(),
            conn_id: peer.conn_id(),
            online,
        });
    }

    /// Closes every attached peer with `reason`.
    pub(crate) fn close_all(&self, reason: &Disconnect) {
        for peer in self.peers() {
            peer.close_with(reason.clone());
        }
    }
}

impl LocalPeerDispatcher for Store {
    fn has_peer(&self, peer: &PeerId) -> bool {
        self.contains(peer)
    }

    fn dispatch_to_local(&self, dst: &PeerId, msg: Bytes) -> Result<(), DispatchError> {
        wire::transport_peer(&msg).map_err(DispatchError::NotTransport)?;
        let peer = self.get(dst).ok_or(DispatchError::LocalPeerGone)?;
        let len = msg.len() as u64;
        peer.send(msg)?;
        metrics::counter!(crate::metrics::SENT_BYTES).increment(len);
        Ok(())
    }

    fn local_peers(&self) -> Vec<PeerId> {
        self.peer_ids()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::TransportKind;

    fn peer(store: &Store, name: &str) -> (Peer, tokio::sync::mpsc::Receiver<Bytes>) {
        Peer::new(
            PeerId::from_identity(name),
            store.next_conn_id(),
            None,
            TransportKind::WebSocket,
            4,
        )
    }

    #[test]
    fn replacing_keeps_the_newest_and_removing_the_old_is_a_no_op() {
        let store = Store::new();
        let mut watch = store.watch();
        let (old, _rx1) = peer(&store, "a");
        let (new, _rx2) = peer(&store, "a");
        assert!(store.insert(old.clone()).is_none());
        store.publish(&old, true);
        let replaced = store.insert(new.clone()).expect("old returned");
        store.publish(&new, true);
        assert_eq!(replaced.conn_id(), old.conn_id());
        assert!(!store.remove(&old));
        assert_eq!(store.get(&new.id()).unwrap().conn_id(), new.conn_id());
        assert!(store.remove(&new));
        store.publish(&new, false);
        assert!(store.is_empty());
        let events: Vec<bool> = std::iter::from_fn(|| watch.try_recv().ok())
            .map(|e| e.online)
            .collect();
        assert_eq!(events, [true, true, false]);
    }

    #[test]
    fn dispatch_reports_gone_and_non_transport() {
        let store = Store::new();
        let (a, mut rx) = peer(&store, "a");
        store.insert(a.clone());
        let msg = wire::encode_transport(&PeerId::from_identity("b"), b"x").unwrap();
        assert_eq!(store.dispatch_to_local(&a.id(), msg.clone()), Ok(()));
        assert_eq!(rx.try_recv().unwrap(), msg);
        assert_eq!(
            store.dispatch_to_local(&PeerId::from_identity("z"), msg),
            Err(DispatchError::LocalPeerGone)
        );
        assert!(matches!(
            store.dispatch_to_local(&a.id(), wire::encode_close()),
            Err(DispatchError::NotTransport(_))
        ));
        assert_eq!(store.local_peers(), vec![a.id()]);
        assert!(store.has_peer(&a.id()));
    }
}
