//! [`ClusterBootstrap`]: starting and stopping a pod's fabric in openZro's order, and the
//! [`Fabric`] handle the relay forwards through.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use super::FabricError;
use super::config::ClusterConfig;
use super::core::Core;
use super::frame::{Features, NodeId};
use super::handshake::{self, Local};
use super::locator::{Limits, Locator};
use super::membership;
use super::presence;
use super::stats::FabricStats;
use crate::cluster::{CrossPodForwarder, ForwardError, LocateFuture};
use crate::metrics as m;
use crate::peer_id::PeerId;
use crate::relay::Relay;

/// One link as [`Fabric::status`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkInfo {
    /// The sibling's node id (new at each start of the sibling).
    pub node: NodeId,
    /// The address the sibling announced.
    pub sibling: String,
    /// True when this pod dialed the link.
    pub dialed_by_me: bool,
    /// This end of the TCP connection.
    pub local_addr: Option<SocketAddr>,
    /// The other end of the TCP connection.
    pub peer_addr: Option<SocketAddr>,
    /// Bytes waiting in the queue toward the sibling.
    pub queued_bytes: usize,
    /// The sibling said GOODBYE and is leaving.
    pub leaving: bool,
    /// How long the link has been up.
    pub age: Duration,
}

/// A snapshot of a pod's fabric.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FabricStatus {
    /// This pod's node id.
    pub node: NodeId,
    /// The address siblings dial to reach this pod.
    pub announce: SocketAddr,
    /// The address the fabric listens on.
    pub listen: SocketAddr,
    /// Sibling addresses discovery lists now (this pod excluded).
    pub siblings: Vec<SocketAddr>,
    /// Live links, one per sibling pod.
    pub links: Vec<LinkInfo>,
    /// Handshakes in progress (dialing or accepting).
    pub handshaking: usize,
    /// Peers known to be attached to other pods.
    pub remote_peers: usize,
}

impl FabricStatus {
    /// The link to the sibling announcing `addr`.
    pub fn link_to(&self, addr: SocketAddr) -> Option<&LinkInfo> {
        let addr = addr.to_string();
        self.links.iter().find(|l| l.sibling == addr)
    }

    /// True when a link is up to every listed sibling and no handshake is in progress.
    pub fn settled(&self) -> bool {
        self.handshaking == 0
            && self
                .siblings
                .iter()
                .all(|s| self.link_to(*s).is_some_and(|l| !l.leaving))
    }
}

/// A handle on a running fabric: the relay's [`CrossPodForwarder`], plus status.
/// Cheap to clone.
#[derive(Clone)]
pub struct Fabric {
    core: Arc<Core>,
    listen: SocketAddr,
}

impl std::fmt::Debug for Fabric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fabric")
            .field("node", &self.core.node)
            .field("announce", &self.core.announce)
            .field("links", &self.core.links.len())
            .finish_non_exhaustive()
    }
}

impl Fabric {
    /// This pod's node id.
    pub fn node_id(&self) -> NodeId {
        self.core.node
    }

    /// The address siblings dial to reach this pod.
    pub fn announce_addr(&self) -> SocketAddr {
        self.core.announce
    }

