//! Which pod has which peer.
//!
//! Three sources, in order of trust:
//!
//! 1. **Presence**: what each linked sibling said about its own peers (a snapshot when
//!    the link comes up, then every change). Valid while the link lives.
//! 2. **Answers**: owners learned from I_HAVE, kept for a TTL.
//! 3. **Negative answers**: "nobody has it", kept briefly; any presence news about the
//!    peer clears it.
//!
//! When none knows, a lookup broadcasts WHO_HAS to every linked sibling and completes on
//! the first I_HAVE, or as soon as every sibling asked has said NOT_HERE, or at the
//! timeout. One lookup runs per peer; messages for it wait in a small bounded queue and
//! follow the answer. Every method does its bookkeeping under one lock and returns what
//! the caller must then do (send, notify, flush), so no I/O happens under the lock.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::frame::{NodeId, PresenceEntry, PresenceOp};
use crate::peer::lock;
use crate::peer_id::PeerId;

/// Bounds and timers of the locator.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) ttl: Duration,
    pub(crate) negative_ttl: Duration,
    pub(crate) pending_per_lookup: usize,
    pub(crate) max_lookups: usize,
    pub(crate) max_entries: usize,
}

/// Where to send a message for a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    Owner(NodeId),
    /// Known to be nowhere (recently).
    Nowhere,
    Unknown,
}

struct Answer {
    node: NodeId,
    stamp: u64,
    expires: Instant,
}

pub(crate) type Waiter = oneshot::Sender<Option<NodeId>>;

struct Lookup {
    id: u64,
    started: Instant,
    asked: HashSet<NodeId>,
    said_no: HashSet<NodeId>,
    queued: Vec<Bytes>,
    waiters: Vec<Waiter>,
}

/// A lookup that ended: where its held messages go and whom to tell.
pub(crate) struct Completed {
    pub(crate) peer: PeerId,
    pub(crate) owner: Option<NodeId>,
    pub(crate) queued: Vec<Bytes>,
    pub(crate) waiters: Vec<Waiter>,
    pub(crate) elapsed: Duration,
}

impl Completed {
    /// Tells the waiters; returns the held messages.
    pub(crate) fn finish(self) -> (PeerId, Option<NodeId>, Vec<Bytes>, Duration) {
        for w in self.waiters {
            let _ = w.send(self.owner);
        }
        (self.peer, self.owner, self.queued, self.elapsed)
    }
}

/// The outcome of asking for a lookup.
pub(crate) enum Begin {
    /// A new lookup: send WHO_HAS to these pods and arm a timer for this id.
    Started { id: u64, ask: Vec<NodeId> },
    /// One was already running; the message or waiter joined it.
    Joined,
    /// The owner became known meanwhile.
    Known(NodeId),
    /// Too many lookups, or this one holds too many messages; the message is dropped.
    Full,
}

/// What presence news changes for local subscribers.
#[derive(Debug, Default)]
pub(crate) struct PresenceNews {
    /// Peers now known online somewhere (tell waiting subscribers).
    pub(crate) online: Vec<PeerId>,
    /// Peers now known online nowhere else (tell subscribers they went offline).
    pub(crate) offline: Vec<PeerId>,
    /// Newly announced remote registrations, to compare with local ones.
    pub(crate) claims: Vec<PresenceEntry>,
    /// Entries ignored because the bound on remote peers was reached.
    pub(crate) refused: usize,
}

#[derive(Default)]
struct NodeView {
    peers: HashMap<PeerId, u64>,
    /// A snapshot being received; replaces `peers` when it ends.
    staging: Option<HashMap<PeerId, u64>>,
}

#[derive(Default)]
struct State {
    /// Presence: who holds each peer, with the registration stamp.
    holders: HashMap<PeerId, Vec<(NodeId, u64)>>,
    nodes: HashMap<NodeId, NodeView>,
    answers: HashMap<PeerId, Answer>,
    negative: HashMap<PeerId, Instant>,
    lookups: HashMap<PeerId, Lookup>,
    next_lookup: u64,
}

impl State {
    fn entries(&self) -> usize {
        self.holders.len() + self.answers.len()
    }

