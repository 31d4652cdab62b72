//! The live links, one per sibling pod, and the rule that keeps it one.
//!
//! When two links to the same pod exist (both pods dialed at the same moment, or a pod
//! redialed while we still held its old, half-dead link), both pods apply the same rule
//! to the same two connections and keep the same one:
//!
//! * links dialed in opposite directions: keep the one dialed by the pod with the lower
//!   node id;
//! * links dialed in the same direction: keep the newer (the dialer only dials again
//!   once it has given up the old link).
//!
//! The loser is closed. When the rule keeps the old link against a new dial from the
//! other side, the old link is probed at once: if the other side has in fact dropped it,
//! the probe fails fast and the other side's next redial gets through.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use super::frame::{Features, NodeId};
use super::queue::OutQueue;
use crate::peer::lock;

/// One established link to a sibling.
pub(crate) struct Link {
    pub(crate) id: u64,
    pub(crate) node: NodeId,
    pub(crate) announce: String,
    pub(crate) announce_addr: Option<SocketAddr>,
    pub(crate) features: Features,
    pub(crate) dialed_by_me: bool,
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) peer_addr: Option<SocketAddr>,
    pub(crate) queue: Arc<OutQueue>,
    pub(crate) close: CancellationToken,
    pub(crate) reason: Mutex<Option<&'static str>>,
    pub(crate) established: Instant,
    /// Milliseconds since `established` when a frame last arrived.
    pub(crate) last_rx_ms: AtomicU64,
    /// Frames received so far.
    pub(crate) rx_frames: AtomicU64,
    /// Asks the writer to PING now and expect an answer soon.
    pub(crate) probe: Notify,
    /// The payload of the last PONG received (the PING's send time).
    pub(crate) pong: AtomicU64,
    /// The sibling said GOODBYE: it is leaving, route nothing more to it.
    pub(crate) leaving: AtomicBool,
}

impl Link {
    /// Closes the link; the first reason given is kept.
    pub(crate) fn shut(&self, reason: &'static str) {
        {
            let mut r = lock(&self.reason);
            if r.is_none() {
                *r = Some(reason);
            }
        }
        self.close.cancel();
    }

