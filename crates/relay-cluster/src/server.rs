//! The relay server: the [`Relay`] core behind a WebSocket listener at `/relay` and, when
//! TLS is configured, a QUIC listener on the same port.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::auth::Validator;
use crate::cluster::CrossPodForwarder;
use crate::config::RelayConfig;
use crate::error::{Error, Result};
use crate::listener::{Accepting, ws_accept_loop};
use crate::peer::lock;
use crate::relay::Relay;
use crate::store::Store;

#[cfg(feature = "quic")]
/// Times an ephemeral port is retried when TCP got a port that UDP cannot have.
const SAME_PORT_ATTEMPTS: usize = 16;

/// Everything a [`Server`] needs. Build with [`ServerConfig::new`], then adjust fields.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// Address for the WebSocket (TCP) and QUIC (UDP) listeners. Port 0 picks a free port
    /// that both can use.
    pub listen: SocketAddr,
    /// The public address of this relay; the instance URL sent to peers. Without a scheme,
    /// `rels://` (with TLS) or `rel://` (without) is added.
    pub exposed_address: String,
    /// Decides who may attach.
    pub validator: Arc<dyn Validator>,
    /// TLS for WebSocket (`wss`) and for QUIC. The server sets the ALPN itself.
    #[cfg(feature = "tls")]
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Serve QUIC when TLS is configured (default true).
    #[cfg(feature = "quic")]
    pub quic: bool,
    /// Timeouts and limits of the relay core.
    pub relay: RelayConfig,
    /// TLS, WebSocket or QUIC handshakes in progress at once; more are dropped.
    pub max_pending_handshakes: usize,
    /// How long [`Server::shutdown`] waits for peers to be closed gracefully.
    pub shutdown_timeout: Duration,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("ServerConfig");
        d.field("listen", &self.listen)
            .field("exposed_address", &self.exposed_address);
        #[cfg(feature = "tls")]
        d.field("tls", &self.tls.is_some());
        #[cfg(feature = "quic")]
        d.field("quic", &self.quic);
        d.field("relay", &self.relay)
            .field("max_pending_handshakes", &self.max_pending_handshakes)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .finish_non_exhaustive()
    }
}

impl ServerConfig {
    /// A plain (no TLS) configuration with default timeouts.
    pub fn new(
        listen: SocketAddr,
        exposed_address: impl Into<String>,
        validator: impl Validator,
    ) -> Self {
        Self {
            listen,
            exposed_address: exposed_address.into(),
            validator: Arc::new(validator),
            #[cfg(feature = "tls")]
            tls: None,
            #[cfg(feature = "quic")]
            quic: true,
            relay: RelayConfig::default(),
            max_pending_handshakes: 1024,
            shutdown_timeout: Duration::from_secs(30),
        }
    }

    /// Serves over TLS (and QUIC, unless turned off).
    #[cfg(feature = "tls")]
    pub fn with_tls(mut self, tls: rustls::ServerConfig) -> Self {
        self.tls = Some(Arc::new(tls));
        self
    }

    /// Replaces the relay timeouts and limits.
    pub fn with_relay_config(mut self, relay: RelayConfig) -> Self {
        self.relay = relay;
        self
    }

    fn tls_on(&self) -> bool {
        #[cfg(feature = "tls")]
        return self.tls.is_some();
        #[cfg(not(feature = "tls"))]
        false
    }
}

/// The instance URL for an exposed address: kept when it has a `rel://` or `rels://`
/// scheme, otherwise prefixed with `rels://` (TLS) or `rel://`.
pub fn instance_url(exposed_address: &str, tls: bool) -> Result<String> {
    let bad = |why| Error::InvalidUrl {
        url: exposed_address.to_owned(),
        why,
    };
    if exposed_address.is_empty() {
        return Err(bad("the exposed address is empty"));
    }
    if exposed_address.starts_with("rel://") || exposed_address.starts_with("rels://") {
        return Ok(exposed_address.to_owned());
    }
    if exposed_address.contains("://") {
        return Err(bad("the scheme must be rel:// or rels://"));
    }
    let scheme = if tls { "rels" } else { "rel" };
    Ok(format!("{scheme}://{exposed_address}"))
}

