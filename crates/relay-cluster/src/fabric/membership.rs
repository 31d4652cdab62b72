//! Who the siblings are and keeping a link to each: the accept loop, discovery, and one
//! connector task per sibling address that redials with backoff for as long as the
//! address stays in discovery and no link reaches it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};
use zap_discovery::dns::{DnsConfig, DnsDiscovery, DnsQuery};
use zap_discovery::{Discovery, Snapshot, StaticDiscovery};

use super::FabricError;
use super::config::Siblings;
use super::core::Core;
use super::handshake::{self, HandshakeError};
use super::stats::bump;
use crate::metrics as m;
use crate::peer::lock;

/// Service type given to sibling peers in discovery.
pub(crate) const SERVICE_TYPE: &str = "relay-cluster";

/// Exponential backoff with jitter: each delay is between half and all of the current
/// step, and the step doubles up to the maximum.
pub(crate) struct Backoff {
    step: Duration,
    min: Duration,
    max: Duration,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Self {
            step: min,
            min,
            max,
        }
    }

    pub(crate) fn next(&mut self) -> Duration {
        let step = self.step;
        self.step = (self.step * 2).min(self.max);
        let half = step / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX).max(1);
        half + Duration::from_nanos(getrandom::u64().unwrap_or(0) % nanos)
    }

    pub(crate) fn reset(&mut self) {
        self.step = self.min;
    }
}

/// Accepts sibling connections until `stop`, bounding handshakes in progress.
pub(crate) async fn accept_loop(core: Arc<Core>, listener: TcpListener, stop: CancellationToken) {
    let slots = Arc::new(Semaphore::new(core.cfg.max_handshakes));
    let mut errors = Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, remote) = match accepted {
            Ok(a) => {
                errors.reset();
                a
            }
            Err(e) => {
                // Out of descriptors and the like: pause rather than spin.
                warn!(error = %e, "accepting a sibling connection failed");
                tokio::select! {
                    () = stop.cancelled() => return,
                    () = tokio::time::sleep(errors.next()) => continue,
                }
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            core.stats.hello_reject("busy", "accept");
            debug!(%remote, "too many handshakes in progress; connection dropped");
            continue;
        };
        let core2 = core.clone();
        let span = info_span!("relay.cluster.accept", %remote);
        core.tasks.spawn(
            async move {
                let _slot = slot;
                core2
                    .handshaking
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let result =
                    handshake::accept(&core2.me, stream, core2.cfg.handshake_timeout).await;
                core2
                    .handshaking
                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                match result {
                    Ok(est) => {
                        bump(&core2.stats.accepts_ok);
                        core2.adopt(est, None);
                    }
                    Err(e) => {
                        core2.stats.hello_reject(e.reason(), "accept");
                        log_refusal(&e, "refused a sibling");
                        core2.links_touched();
                    }
                }
            }
            .instrument(span),
        );
    }
}

fn log_refusal(e: &HandshakeError, what: &str) {
    match e {
        HandshakeError::Io(_) | HandshakeError::Closed | HandshakeError::Timeout(_) => {
            debug!(error = %e, "{what}");
        }
        _ => warn!(error = %e, reason = e.reason(), "{what}"),
    }
}

impl Core {
    /// Wakes status watchers after something that did not change a link (a refused
    /// handshake), so waits on "no handshake in progress" see it.
    pub(crate) fn links_touched(&self) {
        self.links.touch();
    }

    fn is_self(&self, addr: SocketAddr, bound: SocketAddr) -> bool {
        addr == self.announce
            || addr == bound
            || (addr.ip() == self.cfg.pod_ip
                && (addr.port() == bound.port() || addr.port() == self.cfg.port))
    }
}

/// Builds the discovery for `siblings`, retrying a DNS start that fails (a headless
/// Service that does not resolve yet must not keep the pod from starting).
async fn open_discovery(
    core: &Core,
    siblings: &Siblings,
    port: u16,
    stop: &CancellationToken,
) -> Result<Option<Arc<dyn Discovery>>, FabricError> {
    Ok(Some(match siblings {
        Siblings::Static(addrs) => Arc::new(
            StaticDiscovery::from_addrs(SERVICE_TYPE, addrs.iter().copied())
                .map_err(FabricError::Discovery)?,
        ),
        Siblings::Custom(d) => d.clone(),
        Siblings::Headless {
            name,
            nameservers,
            refresh,
        } => {
            // Every pod listens on the same port; DNS gives only the addresses.
            let mut cfg = DnsConfig::new(DnsQuery::host(name.clone(), port))
                .with_service_type(SERVICE_TYPE)
                .with_refresh_every(*refresh);
            for ns in nameservers {
                cfg = cfg.with_nameserver(*ns);
            }
            let mut backoff = Backoff::new(core.cfg.redial_min, core.cfg.redial_max.max(*refresh));
            loop {
                match DnsDiscovery::start(cfg.clone()).await {
                    Ok(d) => break Arc::new(d),
                    Err(e) => {
                        warn!(name = %name, error = %e, "sibling discovery failed; retrying");
                        tokio::select! {
                            () = stop.cancelled() => return Ok(None),
                            () = tokio::time::sleep(backoff.next()) => {}
                        }
                    }
                }
            }
        }
    }))
}

