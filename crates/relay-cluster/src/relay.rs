//! The relay core: the handshake, each peer's read and write loops, routing and
//! subscriptions. Transport-agnostic: listeners hand it WebSocket or QUIC connections.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, field, info, info_span, trace, warn};

use crate::auth::Validator;
use crate::cluster::CrossPodForwarder;
use crate::config::RelayConfig;
use crate::conn::{CloseInfo, MsgReader, MsgWriter, RecvError, TransportKind};
use crate::error::{Error, Result};
use crate::metrics as m;
use crate::notifier::Notifier;
use crate::peer::{Disconnect, Peer, lock};
use crate::peer_id::PeerId;
use crate::store::Store;
use crate::wire::{self, ClientMessage, MAX_HANDSHAKE_SIZE, MAX_MESSAGE_SIZE, PeerStateKind};

/// Messages written to a peer in one batch before flushing.
const WRITE_BATCH: usize = 64;
/// Cross-pod lookups run at once for one SubscribePeerState.
const LOCATE_CONCURRENCY: usize = 16;

/// The relay core, shared by all listeners of a server. Cheap to clone.
///
/// [`Server`](crate::Server) wraps it with WebSocket and QUIC listeners; use it directly
/// to mount the relay into an existing HTTP server (hand over the upgraded WebSocket with
/// [`Relay::accept_websocket`]).
#[derive(Clone)]
pub struct Relay {
    inner: Arc<RelayInner>,
}

struct RelayInner {
    config: RelayConfig,
    instance_url: String,
    auth_response: Bytes,
    validator: Arc<dyn Validator>,
    store: Store,
    notifier: Notifier,
    forwarder: RwLock<Option<Arc<dyn CrossPodForwarder>>>,
    shutdown: CancellationToken,
    sessions: TaskTracker,
}

/// A reference to a relay that does not keep it alive (a fabric holds one, since the
/// relay holds the fabric as its forwarder).
#[cfg(feature = "cluster")]
#[derive(Clone)]
pub(crate) struct WeakRelay(std::sync::Weak<RelayInner>);

#[cfg(feature = "cluster")]
impl WeakRelay {
    pub(crate) fn upgrade(&self) -> Option<Relay> {
        self.0.upgrade().map(|inner| Relay { inner })
    }
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("instance_url", &self.inner.instance_url)
            .field("peers", &self.inner.store.len())
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// A relay that answers every handshake with `instance_url` and admits peers that
    /// `validator` accepts.
    pub fn new(
        instance_url: impl Into<String>,
        validator: Arc<dyn Validator>,
        config: RelayConfig,
    ) -> Result<Self> {
        config.validate()?;
        let instance_url = instance_url.into();
        let auth_response = wire::encode_auth_response(&instance_url)?;
        Ok(Self {
            inner: Arc::new(RelayInner {
                config,
                instance_url,
                auth_response,
                validator,
                store: Store::new(),
                notifier: Notifier::default(),
                forwarder: RwLock::new(None),
                shutdown: CancellationToken::new(),
                sessions: TaskTracker::new(),
            }),
        })
    }

    #[cfg(feature = "cluster")]
    pub(crate) fn downgrade(&self) -> WeakRelay {
        WeakRelay(Arc::downgrade(&self.inner))
    }

    /// The URL sent in every AuthResponse.
    pub fn instance_url(&self) -> &str {
        &self.inner.instance_url
    }

    /// The attached peers (also the [`LocalPeerDispatcher`](crate::LocalPeerDispatcher)
    /// for a cross-pod fabric).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The timeouts and limits in force.
    pub fn config(&self) -> &RelayConfig {
        &self.inner.config
    }

    /// Routes Transport messages for peers that are not attached here through `forwarder`,
    /// and asks it about such peers on SubscribePeerState. Replaces any earlier one.
    pub fn set_cross_pod_forwarder(&self, forwarder: Arc<dyn CrossPodForwarder>) {
        *self
            .inner
            .forwarder
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(forwarder);
    }

