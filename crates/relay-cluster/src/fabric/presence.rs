//! Local presence: registration stamps of the peers attached here, and the task that
//! tells every sibling when they come and go.
//!
//! Stamps come from a hybrid logical clock: wall-clock microseconds, but never less than
//! one more than any stamp seen from a sibling. A peer that leaves pod A and attaches to
//! pod B after B heard of its registration on A gets a larger stamp on B even if B's clock
//! lags A's; the newest registration wins everywhere.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, warn};

use super::core::Core;
use super::frame::{self, Features, NodeId, PresenceEntry, PresenceOp};
use super::queue::Out;
use crate::peer::lock;
use crate::peer_id::PeerId;
use crate::store::PresenceEvent;

/// A hybrid logical clock in microseconds.
#[derive(Debug)]
pub(crate) struct Hlc {
    last: AtomicU64,
    max_skew: Duration,
}

fn wall_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Hlc {
    pub(crate) fn new(max_skew: Duration) -> Self {
        Self {
            last: AtomicU64::new(0),
            max_skew,
        }
    }

    /// A stamp larger than every stamp returned or observed before.
    pub(crate) fn now(&self) -> u64 {
        let wall = wall_micros();
        let mut cur = self.last.load(Ordering::Relaxed);
        loop {
            let next = wall.max(cur.saturating_add(1));
            match self
                .last
                .compare_exchange_weak(cur, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(actual) => cur = actual,
            }
        }
    }

    /// Takes a sibling's stamp into account. A stamp further ahead of our clock than the
    /// allowed skew is clamped to it, so a wild clock cannot drag ours along.
    pub(crate) fn observe(&self, stamp: u64) {
        let cap = wall_micros()
            .saturating_add(u64::try_from(self.max_skew.as_micros()).unwrap_or(u64::MAX));
        self.last.fetch_max(stamp.min(cap), Ordering::Relaxed);
    }
}

/// The stamp of each locally attached peer's current connection.
#[derive(Default)]
pub(crate) struct LocalStamps {
    map: Mutex<HashMap<PeerId, (u64, u64)>>,
    /// Connections closed because their peer attached to another pod (peer, conn id).
    moved: Mutex<std::collections::HashSet<(PeerId, u64)>>,
}

impl LocalStamps {
    /// The connection id and stamp of a local peer.
    pub(crate) fn get(&self, peer: &PeerId) -> Option<(u64, u64)> {
        lock(&self.map).get(peer).copied()
    }

    fn set(&self, peer: PeerId, conn: u64, stamp: u64) {
        lock(&self.map).insert(peer, (conn, stamp));
    }

    /// Notes that the connection `conn` of `peer` is being closed because the peer moved,
    /// so that its end is announced as a move, not as going offline.
    pub(crate) fn mark_moved(&self, peer: PeerId, conn: u64) {
        lock(&self.moved).insert((peer, conn));
    }

    fn take_moved(&self, peer: PeerId, conn: u64) -> bool {
        lock(&self.moved).remove(&(peer, conn))
    }

    /// Removes the peer if `conn` is still its connection; returns its stamp.
    fn remove(&self, peer: &PeerId, conn: u64) -> Option<u64> {
        let mut m = lock(&self.map);
        match m.get(peer) {
            Some((c, s)) if *c == conn => {
                let s = *s;
                m.remove(peer);
                Some(s)
            }
            _ => None,
        }
    }

    fn snapshot(&self) -> Vec<PresenceEntry> {
        lock(&self.map)
            .iter()
            .map(|(peer, (_, stamp))| PresenceEntry {
                peer: *peer,
                stamp: *stamp,
            })
            .collect()
    }
}

/// Most presence changes put into one batch before it is sent.
const BATCH: usize = 1024;

