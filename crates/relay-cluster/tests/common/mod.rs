//! Shared set-up for the integration tests: a relay on 127.0.0.1 with short timeouts,
//! clients, rcgen certificates and a raw WebSocket client for sending bad frames.
#![allow(dead_code, unreachable_pub)]

mod events;
pub use events::*;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use relay_cluster::{
    Client, ClientConfig, HealthCheckConfig, HmacValidator, PeerId, RelayConfig, Server,
    ServerConfig, wire,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const SECRET: &str = "test-secret";

pub fn auth() -> HmacValidator {
    HmacValidator::new(SECRET)
}

pub fn token() -> Vec<u8> {
    auth().issue(Duration::from_secs(300))
}

/// Relay timeouts short enough for tests: health checks every 100 ms.
pub fn fast_config() -> RelayConfig {
    let mut c = RelayConfig::default();
    c.handshake_timeout = Duration::from_secs(2);
    c.health_check = HealthCheckConfig::new(Duration::from_millis(100), Duration::from_millis(200));
    c.read_timeout = Duration::from_secs(5);
    c.close_timeout = Duration::from_secs(1);
    c.write_timeout = Duration::from_secs(2);
    c
}

pub async fn plain_server() -> (Server, String) {
    plain_server_with(fast_config()).await
}

pub async fn plain_server_with(relay: RelayConfig) -> (Server, String) {
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "127.0.0.1:1", auth());
    cfg.relay = relay;
    cfg.shutdown_timeout = Duration::from_secs(3);
    let server = Server::new(cfg).expect("valid config");
    let addrs = server.listen().await.expect("listen");
    (server, format!("rel://{}", addrs.websocket))
}

#[cfg(feature = "tls")]
pub struct Tls {
    pub server: rustls::ServerConfig,
    pub client: rustls::ClientConfig,
}

#[cfg(feature = "tls")]
pub fn tls() -> Tls {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("rcgen");
    let cert = ck.cert.pem();
    let key = ck.signing_key.serialize_pem();
    Tls {
        server: relay_cluster::tls::server_config_from_pem(cert.as_bytes(), key.as_bytes())
            .unwrap(),
        client: relay_cluster::tls::client_config_with_roots(cert.as_bytes()).unwrap(),
    }
}

/// A TLS server serving WebSocket and QUIC on one port; returns (server, port, client TLS).
#[cfg(feature = "quic")]
pub async fn tls_server() -> (Server, u16, rustls::ClientConfig) {
    let t = tls();
    let mut cfg = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "relay.test:443", auth())
        .with_tls(t.server);
    cfg.relay = fast_config();
    cfg.shutdown_timeout = Duration::from_secs(3);
    let server = Server::new(cfg).unwrap();
    let addrs = server.listen().await.unwrap();
    let quic = addrs.quic.expect("QUIC listens when TLS is set");
    assert_eq!(quic.port(), addrs.websocket.port());
    (server, addrs.websocket.port(), t.client)
}

pub async fn connect(url: &str, name: &str) -> Client {
    Client::connect(ClientConfig::new(url, PeerId::from_identity(name), token()))
        .await
        .unwrap_or_else(|e| panic!("{name} cannot connect to {url}: {e}"))
}

#[cfg(feature = "tls")]
pub async fn connect_tls(url: &str, name: &str, tls: &rustls::ClientConfig) -> Client {
    Client::connect(
        ClientConfig::new(url, PeerId::from_identity(name), token()).with_tls(tls.clone()),
    )
    .await
    .unwrap_or_else(|e| panic!("{name} cannot connect to {url}: {e}"))
}

/// A WebSocket client written by hand, so tests can put any bytes on the wire.
pub struct RawWs {
    pub tcp: TcpStream,
}

impl RawWs {
    /// Upgrades at `path` and returns the HTTP status line's code.
    pub async fn open(addr: SocketAddr, path: &str) -> (Self, u16) {
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = tokio::time::timeout(WAIT, tcp.read(&mut byte))
                .await
                .unwrap()
                .unwrap();
            if n == 0 {
                break;
            }
            head.push(byte[0]);
        }
        let text = String::from_utf8_lossy(&head);
        let code = text
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        (Self { tcp }, code)
    }

    /// Writes one masked frame with this first byte (FIN and opcode) and payload.
    pub async fn frame(&mut self, first: u8, payload: &[u8]) {
        let mask = [0x11, 0x22, 0x33, 0x44];
        let mut f = vec![first];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        // The server may close mid-write when it refuses the frame early.
        let _ = self.tcp.write_all(&f).await;
    }

    pub async fn binary(&mut self, payload: &[u8]) {
        self.frame(0x82, payload).await;
    }

    /// Reads one server frame: (opcode, payload); None at end of stream.
    pub async fn read_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        let mut h = [0u8; 2];
        self.tcp.read_exact(&mut h).await.ok()?;
        let len = match h[1] & 0x7F {
            126 => {
                let mut b = [0u8; 2];
                self.tcp.read_exact(&mut b).await.ok()?;
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0u8; 8];
                self.tcp.read_exact(&mut b).await.ok()?;
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut p = vec![0u8; len];
        self.tcp.read_exact(&mut p).await.ok()?;
        Some((h[0] & 0x0F, p))
    }

    /// Authenticates as `name` and returns the AuthResponse payload.
    pub async fn auth(&mut self, name: &str) -> Vec<u8> {
        let msg = wire::encode_auth(&PeerId::from_identity(name), &token()).unwrap();
        self.binary(&msg).await;
        let (op, payload) = tokio::time::timeout(WAIT, self.read_frame())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(op, 2, "AuthResponse is a binary frame");
        payload
    }

    /// Reads until the server's close frame or the end of the stream, ignoring relay
    /// messages; returns the close code and reason when a close frame came.
    pub async fn until_closed(&mut self) -> Option<(u16, String)> {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.read_frame().await {
                    None => return None,
                    Some((8, p)) if p.len() >= 2 => {
                        return Some((
                            u16::from_be_bytes([p[0], p[1]]),
                            String::from_utf8_lossy(&p[2..]).into_owned(),
                        ));
                    }
                    Some((8, _)) => return Some((1005, String::new())),
                    Some(_) => {}
                }
            }
        })
        .await
        .expect("the server closes the connection within the wait")
    }
}

/// A trivial in-process "fabric" between two relays, standing in for part 2: messages for
/// peers on the other relay are handed to its store, lookups ask its store.
pub struct Bridge {
    pub other: relay_cluster::Store,
    pub forwarded: std::sync::Mutex<Vec<(PeerId, Vec<u8>)>>,
}

impl relay_cluster::CrossPodForwarder for Bridge {
    fn forward(&self, dst: &PeerId, msg: bytes::Bytes) -> Result<(), relay_cluster::ForwardError> {
        use relay_cluster::LocalPeerDispatcher;
        self.forwarded.lock().unwrap().push((*dst, msg.to_vec()));
        if !self.other.has_peer(dst) {
            return Err(relay_cluster::ForwardError::PeerNotFound);
        }
        self.other
            .dispatch_to_local(dst, msg)
            .map_err(|e| relay_cluster::ForwardError::Unavailable(e.to_string()))
    }

    fn locate<'a>(&'a self, peer: &'a PeerId) -> relay_cluster::LocateFuture<'a> {
        Box::pin(async move { self.other.contains(peer).then(|| "other-pod".to_owned()) })
    }
}

pub fn bridge(other: &Server) -> Arc<Bridge> {
    Arc::new(Bridge {
        other: other.store().clone(),
        forwarded: std::sync::Mutex::new(Vec::new()),
    })
}