    fn forwarder(&self) -> Option<Arc<dyn CrossPodForwarder>> {
        self.inner
            .forwarder
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Tells local subscribers that peers attached to other pods are online (for a
    /// fabric that learns remote presence). One-shot online interest applies.
    pub fn announce_remote_online(&self, peers: &[PeerId]) {
        for p in peers {
            self.inner.notifier.came_online(p);
        }
    }

    /// Tells local subscribers that peers attached to other pods went offline. Peers that
    /// are attached here are skipped: they are not offline.
    pub fn announce_remote_offline(&self, peers: &[PeerId]) {
        for p in peers {
            if !self.inner.store.contains(p) {
                self.inner.notifier.went_offline(p);
            }
        }
    }

    /// True once [`Relay::shutdown`] has begun.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutdown.is_cancelled()
    }

    /// Serves one peer over an upgraded WebSocket (at any path, over any stream) until it
    /// leaves. `remote` is used for logs. Returns why the peer left, or the handshake error.
    ///
    /// The WebSocket should have been accepted with message and frame limits no larger
    /// than [`MAX_MESSAGE_SIZE`](crate::wire::MAX_MESSAGE_SIZE); bigger messages close
    /// the connection either way.
    pub async fn accept_websocket<S>(
        &self,
        ws: WebSocketStream<S>,
        remote: Option<SocketAddr>,
    ) -> Result<Disconnect>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (reader, writer) = crate::conn::split_ws(ws);
        self.accept(
            reader,
            writer,
            remote,
            TransportKind::WebSocket,
            Instant::now(),
        )
        .await
    }

    /// Serves one peer over an established QUIC connection (ALPN `nb-quic`, datagrams
    /// enabled) until it leaves.
    #[cfg(feature = "quic")]
    pub async fn accept_quic(&self, conn: quinn::Connection) -> Result<Disconnect> {
        let remote = Some(conn.remote_address());
        let (reader, writer) = crate::conn::split_quic(conn);
        self.accept(reader, writer, remote, TransportKind::Quic, Instant::now())
            .await
    }

    pub(crate) async fn accept(
        &self,
        reader: MsgReader,
        writer: MsgWriter,
        remote: Option<SocketAddr>,
        transport: TransportKind,
        started: Instant,
    ) -> Result<Disconnect> {
        // Counted as a session so that shutdown waits for it.
        let _session = self.inner.sessions.token();
        let span = info_span!(
            "relay.peer",
            %transport,
            remote = ?remote,
            peer = field::Empty,
            conn = field::Empty,
        );
        self.serve(reader, writer, remote, transport, started, span.clone())
            .instrument(span)
            .await
    }

    async fn serve(
        &self,
        mut reader: MsgReader,
        mut writer: MsgWriter,
        remote: Option<SocketAddr>,
        transport: TransportKind,
        started: Instant,
        span: tracing::Span,
    ) -> Result<Disconnect> {
        let cfg = &self.inner.config;
        if self.is_shutting_down() {
            self.reject(
                &mut writer,
                CloseInfo::new(1001, "relay shutting down"),
                "shutdown",
            )
            .await;
            return Err(Error::Shutdown);
        }
        let remaining = cfg.handshake_timeout.saturating_sub(started.elapsed());
        let first = tokio::select! {
            r = timeout(remaining, reader.recv(MAX_HANDSHAKE_SIZE)) => r,
            () = self.inner.shutdown.cancelled() => {
                self.reject(&mut writer, CloseInfo::new(1001, "relay shutting down"), "shutdown").await;
                return Err(Error::Shutdown);
            }
        };
        let id = match self.check_handshake(first) {
            Ok(id) => id,
            Err((err, close, reason)) => {
                debug!(error = %err, "handshake refused");
                if let Some(close) = close {
                    self.reject(&mut writer, close, reason).await;
                } else {
                    metrics::counter!(m::HANDSHAKE_REJECTS, "reason" => reason).increment(1);
                }
                return Err(err);
            }
        };

        let store = &self.inner.store;
        let conn_id = store.next_conn_id();
        span.record("peer", field::display(id));
        span.record("conn", conn_id);
        let (peer, data_rx) = Peer::new(id, conn_id, remote, transport, cfg.peer_queue);
        if let Some(old) = store.insert(peer.clone()) {
            info!(
                old_conn = old.conn_id(),
                "same peer id reconnected; closing the old connection"
            );
            old.close_with(Disconnect::Replaced);
            metrics::counter!(m::RECONNECTIONS).increment(1);
        }
        metrics::gauge!(m::PEERS).set(store.len() as f64);
        metrics::histogram!(m::AUTH_SECONDS).record(started.elapsed().as_secs_f64());
        self.inner.notifier.came_online(&id);
        store.publish(&peer, true);
        info!("peer attached");

        tokio::join!(
            self.read_loop(&peer, reader),
            self.write_loop(&peer, writer, data_rx)
        );

        let reason = peer.disconnect_reason().unwrap_or(Disconnect::PeerClosed);
        if store.remove(&peer) {
            // A peer that moved to another pod is still online for local subscribers.
            if reason != Disconnect::Moved {
                self.inner.notifier.went_offline(&id);
            }
            store.publish(&peer, false);
        }
        self.inner.notifier.remove_subscriber(&peer);
        metrics::gauge!(m::PEERS).set(store.len() as f64);
        metrics::counter!(m::DISCONNECTS, "reason" => reason.reason()).increment(1);
        info!(reason = %reason, dropped = peer.dropped(), "peer detached");
        Ok(reason)
    }