    /// The address the fabric listens on.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen
    }

    /// Links, siblings and handshakes now.
    pub fn status(&self) -> FabricStatus {
        let mut links: Vec<LinkInfo> = self
            .core
            .links
            .all()
            .iter()
            .map(|l| LinkInfo {
                node: l.node,
                sibling: l.announce.clone(),
                dialed_by_me: l.dialed_by_me,
                local_addr: l.local_addr,
                peer_addr: l.peer_addr,
                queued_bytes: l.queue.queued_bytes(),
                leaving: !l.routable(),
                age: l.established.elapsed(),
            })
            .collect();
        links.sort_by(|a, b| a.sibling.cmp(&b.sibling));
        FabricStatus {
            node: self.core.node,
            announce: self.core.announce,
            listen: self.listen,
            siblings: self.core.siblings(),
            links,
            handshaking: self.core.handshaking.load(Ordering::Relaxed),
            remote_peers: self.core.locator.remote_peers(),
        }
    }

    /// Counters since start.
    pub fn stats(&self) -> FabricStats {
        self.core.stats.snapshot()
    }

    /// Waits until `ready` accepts the status (or anything else the closure reads, such as
    /// [`Fabric::stats`]), re-checking whenever a link comes or goes, a handshake, a
    /// lookup or a keepalive round trip ends, or presence news arrives; gives up after
    /// `within` with [`FabricError::Timeout`].
    pub async fn wait_until(
        &self,
        within: Duration,
        mut ready: impl FnMut(&FabricStatus) -> bool,
    ) -> Result<FabricStatus, FabricError> {
        let mut changes = self.core.links.watch();
        let wait = async {
            loop {
                changes.mark_unchanged();
                let status = self.status();
                if ready(&status) {
                    return Ok(status);
                }
                if changes.changed().await.is_err() {
                    return Err(FabricError::Stopped);
                }
            }
        };
        tokio::time::timeout(within, wait)
            .await
            .map_err(|_| FabricError::Timeout {
                what: "the fabric to reach the wanted state",
                after: within,
            })?
    }

    /// A receiver that changes on the events [`Fabric::wait_until`] re-checks on (to wait
    /// on several pods at once).
    pub fn watch(&self) -> tokio::sync::watch::Receiver<u64> {
        self.core.links.watch()
    }

    /// Forgets where `peer` was found by lookup (presence news is kept: its sender keeps
    /// it current). The next message to it looks it up again.
    pub fn invalidate(&self, peer: &PeerId) {
        self.core.locator.invalidate(peer);
    }
}

impl CrossPodForwarder for Fabric {
    fn forward(&self, dst: &PeerId, msg: Bytes) -> Result<(), ForwardError> {
        self.core.forward(dst, msg)
    }

    fn locate<'a>(&'a self, peer: &'a PeerId) -> LocateFuture<'a> {
        let span = info_span!("relay.cluster.locate", %peer);
        Box::pin(self.core.locate(peer).instrument(span))
    }
}

/// A pod's fabric, started and stopped in the order openZro's relay uses:
///
/// * [`start`](Self::start): check the configuration, bind the fabric listener, build the
///   locator and forwarder over the relay's store, start accepting, start presence, start
///   discovery (the first resolution right away), then install the fabric as the relay's
///   cross-pod forwarder. Start the relay's listeners after this.
/// * [`stop`](Self::stop): stop discovery and redials and stop accepting, say GOODBYE to
///   every sibling (so they drop this pod's peers at once and tell their subscribers),
///   close the links, wait for the fabric's tasks. Shut the relay down after this.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use relay_cluster::fabric::{ClusterBootstrap, ClusterConfig, Siblings};
/// use relay_cluster::{HmacValidator, Server, ServerConfig};
///
/// let server = Server::new(ServerConfig::new(
///     "10.0.5.7:443".parse()?,
///     "relay.example.com:443",
///     HmacValidator::new("peer-secret"),
/// ))?;
/// let config = ClusterConfig::new(
///     "10.0.5.7".parse()?,
///     Siblings::headless("relay-internal"),
///     "cluster-secret",
/// );
/// let cluster = ClusterBootstrap::start(config, server.relay()).await?;
/// server.listen().await?;
/// // ... until SIGTERM:
/// cluster.stop().await;
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct ClusterBootstrap {
    fabric: Fabric,
    accepting: CancellationToken,
    stopped: AtomicBool,
}

impl std::fmt::Debug for ClusterBootstrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterBootstrap")
            .field("fabric", &self.fabric)
            .finish_non_exhaustive()
    }
}