/// Where a listening server accepts connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenAddrs {
    /// The WebSocket (TCP) address.
    pub websocket: SocketAddr,
    /// The QUIC (UDP) address, when QUIC is served.
    pub quic: Option<SocketAddr>,
}

struct Listening {
    addrs: ListenAddrs,
    #[cfg(feature = "quic")]
    endpoint: Option<quinn::Endpoint>,
}

/// A relay server.
///
/// ```
/// # async fn run() -> relay_cluster::Result<()> {
/// use relay_cluster::{HmacValidator, Server, ServerConfig};
///
/// let config = ServerConfig::new(
///     "127.0.0.1:0".parse().unwrap(),
///     "relay.example.com:443",
///     HmacValidator::new("secret"),
/// );
/// let server = Server::new(config)?;
/// let addrs = server.listen().await?;
/// println!("ws://{}/relay serving {}", addrs.websocket, server.instance_url());
/// server.shutdown().await;
/// # Ok(()) }
/// ```
pub struct Server {
    relay: Relay,
    config: ServerConfig,
    stop: CancellationToken,
    tasks: TaskTracker,
    listening: Mutex<Option<Listening>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("instance_url", &self.relay.instance_url())
            .field("addrs", &self.local_addrs())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Checks the configuration and builds the relay; nothing listens yet.
    pub fn new(config: ServerConfig) -> Result<Self> {
        let url = instance_url(&config.exposed_address, config.tls_on())?;
        if config.max_pending_handshakes == 0 {
            return Err(Error::Config(
                "max_pending_handshakes must be at least 1".into(),
            ));
        }
        let relay = Relay::new(url, config.validator.clone(), config.relay.clone())?;
        Ok(Self {
            relay,
            config,
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
            listening: Mutex::new(None),
        })
    }

    /// The URL peers are told in the AuthResponse.
    pub fn instance_url(&self) -> &str {
        self.relay.instance_url()
    }

    /// The attached peers.
    pub fn store(&self) -> &Store {
        self.relay.store()
    }

    /// The relay core (for mounting extra listeners or announcing remote presence).
    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// Routes messages for peers on other pods through `forwarder`.
    pub fn set_cross_pod_forwarder(&self, forwarder: Arc<dyn CrossPodForwarder>) {
        self.relay.set_cross_pod_forwarder(forwarder);
    }

    /// Where the server listens, once [`Server::listen`] has returned.
    pub fn local_addrs(&self) -> Option<ListenAddrs> {
        lock(&self.listening).as_ref().map(|l| l.addrs)
    }