    /// Checks the first message. On failure: the error for the caller, the close to send
    /// (none when the connection is already gone) and a metric label.
    #[allow(clippy::type_complexity)]
    fn check_handshake(
        &self,
        first: Result<Result<Bytes, RecvError>, tokio::time::error::Elapsed>,
    ) -> std::result::Result<PeerId, (Error, Option<CloseInfo>, &'static str)> {
        let after = self.inner.config.handshake_timeout;
        let msg = match first {
            Err(_) => {
                return Err((
                    Error::Timeout {
                        what: "relay handshake",
                        after,
                    },
                    Some(CloseInfo::new(1008, "handshake timed out")),
                    "timeout",
                ));
            }
            Ok(Err(RecvError::Closed(info))) => return Err((Error::Closed(info), None, "closed")),
            Ok(Err(RecvError::TooLarge(len))) => {
                return Err((
                    Error::Wire(wire::WireError::TooLarge {
                        what: "handshake message",
                        len,
                        max: MAX_HANDSHAKE_SIZE,
                    }),
                    Some(CloseInfo::new(1009, "handshake message too large")),
                    "too_large",
                ));
            }
            Ok(Err(RecvError::NotBinary)) => {
                return Err((
                    Error::Protocol("text message during the handshake".into()),
                    Some(CloseInfo::new(1003, "binary messages only")),
                    "malformed",
                ));
            }
            Ok(Err(RecvError::Protocol(e))) => {
                return Err((
                    Error::Protocol(e),
                    Some(CloseInfo::new(1002, "protocol error")),
                    "malformed",
                ));
            }
            Ok(Err(RecvError::Io(e))) => return Err((Error::Protocol(e), None, "transport")),
            Ok(Ok(msg)) => msg,
        };
        match wire::decode_client(&msg) {
            Ok(ClientMessage::Auth { peer, token }) => {
                match self.inner.validator.validate(&peer, token) {
                    Ok(()) => Ok(peer),
                    Err(e) => {
                        let close = CloseInfo::new(1008, format!("authentication failed: {e}"));
                        let reason = e.reason();
                        Err((Error::Auth(e), Some(close), reason))
                    }
                }
            }
            Ok(ClientMessage::Hello { .. }) => Err((
                Error::DeprecatedHello,
                Some(CloseInfo::new(
                    1008,
                    "the deprecated gob Hello handshake is not supported; send Auth (type 6)",
                )),
                "deprecated_hello",
            )),
            Ok(other) => {
                let ty = match other {
                    ClientMessage::Transport { .. } => wire::MessageType::Transport,
                    ClientMessage::Close => wire::MessageType::Close,
                    ClientMessage::HealthCheck => wire::MessageType::HealthCheck,
                    ClientMessage::Subscribe(_) => wire::MessageType::SubscribePeerState,
                    _ => wire::MessageType::UnsubscribePeerState,
                };
                Err((
                    Error::Wire(wire::WireError::UnexpectedType(ty)),
                    Some(CloseInfo::new(1002, "the first message must be Auth")),
                    "not_auth",
                ))
            }
            Err(e) => {
                let close = CloseInfo::new(1002, format!("malformed handshake: {e}"));
                Err((Error::Wire(e), Some(close), "malformed"))
            }
        }
    }

    async fn reject(&self, writer: &mut MsgWriter, close: CloseInfo, reason: &'static str) {
        metrics::counter!(m::HANDSHAKE_REJECTS, "reason" => reason).increment(1);
        let _ = timeout(self.inner.config.close_timeout, writer.close(&close)).await;
    }