/// Sends the local peers to siblings: a snapshot on each new link, then every change.
pub(crate) async fn pump(
    core: Arc<Core>,
    mut events: broadcast::Receiver<PresenceEvent>,
    mut snapshot_for: mpsc::UnboundedReceiver<NodeId>,
) {
    // Peers attached before the fabric started.
    resync(&core);
    loop {
        tokio::select! {
            () = core.stop.cancelled() => return,
            node = snapshot_for.recv() => match node {
                Some(node) => send_snapshot(&core, node),
                None => return,
            },
            ev = events.recv() => {
                let mut batch = Batch::default();
                let mut next = Some(ev);
                let mut n = 0;
                while let Some(ev) = next.take() {
                    match ev {
                        Ok(ev) => apply(&core, ev, &mut batch),
                        Err(broadcast::error::RecvError::Lagged(missed)) => {
                            warn!(missed, "presence events lagged; resending full snapshots");
                            batch = Batch::default();
                            resync(&core);
                            for link in core.links.all() {
                                send_snapshot(&core, link.node);
                            }
                        }
                        Err(broadcast::error::RecvError::Closed) => return,
                    }
                    n += 1;
                    if n < BATCH {
                        next = match events.try_recv() {
                            Ok(ev) => Some(Ok(ev)),
                            Err(broadcast::error::TryRecvError::Empty) => None,
                            Err(broadcast::error::TryRecvError::Lagged(k)) => {
                                Some(Err(broadcast::error::RecvError::Lagged(k)))
                            }
                            Err(broadcast::error::TryRecvError::Closed) => {
                                Some(Err(broadcast::error::RecvError::Closed))
                            }
                        };
                    }
                }
                fan_out(&core, &batch);
            }
        }
    }
}

#[derive(Default)]
struct Batch {
    online: Vec<PresenceEntry>,
    offline: Vec<PresenceEntry>,
    moved: Vec<PresenceEntry>,
}

fn apply(core: &Core, ev: PresenceEvent, batch: &mut Batch) {
    let Batch {
        online,
        offline,
        moved,
    } = batch;
    let moved_away = !ev.online && core.local.take_moved(ev.peer, ev.conn_id);
    if ev.online {
        let stamp = core.hlc.now();
        core.local.set(ev.peer, ev.conn_id, stamp);
        online.push(PresenceEntry {
            peer: ev.peer,
            stamp,
        });
    } else if let Some(stamp) = core.local.remove(&ev.peer, ev.conn_id) {
        let entry = PresenceEntry {
            peer: ev.peer,
            stamp,
        };
        if moved_away {
            moved.push(entry);
        } else {
            offline.push(entry);
        }
    }
}

/// Rebuilds the stamps from the store, keeping the stamps of connections already known.
fn resync(core: &Core) {
    let peers = core.store.peers();
    let mut map = lock(&core.local.map);
    let mut fresh = HashMap::with_capacity(peers.len());
    for p in peers {
        let stamp = match map.get(&p.id()) {
            Some((conn, stamp)) if *conn == p.conn_id() => *stamp,
            _ => core.hlc.now(),
        };
        fresh.insert(p.id(), (p.conn_id(), stamp));
    }
    *map = fresh;
}

fn presence_links(core: &Core) -> Vec<Arc<super::registry::Link>> {
    core.links
        .all()
        .into_iter()
        .filter(|l| l.features.contains(Features::PRESENCE))
        .collect()
}

fn fan_out(core: &Core, batch: &Batch) {
    let mut buf = BytesMut::new();
    for (op, entries) in [
        (PresenceOp::Online, &batch.online),
        (PresenceOp::Offline, &batch.offline),
        (PresenceOp::Moved, &batch.moved),
    ] {
        if !entries.is_empty() {
            frame::encode_presence(&mut buf, op, entries);
        }
    }
    if buf.is_empty() {
        return;
    }
    let frames = buf.freeze();
    for link in presence_links(core) {
        if link
            .queue
            .push_control(Out::Encoded(frames.clone()))
            .is_err()
        {
            // A pod that cannot take presence news is too far behind; it gets a fresh
            // snapshot once its link is replaced.
            debug!(node = %link.node, "presence news dropped for a full queue");
        }
    }
}

fn send_snapshot(core: &Core, node: NodeId) {
    let Some(link) = core.links.get(&node) else {
        return;
    };
    if !link.features.contains(Features::PRESENCE) {
        return;
    }
    let entries = core.local.snapshot();
    let mut buf = BytesMut::new();
    if !entries.is_empty() {
        frame::encode_presence(&mut buf, PresenceOp::Snapshot, &entries);
    }
    frame::encode_presence(&mut buf, PresenceOp::SnapshotEnd, &[]);
    if link.queue.push_control(Out::Encoded(buf.freeze())).is_err() {
        debug!(node = %node, "snapshot not queued: the link is full or gone");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_moves_past_observed_stamps_but_not_past_the_skew() {
        let c = Hlc::new(Duration::from_secs(1));
        let a = c.now();
        assert!(c.now() > a);
        let ahead = wall_micros() + 500_000;
        c.observe(ahead);
        assert!(c.now() > ahead);
        c.observe(u64::MAX);
        let after = c.now();
        assert!(after < wall_micros() + 2_000_000, "clamped to the skew");
    }
}