    pub(crate) fn reason(&self) -> &'static str {
        lock(&self.reason).unwrap_or("closed")
    }

    pub(crate) fn heard(&self) {
        let ms = u64::try_from(self.established.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_rx_ms.store(ms, Ordering::Relaxed);
        self.rx_frames.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn routable(&self) -> bool {
        !self.close.is_cancelled() && !self.leaving.load(Ordering::Relaxed)
    }
}

/// Whether a new link to `remote` replaces the existing one (see the module docs).
pub(crate) fn new_link_wins(
    me: NodeId,
    remote: NodeId,
    existing_dialed_by_me: bool,
    new_dialed_by_me: bool,
) -> bool {
    if existing_dialed_by_me == new_dialed_by_me {
        return true;
    }
    let dialer = |by_me: bool| if by_me { me } else { remote };
    dialer(new_dialed_by_me) < dialer(existing_dialed_by_me)
}

/// What became of a link offered to the registry.
pub(crate) enum Installed {
    /// It is the link to its pod now; the one it replaced (if any) must be closed.
    Yes { replaced: Option<Arc<Link>> },
    /// Another link to the same pod won; this one must be closed.
    Lost { winner: Arc<Link> },
}

/// What a new link is, before the registry decides on it.
pub(crate) struct NewLink {
    pub(crate) node: NodeId,
    pub(crate) announce: String,
    pub(crate) features: Features,
    pub(crate) dialed_by_me: bool,
    pub(crate) local_addr: Option<SocketAddr>,
    pub(crate) peer_addr: Option<SocketAddr>,
}

#[derive(Default)]
struct State {
    links: HashMap<NodeId, Arc<Link>>,
    /// The pod last reached at each dialed address.
    addr_node: HashMap<SocketAddr, NodeId>,
    next_id: u64,
}

/// The links of one pod.
pub(crate) struct Registry {
    me: NodeId,
    queue_bytes: usize,
    state: Mutex<State>,
    version: watch::Sender<u64>,
}

impl Registry {
    pub(crate) fn new(me: NodeId, queue_bytes: usize) -> Self {
        Self {
            me,
            queue_bytes,
            state: Mutex::new(State::default()),
            version: watch::channel(0).0,
        }
    }

    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Wakes watchers without a link change (a handshake ended without a link).
    pub(crate) fn touch(&self) {
        self.bump();
    }

    /// A receiver that changes whenever a link comes or goes.
    pub(crate) fn watch(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Offers a freshly handshaken link.
    pub(crate) fn install(
        &self,
        new: NewLink,
        dialed_addr: Option<SocketAddr>,
    ) -> (Arc<Link>, Installed) {
        let mut st = lock(&self.state);
        st.next_id += 1;
        if let Some(addr) = dialed_addr {
            st.addr_node.insert(addr, new.node);
        }
        let existing = st.links.get(&new.node).cloned();
        let wins = existing.as_ref().is_none_or(|e| {
            e.close.is_cancelled()
                || new_link_wins(self.me, new.node, e.dialed_by_me, new.dialed_by_me)
        });
        let queue = match (&existing, wins) {
            (Some(e), true) => e.queue.clone(),
            _ => Arc::new(OutQueue::new(self.queue_bytes)),
        };
        let link = Arc::new(Link {
            id: st.next_id,
            node: new.node,
            announce_addr: new.announce.parse().ok(),
            announce: new.announce,
            features: new.features,
            dialed_by_me: new.dialed_by_me,
            local_addr: new.local_addr,
            peer_addr: new.peer_addr,
            queue,
            close: CancellationToken::new(),
            reason: Mutex::new(None),
            established: Instant::now(),
            last_rx_ms: AtomicU64::new(0),
            rx_frames: AtomicU64::new(0),
            probe: Notify::new(),
            pong: AtomicU64::new(0),
            leaving: AtomicBool::new(false),
        });
        let outcome = if wins {
            st.links.insert(link.node, link.clone());
            Installed::Yes { replaced: existing }
        } else {
            Installed::Lost {
                winner: existing.expect("a losing link always has a winner"),
            }
        };
        drop(st);
        self.bump();
        (link, outcome)
    }

    /// Forgets `link` if it is still the link to its pod; true when it was (the pod is
    /// now unreachable), false when another link had replaced it.
    pub(crate) fn remove(&self, link: &Link) -> bool {
        let removed = {
            let mut st = lock(&self.state);
            match st.links.get(&link.node) {
                Some(current) if current.id == link.id => {
                    st.links.remove(&link.node);
                    true
                }
                _ => false,
            }
        };
        self.bump();
        removed
    }

    /// The link to a pod.
    pub(crate) fn get(&self, node: &NodeId) -> Option<Arc<Link>> {
        lock(&self.state).links.get(node).cloned()
    }

    /// Every live link.
    pub(crate) fn all(&self) -> Vec<Arc<Link>> {
        lock(&self.state).links.values().cloned().collect()
    }

    /// The pods that can take traffic now.
    pub(crate) fn routable(&self) -> Vec<Arc<Link>> {
        lock(&self.state)
            .links
            .values()
            .filter(|l| l.routable())
            .cloned()
            .collect()
    }

    /// True when a live link reaches the sibling dialed at `addr`: the pod last reached
    /// there, or a pod announcing that address.
    pub(crate) fn connected_to(&self, addr: SocketAddr) -> bool {
        let st = lock(&self.state);
        if let Some(node) = st.addr_node.get(&addr)
            && st.links.get(node).is_some_and(|l| !l.close.is_cancelled())
        {
            return true;
        }
        st.links
            .values()
            .any(|l| l.announce_addr == Some(addr) && !l.close.is_cancelled())
    }

    /// Forgets the pod reached at an address that left discovery.
    pub(crate) fn forget_addr(&self, addr: &SocketAddr) {
        lock(&self.state).addr_node.remove(addr);
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.state).links.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_link(node: u8, dialed_by_me: bool) -> NewLink {
        NewLink {
            node: NodeId([node; 16]),
            announce: "127.0.0.3:7090".into(),
            features: Features::default(),
            dialed_by_me,
            local_addr: None,
            peer_addr: None,
        }
    }

    #[test]
    fn both_sides_keep_the_link_dialed_by_the_lower_id() {
        let (x, y) = (NodeId([1; 16]), NodeId([2; 16]));
        // On x: the x→y link is "dialed by me", the y→x link is not; on y the reverse.
        // Whatever order the two links complete in, both sides keep x→y.
        assert!(new_link_wins(x, y, false, true), "x replaces y→x with x→y");
        assert!(!new_link_wins(x, y, true, false), "x keeps x→y against y→x");
        assert!(new_link_wins(y, x, true, false), "y replaces y→x with x→y");
        assert!(!new_link_wins(y, x, false, true), "y keeps x→y against y→x");
        assert!(
            new_link_wins(x, y, true, true),
            "same direction: the newer wins"
        );
        assert!(new_link_wins(x, y, false, false));
    }

    #[test]
    fn replacements_share_the_queue_and_removal_checks_identity() {
        let me = NodeId([1; 16]);
        let r = Registry::new(me, 1024);
        let mut w = r.watch();
        let (a, out) = r.install(new_link(2, false), None);
        assert!(matches!(out, Installed::Yes { replaced: None }));
        let (b, out) = r.install(new_link(2, true), Some("127.0.0.3:7090".parse().unwrap()));
        match out {
            Installed::Yes {
                replaced: Some(old),
            } => assert_eq!(old.id, a.id),
            _ => panic!("the lower-id dialer's link must win"),
        }
        assert!(Arc::ptr_eq(&a.queue, &b.queue));
        let (c, out) = r.install(new_link(2, false), None);
        assert!(matches!(out, Installed::Lost { winner } if winner.id == b.id));
        assert!(!r.remove(&c));
        assert!(!r.remove(&a));
        assert!(r.connected_to("127.0.0.3:7090".parse().unwrap()));
        assert!(r.remove(&b));
        assert_eq!(r.len(), 0);
        assert!(w.has_changed().unwrap());
        w.mark_unchanged();
    }
}