/// Follows discovery: a connector per sibling address, ourselves excluded.
pub(crate) async fn follow(
    core: Arc<Core>,
    siblings: Siblings,
    bound: SocketAddr,
    stop: CancellationToken,
) {
    let port = if core.cfg.port == 0 {
        bound.port()
    } else {
        core.cfg.port
    };
    let discovery = match open_discovery(&core, &siblings, port, &stop).await {
        Ok(Some(d)) => d,
        Ok(None) => return,
        Err(e) => {
            warn!(error = %e, "sibling discovery unusable; no dialing");
            return;
        }
    };
    let owned = !matches!(siblings, Siblings::Custom(_));
    let mut sub = discovery.subscribe();
    let mut connectors: HashMap<SocketAddr, CancellationToken> = HashMap::new();
    let mut snapshot = Some(sub.snapshot());
    loop {
        if let Some(snap) = snapshot.take() {
            apply(&core, &snap, bound, &mut connectors, &stop);
        }
        tokio::select! {
            () = stop.cancelled() => break,
            next = sub.changed() => match next {
                Some(s) => snapshot = Some(s),
                None => break,
            },
        }
    }
    for token in connectors.values() {
        token.cancel();
    }
    if owned {
        discovery.stop();
    }
}

fn apply(
    core: &Arc<Core>,
    snap: &Snapshot,
    bound: SocketAddr,
    connectors: &mut HashMap<SocketAddr, CancellationToken>,
    stop: &CancellationToken,
) {
    let mut wanted: Vec<SocketAddr> = snap
        .iter()
        .map(|p| p.addr())
        .filter(|a| !core.is_self(*a, bound))
        .collect();
    wanted.sort();
    wanted.dedup();
    connectors.retain(|addr, token| {
        let keep = wanted.contains(addr);
        if !keep {
            info!(sibling = %addr, "sibling left discovery; no more redials");
            token.cancel();
            core.links.forget_addr(addr);
        }
        keep
    });
    for addr in &wanted {
        if connectors.contains_key(addr) {
            continue;
        }
        info!(sibling = %addr, "sibling discovered");
        let token = stop.child_token();
        connectors.insert(*addr, token.clone());
        let span = info_span!("relay.cluster.connector", sibling = %addr);
        core.tasks
            .spawn(connector(core.clone(), *addr, token).instrument(span));
    }
    *lock(&core.siblings) = wanted;
    core.links_touched();
}

/// Keeps a link to the sibling at `addr`: dials when there is none, redials with backoff
/// after failures, and idles while a link (dialed by either side) is up.
async fn connector(core: Arc<Core>, addr: SocketAddr, stop: CancellationToken) {
    let mut changes = core.links.watch();
    let mut backoff = Backoff::new(core.cfg.redial_min, core.cfg.redial_max);
    let mut last_error: Option<&'static str> = None;
    let mut was_connected = false;
    loop {
        while core.links.connected_to(addr) {
            was_connected = true;
            tokio::select! {
                () = stop.cancelled() => return,
                r = changes.changed() => if r.is_err() { return },
            }
        }
        if was_connected {
            // A link just ended: a short pause keeps two pods that both lost it from
            // racing each other in a tight loop.
            was_connected = false;
            backoff.reset();
            if wait(&core, addr, &stop, &mut changes, backoff.next()).await {
                return;
            }
            continue;
        }
        let dial = handshake::dial(
            &core.me,
            addr,
            Some(core.cfg.pod_ip),
            core.cfg.connect_timeout,
            core.cfg.handshake_timeout,
        );
        core.handshaking
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = tokio::select! {
            () = stop.cancelled() => {
                core.handshaking.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                return;
            }
            r = dial => r,
        };
        core.handshaking
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        match result {
            Ok(est) => {
                bump(&core.stats.dials_ok);
                metrics::counter!(m::CLUSTER_DIALS, "result" => "ok").increment(1);
                if last_error.take().is_some() {
                    info!("sibling reachable again");
                }
                backoff.reset();
                core.adopt(est, Some(addr));
            }
            Err(e) if e.is_self_connection() => {
                // Another name for this very pod (e.g. a loopback or NAT address).
                info!("this address leads back to this pod; not dialing it again");
                core.stats.hello_reject("self", "dial");
                core.links_touched();
                return;
            }
            Err(e) => {
                bump(&core.stats.dials_failed);
                metrics::counter!(m::CLUSTER_DIALS, "result" => e.reason()).increment(1);
                if !matches!(e, HandshakeError::Io(_) | HandshakeError::Timeout(_)) {
                    core.stats.hello_reject(e.reason(), "dial");
                }
                if last_error != Some(e.reason()) {
                    log_refusal(&e, "dialing a sibling failed; will retry");
                    last_error = Some(e.reason());
                }
                core.links_touched();
                if wait(&core, addr, &stop, &mut changes, backoff.next()).await {
                    return;
                }
            }
        }
    }
}

/// Sleeps `delay` unless a link to `addr` comes up first; true when stopped.
async fn wait(
    core: &Core,
    addr: SocketAddr,
    stop: &CancellationToken,
    changes: &mut tokio::sync::watch::Receiver<u64>,
    delay: Duration,
) -> bool {
    let deadline = tokio::time::Instant::now() + delay;
    loop {
        tokio::select! {
            () = stop.cancelled() => return true,
            () = tokio::time::sleep_until(deadline) => return false,
            r = changes.changed() => {
                if r.is_err() {
                    return true;
                }
                if core.links.connected_to(addr) {
                    return false;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let d: Vec<Duration> = (0..5).map(|_| b.next()).collect();
        assert!(d[0] >= Duration::from_millis(50) && d[0] <= Duration::from_millis(100));
        assert!(d[1] >= Duration::from_millis(100) && d[1] <= Duration::from_millis(200));
        assert!(d[4] >= Duration::from_millis(200) && d[4] <= Duration::from_millis(400));
        b.reset();
        assert!(b.next() <= Duration::from_millis(100));
    }
}