    fn best_holder(&self, peer: &PeerId) -> Option<NodeId> {
        self.holders
            .get(peer)?
            .iter()
            .max_by_key(|(node, stamp)| (*stamp, *node))
            .map(|(node, _)| *node)
    }

    /// Records `node` holding `peer`; true when it is new or newer.
    fn hold(&mut self, node: NodeId, peer: PeerId, stamp: u64) -> bool {
        let list = self.holders.entry(peer).or_default();
        match list.iter_mut().find(|(n, _)| *n == node) {
            Some((_, s)) if *s >= stamp => false,
            Some((_, s)) => {
                *s = stamp;
                true
            }
            None => {
                list.push((node, stamp));
                true
            }
        }
    }

    /// Forgets that `node` holds `peer`; true when no pod holds it any more.
    fn release(&mut self, node: NodeId, peer: &PeerId) -> bool {
        let Some(list) = self.holders.get_mut(peer) else {
            return false;
        };
        let before = list.len();
        list.retain(|(n, _)| *n != node);
        if list.len() == before {
            return false;
        }
        if list.is_empty() {
            self.holders.remove(peer);
            true
        } else {
            false
        }
    }

    /// Forgets an answer from `node` about `peer`; true when that answer was all we knew
    /// of the peer (so it is now online nowhere, as far as we know).
    fn drop_answer_from(&mut self, node: NodeId, peer: &PeerId) -> bool {
        if self.answers.get(peer).is_some_and(|a| a.node == node) {
            self.answers.remove(peer);
            return !self.holders.contains_key(peer);
        }
        false
    }

    fn complete(&mut self, peer: &PeerId, owner: Option<NodeId>) -> Option<Completed> {
        let l = self.lookups.remove(peer)?;
        Some(Completed {
            peer: *peer,
            owner,
            queued: l.queued,
            waiters: l.waiters,
            elapsed: l.started.elapsed(),
        })
    }
}

/// The locator of one pod.
pub(crate) struct Locator {
    limits: Limits,
    state: std::sync::Mutex<State>,
}

