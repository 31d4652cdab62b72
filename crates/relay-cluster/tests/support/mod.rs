//! Multi-pod test harness: relay pods on 127.0.0.x, each with its own fabric, plus the
//! fault proxy (the DNS server is zap-testkit's). Every wait is bounded; none sleeps.
#![allow(dead_code, unreachable_pub)]

#[path = "../common/events.rs"]
mod events;
pub mod proxy;
pub use events::*;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::select_all;
use relay_cluster::fabric::{ClusterBootstrap, ClusterConfig, Fabric, FabricStatus, Siblings};
use relay_cluster::{
    Client, ClientConfig, HealthCheckConfig, HmacValidator, PeerId, RelayConfig, Server,
    ServerConfig,
};
use zap_discovery::{Peer, StaticDiscovery};

pub const PEER_SECRET: &str = "peer-secret";
pub const CLUSTER_SECRET: &str = "cluster-secret";

pub fn ip(last: u8) -> IpAddr {
    IpAddr::from([127, 0, 0, last])
}

pub fn token() -> Vec<u8> {
    HmacValidator::new(PEER_SECRET).issue(Duration::from_secs(300))
}

/// Relay timeouts for tests: health checks every 200 ms.
pub fn relay_config() -> RelayConfig {
    let mut c = RelayConfig::default();
    c.handshake_timeout = Duration::from_secs(2);
    c.health_check = HealthCheckConfig::new(Duration::from_millis(200), Duration::from_millis(400));
    c.read_timeout = Duration::from_secs(5);
    c.close_timeout = Duration::from_secs(1);
    c.write_timeout = Duration::from_secs(2);
    c.locate_timeout = Duration::from_secs(2);
    c
}

/// A fabric configuration on `ip` with an ephemeral port and a sibling list the test
/// fills in later.
pub fn config(ip: IpAddr, discovery: &Arc<StaticDiscovery>) -> ClusterConfig {
    ClusterConfig::new(ip, Siblings::Custom(discovery.clone()), CLUSTER_SECRET)
        .with_port(0)
        .with_fast_timers()
}

pub fn empty_discovery() -> Arc<StaticDiscovery> {
    Arc::new(StaticDiscovery::new("relay-cluster", Vec::<Peer>::new()).unwrap())
}

/// One relay pod: a WebSocket relay and its fabric on the same IP.
pub struct Pod {
    pub ip: IpAddr,
    pub server: Server,
    pub cluster: ClusterBootstrap,
    pub url: String,
    pub discovery: Arc<StaticDiscovery>,
}

impl Pod {
    /// Starts a pod in the order of the seed: fabric, then the relay's listener.
    pub async fn start(config: ClusterConfig, discovery: Arc<StaticDiscovery>) -> Pod {
        let ip = config.pod_ip;
        let mut sc = ServerConfig::new(
            SocketAddr::new(ip, 0),
            "relay.test:443",
            HmacValidator::new(PEER_SECRET),
        );
        sc.relay = relay_config();
        sc.shutdown_timeout = Duration::from_secs(2);
        let server = Server::new(sc).unwrap();
        let cluster = ClusterBootstrap::start(config, server.relay())
            .await
            .expect("fabric starts");
        let url = format!("rel://{}", server.listen().await.unwrap().websocket);
        Pod {
            ip,
            server,
            cluster,
            url,
            discovery,
        }
    }

    pub fn fabric(&self) -> &Fabric {
        self.cluster.fabric()
    }

    pub fn addr(&self) -> SocketAddr {
        self.fabric().announce_addr()
    }

    /// Lists these sibling addresses (ourselves included is fine: it is skipped).
    pub fn set_siblings(&self, addrs: &[SocketAddr]) {
        self.discovery
            .set_peers(addrs.iter().map(|a| Peer::new(*a)))
            .unwrap();
    }

    pub async fn connect(&self, name: &str) -> Client {
        Client::connect(ClientConfig::new(
            &self.url,
            PeerId::from_identity(name),
            token(),
        ))
        .await
        .unwrap_or_else(|e| panic!("{name} cannot attach to {}: {e}", self.url))
    }

    pub async fn stop(self) {
        self.cluster.stop().await;
        self.server.shutdown().await;
    }
}

/// `n` pods on 127.0.0.2 onwards, each listing all the others, linked pairwise.
pub async fn pods(n: u8, tweak: impl Fn(ClusterConfig) -> ClusterConfig) -> Vec<Pod> {
    let mut pods = Vec::new();
    for i in 0..n {
        let d = empty_discovery();
        pods.push(Pod::start(tweak(config(ip(2 + i), &d)), d).await);
    }
    link_all(&pods).await;
    pods
}

/// Lists every pod to every pod and waits for the full mesh.
pub async fn link_all(pods: &[Pod]) {
    let addrs: Vec<SocketAddr> = pods.iter().map(Pod::addr).collect();
    for p in pods {
        p.set_siblings(&addrs);
    }
    let want = pods.len() - 1;
    wait_all(pods, |all| {
        all.iter()
            .all(|s| s.links.len() == want && s.handshaking == 0)
    })
    .await;
}

/// Waits until `ready` holds for the statuses of all pods, re-checking on any change.
pub async fn wait_all(pods: &[Pod], ready: impl Fn(&[FabricStatus]) -> bool) -> Vec<FabricStatus> {
    let fabrics: Vec<&Fabric> = pods.iter().map(Pod::fabric).collect();
    wait_fabrics(&fabrics, ready).await
}

pub async fn wait_fabrics(
    fabrics: &[&Fabric],
    ready: impl Fn(&[FabricStatus]) -> bool,
) -> Vec<FabricStatus> {
    let mut watches: Vec<_> = fabrics.iter().map(|f| f.watch()).collect();
    let wait = async {
        loop {
            for w in &mut watches {
                w.mark_unchanged();
            }
            let statuses: Vec<FabricStatus> = fabrics.iter().map(|f| f.status()).collect();
            if ready(&statuses) {
                return statuses;
            }
            let changed = watches.iter_mut().map(|w| Box::pin(w.changed()));
            let _ = select_all(changed).await;
        }
    };
    match tokio::time::timeout(WAIT, wait).await {
        Ok(s) => s,
        Err(_) => {
            let now: Vec<FabricStatus> = fabrics.iter().map(|f| f.status()).collect();
            panic!("pods did not reach the wanted state within {WAIT:?}: {now:#?}");
        }
    }
}

/// A port free on every one of `ips` a moment ago (pods share the fabric port, as in
/// Kubernetes, when discovery gives only addresses).
pub fn common_port(ips: &[IpAddr]) -> u16 {
    for _ in 0..50 {
        let first = std::net::TcpListener::bind(SocketAddr::new(ips[0], 0)).unwrap();
        let port = first.local_addr().unwrap().port();
        let rest: Result<Vec<_>, _> = ips[1..]
            .iter()
            .map(|ip| std::net::TcpListener::bind(SocketAddr::new(*ip, port)))
            .collect();
        if rest.is_ok() {
            return port;
        }
    }
    panic!("no port free on all of {ips:?}");
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
