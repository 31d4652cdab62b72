//! A peer attached to the relay: its identity, outbound queue and close signal.

use std::collections::HashSet;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use bytes::Bytes;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

use crate::cluster::DispatchError;
use crate::conn::{CloseInfo, TransportKind};
use crate::peer_id::PeerId;

/// Why a peer's connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Disconnect {
    /// The peer sent Close or closed its side.
    PeerClosed,
    /// Another connection authenticated with the same id and replaced this one.
    Replaced,
    /// The peer did not echo health checks in time.
    HealthCheckTimeout,
    /// The peer sent nothing for the read timeout.
    ReadTimeout,
    /// Writing to the peer did not finish within the write timeout.
    WriteTimeout,
    /// The peer sent bytes that are not a valid relay message.
    Malformed(String),
    /// The peer sent a message over the size limit.
    TooLarge(usize),
    /// The transport failed.
    Transport(String),
    /// The relay is shutting down.
    Shutdown,
    /// The application closed the peer (e.g. through [`Store::disconnect`](crate::Store::disconnect)).
    Kicked,
    /// The same peer id attached to another pod of the cluster more recently; the peer is
    /// still online there, so local subscribers are not told it went offline.
    Moved,
}

impl Disconnect {
    /// A short stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::PeerClosed => "peer_closed",
            Self::Replaced => "replaced",
            Self::HealthCheckTimeout => "health_check_timeout",
            Self::ReadTimeout => "read_timeout",
            Self::WriteTimeout => "write_timeout",
            Self::Malformed(_) => "malformed",
            Self::TooLarge(_) => "too_large",
            Self::Transport(_) => "transport",
            Self::Shutdown => "shutdown",
            Self::Kicked => "kicked",
            Self::Moved => "moved",
        }
    }

    /// Whether the relay's Close message goes out before the connection closes: only for
    /// closes the relay chose while the peer was well-behaved.
    pub(crate) fn sends_close_message(&self) -> bool {
        matches!(
            self,
            Self::Replaced | Self::Shutdown | Self::Kicked | Self::Moved
        )
    }

    /// The WebSocket close frame (or QUIC application close) that tells the peer why.
    pub(crate) fn close_info(&self) -> CloseInfo {
        match self {
            Self::PeerClosed => CloseInfo::new(1000, ""),
            Self::Replaced => {
                CloseInfo::new(1000, "replaced by a newer connection with the same peer id")
            }
            Self::HealthCheckTimeout => CloseInfo::new(1001, "health check not answered"),
            Self::ReadTimeout => CloseInfo::new(1001, "idle for too long"),
            Self::WriteTimeout => CloseInfo::new(1011, "write timed out"),
            Self::Malformed(why) => CloseInfo::new(1002, format!("malformed message: {why}")),
            Self::TooLarge(n) => CloseInfo::new(1009, format!("message of {n} bytes is too large")),
            Self::Transport(_) => CloseInfo::new(1011, "transport error"),
            Self::Shutdown => CloseInfo::new(1001, "relay shutting down"),
            Self::Kicked => CloseInfo::new(1000, "closed by the relay"),
            Self::Moved => CloseInfo::new(
                1000,
                "replaced by a newer connection with the same peer id on another relay pod",
            ),
        }
    }
}

impl fmt::Display for Disconnect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed message: {why}"),
            Self::TooLarge(n) => write!(f, "message of {n} bytes over the limit"),
            Self::Transport(e) => write!(f, "transport error: {e}"),
            other => f.write_str(other.reason()),
        }
    }
}

/// Presence changes waiting to be written to a subscriber, coalesced: the same change
/// for the same peer is queued once, so the backlog is bounded by the subscriptions.
#[derive(Default)]
pub(crate) struct PendingEvents {
    order: Vec<(PeerId, bool)>,
    queued: HashSet<(PeerId, bool)>,
}

impl PendingEvents {
    fn push(&mut self, peer: PeerId, online: bool) {
        if self.queued.insert((peer, online)) {
            self.order.push((peer, online));
        }
    }

    /// Takes the queue as runs of same-kind events, in order.
    pub(crate) fn take_runs(&mut self) -> Vec<(bool, Vec<PeerId>)> {
        self.queued.clear();
        let mut runs: Vec<(bool, Vec<PeerId>)> = Vec::new();
        for (peer, online) in self.order.drain(..) {
            match runs.last_mut() {
                Some((kind, ids)) if *kind == online => ids.push(peer),
                _ => runs.push((online, vec![peer])),
            }
        }
        runs
    }
}

/// Subscribed peers waiting for a cross-pod lookup, and whether a task is draining them.
#[derive(Default)]
pub(crate) struct LocateQueue {
    pub(crate) pending: HashSet<PeerId>,
    pub(crate) running: bool,
}

/// State shared between a peer's session task, the store and other peers' tasks.
pub(crate) struct PeerShared {
    pub(crate) id: PeerId,
    pub(crate) conn_id: u64,
    pub(crate) remote: Option<SocketAddr>,
    pub(crate) transport: TransportKind,
    pub(crate) connected_at: SystemTime,
    pub(crate) data_tx: mpsc::Sender<Bytes>,
    pub(crate) events: Mutex<PendingEvents>,
    /// Wakes the writer for presence events.
    pub(crate) wake: Notify,
    /// Signals that the peer echoed a health check.
    pub(crate) health_ack: Notify,
    pub(crate) close: CancellationToken,
    pub(crate) reason: Mutex<Option<Disconnect>>,
    pub(crate) dropped: AtomicU64,
    pub(crate) locating: Mutex<LocateQueue>,
}