    async fn read_loop(&self, peer: &Peer, mut reader: MsgReader) {
        let cfg = &self.inner.config;
        loop {
            let next = tokio::select! {
                biased;
                () = peer.shared.close.cancelled() => return,
                () = self.inner.shutdown.cancelled() => {
                    peer.close_with(Disconnect::Shutdown);
                    return;
                }
                r = timeout(cfg.read_timeout, reader.recv(MAX_MESSAGE_SIZE)) => r,
            };
            let msg = match next {
                Err(_) => {
                    peer.close_with(Disconnect::ReadTimeout);
                    return;
                }
                Ok(Err(e)) => {
                    peer.close_with(match e {
                        RecvError::Closed(_) => Disconnect::PeerClosed,
                        RecvError::TooLarge(n) => Disconnect::TooLarge(n),
                        RecvError::NotBinary => Disconnect::Malformed("text message".into()),
                        RecvError::Protocol(e) => Disconnect::Malformed(e),
                        RecvError::Io(e) => Disconnect::Transport(e),
                    });
                    return;
                }
                Ok(Ok(msg)) => msg,
            };
            metrics::counter!(m::RECEIVED_BYTES).increment(msg.len() as u64);
            if let Err(reason) = self.handle(peer, msg) {
                peer.close_with(reason);
                return;
            }
        }
    }

    fn handle(&self, peer: &Peer, msg: Bytes) -> std::result::Result<(), Disconnect> {
        let decoded =
            wire::decode_client(&msg).map_err(|e| Disconnect::Malformed(e.to_string()))?;
        match decoded {
            ClientMessage::HealthCheck => peer.shared.health_ack.notify_one(),
            ClientMessage::Transport { dst, .. } => self.route(peer, dst, msg),
            ClientMessage::Close => return Err(Disconnect::PeerClosed),
            ClientMessage::Subscribe(list) => self.subscribe(peer, list.to_vec()),
            ClientMessage::Unsubscribe(list) => {
                self.inner.notifier.unsubscribe(peer, &list.to_vec())
            }
            // Upstream tolerates a repeated handshake after admission; so do we.
            ClientMessage::Auth { .. } | ClientMessage::Hello { .. } => {
                debug!("handshake message after the handshake; ignored");
            }
        }
        Ok(())
    }

    fn route(&self, from: &Peer, dst: PeerId, msg: Bytes) {
        let Ok(msg) = wire::stamp_source(msg, &from.id()) else {
            return;
        };
        if let Some(to) = self.inner.store.get(&dst) {
            let len = msg.len() as u64;
            match to.send(msg) {
                Ok(()) => metrics::counter!(m::SENT_BYTES).increment(len),
                Err(e) => {
                    m::dropped(e.reason());
                    trace!(dst = %dst, error = %e, "dropped a message for a local peer");
                }
            }
            return;
        }
        match self.forwarder() {
            Some(fwd) => match fwd.forward(&dst, msg) {
                Ok(()) => metrics::counter!(m::FORWARDS, "result" => "ok").increment(1),
                Err(e) => {
                    metrics::counter!(m::FORWARDS, "result" => e.reason()).increment(1);
                    m::dropped(e.reason());
                    debug!(dst = %dst, error = %e, "cross-pod forward refused; dropped");
                }
            },
            None => {
                m::dropped("unknown_peer");
                trace!(dst = %dst, "no such peer; dropped");
            }
        }
    }

    fn subscribe(&self, peer: &Peer, ids: Vec<PeerId>) {
        let limit = self.inner.config.max_subscriptions_per_peer;
        let accepted = self.inner.notifier.subscribe(peer, &ids, limit);
        if accepted.len() < ids.len() {
            warn!(
                ignored = ids.len() - accepted.len(),
                limit, "subscription limit reached; extra peers ignored"
            );
        }
        let mut missing = Vec::new();
        for id in accepted {
            if self.inner.store.contains(&id) {
                if self.inner.notifier.consume_online(peer, &id) {
                    peer.push_event(id, true);
                }
            } else {
                missing.push(id);
            }
        }
        if missing.is_empty() {
            return;
        }
        let Some(fwd) = self.forwarder() else {
            return;
        };
        // One lookup task per subscriber at most, draining a set of ids: repeated
        // subscriptions coalesce instead of multiplying lookups on the fabric.
        let start = {
            let mut queue = lock(&peer.shared.locating);
            queue.pending.extend(missing);
            !std::mem::replace(&mut queue.running, true)
        };
        if !start {
            return;
        }
        let relay = self.clone();
        let peer = peer.clone();
        let deadline = self.inner.config.locate_timeout;
        let task = async move {
            let fwd = &fwd;
            loop {
                let batch: Vec<PeerId> = {
                    let mut queue = lock(&peer.shared.locating);
                    if queue.pending.is_empty() || peer.is_closed() {
                        queue.pending.clear();
                        queue.running = false;
                        return;
                    }
                    queue.pending.drain().collect()
                };
                let mut found = futures_util::stream::iter(batch)
                    .map(|id| async move { (id, timeout(deadline, fwd.locate(&id)).await) })
                    .buffer_unordered(LOCATE_CONCURRENCY);
                while let Some((id, located)) = found.next().await {
                    if let Ok(Some(pod)) = located
                        && relay.inner.notifier.consume_online(&peer, &id)
                    {
                        debug!(peer = %id, pod, "subscribed peer is on another pod");
                        peer.push_event(id, true);
                    }
                }
            }
        };
        self.inner.sessions.spawn(task.in_current_span());
    }

