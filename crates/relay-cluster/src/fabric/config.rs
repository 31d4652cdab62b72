//! How a pod joins its cluster: addresses, secrets, siblings, timeouts and bounds.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use zap_discovery::Discovery;

use super::FabricError;
use super::frame::{DEFAULT_CLUSTER_PORT, MAX_ADDR_LEN};
use super::secrets::ClusterSecrets;

/// Where a pod finds its siblings.
#[derive(Clone)]
#[non_exhaustive]
pub enum Siblings {
    /// A Kubernetes headless Service (or any DNS name with one A/AAAA record per pod),
    /// re-resolved every `refresh`. Each address is dialed on the cluster port.
    Headless {
        /// The name, e.g. `relay-internal` (resolved through the pod's search domains) or
        /// `relay-internal.prod.svc.cluster.local.`.
        name: String,
        /// Name servers to ask; empty means the system configuration (`/etc/resolv.conf`),
        /// which is what a pod wants.
        nameservers: Vec<SocketAddr>,
        /// How often to re-resolve (openZro: 10 s).
        refresh: Duration,
    },
    /// A fixed list of sibling fabric addresses (plain VMs, trying it locally). Our own
    /// address may be in it; it is skipped.
    Static(Vec<SocketAddr>),
    /// Any [`Discovery`]; each peer's preferred address is a sibling's fabric address.
    Custom(Arc<dyn Discovery>),
}

impl fmt::Debug for Siblings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Headless {
                name,
                nameservers,
                refresh,
            } => f
                .debug_struct("Headless")
                .field("name", name)
                .field("nameservers", nameservers)
                .field("refresh", refresh)
                .finish(),
            Self::Static(addrs) => f.debug_tuple("Static").field(addrs).finish(),
            Self::Custom(d) => f.debug_tuple("Custom").field(&d.service_type()).finish(),
        }
    }
}

impl Siblings {
    /// A headless Service resolved with the system's name servers every 10 s.
    pub fn headless(name: impl Into<String>) -> Self {
        Self::Headless {
            name: name.into(),
            nameservers: Vec::new(),
            refresh: Duration::from_secs(10),
        }
    }
}

/// Everything a pod needs to join the fabric. Build with [`ClusterConfig::new`], then
/// adjust the fields.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClusterConfig {
    /// This pod's IP (Kubernetes: `status.podIP` through the downward API). Announced to
    /// siblings with the port, and used to recognise ourselves in discovery answers.
    pub pod_ip: IpAddr,
    /// The fabric port, on every pod (openZro: 7090). 0 picks a free port, which is then
    /// announced (siblings must learn it some other way; for tests).
    pub port: u16,
    /// The address the fabric listens on. Default: the pod IP and the port (so that many
    /// pods can share one host on 127.0.0.x); `0.0.0.0:port` listens everywhere. Port 0
    /// picks a free port (then announced instead of `port`).
    pub bind: Option<SocketAddr>,
    /// The address siblings dial to reach this pod, when it differs from `pod_ip:port`
    /// (NAT, a proxy in front of the pod).
    pub announce: Option<SocketAddr>,
    /// Where the siblings are.
    pub siblings: Siblings,
    /// The secrets accepted on the fabric, the first preferred. List the new secret first
    /// and the old one second while rotating.
    pub secrets: ClusterSecrets,
    /// Run without secrets (no authentication at all). Must be set explicitly; an empty
    /// secret list without it is a configuration error. A warning is logged at start.
    pub insecure_unsigned: bool,
    /// Exchange presence with siblings, so that subscribers hear about peers on other
    /// pods and the locator follows moves at once (default true). Without it the fabric
    /// locates peers only by WHO_HAS.
    pub presence: bool,
    /// Deadline for a TCP connect to a sibling (openZro: 3 s).
    pub connect_timeout: Duration,
    /// Deadline for the whole handshake, on either side.
    pub handshake_timeout: Duration,
    /// Deadline for each coalesced write to a sibling; a sibling that cannot take it in
    /// time is declared dead.
    pub write_timeout: Duration,
    /// Time between PINGs on each link.
    pub ping_interval: Duration,
    /// PING intervals without hearing anything that make a link dead.
    pub dead_after_pings: u32,
    /// First redial delay after a failure; doubles up to `redial_max` (with jitter).
    pub redial_min: Duration,
    /// The longest redial delay.
    pub redial_max: Duration,
    /// How long a WHO_HAS lookup waits when some sibling never answers.
    pub lookup_timeout: Duration,
    /// How long an owner learned from I_HAVE is trusted (openZro: 5 min).
    pub cache_ttl: Duration,
    /// How long "nobody has this peer" is remembered (presence news clears it at once).
    pub negative_ttl: Duration,
    /// Bytes queued toward one sibling before new messages to it are dropped.
    pub queue_bytes: usize,
    /// Messages held for one peer while its owner is looked up.
    pub pending_per_lookup: usize,
    /// Lookups in flight at once; more are refused (the message is dropped).
    pub max_lookups: usize,
    /// Peers on other pods remembered at most (presence and cache together).
    pub max_remote_peers: usize,
    /// Handshakes in progress at once on the listener; more connections are dropped.
    pub max_handshakes: usize,
    /// How far ahead of our clock a sibling's registration stamp may be; larger stamps
    /// are clamped, so one bad clock cannot push ours into the future.
    pub max_clock_skew: Duration,
}

