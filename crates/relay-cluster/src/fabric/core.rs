//! The state every fabric task shares, what each inbound frame does, and the forward
//! path the relay calls.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, trace, warn};

use super::config::ClusterConfig;
use super::frame::{self, Features, FrameType, IHave, NodeId};
use super::handshake::{Established, Local};
use super::locator::{Begin, Completed, Locator, Route};
use super::presence::{Hlc, LocalStamps};
use super::queue::{Out, QueueError};
use super::registry::{Installed, Link, NewLink, Registry};
use super::stats::{Stats, bump};
use crate::cluster::{DispatchError, ForwardError, LocalPeerDispatcher};
use crate::metrics as m;
use crate::peer::{Disconnect, lock};
use crate::peer_id::{PEER_ID_SIZE, PeerId};
use crate::relay::WeakRelay;
use crate::store::Store;

pub(crate) struct Core {
    pub(crate) cfg: ClusterConfig,
    pub(crate) me: Local,
    pub(crate) node: NodeId,
    pub(crate) announce: SocketAddr,
    /// Announcements to local subscribers; weak, since the relay holds the fabric.
    pub(crate) relay: WeakRelay,
    pub(crate) store: Store,
    pub(crate) links: Registry,
    pub(crate) locator: Locator,
    pub(crate) local: LocalStamps,
    pub(crate) hlc: Hlc,
    pub(crate) stats: Stats,
    /// Ends every fabric task.
    pub(crate) stop: CancellationToken,
    pub(crate) tasks: TaskTracker,
    pub(crate) snapshot_for: mpsc::UnboundedSender<NodeId>,
    /// The sibling addresses discovery currently lists (ourselves excluded).
    pub(crate) siblings: Mutex<Vec<SocketAddr>>,
    pub(crate) handshaking: AtomicUsize,
    pub(crate) epoch: Instant,
    seqno: AtomicU32,
}

