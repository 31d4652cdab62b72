//! Browsing: turning mDNS answers into peers, goodbyes into removals, silence into expiry.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hickory_proto::rr::Name;
use mdns_sd::{DaemonEvent, Receiver, ResolvedService, ScopedIp, ServiceDaemon, ServiceEvent};
use tokio::net::UdpSocket;
use tokio::sync::{oneshot, watch};
use tracing::Instrument;

use super::config::MdnsConfig;
use super::daemon::{Mdns, mdns_err};
use super::observer;
use super::records::{
    MAX_PACKET, SeenAddr, Sighting, choose_addrs, decode_txt, instance_label, scan_response_for,
};
use crate::discovery::Discovery;
use crate::error::Error;
use crate::names::ServiceType;
use crate::peer::Peer;
use crate::peer_set::{PeerSet, Snapshot, Subscription};

/// How long a peer that said goodbye is remembered, so that a node which comes straight
/// back with identical records (which mdns-sd does not report as new) is restored.
const TOMBSTONE_TTL: Duration = Duration::from_secs(2);

/// Peers of one service type found over mDNS.
///
/// Peers appear when announced (sub-millisecond on loopback without probing), change when
/// their records change, and disappear at once when they say goodbye, or after
/// [`MdnsConfig::stale_after`] when they stop answering (killed, unplugged). Known peers are
/// asked to confirm they are alive every [`MdnsConfig::verify_every`].
///
/// The node id comes from the TXT `id=` entry, else from the instance name; a node never
/// sees itself when browsing with its own id excluded. Dropping the discovery stops it.
#[derive(Debug)]
pub struct MdnsDiscovery {
    service_type: ServiceType,
    set: PeerSet,
    stop: Mutex<Option<oneshot::Sender<()>>>,
    started: watch::Receiver<bool>,
    _mdns: Mdns,
}

impl Mdns {
    /// Browses for `service_type` until the returned discovery is stopped or dropped.
    ///
    /// Must be called within a Tokio runtime with I/O and timers enabled.
    pub fn browse(&self, service_type: &ServiceType) -> Result<MdnsDiscovery, Error> {
        self.browse_excluding(service_type, None)
    }

    /// Browses for `service_type`, leaving out the node whose id is `self_node_id` (a node
    /// that announces and browses the same type does not want to find itself).
    pub fn browse_excluding(
        &self,
        service_type: &ServiceType,
        self_node_id: Option<&str>,
    ) -> Result<MdnsDiscovery, Error> {
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| Error::NoRuntime("mDNS browsing"))?;
        let _entered = runtime.enter();
        let config: &MdnsConfig = &self.shared.config;
        let fqdn = service_type.fqdn();
        let span =
            tracing::info_span!("mdns.browse", service_type = %service_type, port = config.port);

        let service = Name::from_ascii(&fqdn).map_err(|e| Error::InvalidDnsName {
            name: fqdn.clone(),
            reason: e.to_string(),
        })?;
        let observer = match observer::open(config.port, &config.interfaces) {
            Ok(sock) => Some(sock),
            Err(e) => {
                span.in_scope(
                    || tracing::warn!(error = %e, "goodbyes will take effect after one second"),
                );
                None
            }
        };
        let daemon = &self.shared.daemon;
        let monitor = daemon.monitor().map_err(mdns_err("monitor daemon"))?;
        let events = daemon.browse(&fqdn).map_err(mdns_err("browse"))?;

        let set = PeerSet::with_max_peers(service_type.as_str(), config.max_peers);
        let (stop_tx, stop_rx) = oneshot::channel();
        let (started_tx, started) = watch::channel(false);
        let browser = Browser {
            daemon: daemon.clone(),
            fqdn,
            service,
            short: service_type.as_str().to_string(),
            set: set.clone(),
            exclude: self_node_id.map(str::to_string),
            accept_loopback: config.accepts_loopback(),
            stale_after: config.stale_after,
            instances: HashMap::new(),
            tombstones: HashMap::new(),
            started: started_tx,
        };
        let every = config.verify_interval();
        runtime.spawn(
            browser
                .run(events, monitor, observer, every, stop_rx)
                .instrument(span),
        );
        Ok(MdnsDiscovery {
            service_type: service_type.clone(),
            set,
            stop: Mutex::new(Some(stop_tx)),
            started,
            _mdns: self.clone(),
        })
    }
}

impl MdnsDiscovery {
    /// Starts a daemon with `config` and browses for `service_type` through it.
    pub fn start(config: MdnsConfig, service_type: &ServiceType) -> Result<Self, Error> {
        Mdns::new(config)?.browse(service_type)
    }

    /// The service type browsed for.
    pub fn service(&self) -> &ServiceType {
        &self.service_type
    }

