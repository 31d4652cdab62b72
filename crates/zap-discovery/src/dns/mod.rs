//! DNS discovery, for Kubernetes headless services and anything else published in DNS.
//!
//! A headless Service (`clusterIP: None`) publishes every ready pod: an A/AAAA query on
//! `<svc>.<ns>.svc.cluster.local` returns all pod IPs ([`DnsQuery::Host`], with the port
//! you give), and for each *named* port an SRV query on
//! `_<port-name>._<proto>.<svc>.<ns>.svc.cluster.local` returns one record per pod with its
//! port and host name ([`DnsQuery::Srv`]). [`DnsDiscovery`] resolves the name at start,
//! again every [`DnsConfig::refresh_every`] (10 s by default, as the Go relay does) and
//! whenever [`Discovery::refresh`] asks, and reports the differences to subscribers.
//!
//! NXDOMAIN and empty answers mean no peers (a Service with no ready pods); any other
//! failure is returned by [`DnsDiscovery::start`] and [`Discovery::refresh`], remembered in
//! [`Discovery::last_error`], and leaves the previous peers in place, so that a DNS hiccup
//! does not empty a client's pool. The resolver cache is off, so a refresh always asks the
//! server.
//!
//! ```no_run
//! # async fn demo() -> Result<(), zap_discovery::Error> {
//! use zap_discovery::dns::{DnsConfig, DnsDiscovery, DnsQuery};
//! use zap_discovery::Discovery;
//!
//! let query = DnsQuery::kubernetes_srv("zap", "tcp", "relay.prod.svc.cluster.local.");
//! let pods = DnsDiscovery::start(DnsConfig::new(query)).await?;
//! for peer in pods.peers().iter() {
//!     println!("{} via {:?}", peer.addr(), peer.meta("dns.target"));
//! }
//! # Ok(()) }
//! ```

mod resolve;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::Instrument;

use crate::discovery::{BoxFuture, Discovery};
use crate::error::Error;
use crate::peer::Peer;
use crate::peer_set::{DEFAULT_MAX_PEERS, PeerSet, Snapshot, Subscription};

/// How often a headless service is re-resolved by default (as the Go relay does).
pub const DEFAULT_REFRESH_EVERY: Duration = Duration::from_secs(10);
/// How long one DNS query may take by default before it is retried or fails.
pub const DEFAULT_QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// What to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DnsQuery {
    /// Every A and AAAA record of `name`, each with `port`.
    Host {
        /// The name, e.g. `relay.prod.svc.cluster.local.` (a trailing dot skips the
        /// resolver's search list).
        name: String,
        /// The port every address listens on.
        port: u16,
    },
    /// The SRV records of `name`, each target's A/AAAA records with the record's port.
    Srv {
        /// The name, e.g. `_zap._tcp.relay.prod.svc.cluster.local.`.
        name: String,
    },
}

impl DnsQuery {
    /// Addresses of `name`, all on `port`.
    pub fn host(name: impl Into<String>, port: u16) -> Self {
        Self::Host {
            name: name.into(),
            port,
        }
    }

    /// The SRV records of `name` (the full `_port._proto.service` name).
    pub fn srv(name: impl Into<String>) -> Self {
        Self::Srv { name: name.into() }
    }

    /// The SRV records of a Kubernetes named port: `_<port_name>._<proto>.<service>`.
    pub fn kubernetes_srv(port_name: &str, proto: &str, service: &str) -> Self {
        Self::Srv {
            name: format!("_{port_name}._{proto}.{service}"),
        }
    }

    /// The name looked up.
    pub fn name(&self) -> &str {
        match self {
            Self::Host { name, .. } | Self::Srv { name } => name,
        }
    }
}

/// Settings of a [`DnsDiscovery`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DnsConfig {
    /// What to look up.
    pub query: DnsQuery,
    /// The service type peers are tagged with. Default: the name looked up.
    pub service_type: Option<String>,
    /// Name servers to ask (each over UDP, then TCP). Empty means the system configuration
    /// (`/etc/resolv.conf`), which is what a pod wants.
    pub nameservers: Vec<SocketAddr>,
    /// How often to re-resolve. Default: 10 s.
    pub refresh_every: Duration,
    /// How long one query may take. Default: 2 s.
    pub timeout: Duration,
    /// How many times a failed query is retried. Default: 2.
    pub attempts: usize,
    /// The most peers kept. Default: 4096.
    pub max_peers: usize,
}

