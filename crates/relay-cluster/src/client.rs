//! A client for the relay protocol: connect over WebSocket or QUIC, authenticate, send
//! Transport messages, watch peers' presence. Health checks are echoed in the background.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::Uri;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span};

use crate::conn::{CloseInfo, MsgReader, MsgWriter, RecvError, TransportKind, split_ws, ws_config};
use crate::error::{Error, Result};
use crate::peer::lock;
use crate::peer_id::PeerId;
use crate::wire::{
    self, MAX_HANDSHAKE_RESPONSE_SIZE, MAX_MESSAGE_SIZE, PeerStateKind, ServerMessage,
};

/// How to reach and authenticate with a relay.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The relay: `rel://host:port` (WebSocket), `rels://host:port` (WebSocket over TLS),
    /// `ws://` or `wss://` with an explicit path, or `quic://host:port` (QUIC datagrams).
    pub url: String,
    /// This client's id.
    pub peer_id: PeerId,
    /// The auth token (e.g. from [`HmacValidator::issue`](crate::HmacValidator::issue)).
    pub token: Vec<u8>,
    /// Trust roots for `rels://`, `wss://` and `quic://`. The client sets the ALPN.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Deadline for name resolution and the TCP or QUIC connection.
    pub connect_timeout: Duration,
    /// Deadline for TLS, the WebSocket upgrade and the AuthResponse.
    pub handshake_timeout: Duration,
    /// Deadline for each write.
    pub write_timeout: Duration,
    /// The connection is declared dead when the relay sends nothing (not even a health
    /// check) for this long (upstream: 35 s).
    pub idle_timeout: Duration,
    /// Incoming events buffered for [`Client::recv`]; more are dropped and counted.
    pub event_queue: usize,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("url", &self.url)
            .field("peer_id", &self.peer_id)
            .field("connect_timeout", &self.connect_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl ClientConfig {
    /// A configuration with upstream-like timeouts.
    pub fn new(url: impl Into<String>, peer_id: PeerId, token: impl Into<Vec<u8>>) -> Self {
        Self {
            url: url.into(),
            peer_id,
            token: token.into(),
            #[cfg(feature = "tls")]
            tls: None,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(35),
            event_queue: 1024,
        }
    }

    /// Trusts the roots of `tls` for TLS connections.
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: rustls::ClientConfig) -> Self {
        self.tls = Some(Arc::new(tls));
        self
    }
}

/// Something the relay delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A Transport message from another peer.
    Transport {
        /// The sender.
        from: PeerId,
        /// The payload.
        payload: Bytes,
    },
    /// Watched peers that are online.
    PeersOnline(Vec<PeerId>),
    /// Watched peers that went offline.
    PeersWentOffline(Vec<PeerId>),
}

enum Target {
    Ws {
        tls: bool,
        host: String,
        port: u16,
        path: String,
    },
    #[cfg(feature = "quic")]
    Quic { host: String, port: u16 },
}

fn parse_url(url: &str) -> Result<Target> {
    let bad = |why| Error::InvalidUrl {
        url: url.to_owned(),
        why,
    };
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    let scheme = uri.scheme_str().ok_or(bad("no scheme"))?;
    let host = uri
        .host()
        .ok_or(bad("no host"))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let path = match uri.path() {
        "" | "/" => crate::listener::WS_PATH.to_owned(),
        p => p.to_owned(),
    };
    let port = |default| uri.port_u16().unwrap_or(default);
    Ok(match scheme {
        "rel" => Target::Ws {
            tls: false,
            port: port(80),
            host,
            path: crate::listener::WS_PATH.to_owned(),
        },
        "rels" => Target::Ws {
            tls: true,
            port: port(443),
            host,
            path: crate::listener::WS_PATH.to_owned(),
        },
        "ws" => Target::Ws {
            tls: false,
            port: port(80),
            host,
            path,
        },
        "wss" => Target::Ws {
            tls: true,
            port: port(443),
            host,
            path,
        },
        #[cfg(feature = "quic")]
        "quic" => Target::Quic {
            port: port(443),
            host,
        },
        _ => return Err(bad("the scheme must be rel, rels, ws, wss or quic")),
    })
}