    /// Binds the listeners and starts accepting in the background. Returns the bound
    /// addresses (useful with port 0).
    pub async fn listen(&self) -> Result<ListenAddrs> {
        if lock(&self.listening).is_some() {
            return Err(Error::AlreadyListening);
        }
        let ctx = Accepting {
            relay: self.relay.clone(),
            stop: self.stop.clone(),
            tasks: self.tasks.clone(),
            handshakes: Arc::new(Semaphore::new(self.config.max_pending_handshakes)),
            #[cfg(feature = "tls")]
            tls: self.config.tls.as_ref().map(|tls| {
                let mut tls = (**tls).clone();
                tls.alpn_protocols = vec![b"http/1.1".to_vec()];
                tokio_rustls::TlsAcceptor::from(Arc::new(tls))
            }),
        };

        #[cfg(feature = "quic")]
        let (tcp, endpoint) = match (&self.config.tls, self.config.quic) {
            (Some(tls), true) => {
                let (tcp, ep) = self.bind_both(tls).await?;
                (tcp, Some(ep))
            }
            _ => (TcpListener::bind(self.config.listen).await?, None),
        };
        #[cfg(not(feature = "quic"))]
        let tcp = TcpListener::bind(self.config.listen).await?;

        let addrs = ListenAddrs {
            websocket: tcp.local_addr()?,
            #[cfg(feature = "quic")]
            quic: endpoint.as_ref().map(|e| e.local_addr()).transpose()?,
            #[cfg(not(feature = "quic"))]
            quic: None,
        };
        {
            let mut slot = lock(&self.listening);
            if slot.is_some() {
                return Err(Error::AlreadyListening);
            }
            *slot = Some(Listening {
                addrs,
                #[cfg(feature = "quic")]
                endpoint: endpoint.clone(),
            });
        }
        if !self.config.tls_on() {
            info!("no TLS configured: serving WebSocket only, without QUIC");
        }
        self.tasks.spawn(ws_accept_loop(tcp, ctx.clone()));
        #[cfg(feature = "quic")]
        if let Some(ep) = endpoint {
            self.tasks.spawn(crate::listener::quic_accept_loop(ep, ctx));
        }
        info!(ws = %addrs.websocket, quic = ?addrs.quic, url = %self.instance_url(), "relay listening");
        Ok(addrs)
    }

    /// Binds TCP and UDP on the same port; with port 0, retries until a free port works
    /// for both.
    #[cfg(feature = "quic")]
    async fn bind_both(
        &self,
        tls: &rustls::ServerConfig,
    ) -> Result<(TcpListener, quinn::Endpoint)> {
        let idle = self.config.relay.read_timeout;
        let wanted = self.config.listen;
        let mut last = None;
        for _ in 0..SAME_PORT_ATTEMPTS {
            let tcp = TcpListener::bind(wanted).await?;
            let port = tcp.local_addr()?.port();
            match crate::listener::quic_endpoint(tls, SocketAddr::new(wanted.ip(), port), idle) {
                Ok(ep) => return Ok((tcp, ep)),
                Err(Error::Io(e)) if wanted.port() == 0 => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(Error::Io(last.unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                "no port free for both TCP and UDP",
            )
        })))
    }

    /// Stops accepting, closes every peer gracefully (Close message, then the transport
    /// close, each bounded by the close timeout) and waits for the server's tasks, at most
    /// [`ServerConfig::shutdown_timeout`]. Calling it again does nothing more.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        let clean = self.relay.shutdown(self.config.shutdown_timeout).await;
        if !clean {
            warn!("some peers were still closing when the shutdown timeout passed");
        }
        #[cfg(feature = "quic")]
        {
            let endpoint = lock(&self.listening)
                .as_ref()
                .and_then(|l| l.endpoint.clone());
            if let Some(ep) = endpoint {
                ep.close(quinn::VarInt::from_u32(0), b"relay shutting down");
                let _ = tokio::time::timeout(self.config.relay.close_timeout, ep.wait_idle()).await;
            }
        }
        self.tasks.close();
        let _ = tokio::time::timeout(self.config.relay.close_timeout, self.tasks.wait()).await;
        info!("relay stopped");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A dropped server stops accepting and closes its peers rather than leaking tasks.
        self.stop.cancel();
        if !self.relay.is_shutting_down() {
            self.relay
                .store()
                .close_all(&crate::peer::Disconnect::Shutdown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_urls_follow_upstream() {
        assert_eq!(
            instance_url("relay.example.com:443", true).unwrap(),
            "rels://relay.example.com:443"
        );
        assert_eq!(
            instance_url("relay.example.com:80", false).unwrap(),
            "rel://relay.example.com:80"
        );
        assert_eq!(instance_url("rel://x:1", true).unwrap(), "rel://x:1");
        assert!(instance_url("https://x:1", true).is_err());
        assert!(instance_url("", true).is_err());
    }
}
