//! Where a multi-pod fabric plugs into the relay: [`CrossPodForwarder`] (implemented by
//! the fabric, called by the relay) and [`LocalPeerDispatcher`] (implemented by the
//! relay's [`Store`](crate::Store), called by the fabric).
//!
//! Both sides are non-blocking on the data path. The relay calls
//! [`CrossPodForwarder::forward`] from a peer's read loop, so a forwarder queues the
//! message (or refuses it) and returns at once; lookups and network writes happen on the
//! fabric's own tasks. This is the fix for the upstream design, where a forward could hold
//! a peer's read loop for the whole 200 ms lookup and the write to the sibling pod.

use std::future::Future;
use std::pin::Pin;

use bytes::Bytes;

use crate::peer_id::PeerId;

/// The future returned by [`CrossPodForwarder::locate`].
pub type LocateFuture<'a> = Pin<Box<dyn Future<Output = Option<String>> + Send + 'a>>;

/// Why a message could not be handed to the fabric.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    /// No pod of the cluster has the destination. The relay drops the message quietly,
    /// as it does for an unknown peer without a fabric.
    #[error("no pod has the destination peer")]
    PeerNotFound,
    /// The fabric's queue toward the owning pod is full; the message is dropped.
    #[error("the cross-pod queue is full")]
    QueueFull,
    /// The fabric is shutting down or has no usable link.
    #[error("the cross-pod fabric is unavailable: {0}")]
    Unavailable(String),
}

impl ForwardError {
    /// A short stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::PeerNotFound => "peer_not_found",
            Self::QueueFull => "queue_full",
            Self::Unavailable(_) => "unavailable",
        }
    }
}

/// Carries Transport messages to peers attached to other pods of the same cluster.
///
/// Set on a server with [`Server::set_cross_pod_forwarder`](crate::Server::set_cross_pod_forwarder)
/// or [`Relay::set_cross_pod_forwarder`](crate::Relay::set_cross_pod_forwarder). Without one, a
/// Transport message for a peer that is not attached locally is dropped, as upstream does.
pub trait CrossPodForwarder: Send + Sync + 'static {
    /// Hands `msg` to the fabric for delivery to `dst` on another pod.
    ///
    /// `msg` is the complete Transport message exactly as the destination must receive it:
    /// its peer slot already holds the *source* id, so the fabric carries `dst` beside it
    /// (the openZro FWD frame is `dst ‖ msg`). The relay calls this only for destinations
    /// that are not attached locally.
    ///
    /// Must not block or await: queue and return. `Ok` means accepted for best-effort
    /// delivery, not delivered.
    fn forward(&self, dst: &PeerId, msg: Bytes) -> Result<(), ForwardError>;

    /// Finds which pod holds `peer`, if any; used when a local subscriber asks about a peer
    /// that is not attached here. Returns a name for the pod (its announce address, for
    /// the openZro fabric). The relay bounds the wait with
    /// [`RelayConfig::locate_timeout`](crate::RelayConfig::locate_timeout) and runs
    /// lookups for one subscription concurrently.
    fn locate<'a>(&'a self, peer: &'a PeerId) -> LocateFuture<'a>;
}

/// Why a message could not be delivered to a locally attached peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// The peer is not (or no longer) attached to this relay. A fabric should tell the
    /// sending pod so that it stops routing the peer here.
    #[error("the local peer is gone")]
    LocalPeerGone,
    /// The peer's outbound queue is full (a slow consumer); the message is dropped.
    #[error("the local peer's queue is full")]
    QueueFull,
    /// The message is not a Transport message.
    #[error("not a Transport message: {0}")]
    NotTransport(crate::wire::WireError),
}

impl DispatchError {
    /// A short stable label for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::LocalPeerGone => "peer_gone",
            Self::QueueFull => "queue_full",
            Self::NotTransport(_) => "not_transport",
        }
    }
}

/// Delivers messages that arrived from other pods to peers attached to this relay.
///
/// Implemented by [`Store`](crate::Store). Delivery only queues the message on the peer's
/// connection, so one slow peer never stalls the fabric's read loop.
pub trait LocalPeerDispatcher: Send + Sync + 'static {
    /// True when `peer` is attached to this relay now.
    fn has_peer(&self, peer: &PeerId) -> bool;

    /// Queues `msg`, a complete Transport message whose slot holds the source id, for the
    /// local peer `dst`.
    fn dispatch_to_local(&self, dst: &PeerId, msg: Bytes) -> Result<(), DispatchError>;

    /// The ids of every peer attached to this relay now (a snapshot, for presence sync).
    fn local_peers(&self) -> Vec<PeerId>;
}