    async fn write_loop(
        &self,
        peer: &Peer,
        mut writer: MsgWriter,
        mut data_rx: mpsc::Receiver<Bytes>,
    ) {
        let cfg = &self.inner.config;
        let shared = &peer.shared;
        let result = async {
            timed(cfg.write_timeout, writer.send(self.inner.auth_response.clone())).await?;
            let hc = cfg.health_check;
            let mut ping = pin!(sleep(hc.interval));
            let mut ack_deadline = pin!(sleep(hc.interval + hc.timeout));
            let mut awaiting = false;
            let mut misses = 0u32;
            loop {
                tokio::select! {
                    biased;
                    () = shared.close.cancelled() => return Ok(()),
                    () = shared.health_ack.notified() => {
                        awaiting = false;
                        misses = 0;
                    }
                    () = &mut ack_deadline, if awaiting => {
                        awaiting = false;
                        misses += 1;
                        debug!(misses, "health check not answered");
                        if misses >= hc.threshold {
                            return Err(Disconnect::HealthCheckTimeout);
                        }
                    }
                    () = &mut ping => {
                        ping.as_mut().reset(Instant::now() + hc.interval);
                        timed(cfg.write_timeout, writer.send(wire::encode_health_check())).await?;
                        if !awaiting {
                            awaiting = true;
                            ack_deadline.as_mut().reset(Instant::now() + hc.timeout);
                        }
                    }
                    () = shared.wake.notified() => {
                        let runs = lock(&shared.events).take_runs();
                        let write = async {
                            for (online, ids) in runs {
                                let kind = if online { PeerStateKind::Online } else { PeerStateKind::Offline };
                                for msg in wire::encode_peer_state(kind, &ids).unwrap_or_default() {
                                    writer.feed(msg).await?;
                                }
                            }
                            writer.flush().await
                        };
                        timed(cfg.write_timeout, write).await?;
                    }
                    msg = data_rx.recv() => {
                        // The peer's own handle keeps a sender alive, so `None` cannot
                        // happen while it exists; treat it as a close anyway.
                        let Some(msg) = msg else { return Ok(()) };
                        let write = async {
                            writer.feed(msg).await?;
                            for _ in 1..WRITE_BATCH {
                                match data_rx.try_recv() {
                                    Ok(more) => writer.feed(more).await?,
                                    Err(_) => break,
                                }
                            }
                            writer.flush().await
                        };
                        timed(cfg.write_timeout, write).await?;
                    }
                }
            }
        }
        .await;
        if let Err(reason) = result {
            peer.close_with(reason);
        }
        let reason = peer.disconnect_reason().unwrap_or(Disconnect::PeerClosed);
        if reason.sends_close_message() {
            let _ = timeout(cfg.close_timeout, writer.send(wire::encode_close())).await;
        }
        let _ = timeout(cfg.close_timeout, writer.close(&reason.close_info())).await;
    }

    /// Closes every peer gracefully (Close message, then the transport close) and waits
    /// up to `wait` for their sessions to end. Returns false if some were still running.
    /// New connections are refused from the start.
    pub async fn shutdown(&self, wait: Duration) -> bool {
        self.inner.shutdown.cancel();
        self.inner.store.close_all(&Disconnect::Shutdown);
        self.inner.sessions.close();
        timeout(wait, self.inner.sessions.wait()).await.is_ok()
    }
}

async fn timed<F>(limit: Duration, write: F) -> std::result::Result<(), Disconnect>
where
    F: std::future::Future<Output = std::result::Result<(), crate::conn::SendError>>,
{
    match timeout(limit, write).await {
        Err(_) => Err(Disconnect::WriteTimeout),
        Ok(Err(e)) => Err(Disconnect::Transport(e.to_string())),
        Ok(Ok(())) => Ok(()),
    }
}
