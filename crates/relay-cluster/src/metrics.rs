//! Metric names, reported through the `metrics` facade (install any recorder, e.g. a
//! Prometheus exporter, to collect them). Names follow the upstream relay where it has
//! the same measurement.

/// Counter: bytes of Transport messages queued to a local peer.
pub const SENT_BYTES: &str = "relay_transfer_sent_bytes_total";
/// Counter: bytes of messages read from peers.
pub const RECEIVED_BYTES: &str = "relay_transfer_received_bytes_total";
/// Gauge: peers attached now.
pub const PEERS: &str = "relay_peers";
/// Counter: connections that replaced an attached one with the same id.
pub const RECONNECTIONS: &str = "relay_peer_reconnections_total";
/// Histogram: seconds from accepting a connection to admitting the peer.
pub const AUTH_SECONDS: &str = "relay_peer_authentication_seconds";
/// Counter, label `reason`: handshakes refused.
pub const HANDSHAKE_REJECTS: &str = "relay_handshake_rejects_total";
/// Counter, label `reason`: peers disconnected.
pub const DISCONNECTS: &str = "relay_peer_disconnects_total";
/// Counter, label `reason`: Transport messages dropped (`unknown_peer`, `queue_full`,
/// `peer_gone`, or a cross-pod reason such as `peer_not_found`).
pub const DROPPED: &str = "relay_messages_dropped_total";
/// Counter, label `result`: messages handed to the cross-pod forwarder.
pub const FORWARDS: &str = "relay_cross_pod_forwards_total";

pub(crate) fn dropped(reason: &'static str) {
    metrics::counter!(DROPPED, "reason" => reason).increment(1);
}