    /// Waits (at most `timeout`) until the daemon is listening for this service type.
    ///
    /// From then on an announcement is seen the moment it is sent; before, it may be
    /// missed and found only by the first query, 40 to 240 ms later (RFC 6762 jitter and
    /// response delays).
    pub async fn wait_started(&self, timeout: Duration) -> Result<(), Error> {
        let mut started = self.started.clone();
        match tokio::time::timeout(timeout, started.wait_for(|s| *s)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err(Error::Stopped),
            Err(_) => Err(Error::Mdns {
                op: "browse",
                message: format!("the daemon did not start browsing within {timeout:?}"),
            }),
        }
    }
}

impl Discovery for MdnsDiscovery {
    fn service_type(&self) -> &str {
        self.service_type.as_str()
    }
    fn peers(&self) -> Snapshot {
        self.set.snapshot()
    }
    fn peer_count(&self) -> usize {
        self.set.len()
    }
    fn subscribe(&self) -> Subscription {
        self.set.subscribe()
    }
    fn last_error(&self) -> Option<Error> {
        self.set.last_error()
    }
    fn stop(&self) {
        let tx = self.stop.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(tx) = tx {
            let _ = tx.send(());
        }
        self.set.close();
    }
    fn is_stopped(&self) -> bool {
        self.set.is_closed()
    }
}

impl Drop for MdnsDiscovery {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Which mDNS instance a peer came from.
#[derive(Debug, Clone)]
struct Tracked {
    /// The instance's full name as mdns-sd knows it (needed to verify it).
    fullname: String,
    /// The key of the peer in the set (its node id).
    key: String,
}

/// The state of one browse, owned by its task.
struct Browser {
    daemon: ServiceDaemon,
    fqdn: String,
    service: Name,
    short: String,
    set: PeerSet,
    exclude: Option<String>,
    accept_loopback: bool,
    stale_after: Duration,
    /// Keyed by the lower-cased instance label.
    instances: HashMap<String, Tracked>,
    tombstones: HashMap<String, (Tracked, Peer, Instant)>,
    started: watch::Sender<bool>,
}

impl Browser {
    async fn run(
        mut self,
        events: Receiver<ServiceEvent>,
        monitor: Receiver<DaemonEvent>,
        mut observer: Option<UdpSocket>,
        every: Duration,
        mut stop: oneshot::Receiver<()>,
    ) {
        let mut buf = vec![0u8; MAX_PACKET];
        let mut verify = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        verify.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut monitor = Some(monitor);
        tracing::debug!("browsing");
        loop {
            tokio::select! {
                _ = &mut stop => break,
                ev = events.recv_async() => match ev {
                    Ok(ServiceEvent::SearchStopped(_)) | Err(_) => {
                        self.set.set_last_error(Some(Error::Mdns {
                            op: "browse",
                            message: "the mDNS daemon stopped".into(),
                        }));
                        self.set.close();
                        break;
                    }
                    Ok(ev) => self.on_event(ev),
                },
                ev = async {
                    match &monitor {
                        Some(m) => m.recv_async().await.ok(),
                        None => std::future::pending().await,
                    }
                } => match ev {
                    Some(DaemonEvent::Error(e)) => {
                        tracing::warn!(error = %e, "mdns daemon error");
                        self.set.set_last_error(Some(Error::Mdns { op: "daemon", message: e.to_string() }));
                    }
                    Some(other) => tracing::trace!(event = ?other, "mdns daemon event"),
                    None => monitor = None,
                },
                packet = async {
                    match &observer {
                        Some(sock) => sock.recv_from(&mut buf).await,
                        None => std::future::pending().await,
                    }
                } => match packet {
                    Ok((n, from)) => self.on_packet(&buf[..n.min(buf.len())], from),
                    Err(e) => {
                        tracing::warn!(error = %e, "observer socket failed; goodbyes take one second");
                        observer = None;
                    }
                },
                _ = verify.tick() => self.verify_all(),
            }
        }
        if let Err(e) = self.daemon.stop_browse(&self.fqdn) {
            tracing::debug!(error = %e, "stop_browse");
        }
        tracing::debug!("browse stopped");
    }

    fn on_event(&mut self, ev: ServiceEvent) {
        match ev {
            ServiceEvent::SearchStarted(_) => {
                self.started
                    .send_if_modified(|s| !std::mem::replace(s, true));
            }
            ServiceEvent::ServiceResolved(rs) => self.on_resolved(&rs),
            ServiceEvent::ServiceRemoved(_, fullname) => {
                if let Some(instance) = instance_label(&fullname, &self.fqdn) {
                    let key = instance.to_ascii_lowercase();
                    self.release(&key, "expired");
                }
            }
            other => tracing::trace!(event = ?other, "mdns browse event"),
        }
    }