async fn resolve(host: &str, port: u16, within: Duration) -> Result<SocketAddr> {
    let mut addrs = timeout(within, tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| Error::Timeout {
            what: "resolving the relay's name",
            after: within,
        })??;
    addrs.next().ok_or_else(|| {
        Error::Io(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{host} has no address"),
        ))
    })
}

/// The shared writing half: [`Client`] and every [`Sender`] clone write through it.
struct Writer {
    conn: tokio::sync::Mutex<MsgWriter>,
    write_timeout: Duration,
    max_message: usize,
}

impl Writer {
    async fn write(&self, msgs: &[Bytes]) -> Result<()> {
        if let Some(big) = msgs.iter().find(|m| m.len() > self.max_message) {
            return Err(Error::Wire(wire::WireError::TooLarge {
                what: "message for this transport",
                len: big.len(),
                max: self.max_message,
            }));
        }
        let write = async {
            let mut conn = self.conn.lock().await;
            for m in msgs {
                conn.feed(m.clone()).await?;
            }
            conn.flush().await
        };
        match timeout(self.write_timeout, write).await {
            Err(_) => Err(Error::Timeout {
                what: "writing to the relay",
                after: self.write_timeout,
            }),
            Ok(Err(e)) => Err(Error::Protocol(format!("write failed: {e}"))),
            Ok(Ok(())) => Ok(()),
        }
    }
}

/// A cloneable handle that sends through a [`Client`]'s connection.
///
/// It keeps the sending half open, but only the [`Client`] reads and echoes health
/// checks: once the client is dropped, the relay drops the connection at its next
/// unanswered check.
#[derive(Clone)]
pub struct Sender {
    writer: Arc<Writer>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl Sender {
    /// Sends `payload` to the peer `dst`. Delivery is best effort, like the datagrams the
    /// relay carries: the relay drops messages for unknown peers.
    pub async fn send(&self, dst: &PeerId, payload: &[u8]) -> Result<()> {
        self.writer
            .write(&[wire::encode_transport(dst, payload)?])
            .await
    }

    /// Asks the relay to report when `peers` come online (once) and go offline.
    pub async fn subscribe(&self, peers: &[PeerId]) -> Result<()> {
        self.writer
            .write(&wire::encode_peer_state(PeerStateKind::Subscribe, peers)?)
            .await
    }

    /// Stops watching `peers`.
    pub async fn unsubscribe(&self, peers: &[PeerId]) -> Result<()> {
        self.writer
            .write(&wire::encode_peer_state(PeerStateKind::Unsubscribe, peers)?)
            .await
    }
}

struct Shared {
    stop: CancellationToken,
    end: Mutex<Option<Error>>,
    dropped: AtomicU64,
}

/// A connection to a relay as one peer.
///
/// ```no_run
/// # async fn run() -> relay_cluster::Result<()> {
/// use std::time::Duration;
/// use relay_cluster::{Client, ClientConfig, Event, HmacValidator, PeerId};
///
/// let token = HmacValidator::new("secret").issue(Duration::from_secs(300));
/// let mut alice = Client::connect(ClientConfig::new(
///     "rel://127.0.0.1:8080",
///     PeerId::from_identity("alice"),
///     token,
/// ))
/// .await?;
/// alice.send(&PeerId::from_identity("bob"), b"hi").await?;
/// if let Event::Transport { from, payload } = alice.recv().await? {
///     println!("{from}: {payload:?}");
/// }
/// alice.close().await;
/// # Ok(()) }
/// ```
pub struct Client {
    peer_id: PeerId,
    instance_url: String,
    transport: TransportKind,
    sender: Sender,
    events: mpsc::Receiver<Event>,
    backlog: VecDeque<Event>,
    shared: Arc<Shared>,
    reader: tokio::task::JoinHandle<()>,
    #[cfg(feature = "quic")]
    _endpoint: Option<quinn::Endpoint>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("peer_id", &self.peer_id)
            .field("instance_url", &self.instance_url)
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects, authenticates and starts answering health checks.
    pub async fn connect(config: ClientConfig) -> Result<Self> {
        let span = info_span!("relay.client.connect", url = %config.url, peer = %config.peer_id);
        Self::connect_inner(config).instrument(span).await
    }

