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

/// Counter, label `result` (`ok`, `pending`, `peer_not_found`, `queue_full`,
/// `stream_gone`, `unavailable`): outcomes of the fabric's forward calls (openZro name).
pub const CLUSTER_FORWARDS: &str = "relay_cluster_forwards_total";
/// Histogram: seconds from a WHO_HAS broadcast to its first owner answer, or to the
/// answer that completed it (openZro name; openZro also times cache hits).
pub const CLUSTER_LOOKUP_SECONDS: &str = "relay_cluster_lookup_duration_seconds";
/// Counter, labels `reason` and `side` (`accept` or `dial`): refused handshakes
/// (openZro name; openZro counts the accepting side only).
pub const CLUSTER_HELLO_REJECTS: &str = "relay_cluster_hello_rejects_total";
/// Counter: PINGs sent (openZro name; openZro registers it but never sends one).
pub const CLUSTER_PINGS_SENT: &str = "relay_cluster_pings_sent_total";
/// Counter: PINGs not answered before the next one was due (openZro name).
pub const CLUSTER_PINGS_LOST: &str = "relay_cluster_pings_lost_total";
/// Gauge: live links to sibling pods (openZro name).
pub const CLUSTER_STREAMS: &str = "relay_cluster_streams";
/// Counter, label `result` (`ok` or a handshake reason): dials to siblings.
pub const CLUSTER_DIALS: &str = "relay_cluster_dials_total";
/// Counter, label `reason` (`tie_break`, `newer`): links closed because another link to
/// the same pod won.
pub const CLUSTER_LINKS_REPLACED: &str = "relay_cluster_links_replaced_total";
/// Counter, label `reason`: links that went down (`eof`, `keepalive`, `write_timeout`,
/// `goodbye`, `shutdown`, ...).
pub const CLUSTER_LINKS_DOWN: &str = "relay_cluster_links_down_total";
/// Counter, label `result` (`found`, `not_found`, `timeout`): WHO_HAS lookups.
pub const CLUSTER_LOOKUPS: &str = "relay_cluster_lookups_total";
/// Counter, label `reason`: messages the fabric dropped (`queue_full`, `link_down`,
/// `lookup_failed`, `pending_full`, `peer_gone`, `receiver_queue_full`, `not_transport`).
pub const CLUSTER_DROPPED: &str = "relay_cluster_dropped_total";
/// Counter: FWD frames delivered to a local peer's queue.
pub const CLUSTER_DELIVERED: &str = "relay_cluster_delivered_total";
/// Counter, label `direction` (`sent`, `received`): NOT_HERE answers.
pub const CLUSTER_NOT_HERE: &str = "relay_cluster_not_here_total";
/// Counter, label `kind` (`online`, `offline`): presence changes received from siblings.
pub const CLUSTER_PRESENCE: &str = "relay_cluster_presence_events_total";
/// Counter: local peers closed because they attached to another pod more recently.
pub const CLUSTER_MOVED: &str = "relay_cluster_peers_moved_total";
/// Gauge: peers known to be attached to other pods.
pub const CLUSTER_REMOTE_PEERS: &str = "relay_cluster_remote_peers";
/// Histogram: PING round-trip seconds.
pub const CLUSTER_PING_RTT: &str = "relay_cluster_ping_rtt_seconds";
/// Counter, label `direction` (`sent`, `received`): bytes on fabric links.
pub const CLUSTER_BYTES: &str = "relay_cluster_bytes_total";
/// Counter, label `type`: frames received that were malformed or out of place (skipped
/// without closing the link; unknown types are skipped silently, for newer siblings).
pub const CLUSTER_BAD_FRAMES: &str = "relay_cluster_bad_frames_total";