impl ClusterConfig {
    /// A configuration for the pod at `pod_ip`, listening on `pod_ip:7090`, finding its
    /// siblings with `siblings` and authenticating with `secret`.
    pub fn new(pod_ip: IpAddr, siblings: Siblings, secret: impl AsRef<[u8]>) -> Self {
        Self {
            pod_ip,
            port: DEFAULT_CLUSTER_PORT,
            bind: None,
            announce: None,
            siblings,
            secrets: ClusterSecrets::new([secret]),
            insecure_unsigned: false,
            presence: true,
            connect_timeout: Duration::from_secs(3),
            handshake_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(5),
            dead_after_pings: 3,
            redial_min: Duration::from_millis(100),
            redial_max: Duration::from_secs(10),
            lookup_timeout: Duration::from_millis(500),
            cache_ttl: Duration::from_secs(300),
            negative_ttl: Duration::from_secs(1),
            queue_bytes: 4 << 20,
            pending_per_lookup: 32,
            max_lookups: 4096,
            max_remote_peers: 1 << 20,
            max_handshakes: 64,
            max_clock_skew: Duration::from_secs(300),
        }
    }

    /// Sets the fabric port.
    pub fn with_port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Listens on `bind` instead of `pod_ip:port`.
    pub fn with_bind(mut self, bind: SocketAddr) -> Self {
        self.bind = Some(bind);
        self
    }

    /// Announces `addr` to siblings instead of `pod_ip:port`.
    pub fn with_announce(mut self, addr: SocketAddr) -> Self {
        self.announce = Some(addr);
        self
    }

    /// Accepts these secrets, the first preferred (rotation: new first, then old).
    pub fn with_secrets<S: AsRef<[u8]>>(mut self, secrets: impl IntoIterator<Item = S>) -> Self {
        self.secrets = ClusterSecrets::new(secrets);
        self
    }

    /// Runs without authentication: anyone who can reach the port joins the fabric.
    pub fn insecure_unsigned(mut self) -> Self {
        self.secrets = ClusterSecrets::default();
        self.insecure_unsigned = true;
        self
    }

    /// Timeouts scaled for tests and demos on loopback: pings every 100 ms, 300 ms to
    /// declare a link dead, redials from 20 ms up to 200 ms.
    pub fn with_fast_timers(mut self) -> Self {
        self.connect_timeout = Duration::from_millis(500);
        self.handshake_timeout = Duration::from_millis(500);
        self.write_timeout = Duration::from_millis(500);
        self.ping_interval = Duration::from_millis(100);
        self.redial_min = Duration::from_millis(20);
        self.redial_max = Duration::from_millis(200);
        self.lookup_timeout = Duration::from_millis(300);
        self
    }

    /// The address to listen on.
    pub fn bind_addr(&self) -> SocketAddr {
        self.bind
            .unwrap_or_else(|| SocketAddr::new(self.pod_ip, self.port))
    }

