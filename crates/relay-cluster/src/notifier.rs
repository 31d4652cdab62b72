//! Peer-state subscriptions: who wants to hear when which peer comes or goes.
//!
//! Semantics follow upstream: interest in a peer coming online is one-shot (it is
//! dropped after the first PeersOnline for that peer), interest in it going offline lasts
//! until UnsubscribePeerState or the subscriber leaves.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use crate::peer::{Peer, lock};
use crate::peer_id::PeerId;

type Subscribers = HashMap<u64, Peer>;

#[derive(Default)]
struct State {
    online: HashMap<PeerId, Subscribers>,
    offline: HashMap<PeerId, Subscribers>,
    by_subscriber: HashMap<u64, HashSet<PeerId>>,
}

impl State {
    fn unlink(&mut self, sub: u64, peer: &PeerId) {
        for map in [&mut self.online, &mut self.offline] {
            if let Some(subs) = map.get_mut(peer) {
                subs.remove(&sub);
                if subs.is_empty() {
                    map.remove(peer);
                }
            }
        }
    }
}

#[derive(Default)]
pub(crate) struct Notifier {
    state: Mutex<State>,
}

impl Notifier {
    /// Registers `sub`'s interest in `peers`, up to `limit` peers per subscriber in total.
    /// Returns the peers accepted (already-watched ones included).
    pub(crate) fn subscribe(&self, sub: &Peer, peers: &[PeerId], limit: usize) -> Vec<PeerId> {
        let mut st = lock(&self.state);
        let key = sub.conn_id();
        let mut accepted = Vec::with_capacity(peers.len());
        for peer in peers {
            let watched = st.by_subscriber.entry(key).or_default();
            if !watched.contains(peer) && watched.len() >= limit {
                continue;
            }
            watched.insert(*peer);
            st.online.entry(*peer).or_default().insert(key, sub.clone());
            st.offline
                .entry(*peer)
                .or_default()
                .insert(key, sub.clone());
            accepted.push(*peer);
        }
        accepted
    }

    /// Withdraws `sub`'s interest in `peers`.
    pub(crate) fn unsubscribe(&self, sub: &Peer, peers: &[PeerId]) {
        let mut st = lock(&self.state);
        let key = sub.conn_id();
        for peer in peers {
            st.unlink(key, peer);
            if let Some(watched) = st.by_subscriber.get_mut(&key) {
                watched.remove(peer);
            }
        }
    }

    /// Forgets everything `sub` watched (it left).
    pub(crate) fn remove_subscriber(&self, sub: &Peer) {
        let mut st = lock(&self.state);
        let key = sub.conn_id();
        if let Some(watched) = st.by_subscriber.remove(&key) {
            for peer in watched {
                st.unlink(key, &peer);
            }
        }
    }

    /// `peer` is known to be online for `sub` already: its one-shot online interest is
    /// spent. True when `sub` was still waiting for it (so it should be told).
    pub(crate) fn consume_online(&self, sub: &Peer, peer: &PeerId) -> bool {
        let mut st = lock(&self.state);
        let Some(subs) = st.online.get_mut(peer) else {
            return false;
        };
        let was = subs.remove(&sub.conn_id()).is_some();
        if subs.is_empty() {
            st.online.remove(peer);
        }
        was
    }

    /// Tells every subscriber waiting for `peer` that it is online, once.
    pub(crate) fn came_online(&self, peer: &PeerId) {
        let subs = lock(&self.state).online.remove(peer);
        for sub in subs.into_iter().flat_map(HashMap::into_values) {
            sub.push_event(*peer, true);
        }
    }

    /// Tells every subscriber watching `peer` that it went offline.
    pub(crate) fn went_offline(&self, peer: &PeerId) {
        let subs: Vec<Peer> = lock(&self.state)
            .offline
            .get(peer)
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default();
        for sub in subs {
            sub.push_event(*peer, false);
        }
    }

    /// Number of (subscriber, peer) interests, for tests and introspection.
    #[cfg(test)]
    pub(crate) fn interests(&self) -> usize {
        lock(&self.state)
            .by_subscriber
            .values()
            .map(HashSet::len)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::TransportKind;

    fn sub(conn: u64) -> Peer {
        Peer::new(
            PeerId::from_identity("s"),
            conn,
            None,
            TransportKind::WebSocket,
            1,
        )
        .0
    }

    fn drain(p: &Peer) -> Vec<(bool, Vec<PeerId>)> {
        lock(&p.shared.events).take_runs()
    }

    #[test]
    fn online_is_one_shot_and_offline_persists() {
        let n = Notifier::default();
        let s = sub(1);
        let b = PeerId::from_identity("b");
        n.subscribe(&s, &[b], 10);
        n.came_online(&b);
        n.came_online(&b);
        n.went_offline(&b);
        n.went_offline(&b);
        assert_eq!(drain(&s), vec![(true, vec![b]), (false, vec![b])]);
        n.came_online(&b);
        n.went_offline(&b);
        assert_eq!(drain(&s), vec![(false, vec![b])]);
        n.unsubscribe(&s, &[b]);
        n.went_offline(&b);
        assert!(drain(&s).is_empty());
        assert_eq!(n.interests(), 0);
    }

    #[test]
    fn limits_and_cleanup() {
        let n = Notifier::default();
        let s = sub(1);
        let ids: Vec<PeerId> = (0..5)
            .map(|i| PeerId::from_identity(&i.to_string()))
            .collect();
        assert_eq!(n.subscribe(&s, &ids, 3).len(), 3);
        assert_eq!(n.subscribe(&s, &ids[..1], 3).len(), 1);
        assert_eq!(n.interests(), 3);
        assert!(n.consume_online(&s, &ids[0]));
        assert!(!n.consume_online(&s, &ids[0]));
        n.remove_subscriber(&s);
        assert_eq!(n.interests(), 0);
        n.went_offline(&ids[1]);
        assert!(drain(&s).is_empty());
    }
}