impl Core {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        cfg: ClusterConfig,
        me: Local,
        announce: SocketAddr,
        relay: WeakRelay,
        store: Store,
        locator: Locator,
        snapshot_for: mpsc::UnboundedSender<NodeId>,
    ) -> Self {
        Self {
            node: me.node,
            links: Registry::new(me.node, cfg.queue_bytes),
            hlc: Hlc::new(cfg.max_clock_skew),
            cfg,
            me,
            announce,
            relay,
            store,
            locator,
            local: LocalStamps::default(),
            stats: Stats::default(),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
            snapshot_for,
            siblings: Mutex::new(Vec::new()),
            handshaking: AtomicUsize::new(0),
            epoch: Instant::now(),
            seqno: AtomicU32::new(0),
        }
    }

    pub(crate) fn micros(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    fn streams_gauge(&self) {
        metrics::gauge!(m::CLUSTER_STREAMS).set(self.links.len() as f64);
    }

    // ---- links -------------------------------------------------------------------

    /// Offers a handshaken connection to the registry and runs it if it is kept.
    pub(crate) fn adopt(self: &Arc<Self>, est: Established, dialed: Option<SocketAddr>) {
        let new = NewLink {
            node: est.node,
            announce: est.announce,
            features: est.features,
            dialed_by_me: est.dialed_by_me,
            local_addr: est.stream.local_addr().ok(),
            peer_addr: est.stream.peer_addr().ok(),
        };
        let (link, outcome) = self.links.install(new, dialed);
        match outcome {
            Installed::Yes { replaced } => {
                if let Some(old) = replaced {
                    let reason = if old.dialed_by_me == link.dialed_by_me {
                        "newer"
                    } else {
                        "tie_break"
                    };
                    debug!(node = %link.node, old = old.id, new = link.id, reason, "link replaced");
                    old.shut("replaced");
                    bump(&self.stats.links_replaced);
                    metrics::counter!(m::CLUSTER_LINKS_REPLACED, "reason" => reason).increment(1);
                } else {
                    info!(
                        node = %link.node,
                        sibling = %link.announce,
                        dialed = link.dialed_by_me,
                        "link to sibling up"
                    );
                }
                self.locator.node_up(link.node);
                self.streams_gauge();
                let span = info_span!(
                    "relay.cluster.link",
                    node = %link.node,
                    sibling = %link.announce,
                    link = link.id,
                );
                let core = self.clone();
                self.tasks.spawn(
                    super::link::run(core, link.clone(), est.stream, est.leftover).instrument(span),
                );
                // Fails only when the pump has ended (shutting down).
                let _ = self.snapshot_for.send(link.node);
            }
            Installed::Lost { winner } => {
                debug!(node = %link.node, winner = winner.id, "duplicate link closed by the tie-break");
                bump(&self.stats.links_replaced);
                metrics::counter!(m::CLUSTER_LINKS_REPLACED, "reason" => "tie_break").increment(1);
                // If the other side dialed because it lost the winner, a probe finds out.
                winner.probe.notify_one();
                self.links.remove(&link);
            }
        }
    }

    /// A link task ended.
    pub(crate) fn link_down(&self, link: &Link) {
        let reason = link.reason();
        bump(&self.stats.links_down);
        metrics::counter!(m::CLUSTER_LINKS_DOWN, "reason" => reason).increment(1);
        if self.links.remove(link) {
            let dropped = link.queue.close();
            if dropped > 0 {
                self.stats.drop("link_down", dropped);
            }
            self.forget_node(link.node);
            if reason == "replaced" || self.stop.is_cancelled() {
                debug!(node = %link.node, reason, "link down");
            } else {
                warn!(node = %link.node, sibling = %link.announce, reason, "link to sibling down");
            }
        }
        self.streams_gauge();
    }

    /// Stops routing to a pod: its peers are offline here unless another pod has them.
    fn forget_node(&self, node: NodeId) {
        let (offline, done) = self.locator.node_down(node);
        if !offline.is_empty() {
            self.announce_offline(&offline);
        }
        for c in done {
            self.finish_lookup(c, "timeout");
        }
        metrics::gauge!(m::CLUSTER_REMOTE_PEERS).set(self.locator.remote_peers() as f64);
    }

    fn announce_online(&self, peers: &[PeerId]) {
        if let Some(relay) = self.relay.upgrade() {
            relay.announce_remote_online(peers);
        }
    }

    fn announce_offline(&self, peers: &[PeerId]) {
        if let Some(relay) = self.relay.upgrade() {
            relay.announce_remote_offline(peers);
        }
    }

    fn control(&self, link: &Link, ty: FrameType, payload: Bytes) {
        if link.queue.push_control(Out::Frame { ty, payload }).is_err() {
            trace!(node = %link.node, %ty, "control frame dropped: queue full or closed");
        }
    }

    // ---- inbound frames ----------------------------------------------------------

    /// Handles one frame from a sibling. Never blocks: local deliveries only queue.
    pub(crate) fn on_frame(&self, link: &Link, ty: FrameType, payload: Bytes) {
        let result = match ty {
            FrameType::FWD => self.on_fwd(link, payload),
            FrameType::WHO_HAS => self.on_who_has(link, &payload),
            FrameType::I_HAVE => self.on_i_have(link, &payload),
            FrameType::NOT_HERE => self.on_not_here(link, &payload),
            FrameType::PRESENCE => self.on_presence(link, &payload),
            FrameType::PING => {
                if payload.len() > frame::MAX_PING_PAYLOAD {
                    Err(frame::FrameError::TooLarge {
                        what: "PING",
                        len: payload.len(),
                        max: frame::MAX_PING_PAYLOAD,
                    })
                } else {
                    self.control(link, FrameType::PONG, payload);
                    Ok(())
                }
            }
            FrameType::PONG => {
                if let Ok(sent) = <[u8; 8]>::try_from(&payload[..]) {
                    let sent = u64::from_be_bytes(sent);
                    link.pong.store(sent, Ordering::Relaxed);
                    let rtt = self.micros().saturating_sub(sent);
                    metrics::histogram!(m::CLUSTER_PING_RTT).record(rtt as f64 / 1e6);
                    self.links.touch();
                }
                Ok(())
            }
            FrameType::GOODBYE => {
                let why = frame::decode_goodbye(&payload).unwrap_or_default();
                info!(node = %link.node, reason = %why, "sibling is leaving");
                link.leaving.store(true, Ordering::Relaxed);
                self.forget_node(link.node);
                Ok(())
            }
            FrameType::HELLO | FrameType::HELLO_ACK | FrameType::HELLO_FIN => Err(
                frame::FrameError::Invalid("handshake frame on an established link"),
            ),
            // Unknown and openZro's unused channel types are skipped: a newer sibling
            // may send types this build does not know.
            other => {
                trace!(ty = %other, "frame type skipped");
                Ok(())
            }
        };
        if let Err(e) = result {
            // The framing is intact, so one bad frame costs only itself.
            debug!(node = %link.node, %ty, error = %e, "bad frame skipped");
            bump(&self.stats.bad_frames);
            metrics::counter!(m::CLUSTER_BAD_FRAMES, "type" => ty.name().unwrap_or("unknown"))
                .increment(1);
        }
    }

    fn on_fwd(&self, link: &Link, payload: Bytes) -> Result<(), frame::FrameError> {
        let (dst, _) = frame::decode_fwd(&payload)?;
        let msg = payload.slice(PEER_ID_SIZE..);
        match self.store.dispatch_to_local(&dst, msg) {
            Ok(()) => {
                bump(&self.stats.delivered);
                metrics::counter!(m::CLUSTER_DELIVERED).increment(1);
            }
            Err(DispatchError::LocalPeerGone) => {
                self.stats.drop("peer_gone", 1);
                if link.features.contains(Features::NOT_HERE) {
                    self.send_not_here(link, &dst);
                }
            }
            Err(DispatchError::QueueFull) => {
                bump(&self.stats.receiver_queue_full);
                self.stats.drop("receiver_queue_full", 1);
            }
            Err(e) => {
                self.stats.drop("not_transport", 1);
                debug!(error = %e, "FWD without a Transport message");
            }
        }
        Ok(())
    }

    fn send_not_here(&self, link: &Link, peer: &PeerId) {
        bump(&self.stats.not_here_sent);
        metrics::counter!(m::CLUSTER_NOT_HERE, "direction" => "sent").increment(1);
        self.control(
            link,
            FrameType::NOT_HERE,
            Bytes::copy_from_slice(peer.as_bytes()),
        );
    }

    fn on_who_has(&self, link: &Link, payload: &[u8]) -> Result<(), frame::FrameError> {
        let peer = frame::decode_peer(payload, "WHO_HAS")?;
        if self.store.has_peer(&peer) {
            let stamp = self
                .local
                .get(&peer)
                .map_or_else(|| self.hlc.now(), |(_, s)| s);
            let answer = frame::encode_i_have(&IHave {
                peer,
                seqno: self.seqno.fetch_add(1, Ordering::Relaxed),
                stamp,
            });
            self.control(link, FrameType::I_HAVE, answer);
        } else if link.features.contains(Features::NOT_HERE) {
            self.send_not_here(link, &peer);
        }
        Ok(())
    }

    fn on_i_have(&self, link: &Link, payload: &[u8]) -> Result<(), frame::FrameError> {
        let ih = frame::decode_i_have(payload)?;
        self.hlc.observe(ih.stamp);
        if let Some(c) = self.locator.answer(link.node, ih.peer, ih.stamp) {
            self.finish_lookup(c, "found");
        }
        Ok(())
    }

    fn on_not_here(&self, link: &Link, payload: &[u8]) -> Result<(), frame::FrameError> {
        let peer = frame::decode_peer(payload, "NOT_HERE")?;
        bump(&self.stats.not_here_received);
        metrics::counter!(m::CLUSTER_NOT_HERE, "direction" => "received").increment(1);
        let (done, gone) = self.locator.not_at(link.node, &peer);
        if gone {
            self.announce_offline(&[peer]);
        }
        if let Some(c) = done {
            self.finish_lookup(c, "not_found");
        }
        Ok(())
    }

    fn on_presence(&self, link: &Link, payload: &[u8]) -> Result<(), frame::FrameError> {
        let p = frame::decode_presence(payload)?;
        self.stats
            .presence_received
            .fetch_add(p.len() as u64, Ordering::Relaxed);
        for e in p.entries() {
            self.hlc.observe(e.stamp);
        }
        let news = self.locator.presence(link.node, p.op, p.entries());
        if news.refused > 0 {
            warn!(
                refused = news.refused,
                limit = self.cfg.max_remote_peers,
                "remote peer limit reached; some presence ignored"
            );
        }
        if !news.online.is_empty() {
            metrics::counter!(m::CLUSTER_PRESENCE, "kind" => "online")
                .increment(news.online.len() as u64);
            self.announce_online(&news.online);
        }
        if !news.offline.is_empty() {
            metrics::counter!(m::CLUSTER_PRESENCE, "kind" => "offline")
                .increment(news.offline.len() as u64);
            self.announce_offline(&news.offline);
        }
        for claim in news.claims {
            self.settle_ownership(link.node, claim.peer, claim.stamp);
        }
        metrics::gauge!(m::CLUSTER_REMOTE_PEERS).set(self.locator.remote_peers() as f64);
        self.links.touch();
        Ok(())
    }

    /// A sibling registered `peer` at `stamp`: if our registration of it is older, the
    /// peer has moved there and our connection is stale.
    fn settle_ownership(&self, node: NodeId, peer: PeerId, stamp: u64) {
        let Some((conn, ours)) = self.local.get(&peer) else {
            return;
        };
        if (ours, self.node) >= (stamp, node) {
            return;
        }
        if let Some(p) = self.store.get(&peer)
            && p.conn_id() == conn
        {
            info!(%peer, sibling = %node, "peer attached to another pod more recently; closing its old connection here");
            self.local.mark_moved(peer, conn);
            p.close_with(Disconnect::Moved);
            bump(&self.stats.peers_moved);
            metrics::counter!(m::CLUSTER_MOVED).increment(1);
        }
    }

    // ---- forwarding and lookups --------------------------------------------------

    /// The relay's hand-off for a peer that is not attached here. Never waits.
    pub(crate) fn forward(self: &Arc<Self>, dst: &PeerId, msg: Bytes) -> Result<(), ForwardError> {
        if self.stop.is_cancelled() {
            self.stats.forward("unavailable");
            return Err(ForwardError::Unavailable("the fabric is stopping".into()));
        }
        match self.locator.route(dst) {
            Route::Owner(node) => match self.send_fwd(node, dst, msg.clone()) {
                Ok(()) => return Ok(()),
                Err(SendFail::QueueFull) => return Err(ForwardError::QueueFull),
                Err(SendFail::NoLink) => {
                    // The cached owner's link is gone: forget it and look again.
                    self.stats.forward("stream_gone");
                    let (_, gone) = self.locator.not_at(node, dst);
                    if gone {
                        self.announce_offline(&[*dst]);
                    }
                }
            },
            Route::Nowhere => {
                self.stats.forward("peer_not_found");
                return Err(ForwardError::PeerNotFound);
            }
            Route::Unknown => {}
        }
        self.lookup(*dst, Some(msg), None)
    }

    /// Starts or joins a lookup; `msg` follows the answer, `waiter` hears it.
    fn lookup(
        self: &Arc<Self>,
        peer: PeerId,
        msg: Option<Bytes>,
        waiter: Option<oneshot::Sender<Option<NodeId>>>,
    ) -> Result<(), ForwardError> {
        let ask: Vec<NodeId> = self.links.routable().iter().map(|l| l.node).collect();
        if ask.is_empty() {
            self.stats.forward("peer_not_found");
            return Err(ForwardError::PeerNotFound);
        }
        let has_msg = msg.is_some();
        match self.locator.begin(peer, msg.clone(), waiter, ask) {
            Begin::Known(node) => {
                if let Some(m) = msg {
                    return self
                        .send_fwd(node, &peer, m)
                        .map_err(|_| ForwardError::QueueFull);
                }
                Ok(())
            }
            Begin::Full => {
                self.stats.forward("pending_full");
                self.stats.drop("pending_full", 1);
                Err(ForwardError::QueueFull)
            }
            Begin::Joined => {
                if has_msg {
                    self.stats.forward("pending");
                }
                Ok(())
            }
            Begin::Started { id, ask } => {
                bump(&self.stats.lookups);
                if has_msg {
                    self.stats.forward("pending");
                }
                let who_has = Bytes::copy_from_slice(peer.as_bytes());
                for node in &ask {
                    if let Some(link) = self.links.get(node) {
                        bump(&self.stats.who_has_sent);
                        self.control(&link, FrameType::WHO_HAS, who_has.clone());
                    }
                }
                let core = self.clone();
                let after = self.cfg.lookup_timeout;
                self.tasks.spawn(async move {
                    tokio::select! {
                        () = core.stop.cancelled() => {}
                        () = tokio::time::sleep(after) => {
                            if let Some(c) = core.locator.expire(&peer, id) {
                                core.finish_lookup(c, "timeout");
                            }
                        }
                    }
                });
                Ok(())
            }
        }
    }

    fn finish_lookup(&self, c: Completed, how: &'static str) {
        let (peer, owner, queued, elapsed) = c.finish();
        self.links.touch();
        match owner {
            Some(node) => {
                bump(&self.stats.lookups_found);
                metrics::counter!(m::CLUSTER_LOOKUPS, "result" => "found").increment(1);
                metrics::histogram!(m::CLUSTER_LOOKUP_SECONDS).record(elapsed.as_secs_f64());
                trace!(%peer, owner = %node, ?elapsed, held = queued.len(), "lookup answered");
                for msg in queued {
                    // Counted by send_fwd on failure.
                    let _ = self.send_fwd(node, &peer, msg);
                }
            }
            None => {
                bump(&self.stats.lookups_failed);
                metrics::counter!(m::CLUSTER_LOOKUPS, "result" => how).increment(1);
                if !queued.is_empty() {
                    self.stats.drop("lookup_failed", queued.len() as u64);
                }
                trace!(%peer, how, "lookup found no owner");
            }
        }
    }

    fn send_fwd(&self, node: NodeId, dst: &PeerId, msg: Bytes) -> Result<(), SendFail> {
        let Some(link) = self.links.get(&node).filter(|l| l.routable()) else {
            return Err(SendFail::NoLink);
        };
        match link.queue.push_data(Out::Fwd { dst: *dst, msg }) {
            Ok(()) => {
                self.stats.forward("ok");
                Ok(())
            }
            Err(QueueError::Full) => {
                self.stats.forward("queue_full");
                self.stats.drop("queue_full", 1);
                Err(SendFail::QueueFull)
            }
            Err(QueueError::Closed) => Err(SendFail::NoLink),
        }
    }

    /// The pod that has `peer`, by its announce address; `None` when no pod has it or
    /// the lookup timed out.
    pub(crate) async fn locate(self: &Arc<Self>, peer: &PeerId) -> Option<String> {
        if self.store.contains(peer) {
            return Some(self.announce.to_string());
        }
        let node = match self.locator.route(peer) {
            Route::Owner(node) => node,
            Route::Nowhere => return None,
            Route::Unknown => {
                let (tx, rx) = oneshot::channel();
                self.lookup(*peer, None, Some(tx)).ok()?;
                rx.await.ok()??
            }
        };
        self.links.get(&node).map(|l| l.announce.clone())
    }

    /// Queues GOODBYE on every link; their writers close after sending it.
    pub(crate) fn say_goodbye(&self, reason: &str) {
        let payload = frame::encode_goodbye(reason);
        for link in self.links.all() {
            link.leaving.store(true, Ordering::Relaxed);
            if link
                .queue
                .push_control(Out::Frame {
                    ty: FrameType::GOODBYE,
                    payload: payload.clone(),
                })
                .is_err()
            {
                link.shut("shutdown");
            }
        }
    }

    pub(crate) fn siblings(&self) -> Vec<SocketAddr> {
        lock(&self.siblings).clone()
    }
}

enum SendFail {
    QueueFull,
    NoLink,
}