    async fn connect_inner(config: ClientConfig) -> Result<Self> {
        let target = parse_url(&config.url)?;
        let (mut reader, writer, transport, max_message);
        #[cfg(feature = "quic")]
        let mut endpoint = None;
        match target {
            Target::Ws {
                tls,
                host,
                port,
                path,
            } => {
                let addr = resolve(&host, port, config.connect_timeout).await?;
                let tcp = timeout(config.connect_timeout, TcpStream::connect(addr))
                    .await
                    .map_err(|_| Error::Timeout {
                        what: "connecting to the relay",
                        after: config.connect_timeout,
                    })??;
                let _ = tcp.set_nodelay(true);
                let scheme = if tls { "wss" } else { "ws" };
                let authority = if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                };
                let request = format!("{scheme}://{authority}{path}")
                    .into_client_request()
                    .map_err(|e| Error::WebSocket(e.to_string()))?;
                let upgrade = async {
                    if tls {
                        #[cfg(feature = "tls")]
                        {
                            let stream = tls_connect(&config, &host, tcp).await?;
                            return ws_client(request, stream).await;
                        }
                        #[cfg(not(feature = "tls"))]
                        return Err(Error::Config(
                            "TLS URLs need the `tls` feature of relay-cluster".into(),
                        ));
                    }
                    ws_client(request, tcp).await
                };
                (reader, writer) =
                    timeout(config.handshake_timeout, upgrade)
                        .await
                        .map_err(|_| Error::Timeout {
                            what: "TLS and WebSocket upgrade",
                            after: config.handshake_timeout,
                        })??;
                transport = TransportKind::WebSocket;
                max_message = MAX_MESSAGE_SIZE;
            }
            #[cfg(feature = "quic")]
            Target::Quic { host, port } => {
                let addr = resolve(&host, port, config.connect_timeout).await?;
                let (ep, conn) = quic_connect(&config, &host, addr).await?;
                let Some(datagram) = conn.max_datagram_size() else {
                    conn.close(quinn::VarInt::from_u32(0), b"datagrams unsupported");
                    return Err(Error::Quic(
                        "the relay does not accept QUIC datagrams".into(),
                    ));
                };
                max_message = datagram.min(MAX_MESSAGE_SIZE);
                (reader, writer) = crate::conn::split_quic(conn);
                endpoint = Some(ep);
                transport = TransportKind::Quic;
            }
        }

        let writer = Arc::new(Writer {
            conn: tokio::sync::Mutex::new(writer),
            write_timeout: config.write_timeout,
            max_message,
        });
        writer
            .write(&[wire::encode_auth(&config.peer_id, &config.token)?])
            .await?;
        let instance_url = auth_response(&mut reader, config.handshake_timeout).await?;
        debug!(%instance_url, %transport, "attached to the relay");

        let shared = Arc::new(Shared {
            stop: CancellationToken::new(),
            end: Mutex::new(None),
            dropped: AtomicU64::new(0),
        });
        let (tx, events) = mpsc::channel(config.event_queue.max(1));
        let task = read_task(
            reader,
            writer.clone(),
            tx,
            shared.clone(),
            config.idle_timeout,
        )
        .instrument(info_span!("relay.client", peer = %config.peer_id));
        let reader = tokio::spawn(task);
        Ok(Self {
            peer_id: config.peer_id,
            instance_url,
            transport,
            sender: Sender { writer },
            events,
            backlog: VecDeque::new(),
            shared,
            reader,
            #[cfg(feature = "quic")]
            _endpoint: endpoint,
        })
    }

    /// This client's id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The instance URL the relay announced.
    pub fn instance_url(&self) -> &str {
        &self.instance_url
    }

    /// WebSocket or QUIC.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }

    /// A cloneable handle for sending from other tasks.
    pub fn sender(&self) -> Sender {
        self.sender.clone()
    }

    /// Events dropped because [`Client::recv`] was not keeping up.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Sends `payload` to `dst`; see [`Sender::send`].
    pub async fn send(&self, dst: &PeerId, payload: &[u8]) -> Result<()> {
        self.sender.send(dst, payload).await
    }

    /// Watches `peers`; see [`Sender::subscribe`].
    pub async fn subscribe(&self, peers: &[PeerId]) -> Result<()> {
        self.sender.subscribe(peers).await
    }

    /// Stops watching `peers`.
    pub async fn unsubscribe(&self, peers: &[PeerId]) -> Result<()> {
        self.sender.unsubscribe(peers).await
    }

