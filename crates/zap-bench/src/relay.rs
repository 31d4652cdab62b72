//! The relay group: relay-cluster's cross-pod path against its same-pod path.
//!
//! Two relay pods run on the server side, on 127.0.0.2 and 127.0.0.3, linked by the
//! fabric (relay-cluster's `cluster` feature). Each pod has an echo peer attached (B on
//! the first, C on the second) that sends every Transport message back to its sender.
//! Two clients attach to the first pod, as relay users do, with relay-cluster's own
//! `Client`: one sends to B (same pod: client → relay → B → relay → client) and one to C
//! (cross pod: each way also crosses the fabric link and the second relay). Both carry
//! the same payloads with the same code, so the ratio is what the fabric adds.

use std::cell::{RefCell, RefMut};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use relay_cluster::fabric::{ClusterBootstrap, ClusterConfig, Siblings};
use relay_cluster::wire::MAX_TRANSPORT_PAYLOAD;
use relay_cluster::{
    AllowAll, Client, ClientConfig, Event, PeerId, RelayConfig, Server, ServerConfig,
};
use serde::Serialize;
use zap_discovery::{Peer, StaticDiscovery};

use crate::config::{Budget, Config};
use crate::echo::{Contender, Echo, EchoResult, Runner, check_len, measure};
use crate::error::BenchError;
use crate::layout::Layout;
use crate::rpc::Pending;

/// The same-pod path's name in results.
pub const RELAY_SAME_POD: &str = "relay same-pod";
/// The cross-pod path's name in results.
pub const RELAY_CROSS_POD: &str = "relay cross-pod";
/// Messages in flight per client for the throughput pass.
pub const RELAY_IN_FLIGHT: usize = 16;
/// A relay forwards a message or drops it; an echo that has not come back by then was
/// lost, and the measurement fails rather than waits.
const ECHO_TIMEOUT: Duration = Duration::from_secs(5);
/// Bound on the fabric linking up and on presence reaching the first pod.
const SETTLE: Duration = Duration::from_secs(10);
const SECRET: &str = "zap-bench-fabric";

/// What the relay group measured.
#[derive(Debug, Clone, Serialize)]
pub struct RelayResults {
    /// One entry per path and payload size.
    pub results: Vec<EchoResult>,
    /// Payload sizes (or paths) without figures in this run, and why.
    pub pending: Vec<Pending>,
}

impl RelayResults {
    /// The result of `path` at `payload` bytes.
    pub fn get(&self, path: &str, payload: usize) -> Option<&EchoResult> {
        self.results
            .iter()
            .find(|r| r.contender == path && r.payload == payload)
    }
}

fn fail(e: impl std::fmt::Display) -> BenchError {
    BenchError::contender("relay-cluster", e)
}

/// Relay settings for a benchmark: queues deep enough for the messages in flight (the
/// defaults are sized for many peers, not for one peer sending bursts).
fn relay_config() -> RelayConfig {
    let mut relay = RelayConfig::default();
    relay.peer_queue = 1024;
    relay
}

struct Pod {
    /// Held so the relay keeps serving while the layout lives.
    _server: Server,
    cluster: ClusterBootstrap,
    url: String,
}

async fn pod(ip: IpAddr, discovery: Arc<StaticDiscovery>) -> Result<Pod, BenchError> {
    let config = ServerConfig::new(SocketAddr::new(ip, 0), "zap-bench", AllowAll)
        .with_relay_config(relay_config());
    let server = Server::new(config).map_err(fail)?;
    let cc = ClusterConfig::new(ip, Siblings::Custom(discovery), SECRET).with_port(0);
    let cluster = ClusterBootstrap::start(cc, server.relay())
        .await
        .map_err(fail)?;
    let url = format!("rel://{}", server.listen().await.map_err(fail)?.websocket);
    Ok(Pod {
        _server: server,
        cluster,
        url,
    })
}

async fn attach(url: &str, name: &str) -> Result<Client, BenchError> {
    Client::connect(ClientConfig::new(
        url,
        PeerId::from_identity(name),
        Vec::new(),
    ))
    .await
    .map_err(fail)
}

/// A peer that sends every Transport message back to its sender, until its connection
/// ends (when the server runtime shuts down).
async fn echo_peer(url: &str, name: &str) -> Result<tokio::task::JoinHandle<()>, BenchError> {
    let mut client = attach(url, name).await?;
    Ok(tokio::spawn(async move {
        while let Ok(event) = client.recv().await {
            if let Event::Transport { from, payload } = event
                && client.send(&from, &payload).await.is_err()
            {
                return;
            }
        }
    }))
}

/// Everything the server side keeps running.
type Keep = (Vec<Pod>, Vec<tokio::task::JoinHandle<()>>);

/// Starts both pods, links them, attaches B and C; returns the first pod's URL.
async fn servers() -> Result<(String, Keep), BenchError> {
    let ips = [IpAddr::from([127, 0, 0, 2]), IpAddr::from([127, 0, 0, 3])];
    let mut pods = Vec::new();
    let mut lists = Vec::new();
    for ip in ips {
        let d = Arc::new(StaticDiscovery::new("zap-bench", Vec::<Peer>::new()).map_err(fail)?);
        pods.push(pod(ip, d.clone()).await?);
        lists.push(d);
    }
    let addrs: Vec<SocketAddr> = pods
        .iter()
        .map(|p| p.cluster.fabric().announce_addr())
        .collect();
    for d in &lists {
        d.set_peers(addrs.iter().map(|a| Peer::new(*a)))
            .map_err(fail)?;
    }
    for p in &pods {
        p.cluster
            .fabric()
            .wait_until(SETTLE, |s| s.links.len() == 1 && s.handshaking == 0)
            .await
            .map_err(fail)?;
    }
    let echoes = vec![
        echo_peer(&pods[0].url, "b").await?,
        echo_peer(&pods[1].url, "c").await?,
    ];
    // C's presence reaches the first pod before the first message, so no measurement
    // includes the one-time owner lookup.
    pods[0]
        .cluster
        .fabric()
        .wait_until(SETTLE, |s| s.remote_peers >= 1)
        .await
        .map_err(fail)?;
    let url = pods[0].url.clone();
    Ok((url, (pods, echoes)))
}