impl Locator {
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: std::sync::Mutex::new(State::default()),
        }
    }

    /// Where messages for `peer` should go now.
    pub(crate) fn route(&self, peer: &PeerId) -> Route {
        let mut st = lock(&self.state);
        if let Some(node) = st.best_holder(peer) {
            return Route::Owner(node);
        }
        let now = Instant::now();
        match st.answers.get(peer) {
            Some(a) if a.expires > now => return Route::Owner(a.node),
            Some(_) => {
                st.answers.remove(peer);
            }
            None => {}
        }
        match st.negative.get(peer) {
            Some(until) if *until > now => Route::Nowhere,
            Some(_) => {
                st.negative.remove(peer);
                Route::Unknown
            }
            None => Route::Unknown,
        }
    }

    /// Forgets what is known about `peer` from answers (not presence, which its sender
    /// keeps current) and any negative answer.
    pub(crate) fn invalidate(&self, peer: &PeerId) {
        let mut st = lock(&self.state);
        st.answers.remove(peer);
        st.negative.remove(peer);
    }

    /// Forgets that `node` has `peer` (it said NOT_HERE, or a send to it failed).
    pub(crate) fn not_at(&self, node: NodeId, peer: &PeerId) -> (Option<Completed>, bool) {
        let mut st = lock(&self.state);
        let answered = st.drop_answer_from(node, peer);
        let gone = st.release(node, peer) || answered;
        if let Some(v) = st.nodes.get_mut(&node) {
            v.peers.remove(peer);
        }
        let done = match st.lookups.get_mut(peer) {
            Some(l) => {
                l.said_no.insert(node);
                if l.asked.is_subset(&l.said_no) {
                    let negative_until = Instant::now() + self.limits.negative_ttl;
                    if st.entries() < self.limits.max_entries {
                        st.negative.insert(*peer, negative_until);
                    }
                    st.complete(peer, None)
                } else {
                    None
                }
            }
            None => None,
        };
        (done, gone)
    }

    /// Starts or joins the lookup of `peer`, holding `msg` and/or `waiter` for it.
    /// `ask` is every pod that can be asked now.
    pub(crate) fn begin(
        &self,
        peer: PeerId,
        msg: Option<Bytes>,
        waiter: Option<Waiter>,
        ask: Vec<NodeId>,
    ) -> Begin {
        let mut st = lock(&self.state);
        if let Some(node) = st.best_holder(&peer) {
            return Begin::Known(node);
        }
        if let Some(l) = st.lookups.get_mut(&peer) {
            if let Some(m) = msg {
                if l.queued.len() >= self.limits.pending_per_lookup {
                    return Begin::Full;
                }
                l.queued.push(m);
            }
            if let Some(w) = waiter {
                l.waiters.push(w);
            }
            return Begin::Joined;
        }
        if st.lookups.len() >= self.limits.max_lookups {
            return Begin::Full;
        }
        st.next_lookup += 1;
        let id = st.next_lookup;
        st.lookups.insert(
            peer,
            Lookup {
                id,
                started: Instant::now(),
                asked: ask.iter().copied().collect(),
                said_no: HashSet::new(),
                queued: msg.into_iter().collect(),
                waiters: waiter.into_iter().collect(),
            },
        );
        Begin::Started { id, ask }
    }

    /// An I_HAVE arrived from `node`: remember the owner and complete the lookup.
    pub(crate) fn answer(&self, node: NodeId, peer: PeerId, stamp: u64) -> Option<Completed> {
        let mut st = lock(&self.state);
        st.negative.remove(&peer);
        let keep_existing = st
            .answers
            .get(&peer)
            .is_some_and(|a| a.node != node && a.stamp > stamp && a.expires > Instant::now());
        if !keep_existing
            && (st.answers.contains_key(&peer) || st.entries() < self.limits.max_entries)
        {
            st.answers.insert(
                peer,
                Answer {
                    node,
                    stamp,
                    expires: Instant::now() + self.limits.ttl,
                },
            );
        }
        let owner = if keep_existing {
            st.answers.get(&peer).map(|a| a.node)
        } else {
            Some(node)
        };
        st.complete(&peer, owner)
    }

    /// The lookup `id` of `peer` ran out of time.
    pub(crate) fn expire(&self, peer: &PeerId, id: u64) -> Option<Completed> {
        let mut st = lock(&self.state);
        if st.lookups.get(peer).is_none_or(|l| l.id != id) {
            return None;
        }
        st.complete(peer, None)
    }

    /// A link came up: start from nothing for its pod (its snapshot follows).
    pub(crate) fn node_up(&self, node: NodeId) {
        lock(&self.state).nodes.entry(node).or_default();
    }

    /// The link to `node` is gone: forget its peers and stop waiting for its answers.
    /// Returns the peers now online nowhere and the lookups that completed.
    pub(crate) fn node_down(&self, node: NodeId) -> (Vec<PeerId>, Vec<Completed>) {
        let mut st = lock(&self.state);
        let view = st.nodes.remove(&node).unwrap_or_default();
        let mut offline = Vec::new();
        for peer in view.peers.keys() {
            if st.release(node, peer) {
                offline.push(*peer);
            }
        }
        // Peers known only from that pod's answers are unreachable now too.
        let answered: Vec<PeerId> = st
            .answers
            .iter()
            .filter(|(_, a)| a.node == node)
            .map(|(p, _)| *p)
            .collect();
        for peer in answered {
            if st.drop_answer_from(node, &peer) && !offline.contains(&peer) {
                offline.push(peer);
            }
        }
        let mut done = Vec::new();
        let finished: Vec<PeerId> = st
            .lookups
            .iter_mut()
            .filter_map(|(peer, l)| {
                l.asked.remove(&node);
                l.said_no.remove(&node);
                l.asked.is_subset(&l.said_no).then_some(*peer)
            })
            .collect();
        for peer in finished {
            done.extend(st.complete(&peer, None));
        }
        (offline, done)
    }

    /// Applies a PRESENCE frame from `node`.
    pub(crate) fn presence(
        &self,
        node: NodeId,
        op: PresenceOp,
        entries: impl Iterator<Item = PresenceEntry>,
    ) -> PresenceNews {
        let mut st = lock(&self.state);
        let mut news = PresenceNews::default();
        let max = self.limits.max_entries;
        match op {
            PresenceOp::Snapshot => {
                let total = st.entries();
                let view = st.nodes.entry(node).or_default();
                let staging = view.staging.get_or_insert_with(HashMap::new);
                for e in entries {
                    if staging.len() + total >= max {
                        news.refused += 1;
                        continue;
                    }
                    staging.insert(e.peer, e.stamp);
                }
            }
            PresenceOp::SnapshotEnd => {
                let view = st.nodes.entry(node).or_default();
                let new = view.staging.take().unwrap_or_default();
                let old = std::mem::replace(&mut view.peers, new.clone());
                for peer in old.keys().filter(|p| !new.contains_key(*p)) {
                    st.drop_answer_from(node, peer);
                    if st.release(node, peer) {
                        news.offline.push(*peer);
                    }
                }
                for (peer, stamp) in new {
                    self.came(&mut st, node, peer, stamp, &mut news);
                }
            }
            PresenceOp::Online => {
                for e in entries {
                    let view = st.nodes.entry(node).or_default();
                    if let Some(staging) = view.staging.as_mut() {
                        staging.insert(e.peer, e.stamp);
                        continue;
                    }
                    if !view.peers.contains_key(&e.peer) && st.entries() >= max {
                        news.refused += 1;
                        continue;
                    }
                    if let Some(v) = st.nodes.get_mut(&node) {
                        v.peers.insert(e.peer, e.stamp);
                    }
                    self.came(&mut st, node, e.peer, e.stamp, &mut news);
                }
            }
            PresenceOp::Offline | PresenceOp::Moved => {
                for e in entries {
                    let view = st.nodes.entry(node).or_default();
                    if let Some(staging) = view.staging.as_mut() {
                        if staging.get(&e.peer).is_some_and(|s| *s <= e.stamp) {
                            staging.remove(&e.peer);
                        }
                        continue;
                    }
                    // A newer registration at the same pod outlives an older one's exit.
                    match view.peers.get(&e.peer) {
                        Some(s) if *s <= e.stamp => {
                            view.peers.remove(&e.peer);
                        }
                        _ => continue,
                    }
                    st.drop_answer_from(node, &e.peer);
                    // A moved peer is online elsewhere, even if that news is still on
                    // its way over another link.
                    if st.release(node, &e.peer) && op == PresenceOp::Offline {
                        news.offline.push(e.peer);
                    }
                }
            }
        }
        news
    }

    fn came(
        &self,
        st: &mut State,
        node: NodeId,
        peer: PeerId,
        stamp: u64,
        news: &mut PresenceNews,
    ) {
        st.negative.remove(&peer);
        if st.hold(node, peer, stamp) {
            news.online.push(peer);
            news.claims.push(PresenceEntry { peer, stamp });
        }
    }

    /// Drops expired answers and negative answers.
    pub(crate) fn sweep(&self) {
        let now = Instant::now();
        let mut st = lock(&self.state);
        st.answers.retain(|_, a| a.expires > now);
        st.negative.retain(|_, until| *until > now);
    }

    /// Peers known to be on other pods.
    pub(crate) fn remote_peers(&self) -> usize {
        lock(&self.state).holders.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(1),
            pending_per_lookup: 2,
            max_lookups: 2,
            max_entries: 100,
        }
    }

    fn n(b: u8) -> NodeId {
        NodeId([b; 16])
    }

    fn e(name: &str, stamp: u64) -> PresenceEntry {
        PresenceEntry {
            peer: PeerId::from_identity(name),
            stamp,
        }
    }

    #[test]
    fn a_lookup_completes_on_the_first_answer_and_caches_it() {
        let l = Locator::new(limits());
        let b = PeerId::from_identity("b");
        assert_eq!(l.route(&b), Route::Unknown);
        let Begin::Started { id: _, ask } =
            l.begin(b, Some(Bytes::from_static(b"m1")), None, vec![n(2), n(3)])
        else {
            panic!("a new lookup starts");
        };
        assert_eq!(ask.len(), 2);
        assert!(matches!(
            l.begin(b, Some(Bytes::from_static(b"m2")), None, vec![]),
            Begin::Joined
        ));
        assert!(matches!(
            l.begin(b, Some(Bytes::from_static(b"m3")), None, vec![]),
            Begin::Full
        ));
        let done = l.answer(n(3), b, 7).expect("completes");
        let (_, owner, queued, _) = done.finish();
        assert_eq!(owner, Some(n(3)));
        assert_eq!(queued.len(), 2);
        assert_eq!(l.route(&b), Route::Owner(n(3)));
        let (_, gone) = l.not_at(n(3), &b);
        assert!(gone, "that answer was all that was known of b");
        assert_eq!(l.route(&b), Route::Unknown, "a negative answer invalidates");
    }

    #[test]
    fn all_negative_answers_end_the_lookup_early() {
        let l = Locator::new(limits());
        let b = PeerId::from_identity("b");
        let (tx, mut rx) = oneshot::channel();
        assert!(matches!(
            l.begin(b, None, Some(tx), vec![n(2), n(3)]),
            Begin::Started { .. }
        ));
        assert!(l.not_at(n(2), &b).0.is_none());
        let (_, owner, _, _) = l.not_at(n(3), &b).0.expect("both said no").finish();
        assert_eq!(owner, None);
        assert_eq!(rx.try_recv().unwrap(), None);
        assert_eq!(l.route(&b), Route::Nowhere);
        let news = l.presence(n(2), PresenceOp::Online, [e("b", 5)].into_iter());
        assert_eq!(news.online, vec![b]);
        assert_eq!(
            l.route(&b),
            Route::Owner(n(2)),
            "presence clears the negative answer"
        );
    }

    #[test]
    fn a_lost_link_ends_lookups_that_only_waited_for_it() {
        let l = Locator::new(limits());
        let b = PeerId::from_identity("b");
        let Begin::Started { id, .. } = l.begin(b, None, None, vec![n(2)]) else {
            panic!()
        };
        let (_, done) = l.node_down(n(2));
        assert_eq!(done.len(), 1);
        assert!(l.expire(&b, id).is_none(), "already completed");
        // A peer known only from a pod's answer is offline once that pod's link is gone.
        l.answer(n(3), b, 1);
        assert_eq!(l.node_down(n(3)).0, vec![b]);
    }

    #[test]
    fn presence_tracks_moves_by_stamp() {
        let l = Locator::new(limits());
        let b = PeerId::from_identity("b");
        l.presence(n(2), PresenceOp::Online, [e("b", 10)].into_iter());
        // b moves to pod 3: its online news may arrive before pod 2's offline news.
        let news = l.presence(n(3), PresenceOp::Online, [e("b", 20)].into_iter());
        assert_eq!(news.claims, vec![e("b", 20)]);
        assert_eq!(l.route(&b), Route::Owner(n(3)));
        let news = l.presence(n(2), PresenceOp::Offline, [e("b", 10)].into_iter());
        assert!(news.offline.is_empty(), "still online on pod 3");
        // A stale offline from pod 3 (an older registration) changes nothing.
        let news = l.presence(n(3), PresenceOp::Offline, [e("b", 15)].into_iter());
        assert!(news.offline.is_empty());
        let news = l.presence(n(3), PresenceOp::Offline, [e("b", 20)].into_iter());
        assert_eq!(news.offline, vec![b]);
        assert_eq!(l.route(&b), Route::Unknown);
        // Pod 2 closed its stale registration before pod 4's news arrived here.
        l.presence(n(2), PresenceOp::Online, [e("b", 30)].into_iter());
        let news = l.presence(n(2), PresenceOp::Moved, [e("b", 30)].into_iter());
        assert!(news.offline.is_empty(), "moved, not offline");
        assert_eq!(l.route(&b), Route::Unknown);
    }

    #[test]
    fn snapshots_replace_a_pods_peers_as_one_change() {
        let l = Locator::new(limits());
        l.presence(n(2), PresenceOp::Online, [e("a", 1), e("b", 1)].into_iter());
        l.presence(
            n(2),
            PresenceOp::Snapshot,
            [e("b", 1), e("c", 2)].into_iter(),
        );
        assert_eq!(
            l.route(&PeerId::from_identity("c")),
            Route::Unknown,
            "staged until the end"
        );
        let news = l.presence(n(2), PresenceOp::SnapshotEnd, std::iter::empty());
        assert_eq!(news.offline, vec![PeerId::from_identity("a")]);
        assert_eq!(news.online, vec![PeerId::from_identity("c")]);
        let (offline, _) = l.node_down(n(2));
        assert_eq!(offline.len(), 2);
        assert_eq!(l.remote_peers(), 0);
    }
}