/// A handle on a peer attached to the relay. Cheap to clone; it stays usable after the
/// peer leaves (sends then fail with [`DispatchError::LocalPeerGone`]).
#[derive(Clone)]
pub struct Peer {
    pub(crate) shared: Arc<PeerShared>,
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Peer")
            .field("id", &self.shared.id)
            .field("conn_id", &self.shared.conn_id)
            .field("transport", &self.shared.transport)
            .field("remote", &self.shared.remote)
            .finish()
    }
}

impl Peer {
    pub(crate) fn new(
        id: PeerId,
        conn_id: u64,
        remote: Option<SocketAddr>,
        transport: TransportKind,
        queue: usize,
    ) -> (Self, mpsc::Receiver<Bytes>) {
        let (data_tx, data_rx) = mpsc::channel(queue);
        let shared = PeerShared {
            id,
            conn_id,
            remote,
            transport,
            connected_at: SystemTime::now(),
            data_tx,
            events: Mutex::new(PendingEvents::default()),
            wake: Notify::new(),
            health_ack: Notify::new(),
            close: CancellationToken::new(),
            reason: Mutex::new(None),
            dropped: AtomicU64::new(0),
            locating: Mutex::new(LocateQueue::default()),
        };
        (
            Self {
                shared: Arc::new(shared),
            },
            data_rx,
        )
    }

    /// The peer's id.
    pub fn id(&self) -> PeerId {
        self.shared.id
    }

    /// A number unique to this connection within the relay; a reconnect with the same
    /// id gets a new one.
    pub fn conn_id(&self) -> u64 {
        self.shared.conn_id
    }

    /// The peer's address (from `X-Real-Ip`/`X-Real-Port` when a proxy set both).
    pub fn remote_addr(&self) -> Option<SocketAddr> {
        self.shared.remote
    }

    /// How the peer is attached.
    pub fn transport(&self) -> TransportKind {
        self.shared.transport
    }

    /// When the peer authenticated.
    pub fn connected_at(&self) -> SystemTime {
        self.shared.connected_at
    }

    /// Messages dropped because this peer's queue was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Why the connection ended, once it has.
    pub fn disconnect_reason(&self) -> Option<Disconnect> {
        lock(&self.shared.reason).clone()
    }

    /// True once the connection is closing or closed.
    pub fn is_closed(&self) -> bool {
        self.shared.close.is_cancelled()
    }

    /// Resolves when the connection starts closing.
    pub async fn closed(&self) {
        self.shared.close.cancelled().await;
    }

    /// Queues a complete relay message (a Transport message whose slot holds the source)
    /// for this peer. Never waits: a full queue drops the message.
    pub fn send(&self, msg: Bytes) -> Result<(), DispatchError> {
        if self.is_closed() {
            return Err(DispatchError::LocalPeerGone);
        }
        match self.shared.data_tx.try_send(msg) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                Err(DispatchError::QueueFull)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(DispatchError::LocalPeerGone),
        }
    }

    /// Closes the connection, telling the peer it was closed by the relay.
    pub fn close(&self) {
        self.close_with(Disconnect::Kicked);
    }

    /// Closes with a reason; the first reason given wins.
    pub(crate) fn close_with(&self, reason: Disconnect) {
        {
            let mut slot = lock(&self.shared.reason);
            if slot.is_none() {
                *slot = Some(reason);
            }
        }
        self.shared.close.cancel();
    }

    /// Queues a presence change for this subscriber and wakes its writer.
    pub(crate) fn push_event(&self, peer: PeerId, online: bool) {
        lock(&self.shared.events).push(peer, online);
        self.shared.wake.notify_one();
    }
}

/// Locks a mutex, carrying on with the data if another thread panicked while holding it:
/// the guarded state is always left consistent between statements.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_coalesce_into_ordered_runs() {
        let a = PeerId::from_identity("a");
        let b = PeerId::from_identity("b");
        let mut ev = PendingEvents::default();
        ev.push(a, true);
        ev.push(b, true);
        ev.push(a, true);
        ev.push(a, false);
        assert_eq!(ev.take_runs(), vec![(true, vec![a, b]), (false, vec![a])]);
        assert!(ev.take_runs().is_empty());
    }

    #[test]
    fn a_full_queue_drops_and_a_closed_peer_is_gone() {
        let (peer, _rx) = Peer::new(
            PeerId::from_identity("a"),
            1,
            None,
            TransportKind::WebSocket,
            1,
        );
        assert_eq!(peer.send(Bytes::from_static(b"1")), Ok(()));
        assert_eq!(
            peer.send(Bytes::from_static(b"2")),
            Err(DispatchError::QueueFull)
        );
        assert_eq!(peer.dropped(), 1);
        peer.close_with(Disconnect::Replaced);
        peer.close();
        assert_eq!(peer.disconnect_reason(), Some(Disconnect::Replaced));
        assert_eq!(
            peer.send(Bytes::from_static(b"3")),
            Err(DispatchError::LocalPeerGone)
        );
    }
}