    fn on_resolved(&mut self, rs: &ResolvedService) {
        if !rs.ty_domain.eq_ignore_ascii_case(&self.fqdn) {
            return;
        }
        let Some(instance) = instance_label(&rs.fullname, &self.fqdn) else {
            return;
        };
        let ikey = instance.to_ascii_lowercase();
        let txt = decode_txt(rs.txt_properties.iter().map(|p| (p.key(), p.val())));
        if txt.skipped > 0 {
            tracing::debug!(instance, skipped = txt.skipped, "unusable TXT entries");
        }
        let node_id = match txt.node_id {
            Some(id) => id,
            // An instance label is whatever bytes the sender chose; as an id it must at
            // least be printable, like a TXT `id` value.
            None if !instance.chars().any(char::is_control) => instance.to_string(),
            None => {
                tracing::debug!(
                    instance = instance.escape_debug().to_string(),
                    "unprintable instance name"
                );
                return;
            }
        };
        if self.exclude.as_deref() == Some(node_id.as_str()) {
            return;
        }
        let seen = rs.addresses.iter().map(|s| SeenAddr {
            ip: s.to_ip_addr(),
            interface: match s {
                ScopedIp::V6(v6) => v6.scope_id().index,
                _ => 0,
            },
        });
        let addrs = choose_addrs(seen, rs.port, self.accept_loopback);
        let Some((&first, rest)) = addrs.split_first().filter(|_| rs.port != 0) else {
            tracing::debug!(instance, "no usable address");
            self.release(&ikey, "no usable address");
            return;
        };
        let peer = Peer::new(first)
            .with_addrs(rest.iter().copied())
            .with_node_id(node_id)
            .with_service_type(self.short.clone())
            .with_metadata(txt.metadata);
        if self
            .instances
            .get(&ikey)
            .is_some_and(|t| t.key != peer.key())
        {
            self.release(&ikey, "node id changed");
        }
        let key = peer.key().to_string();
        match self.set.upsert(peer) {
            Ok(()) => {
                tracing::debug!(node_id = %key, instance, "peer resolved");
                self.tombstones.remove(&ikey);
                self.instances.insert(
                    ikey,
                    Tracked {
                        fullname: rs.fullname.clone(),
                        key,
                    },
                );
            }
            Err(e) => tracing::warn!(node_id = %key, error = %e, "peer not added"),
        }
    }

    fn on_packet(&mut self, packet: &[u8], from: std::net::SocketAddr) {
        let sightings = match scan_response_for(packet, &self.service) {
            Ok(s) => s,
            Err(e) => {
                tracing::trace!(%from, error = %e, "undecodable mDNS packet");
                return;
            }
        };
        for s in sightings {
            match s {
                Sighting::Goodbye(instance) => {
                    let ikey = instance.to_ascii_lowercase();
                    let Some(tracked) = self.instances.get(&ikey).cloned() else {
                        continue;
                    };
                    let peer = self.set.snapshot().get(&tracked.key).cloned();
                    if self.release(&ikey, "goodbye")
                        && let Some(peer) = peer
                    {
                        self.tombstones
                            .insert(ikey, (tracked, peer, Instant::now()));
                    }
                }
                Sighting::Alive(instance) => {
                    let ikey = instance.to_ascii_lowercase();
                    if let Some(t) = self.instances.get(&ikey) {
                        self.set.touch(&t.key);
                    } else if let Some((tracked, peer, at)) = self.tombstones.remove(&ikey)
                        && at.elapsed() < TOMBSTONE_TTL
                        && self.set.upsert(peer).is_ok()
                    {
                        tracing::debug!(node_id = %tracked.key, "peer back after goodbye");
                        self.instances.insert(ikey, tracked);
                    }
                }
            }
        }
    }

    /// Forgets an instance and removes its peer unless another instance carries the same
    /// node id. Returns whether a peer was removed.
    fn release(&mut self, ikey: &str, reason: &'static str) -> bool {
        let Some(tracked) = self.instances.remove(ikey) else {
            return false;
        };
        if self.instances.values().any(|t| t.key == tracked.key) {
            return false;
        }
        let removed = self.set.remove(&tracked.key).is_some();
        if removed {
            tracing::debug!(node_id = %tracked.key, reason, "peer removed");
        }
        removed
    }

    /// Asks every known peer to confirm it is alive; mdns-sd drops (and reports) those that
    /// do not answer within the stale time.
    fn verify_all(&mut self) {
        self.tombstones
            .retain(|_, (_, _, at)| at.elapsed() < TOMBSTONE_TTL);
        for t in self.instances.values() {
            if let Err(e) = self.daemon.verify(t.fullname.clone(), self.stale_after) {
                tracing::debug!(fullname = %t.fullname, error = %e, "verify not sent");
            }
        }
    }
}