impl DnsConfig {
    /// Looks up `query` with the system's name servers, every 10 s.
    pub fn new(query: DnsQuery) -> Self {
        Self {
            query,
            service_type: None,
            nameservers: Vec::new(),
            refresh_every: DEFAULT_REFRESH_EVERY,
            timeout: DEFAULT_QUERY_TIMEOUT,
            attempts: 2,
            max_peers: DEFAULT_MAX_PEERS,
        }
    }

    /// Asks this name server (may be repeated to add more).
    pub fn with_nameserver(mut self, server: SocketAddr) -> Self {
        self.nameservers.push(server);
        self
    }

    /// Re-resolves this often.
    pub fn with_refresh_every(mut self, every: Duration) -> Self {
        self.refresh_every = every;
        self
    }

    /// Gives each query this long, and retries a failed one `attempts` times.
    pub fn with_timeout(mut self, timeout: Duration, attempts: usize) -> Self {
        self.timeout = timeout;
        self.attempts = attempts;
        self
    }

    /// Tags peers with this service type.
    pub fn with_service_type(mut self, service_type: impl Into<String>) -> Self {
        self.service_type = Some(service_type.into());
        self
    }

    /// Keeps at most this many peers.
    pub fn with_max_peers(mut self, max_peers: usize) -> Self {
        self.max_peers = max_peers;
        self
    }

    fn validate(&self) -> Result<(), Error> {
        if self.query.name().is_empty() {
            return Err(Error::InvalidConfig("the DNS name is empty"));
        }
        if let DnsQuery::Host { port: 0, .. } = self.query {
            return Err(Error::InvalidPort);
        }
        if self.refresh_every < Duration::from_millis(10) {
            return Err(Error::InvalidConfig("refresh_every must be at least 10 ms"));
        }
        if self.timeout.is_zero() {
            return Err(Error::InvalidConfig("the query timeout must not be zero"));
        }
        if self.max_peers == 0 {
            return Err(Error::InvalidConfig("max_peers must be at least 1"));
        }
        Ok(())
    }

    /// The longest one refresh may take: the SRV query and the target queries after it,
    /// each with its retries, plus slack.
    fn deadline(&self) -> Duration {
        let per_phase = self.timeout * u32::try_from(self.attempts + 1).unwrap_or(u32::MAX);
        per_phase.saturating_mul(2) + Duration::from_secs(1)
    }

    fn service_type(&self) -> String {
        self.service_type
            .clone()
            .unwrap_or_else(|| self.query.name().to_string())
    }
}

/// Peers published in DNS, re-resolved on an interval and on demand.
#[derive(Debug)]
pub struct DnsDiscovery {
    inner: Arc<Inner>,
    stop: Mutex<Option<oneshot::Sender<()>>>,
}

#[derive(Debug)]
struct Inner {
    config: DnsConfig,
    service_type: String,
    resolver: resolve::Resolver,
    set: PeerSet,
    /// One refresh at a time, so an older answer never overwrites a newer one.
    refreshing: tokio::sync::Mutex<()>,
}

impl Inner {
    async fn refresh(&self) -> Result<Snapshot, Error> {
        let _one = self.refreshing.lock().await;
        let span = tracing::info_span!("dns.refresh", name = %self.config.query.name());
        let deadline = self.config.deadline();
        let looked_up = tokio::time::timeout(
            deadline,
            resolve::lookup(&self.resolver, &self.config.query, &self.service_type),
        )
        .instrument(span.clone())
        .await;
        let result = looked_up.unwrap_or_else(|_| {
            Err(Error::Dns {
                name: self.config.query.name().to_string(),
                kind: crate::error::DnsErrorKind::Timeout,
                message: format!("no complete answer within {deadline:?}"),
            })
        });
        let _entered = span.enter();
        match result {
            Ok(peers) => {
                if let Err(e) = self.set.replace(peers) {
                    tracing::warn!(error = %e, "some peers left out");
                }
                self.set.set_last_error(None);
                let snap = self.set.snapshot();
                tracing::debug!(peers = snap.len(), "resolved");
                Ok(snap)
            }
            Err(e) => {
                tracing::warn!(error = %e, "refresh failed; keeping the previous peers");
                self.set.set_last_error(Some(e.clone()));
                Err(e)
            }
        }
    }
}