    /// The next event. When the connection ends, returns why (e.g. [`Error::Closed`] with
    /// the relay's close reason) and then [`Error::Closed`] on every later call.
    pub async fn recv(&mut self) -> Result<Event> {
        if let Some(ev) = self.backlog.pop_front() {
            return Ok(ev);
        }
        match self.events.recv().await {
            Some(ev) => Ok(ev),
            None => Err(lock(&self.shared.end).take().unwrap_or(Error::Closed(None))),
        }
    }

    /// Subscribes to `peer` and waits until the relay reports it online, like upstream's
    /// `OpenConn`. Other events that arrive meanwhile are kept for [`Client::recv`].
    pub async fn wait_for_peer(&mut self, peer: &PeerId, within: Duration) -> Result<()> {
        self.subscribe(std::slice::from_ref(peer)).await?;
        let deadline = Instant::now() + within;
        loop {
            let next = tokio::time::timeout_at(deadline, self.events.recv())
                .await
                .map_err(|_| Error::Timeout {
                    what: "waiting for the peer to come online",
                    after: within,
                })?;
            match next {
                Some(Event::PeersOnline(ids)) if ids.contains(peer) => {
                    self.backlog.push_back(Event::PeersOnline(ids));
                    return Ok(());
                }
                Some(ev) => self.backlog.push_back(ev),
                None => return Err(lock(&self.shared.end).take().unwrap_or(Error::Closed(None))),
            }
        }
    }

    /// Leaves gracefully: sends Close, closes the transport and stops the background task.
    pub async fn close(self) {
        let close = CloseInfo::new(1000, "");
        let _ = self.sender.writer.write(&[wire::encode_close()]).await;
        {
            let mut conn = self.sender.writer.conn.lock().await;
            let _ = timeout(self.sender.writer.write_timeout, conn.close(&close)).await;
        }
        self.shared.stop.cancel();
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.shared.stop.cancel();
        self.reader.abort();
    }
}

#[cfg(feature = "tls")]
async fn tls_connect(
    config: &ClientConfig,
    host: &str,
    tcp: TcpStream,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let base = config.tls.as_ref().ok_or_else(|| {
        Error::Config("a TLS URL needs trust roots (ClientConfig::with_tls)".into())
    })?;
    let mut tls = (**base).clone();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = rustls_pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| Error::Config(format!("`{host}` is not a valid TLS server name")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls));
    Ok(connector.connect(name, tcp).await?)
}

async fn ws_client<S>(
    request: tokio_tungstenite::tungstenite::handshake::client::Request,
    stream: S,
) -> Result<(MsgReader, MsgWriter)>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(ws_config()))
        .await
        .map_err(|e| Error::WebSocket(e.to_string()))?;
    Ok(split_ws(ws))
}

#[cfg(feature = "quic")]
async fn quic_connect(
    config: &ClientConfig,
    host: &str,
    addr: SocketAddr,
) -> Result<(quinn::Endpoint, quinn::Connection)> {
    let base = config
        .tls
        .as_ref()
        .ok_or_else(|| Error::Config("QUIC needs trust roots (ClientConfig::with_tls)".into()))?;
    let mut tls = (**base).clone();
    tls.alpn_protocols = vec![crate::tls::QUIC_ALPN.to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(tls))
        .map_err(|e| Error::Config(format!("TLS configuration unusable for QUIC: {e}")))?;
    let mut transport = quinn::TransportConfig::default();
    transport
        .datagram_receive_buffer_size(Some(1 << 20))
        .initial_mtu(1452)
        .keep_alive_interval(Some(Duration::from_secs(10)));
    let mut client = quinn::ClientConfig::new(Arc::new(crypto));
    client.transport_config(Arc::new(transport));
    let bind: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let endpoint = quinn::Endpoint::client(bind)?;
    let connecting = endpoint
        .connect_with(client, addr, host)
        .map_err(|e| Error::Quic(e.to_string()))?;
    let conn = timeout(
        config.connect_timeout + config.handshake_timeout,
        connecting,
    )
    .await
    .map_err(|_| Error::Timeout {
        what: "the QUIC handshake",
        after: config.connect_timeout + config.handshake_timeout,
    })?
    .map_err(|e| Error::Quic(e.to_string()))?;
    Ok((endpoint, conn))
}