/// A client on the first pod sending to one echo peer.
struct RelayEcho {
    name: &'static str,
    client: RefCell<Client>,
    to: PeerId,
}

impl RelayEcho {
    async fn connect(
        name: &'static str,
        url: &str,
        me: &str,
        to: &str,
    ) -> Result<Self, BenchError> {
        Ok(Self {
            name,
            client: RefCell::new(attach(url, me).await?),
            to: PeerId::from_identity(to),
        })
    }

    fn client(&self) -> Result<RefMut<'_, Client>, BenchError> {
        self.client
            .try_borrow_mut()
            .map_err(|_| BenchError::contender(self.name, "one driver at a time"))
    }

    /// Waits for the next echo and checks its length.
    async fn echo(&self, client: &mut Client, want: usize) -> Result<(), BenchError> {
        loop {
            let event = tokio::time::timeout(ECHO_TIMEOUT, client.recv())
                .await
                .map_err(|_| {
                    BenchError::contender(
                        self.name,
                        format!("an echo did not come back within {ECHO_TIMEOUT:?} (dropped)"),
                    )
                })?
                .map_err(|e| BenchError::contender(self.name, e))?;
            if let Event::Transport { payload, .. } = event {
                return check_len(self.name, want, payload.len());
            }
        }
    }

    async fn send(&self, client: &Client, payload: &Bytes) -> Result<(), BenchError> {
        client
            .send(&self.to, payload)
            .await
            .map_err(|e| BenchError::contender(self.name, e))
    }
}

impl Echo for RelayEcho {
    type Payload = Bytes;
    type Worker = ();

    fn name(&self) -> &'static str {
        self.name
    }

    fn prepare(&self, data: &Bytes) -> Result<Bytes, BenchError> {
        Ok(data.clone())
    }

    fn worker(&self) {}

    #[allow(clippy::await_holding_refcell_ref)] // one driver at a time, checked by `client()`
    async fn call(&self, _: &mut (), payload: &Bytes) -> Result<(), BenchError> {
        let mut client = self.client()?;
        self.send(&client, payload).await?;
        self.echo(&mut client, payload.len()).await
    }

    /// One task keeps `in_flight` messages outstanding: each echo is answered by the
    /// next message (relay clients receive on one queue, so concurrent callers would
    /// only take each other's echoes).
    #[allow(clippy::await_holding_refcell_ref)] // one driver at a time, checked by `client()`
    async fn saturate(
        &self,
        payload: &Bytes,
        in_flight: usize,
        budget: Budget,
    ) -> Result<u64, BenchError> {
        let mut client = self.client()?;
        let until = Instant::now() + budget.time;
        let first = (in_flight.max(1) as u64).min(budget.calls);
        for _ in 0..first {
            self.send(&client, payload).await?;
        }
        let (mut issued, mut done) = (first, 0u64);
        while done < issued {
            self.echo(&mut client, payload.len()).await?;
            done += 1;
            if issued < budget.calls && Instant::now() < until {
                self.send(&client, payload).await?;
                issued += 1;
            }
        }
        Ok(done)
    }
}

/// Starts the pods, attaches the clients, and measures both paths at every payload size
/// the relay can carry.
pub(crate) async fn run(
    layout: &Layout,
    cfg: &Config,
    progress: &dyn Fn(&str),
) -> Result<RelayResults, BenchError> {
    progress("starting two linked pods");
    let url = layout.serve(RELAY_CROSS_POD, servers()).await?;
    let mut cfg = cfg.clone();
    let (fit, too_big): (Vec<usize>, Vec<usize>) =
        cfg.sizes.iter().partition(|&&n| n <= MAX_TRANSPORT_PAYLOAD);
    let pending = too_big
        .iter()
        .map(|n| Pending {
            contender: format!("relay paths, {n}-byte payload"),
            reason: format!(
                "not measured: above the relay's message limit ({MAX_TRANSPORT_PAYLOAD} bytes of payload, as upstream)"
            ),
        })
        .collect();
    if fit.is_empty() {
        return Ok(RelayResults {
            results: Vec::new(),
            pending,
        });
    }
    cfg.sizes = fit;
    let sizes = &cfg.sizes;
    let contenders: Vec<Box<dyn Runner>> = vec![
        Box::new(Contender::new(
            RelayEcho::connect(RELAY_SAME_POD, &url, "a-same", "b").await?,
            sizes,
        )?),
        Box::new(Contender::new(
            RelayEcho::connect(RELAY_CROSS_POD, &url, "a-cross", "c").await?,
            sizes,
        )?),
    ];
    let results = measure(
        &contenders,
        layout.threads(),
        &cfg,
        &[RELAY_IN_FLIGHT],
        progress,
    )
    .await?;
    Ok(RelayResults { results, pending })
}