    pub(crate) fn validate(&self) -> Result<(), FabricError> {
        let bad = |m: String| Err(FabricError::Config(m));
        if self.pod_ip.is_unspecified() {
            return bad("pod_ip must be this pod's address, not 0.0.0.0 or ::".into());
        }
        if self.secrets.is_empty() && !self.insecure_unsigned {
            return bad(
                "no cluster secret: give at least one, or opt in to an unsigned fabric \
                 explicitly (insecure_unsigned)"
                    .into(),
            );
        }
        if !self.secrets.is_empty() && self.insecure_unsigned {
            return bad("insecure_unsigned is set but secrets are given; choose one".into());
        }
        for (name, d) in [
            ("connect_timeout", self.connect_timeout),
            ("handshake_timeout", self.handshake_timeout),
            ("write_timeout", self.write_timeout),
            ("ping_interval", self.ping_interval),
            ("redial_min", self.redial_min),
            ("lookup_timeout", self.lookup_timeout),
            ("cache_ttl", self.cache_ttl),
        ] {
            if d.is_zero() {
                return bad(format!("{name} must be more than zero"));
            }
        }
        if self.redial_max < self.redial_min {
            return bad("redial_max must be at least redial_min".into());
        }
        if self.dead_after_pings == 0 {
            return bad("dead_after_pings must be at least 1".into());
        }
        for (name, n) in [
            ("queue_bytes", self.queue_bytes),
            ("pending_per_lookup", self.pending_per_lookup),
            ("max_lookups", self.max_lookups),
            ("max_remote_peers", self.max_remote_peers),
            ("max_handshakes", self.max_handshakes),
        ] {
            if n == 0 {
                return bad(format!("{name} must be at least 1"));
            }
        }
        if let Siblings::Headless { name, refresh, .. } = &self.siblings {
            if name.is_empty() {
                return bad("the headless service name is empty".into());
            }
            if *refresh < Duration::from_millis(10) {
                return bad("the discovery refresh must be at least 10 ms".into());
            }
        }
        let announce = self.announce_for(self.bind_addr()).to_string();
        if announce.len() > MAX_ADDR_LEN {
            return bad(format!("the announce address is over {MAX_ADDR_LEN} bytes"));
        }
        Ok(())
    }

    /// The announce address once the listener is bound at `bound`.
    pub(crate) fn announce_for(&self, bound: SocketAddr) -> SocketAddr {
        if let Some(a) = self.announce {
            return a;
        }
        let port = if self.port == 0 || self.bind.is_some_and(|b| b.port() == 0) {
            bound.port()
        } else {
            self.port
        };
        SocketAddr::new(self.pod_ip, port)
    }
}

impl Default for Siblings {
    fn default() -> Self {
        Self::Static(Vec::new())
    }
}

/// The IPv4 unspecified address with the default port: listen everywhere.
pub const LISTEN_EVERYWHERE: SocketAddr =
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), DEFAULT_CLUSTER_PORT);

#[cfg(test)]
mod tests {
    use super::*;

    fn ip() -> IpAddr {
        "127.0.0.2".parse().unwrap()
    }

    #[test]
    fn defaults_validate_and_bad_values_are_explained() {
        let c = ClusterConfig::new(ip(), Siblings::default(), "s");
        c.validate().unwrap();
        assert_eq!(c.bind_addr(), "127.0.0.2:7090".parse().unwrap());
        let no_secret = ClusterConfig::new(ip(), Siblings::default(), "");
        assert!(
            no_secret
                .validate()
                .unwrap_err()
                .to_string()
                .contains("insecure_unsigned")
        );
        no_secret.insecure_unsigned().validate().unwrap();
        let unspecified = ClusterConfig::new("0.0.0.0".parse().unwrap(), Siblings::default(), "s");
        assert!(unspecified.validate().is_err());
        let mut slow = ClusterConfig::new(ip(), Siblings::default(), "s");
        slow.redial_max = Duration::from_millis(1);
        assert!(slow.validate().is_err());
        let headless = ClusterConfig::new(ip(), Siblings::headless(""), "s");
        assert!(headless.validate().is_err());
    }

    #[test]
    fn ephemeral_ports_are_announced() {
        let c = ClusterConfig::new(ip(), Siblings::default(), "s")
            .with_bind("127.0.0.2:0".parse().unwrap());
        c.validate().unwrap();
        assert_eq!(
            c.announce_for("127.0.0.2:41000".parse().unwrap()),
            "127.0.0.2:41000".parse().unwrap()
        );
        let behind_proxy = c.with_announce("127.0.0.9:7000".parse().unwrap());
        assert_eq!(
            behind_proxy.announce_for("127.0.0.2:41000".parse().unwrap()),
            "127.0.0.9:7000".parse().unwrap()
        );
    }
}
