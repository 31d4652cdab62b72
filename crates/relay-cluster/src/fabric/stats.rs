//! Counters of one pod's fabric, readable in-process (the same events also go to the
//! `metrics` facade under the `relay_cluster_*` names of [`crate::metrics`]).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::metrics as m;
use crate::peer::lock;

/// A snapshot of a pod's fabric counters since it started.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct FabricStats {
    /// Dials that completed the handshake.
    pub dials_ok: u64,
    /// Dials that failed (connect, handshake or refusal).
    pub dials_failed: u64,
    /// Accepted connections that completed the handshake.
    pub accepts_ok: u64,
    /// Refused handshakes by reason (`unknown_key`, `hmac_mismatch`, `timeout`, ...), on
    /// the accepting side.
    pub hello_rejects: BTreeMap<String, u64>,
    /// Failed dials by reason (`hmac_mismatch`, `refused`, `io`, ...), on the dialing side.
    pub dial_failures: BTreeMap<String, u64>,
    /// Links closed because another link to the same pod won.
    pub links_replaced: u64,
    /// Links that went down.
    pub links_down: u64,
    /// Messages queued toward an owning pod.
    pub forwards_ok: u64,
    /// Messages held while their owner was looked up.
    pub forwards_pending: u64,
    /// Messages refused or dropped by the fabric (every reason).
    pub dropped: u64,
    /// FWD frames handed to a local peer.
    pub delivered: u64,
    /// FWD frames for a local peer whose queue was full (a slow receiver).
    pub receiver_queue_full: u64,
    /// WHO_HAS lookups started.
    pub lookups: u64,
    /// Lookups that found an owner.
    pub lookups_found: u64,
    /// Lookups that ended without an owner (all said NOT_HERE, or the timeout).
    pub lookups_failed: u64,
    /// WHO_HAS frames sent.
    pub who_has_sent: u64,
    /// NOT_HERE answers sent.
    pub not_here_sent: u64,
    /// NOT_HERE answers received.
    pub not_here_received: u64,
    /// PINGs sent.
    pub pings_sent: u64,
    /// PINGs that went unanswered until the next was due.
    pub pings_lost: u64,
    /// Presence changes received from siblings.
    pub presence_received: u64,
    /// Local peers closed because they attached to another pod more recently.
    pub peers_moved: u64,
    /// Frames skipped because they were malformed or out of place (unknown types are
    /// skipped without counting).
    pub bad_frames: u64,
}

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) dials_ok: AtomicU64,
    pub(crate) dials_failed: AtomicU64,
    pub(crate) accepts_ok: AtomicU64,
    hello_rejects: Mutex<BTreeMap<String, u64>>,
    dial_failures: Mutex<BTreeMap<String, u64>>,
    pub(crate) links_replaced: AtomicU64,
    pub(crate) links_down: AtomicU64,
    pub(crate) forwards_ok: AtomicU64,
    pub(crate) forwards_pending: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) receiver_queue_full: AtomicU64,
    pub(crate) lookups: AtomicU64,
    pub(crate) lookups_found: AtomicU64,
    pub(crate) lookups_failed: AtomicU64,
    pub(crate) who_has_sent: AtomicU64,
    pub(crate) not_here_sent: AtomicU64,
    pub(crate) not_here_received: AtomicU64,
    pub(crate) pings_sent: AtomicU64,
    pub(crate) pings_lost: AtomicU64,
    pub(crate) presence_received: AtomicU64,
    pub(crate) peers_moved: AtomicU64,
    pub(crate) bad_frames: AtomicU64,
}

pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    pub(crate) fn hello_reject(&self, reason: &'static str, side: &'static str) {
        let map = if side == "accept" {
            &self.hello_rejects
        } else {
            &self.dial_failures
        };
        *lock(map).entry(reason.to_owned()).or_default() += 1;
        metrics::counter!(m::CLUSTER_HELLO_REJECTS, "reason" => reason, "side" => side)
            .increment(1);
    }

    pub(crate) fn drop(&self, reason: &'static str, n: u64) {
        self.dropped.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(m::CLUSTER_DROPPED, "reason" => reason).increment(n);
    }

    pub(crate) fn forward(&self, result: &'static str) {
        match result {
            "ok" => bump(&self.forwards_ok),
            "pending" => bump(&self.forwards_pending),
            _ => {}
        }
        metrics::counter!(m::CLUSTER_FORWARDS, "result" => result).increment(1);
    }

    pub(crate) fn snapshot(&self) -> FabricStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FabricStats {
            dials_ok: g(&self.dials_ok),
            dials_failed: g(&self.dials_failed),
            accepts_ok: g(&self.accepts_ok),
            hello_rejects: lock(&self.hello_rejects).clone(),
            dial_failures: lock(&self.dial_failures).clone(),
            links_replaced: g(&self.links_replaced),
            links_down: g(&self.links_down),
            forwards_ok: g(&self.forwards_ok),
            forwards_pending: g(&self.forwards_pending),
            dropped: g(&self.dropped),
            delivered: g(&self.delivered),
            receiver_queue_full: g(&self.receiver_queue_full),
            lookups: g(&self.lookups),
            lookups_found: g(&self.lookups_found),
            lookups_failed: g(&self.lookups_failed),
            who_has_sent: g(&self.who_has_sent),
            not_here_sent: g(&self.not_here_sent),
            not_here_received: g(&self.not_here_received),
            pings_sent: g(&self.pings_sent),
            pings_lost: g(&self.pings_lost),
            presence_received: g(&self.presence_received),
            peers_moved: g(&self.peers_moved),
            bad_frames: g(&self.bad_frames),
        }
    }
}

impl FabricStats {
    /// Refused handshakes with this reason, on the accepting side.
    pub fn rejects(&self, reason: &str) -> u64 {
        self.hello_rejects.get(reason).copied().unwrap_or(0)
    }

    /// Failed dials with this reason.
    pub fn dial_failed(&self, reason: &str) -> u64 {
        self.dial_failures.get(reason).copied().unwrap_or(0)
    }
}