impl DnsDiscovery {
    /// Resolves the name once (returning its error if that fails) and keeps it resolved in
    /// the background. Must be called within a Tokio runtime.
    pub async fn start(config: DnsConfig) -> Result<Self, Error> {
        config.validate()?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime("DNS discovery"))?;
        let resolver = resolve::build(&config)?;
        let service_type = config.service_type();
        let inner = Arc::new(Inner {
            set: PeerSet::with_max_peers(service_type.clone(), config.max_peers),
            service_type,
            resolver,
            config,
            refreshing: tokio::sync::Mutex::new(()),
        });
        inner.refresh().await?;
        let (stop_tx, stop_rx) = oneshot::channel();
        let span = tracing::info_span!("dns.discovery", name = %inner.config.query.name());
        runtime.spawn(refresh_loop(inner.clone(), stop_rx).instrument(span));
        Ok(Self {
            inner,
            stop: Mutex::new(Some(stop_tx)),
        })
    }

    /// Resolves the name once and returns the peers, without keeping anything running.
    pub async fn resolve(config: DnsConfig) -> Result<Vec<Peer>, Error> {
        config.validate()?;
        let resolver = resolve::build(&config)?;
        let service_type = config.service_type();
        let deadline = config.deadline();
        let span = tracing::info_span!("dns.resolve", name = %config.query.name());
        tokio::time::timeout(
            deadline,
            resolve::lookup(&resolver, &config.query, &service_type),
        )
        .instrument(span)
        .await
        .unwrap_or_else(|_| {
            Err(Error::Dns {
                name: config.query.name().to_string(),
                kind: crate::error::DnsErrorKind::Timeout,
                message: format!("no complete answer within {deadline:?}"),
            })
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &DnsConfig {
        &self.inner.config
    }
}

async fn refresh_loop(inner: Arc<Inner>, mut stop: oneshot::Receiver<()>) {
    let every = inner.config.refresh_every;
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticks.tick() => {}
        }
        tokio::select! {
            _ = &mut stop => break,
            // The outcome is kept in the set (peers or last error); nothing more to do here.
            _ = inner.refresh() => {}
        }
    }
    tracing::debug!("refresh loop stopped");
}

impl Discovery for DnsDiscovery {
    fn service_type(&self) -> &str {
        &self.inner.service_type
    }
    fn peers(&self) -> Snapshot {
        self.inner.set.snapshot()
    }
    fn peer_count(&self) -> usize {
        self.inner.set.len()
    }
    fn subscribe(&self) -> Subscription {
        self.inner.set.subscribe()
    }
    fn refresh(&self) -> BoxFuture<'_, Result<Snapshot, Error>> {
        Box::pin(async move {
            if self.inner.set.is_closed() {
                return Err(Error::Stopped);
            }
            self.inner.refresh().await
        })
    }
    fn last_error(&self) -> Option<Error> {
        self.inner.set.last_error()
    }
    fn stop(&self) {
        let tx = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(tx) = tx {
            let _ = tx.send(());
        }
        self.inner.set.close();
    }
    fn is_stopped(&self) -> bool {
        self.inner.set.is_closed()
    }
}

impl Drop for DnsDiscovery {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_srv_names() {
        let q = DnsQuery::kubernetes_srv("zap", "tcp", "relay.prod.svc.cluster.local.");
        assert_eq!(q.name(), "_zap._tcp.relay.prod.svc.cluster.local.");
    }

    #[test]
    fn config_is_checked() {
        assert!(DnsConfig::new(DnsQuery::host("a.", 0)).validate().is_err());
        assert!(DnsConfig::new(DnsQuery::host("", 1)).validate().is_err());
        assert!(DnsConfig::new(DnsQuery::host("a.", 1)).validate().is_ok());
        let slow =
            DnsConfig::new(DnsQuery::srv("_a._tcp.b.")).with_timeout(Duration::from_secs(1), 2);
        assert_eq!(slow.deadline(), Duration::from_secs(7));
    }
}
