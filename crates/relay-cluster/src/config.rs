//! Timeouts and limits of the relay core.

use std::time::Duration;

use crate::error::{Error, Result};

/// How the server probes its peers (upstream: every 25 s, 20 s to answer, one miss drops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HealthCheckConfig {
    /// Time between two HealthCheck messages to a peer.
    pub interval: Duration,
    /// How long a peer has to echo a HealthCheck.
    pub timeout: Duration,
    /// Consecutive unanswered checks that drop the peer.
    pub threshold: u32,
}

impl Default for HealthCheckConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(25),
            timeout: Duration::from_secs(20),
            threshold: 1,
        }
    }
}

impl HealthCheckConfig {
    /// Probes every `interval`, allowing `timeout` for each answer; one miss drops.
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        Self {
            interval,
            timeout,
            threshold: 1,
        }
    }
}

/// Timeouts and limits of the relay core, with upstream-compatible defaults.
///
/// Upstream has no handshake timeout and no read or write deadline on WebSocket; these
/// are the additions.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RelayConfig {
    /// Deadline for the whole handshake: TLS, WebSocket upgrade or QUIC handshake, and the
    /// Auth message.
    pub handshake_timeout: Duration,
    /// A peer that sends nothing for this long is dropped. Must exceed the health-check
    /// interval, since a live client echoes every check.
    pub read_timeout: Duration,
    /// Deadline for writing a batch of messages to a peer; a peer that cannot take them in
    /// time is dropped as a stalled consumer.
    pub write_timeout: Duration,
    /// Deadline for the graceful Close message and close frame.
    pub close_timeout: Duration,
    /// Health-check timing.
    pub health_check: HealthCheckConfig,
    /// Messages queued for one peer before new ones are dropped.
    pub peer_queue: usize,
    /// Peers one connection may watch with SubscribePeerState; further ids are ignored.
    pub max_subscriptions_per_peer: usize,
    /// Deadline for each [`CrossPodForwarder::locate`](crate::CrossPodForwarder::locate).
    pub locate_timeout: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(3),
            health_check: HealthCheckConfig::default(),
            peer_queue: 64,
            max_subscriptions_per_peer: 16_384,
            locate_timeout: Duration::from_secs(5),
        }
    }
}

impl RelayConfig {
    /// Checks that the values can work together.
    pub fn validate(&self) -> Result<()> {
        let nonzero = [
            ("handshake_timeout", self.handshake_timeout),
            ("read_timeout", self.read_timeout),
            ("write_timeout", self.write_timeout),
            ("close_timeout", self.close_timeout),
            ("health_check.interval", self.health_check.interval),
            ("health_check.timeout", self.health_check.timeout),
            ("locate_timeout", self.locate_timeout),
        ];
        for (name, d) in nonzero {
            if d.is_zero() {
                return Err(Error::Config(format!("{name} must be more than zero")));
            }
        }
        if self.read_timeout <= self.health_check.interval {
            return Err(Error::Config(format!(
                "read_timeout ({:?}) must exceed the health-check interval ({:?}), \
                 or live peers would be dropped between checks",
                self.read_timeout, self.health_check.interval
            )));
        }
        if self.health_check.threshold == 0 {
            return Err(Error::Config(
                "health_check.threshold must be at least 1".into(),
            ));
        }
        if self.peer_queue == 0 {
            return Err(Error::Config("peer_queue must be at least 1".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_bad_values_are_explained() {
        RelayConfig::default().validate().unwrap();
        let mut c = RelayConfig::default();
        c.read_timeout = c.health_check.interval;
        assert!(
            c.validate()
                .unwrap_err()
                .to_string()
                .contains("read_timeout")
        );
        let c = RelayConfig {
            peer_queue: 0,
            ..RelayConfig::default()
        };
        assert!(c.validate().is_err());
        let c = RelayConfig {
            handshake_timeout: Duration::ZERO,
            ..RelayConfig::default()
        };
        assert!(c.validate().is_err());
    }
}
