//! How an mDNS daemon is set up: interfaces, port, probing, staleness.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;
use crate::peer_set::DEFAULT_MAX_PEERS;

/// The port of multicast DNS (RFC 6762), which Go luxfi/mdns nodes use.
pub const MDNS_PORT: u16 = 5353;
/// How long a peer may go unanswered before it counts as gone (Go's `DefaultStaleTimeout`).
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(30);
/// How long a live responder may stay silent: it answers for a record at most once a
/// second (RFC 6762 §6).
const RESPONDER_SILENCE: Duration = Duration::from_secs(1);

/// Which network interfaces mDNS uses.
///
/// The default is [`Loopback`](Self::Loopback): nothing leaves the machine unless the
/// caller asks for it. Choose [`All`](Self::All) or [`Named`](Self::Named) to find peers on
/// a LAN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interfaces {
    /// Only the IPv4 loopback interface (127.0.0.1): processes on this machine.
    #[default]
    Loopback,
    /// Every interface with an address, as mdns-sd and Go's zeroconf do by default.
    All,
    /// Only the named interfaces (e.g. `eth0`).
    Named(Vec<String>),
}

impl Interfaces {
    /// True for [`Loopback`](Self::Loopback).
    pub fn is_loopback(&self) -> bool {
        matches!(self, Self::Loopback)
    }
}

/// `lo` (or `loopback`), `all`, or a comma-separated list of interface names.
impl FromStr for Interfaces {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.trim() {
            "lo" | "loopback" => Ok(Self::Loopback),
            "all" => Ok(Self::All),
            "" => Err(Error::InvalidConfig("an empty interface name")),
            names => Ok(Self::Named(
                names
                    .split(',')
                    .map(|n| n.trim().to_string())
                    .filter(|n| !n.is_empty())
                    .collect(),
            )),
        }
    }
}

impl fmt::Display for Interfaces {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Loopback => f.write_str("lo"),
            Self::All => f.write_str("all"),
            Self::Named(names) => f.write_str(&names.join(",")),
        }
    }
}

/// Settings of an [`Mdns`](super::Mdns) daemon and the browses it runs.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MdnsConfig {
    /// Which interfaces to announce and browse on. Default: loopback only.
    pub interfaces: Interfaces,
    /// The UDP port; peers must use the same one. Default: 5353.
    pub port: u16,
    /// Probe for name conflicts before announcing (RFC 6762 §8), which delays an
    /// announcement by about a second. Default: true; turn it off in tests and on loopback
    /// where node ids are known to be unique.
    pub probe: bool,
    /// A peer that answers nothing for this long is removed. Default: 30 s, as Go.
    ///
    /// Responders answer for a record at most once a second (RFC 6762 §6), so a live peer
    /// can legitimately be silent for a second; `stale_after` must exceed `verify_every` by
    /// at least that. A peer that dies is removed between `stale_after - 1 s` and
    /// `stale_after + verify_every` after its death.
    pub stale_after: Duration,
    /// How often known peers are asked to confirm they are alive. Default: a third of
    /// `stale_after`.
    pub verify_every: Option<Duration>,
    /// The most peers a browse holds. Default: 4096.
    pub max_peers: usize,
    /// Accept peers whose only addresses are loopback ones. Default: only when browsing
    /// on loopback (Go ignores them, since a remote loopback address is useless).
    pub accept_loopback: Option<bool>,
}

impl Default for MdnsConfig {
    fn default() -> Self {
        Self {
            interfaces: Interfaces::Loopback,
            port: MDNS_PORT,
            probe: true,
            stale_after: DEFAULT_STALE_AFTER,
            verify_every: None,
            max_peers: DEFAULT_MAX_PEERS,
            accept_loopback: None,
        }
    }
}

impl MdnsConfig {
    /// Loopback only, port 5353, probing on, 30 s staleness.
    pub fn new() -> Self {
        Self::default()
    }

    /// Uses these interfaces.
    pub fn with_interfaces(mut self, interfaces: Interfaces) -> Self {
        self.interfaces = interfaces;
        self
    }

    /// Uses this UDP port instead of 5353 (tests use a private one).
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Announces without probing first: sub-millisecond discovery, for tests and loopback.
    pub fn without_probing(mut self) -> Self {
        self.probe = false;
        self
    }

    /// Removes peers that stay silent for `stale_after`.
    pub fn with_stale_after(mut self, stale_after: Duration) -> Self {
        self.stale_after = stale_after;
        self
    }

    /// Asks known peers to confirm they are alive this often.
    pub fn with_verify_every(mut self, every: Duration) -> Self {
        self.verify_every = Some(every);
        self
    }

    /// Holds at most this many peers per browse.
    pub fn with_max_peers(mut self, max_peers: usize) -> Self {
        self.max_peers = max_peers;
        self
    }

    /// Accepts (or refuses) peers that advertise only loopback addresses.
    pub fn with_accept_loopback(mut self, accept: bool) -> Self {
        self.accept_loopback = Some(accept);
        self
    }

    pub(crate) fn verify_interval(&self) -> Duration {
        self.verify_every.unwrap_or(self.stale_after / 3)
    }

    pub(crate) fn accepts_loopback(&self) -> bool {
        self.accept_loopback
            .unwrap_or_else(|| self.interfaces.is_loopback())
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.port == 0 {
            return Err(Error::InvalidConfig("the mDNS port cannot be 0"));
        }
        let every = self.verify_interval();
        if every < Duration::from_millis(100) {
            return Err(Error::InvalidConfig("verify_every must be at least 100 ms"));
        }
        if self.stale_after < every + RESPONDER_SILENCE {
            return Err(Error::InvalidConfig(
                "stale_after must exceed verify_every by at least 1 s \
                 (responders answer a record at most once a second)",
            ));
        }
        if self.max_peers == 0 {
            return Err(Error::InvalidConfig("max_peers must be at least 1"));
        }
        if let Interfaces::Named(names) = &self.interfaces
            && names.is_empty()
        {
            return Err(Error::InvalidConfig("no interface named"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_parse_from_flags() {
        assert_eq!("lo".parse::<Interfaces>().unwrap(), Interfaces::Loopback);
        assert_eq!("all".parse::<Interfaces>().unwrap(), Interfaces::All);
        assert_eq!(
            "eth0, wlan0".parse::<Interfaces>().unwrap(),
            Interfaces::Named(vec!["eth0".into(), "wlan0".into()])
        );
        assert!("".parse::<Interfaces>().is_err());
    }

    #[test]
    fn defaults_are_loopback_and_go_timings() {
        let c = MdnsConfig::default();
        assert!(c.interfaces.is_loopback());
        assert_eq!(c.port, 5353);
        assert_eq!(c.stale_after, Duration::from_secs(30));
        assert_eq!(c.verify_interval(), Duration::from_secs(10));
        assert!(c.accepts_loopback());
        assert!(!c.with_interfaces(Interfaces::All).accepts_loopback());
    }

    #[test]
    fn nonsense_is_refused() {
        assert!(MdnsConfig::new().with_port(0).validate().is_err());
        assert!(
            MdnsConfig::new()
                .with_stale_after(Duration::from_millis(1500))
                .with_verify_every(Duration::from_secs(1))
                .validate()
                .is_err()
        );
        assert!(
            MdnsConfig::new()
                .with_stale_after(Duration::from_millis(1500))
                .with_verify_every(Duration::from_millis(250))
                .validate()
                .is_ok()
        );
        assert!(MdnsConfig::new().validate().is_ok());
    }
}