impl ClusterBootstrap {
    /// Starts the fabric for `relay` (see the type's docs for the order).
    pub async fn start(config: ClusterConfig, relay: &Relay) -> Result<Self, FabricError> {
        config.validate()?;
        let bind = config.bind_addr();
        let listener = TcpListener::bind(bind)
            .await
            .map_err(|source| FabricError::Bind { addr: bind, source })?;
        let bound = listener.local_addr().map_err(FabricError::Io)?;
        let announce = config.announce_for(bound);
        if config.insecure_unsigned {
            warn!(
                listen = %bound,
                "the cluster fabric runs UNSIGNED (insecure_unsigned): anyone who can reach \
                 this port can join the cluster, learn its peers and inject traffic"
            );
        }
        let node = NodeId(handshake::random().map_err(|e| FabricError::Random(e.to_string()))?);
        let mut features = Features::KEEPALIVE.union(Features::NOT_HERE);
        if config.presence {
            features = features.union(Features::PRESENCE);
        }
        let me = Local {
            node,
            announce: announce.to_string(),
            features,
            secrets: config.secrets.clone(),
        };
        let locator = Locator::new(Limits {
            ttl: config.cache_ttl,
            negative_ttl: config.negative_ttl,
            pending_per_lookup: config.pending_per_lookup,
            max_lookups: config.max_lookups,
            max_entries: config.max_remote_peers,
        });
        let (snapshot_tx, snapshot_rx) = mpsc::unbounded_channel();
        let siblings = config.siblings.clone();
        let core = Arc::new(Core::new(
            config,
            me,
            announce,
            relay.downgrade(),
            relay.store().clone(),
            locator,
            snapshot_tx,
        ));
        let span = info_span!("relay.cluster", node = %node, pod = %announce);

        // Subscribe before the pump reads the store, so no change falls in between.
        let events = relay.store().watch();
        core.tasks
            .spawn(presence::pump(core.clone(), events, snapshot_rx).instrument(span.clone()));
        let accepting = core.stop.child_token();
        core.tasks.spawn(
            membership::accept_loop(core.clone(), listener, accepting.clone())
                .instrument(span.clone()),
        );
        core.tasks
            .spawn(maintenance(core.clone()).instrument(span.clone()));
        core.tasks.spawn(
            membership::follow(core.clone(), siblings, bound, accepting.clone())
                .instrument(span.clone()),
        );
        let fabric = Fabric {
            core,
            listen: bound,
        };
        relay.set_cross_pod_forwarder(Arc::new(fabric.clone()));
        span.in_scope(|| info!(listen = %bound, "cluster fabric started"));
        Ok(Self {
            fabric,
            accepting,
            stopped: AtomicBool::new(false),
        })
    }

    /// The fabric (status, stats, the forwarder).
    pub fn fabric(&self) -> &Fabric {
        &self.fabric
    }

    /// The address the fabric listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.fabric.listen
    }

    /// Leaves the cluster (see the type's docs). Waits at most the write timeout (capped
    /// at 2 s) for GOODBYEs to go out. Calling it again does nothing.
    pub async fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let core = &self.fabric.core;
        self.accepting.cancel();
        core.say_goodbye("pod shutting down");
        let grace = core.cfg.write_timeout.min(Duration::from_secs(2));
        let _ = self.fabric.wait_until(grace, |s| s.links.is_empty()).await;
        core.stop.cancel();
        core.tasks.close();
        let _ = tokio::time::timeout(grace, core.tasks.wait()).await;
        metrics::gauge!(m::CLUSTER_STREAMS).set(0.0);
        info!(node = %core.node, "cluster fabric stopped");
    }
}

impl Drop for ClusterBootstrap {
    fn drop(&mut self) {
        // Dropped without stop(): end every task rather than leak them.
        self.fabric.core.stop.cancel();
    }
}

/// Drops expired cache entries now and then.
async fn maintenance(core: Arc<Core>) {
    let every = core
        .cfg
        .negative_ttl
        .max(Duration::from_millis(250))
        .min(core.cfg.cache_ttl);
    let mut ticks = tokio::time::interval(every);
    loop {
        tokio::select! {
            () = core.stop.cancelled() => return,
            _ = ticks.tick() => core.locator.sweep(),
        }
    }
}