async fn auth_response(reader: &mut MsgReader, within: Duration) -> Result<String> {
    let first = timeout(within, reader.recv(MAX_HANDSHAKE_RESPONSE_SIZE))
        .await
        .map_err(|_| Error::Timeout {
            what: "the relay's AuthResponse",
            after: within,
        })?;
    let msg = match first {
        Ok(m) => m,
        Err(RecvError::Closed(Some(info))) => return Err(Error::Refused(info)),
        Err(RecvError::Closed(None)) => return Err(Error::Closed(None)),
        Err(e) => return Err(Error::Protocol(e.to_string())),
    };
    match wire::decode_server(&msg)? {
        ServerMessage::AuthResponse { url } => Ok(url.to_owned()),
        other => Err(Error::Protocol(format!(
            "expected AuthResponse, got {}",
            match other {
                ServerMessage::HelloResponse(_) => "HelloResponse",
                ServerMessage::Transport { .. } => "Transport",
                ServerMessage::Close => "Close",
                ServerMessage::HealthCheck => "HealthCheck",
                ServerMessage::PeersOnline(_) => "PeersOnline",
                ServerMessage::PeersWentOffline(_) => "PeersWentOffline",
                ServerMessage::AuthResponse { .. } => "AuthResponse",
            }
        ))),
    }
}

async fn read_task(
    mut reader: MsgReader,
    writer: Arc<Writer>,
    events: mpsc::Sender<Event>,
    shared: Arc<Shared>,
    idle: Duration,
) {
    let end = loop {
        let next = tokio::select! {
            () = shared.stop.cancelled() => break Error::Closed(None),
            r = timeout(idle, reader.recv(MAX_MESSAGE_SIZE)) => r,
        };
        let msg = match next {
            Err(_) => {
                break Error::Timeout {
                    what: "hearing from the relay",
                    after: idle,
                };
            }
            Ok(Err(RecvError::Closed(info))) => break Error::Closed(info),
            Ok(Err(e)) => break Error::Protocol(e.to_string()),
            Ok(Ok(msg)) => msg,
        };
        let event = match wire::decode_server(&msg) {
            Err(e) => break Error::Wire(e),
            Ok(ServerMessage::HealthCheck) => {
                if let Err(e) = writer.write(&[wire::encode_health_check()]).await {
                    break e;
                }
                continue;
            }
            Ok(ServerMessage::Transport { src, .. }) => Event::Transport {
                from: src,
                payload: msg.slice(wire::TRANSPORT_HEADER_SIZE..),
            },
            Ok(ServerMessage::PeersOnline(list)) => Event::PeersOnline(list.to_vec()),
            Ok(ServerMessage::PeersWentOffline(list)) => Event::PeersWentOffline(list.to_vec()),
            // The relay's Close is followed by the transport close, whose reason we keep.
            Ok(ServerMessage::Close) => {
                debug!("the relay sent Close");
                continue;
            }
            Ok(ServerMessage::AuthResponse { .. } | ServerMessage::HelloResponse(_)) => continue,
        };
        if events.try_send(event).is_err() {
            shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    };
    debug!(reason = %end, "relay connection ended");
    *lock(&shared.end) = Some(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_map_to_transports() {
        match parse_url("rel://127.0.0.1:9000").unwrap() {
            Target::Ws {
                tls, port, path, ..
            } => {
                assert!(!tls);
                assert_eq!(port, 9000);
                assert_eq!(path, "/relay");
            }
            #[cfg(feature = "quic")]
            Target::Quic { .. } => panic!("rel is WebSocket"),
        }
        match parse_url("rels://relay.example.com").unwrap() {
            Target::Ws {
                tls, port, host, ..
            } => {
                assert!(tls);
                assert_eq!(port, 443);
                assert_eq!(host, "relay.example.com");
            }
            #[cfg(feature = "quic")]
            Target::Quic { .. } => panic!("rels is WebSocket"),
        }
        match parse_url("ws://[::1]:80/custom").unwrap() {
            Target::Ws { host, path, .. } => {
                assert_eq!(host, "::1");
                assert_eq!(path, "/custom");
            }
            #[cfg(feature = "quic")]
            Target::Quic { .. } => panic!("ws is WebSocket"),
        }
        assert!(parse_url("http://x").is_err());
        assert!(parse_url("no scheme").is_err());
    }
}
