//! Mutual TLS 1.3 over TCP with rustls: configurations, the dialer and the listener.
//!
//! Both sides present a certificate and verify the other's against a CA they trust; the
//! peer's verified certificate becomes its identity ([`PeerInfo::tls`](crate::PeerInfo)).
//! The crypto provider is aws-lc-rs with the hybrid post-quantum key exchange
//! X25519MLKEM768 first in preference ([`crypto_provider`]); peers that lack it fall back
//! to X25519. TLS 1.3 only, ALPN `zap`, no session resumption and no early data: every
//! connection presents and verifies certificates afresh.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{NamedGroup, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use zap_discovery::Peer;

use super::accept::{HandshakeLimits, Handshakes};
use super::{Dialer, Listener, TransportAddr, Transported, each_addr, tcp};
use crate::identity::{PeerCertificate, TlsInfo};

/// The ALPN protocol id of ZAP over TLS.
pub const ALPN: &[u8] = b"zap";

/// The crypto provider of every TLS and QUIC connection: aws-lc-rs, with X25519MLKEM768
/// (hybrid post-quantum) first among the key exchange groups, then X25519, P-256 and
/// P-384.
///
/// aws-lc-rs is the provider that implements ML-KEM; its build needs a C compiler (and
/// no cmake for the default, non-FIPS build).
pub fn crypto_provider() -> Arc<CryptoProvider> {
    let mut p = rustls::crypto::aws_lc_rs::default_provider();
    // Whatever the crate features say, the hybrid group goes first when it is available.
    p.kx_groups
        .sort_by_key(|g| g.name() != NamedGroup::X25519MLKEM768);
    Arc::new(p)
}

/// What went wrong building a TLS configuration.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: Arc<io::Error>,
    },
    /// PEM that could not be decoded.
    #[error("{what}: {reason}")]
    Pem {
        /// Which input.
        what: String,
        /// Why.
        reason: String,
    },
    /// An input without the certificate, key or CA it should hold.
    #[error("{0}")]
    Missing(String),
    /// rustls refused the configuration (a key that does not match the certificate, for
    /// example).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// The client-certificate verifier could not be built.
    #[error("client certificate verifier: {0}")]
    Verifier(String),
    /// A server name that is neither a DNS name nor an IP address.
    #[error("invalid server name {0:?}")]
    ServerName(String),
    /// The configuration cannot be used for QUIC (it lacks TLS 1.3's AES-128-GCM suite, or
    /// its QUIC settings are unusable).
    #[error("QUIC: {0}")]
    Quic(String),
}

fn read_file(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|e| TlsError::Read {
        path: path.to_path_buf(),
        source: Arc::new(e),
    })
}

/// Every certificate in a PEM document (at least one).
pub(crate) fn certs_from_pem(
    pem: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Pem {
            what: what.to_string(),
            reason: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Missing(format!("no certificate in {what}")));
    }
    Ok(certs)
}

/// The private key in a PEM document (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn key_from_pem(pem: &[u8], what: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            TlsError::Missing(format!("no private key in {what}"))
        }
        e => TlsError::Pem {
            what: what.to_string(),
            reason: e.to_string(),
        },
    })
}

fn roots(cas: Vec<CertificateDer<'static>>) -> Result<Arc<RootCertStore>, TlsError> {
    let mut store = RootCertStore::empty();
    for ca in cas {
        store.add(ca)?;
    }
    Ok(Arc::new(store))
}

/// The verified peer's certificate and session, from a finished handshake.
pub(crate) fn tls_info(
    certs: Option<&[CertificateDer<'static>]>,
    suite: Option<rustls::SupportedCipherSuite>,
    kx: Option<&'static dyn rustls::crypto::SupportedKxGroup>,
) -> io::Result<Arc<TlsInfo>> {
    let leaf = certs
        .and_then(|c| c.first())
        .ok_or_else(|| io::Error::new(io::ErrorKind::PermissionDenied, "no peer certificate"))?;
    let certificate = PeerCertificate::from_der(leaf)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let mut info = TlsInfo::new(certificate);
    info.cipher_suite = suite.map(|s| format!("{:?}", s.suite()));
    info.key_exchange = kx.map(|g| format!("{:?}", g.name()));
    Ok(Arc::new(info))
}

/// A server's mutual-TLS settings: its certificate and key, and the CA whose client
/// certificates it accepts (the "cluster CA").
///
/// ```no_run
/// # fn f() -> Result<(), zap_rpc::transport::TlsError> {
/// use zap_rpc::transport::TlsServerConfig;
/// let tls = TlsServerConfig::from_pem_files("server.pem", "server.key", "ca.pem")?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsServerConfig {
    pub(crate) rustls: Arc<rustls::ServerConfig>,
    pub(crate) limits: HandshakeLimits,
}

impl std::fmt::Debug for TlsServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServerConfig")
            .field("alpn", &self.rustls.alpn_protocols)
            .field("handshake_timeout", &self.limits.timeout)
            .field("max_pending_handshakes", &self.limits.max_pending)
            .finish_non_exhaustive()
    }
}

const DEFAULT_LIMITS: HandshakeLimits = HandshakeLimits {
    timeout: Duration::from_secs(10),
    max_pending: 256,
};

impl TlsServerConfig {
    /// A server presenting `chain` (leaf first) with `key`, requiring every client to
    /// present a certificate issued by one of `client_cas`.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        client_cas: Vec<CertificateDer<'static>>,
    ) -> Result<Self, TlsError> {
        let provider = crypto_provider();
        let verifier =
            WebPkiClientVerifier::builder_with_provider(roots(client_cas)?, provider.clone())
                .build()
                .map_err(|e| TlsError::Verifier(e.to_string()))?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(chain, key)?;
        // No tickets and no session cache: every connection authenticates the client
        // afresh, and no early data can be replayed.
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
        Ok(Self::from_rustls(config))
    }

    /// From PEM: the certificate chain, its private key, and the client CA certificates.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8], ca_pem: &[u8]) -> Result<Self, TlsError> {
        let (chain, key, cas) = material_from_pem(cert_pem, key_pem, ca_pem)?;
        Self::new(chain, key, cas)
    }

    /// From PEM files: the certificate chain, its private key, and the client CA.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        ca: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let (chain, key, cas) = material_from_files(cert.as_ref(), key.as_ref(), ca.as_ref())?;
        Self::new(chain, key, cas)
    }

    /// Any rustls server configuration (a custom client verifier, CRLs): the ALPN list is
    /// set to `zap` and early data turned off; the rest is yours. It must allow TLS 1.3
    /// and should require client certificates ([`LocalTrust`](crate::LocalTrust) refuses
    /// peers on a secure transport that presented none).
    pub fn from_rustls(mut config: rustls::ServerConfig) -> Self {
        config.alpn_protocols = vec![ALPN.to_vec()];
        config.max_early_data_size = 0;
        Self {
            rustls: Arc::new(config),
            limits: DEFAULT_LIMITS,
        }
    }

    /// How long a client has to finish the TLS handshake. Default: 10 s.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
        self
    }

    /// How many handshakes may be in progress at once (the listener accepts no more
    /// connections until one finishes). Default: 256.
    pub fn with_max_pending_handshakes(mut self, n: usize) -> Self {
        self.limits.max_pending = n.max(1);
        self
    }

    /// The rustls configuration.
    pub fn rustls(&self) -> &Arc<rustls::ServerConfig> {
        &self.rustls
    }

    /// The handshake timeout.
    pub fn handshake_timeout(&self) -> Duration {
        self.limits.timeout
    }
}

/// A certificate chain (leaf first), its private key, and the CA certificates trusted for
/// the other side: what both configurations are built from.
type Material = (
    Vec<CertificateDer<'static>>,
    PrivateKeyDer<'static>,
    Vec<CertificateDer<'static>>,
);

/// [`Material`] from PEM bytes.
fn material_from_pem(cert_pem: &[u8], key_pem: &[u8], ca_pem: &[u8]) -> Result<Material, TlsError> {
    Ok((
        certs_from_pem(cert_pem, "the certificate")?,
        key_from_pem(key_pem, "the private key")?,
        certs_from_pem(ca_pem, "the CA")?,
    ))
}

/// [`Material`] from PEM files; errors name the file.
fn material_from_files(cert: &Path, key: &Path, ca: &Path) -> Result<Material, TlsError> {
    Ok((
        certs_from_pem(&read_file(cert)?, &cert.display().to_string())?,
        key_from_pem(&read_file(key)?, &key.display().to_string())?,
        certs_from_pem(&read_file(ca)?, &ca.display().to_string())?,
    ))
}

/// A client's mutual-TLS settings: its certificate and key, and the CA whose server
/// certificates it accepts.
///
/// The server's certificate must name the server: by default the name checked is the
/// peer's node id when discovery reported one (mDNS), else the IP address dialed (the
/// certificate then needs an IP SAN); [`with_server_name`](Self::with_server_name) sets
/// one name for every server.
#[derive(Clone)]
pub struct TlsClientConfig {
    pub(crate) rustls: Arc<rustls::ClientConfig>,
    pub(crate) server_name: Option<ServerName<'static>>,
    pub(crate) handshake_timeout: Duration,
}

impl std::fmt::Debug for TlsClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsClientConfig")
            .field("server_name", &self.server_name)
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsClientConfig {
    /// A client presenting `chain` (leaf first) with `key`, accepting servers whose
    /// certificate was issued by one of `server_cas`.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        server_cas: Vec<CertificateDer<'static>>,
    ) -> Result<Self, TlsError> {
        let mut config = rustls::ClientConfig::builder_with_provider(crypto_provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots(server_cas)?)
            .with_client_auth_cert(chain, key)?;
        config.resumption = rustls::client::Resumption::disabled();
        Ok(Self::from_rustls(config))
    }

    /// From PEM: the certificate chain, its private key, and the server CA certificates.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8], ca_pem: &[u8]) -> Result<Self, TlsError> {
        let (chain, key, cas) = material_from_pem(cert_pem, key_pem, ca_pem)?;
        Self::new(chain, key, cas)
    }

    /// From PEM files: the certificate chain, its private key, and the server CA.
    pub fn from_pem_files(
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        ca: impl AsRef<Path>,
    ) -> Result<Self, TlsError> {
        let (chain, key, cas) = material_from_files(cert.as_ref(), key.as_ref(), ca.as_ref())?;
        Self::new(chain, key, cas)
    }

    /// Any rustls client configuration: the ALPN list is set to `zap` and early data
    /// turned off; the rest is yours. It must allow TLS 1.3.
    pub fn from_rustls(mut config: rustls::ClientConfig) -> Self {
        config.alpn_protocols = vec![ALPN.to_vec()];
        config.enable_early_data = false;
        Self {
            rustls: Arc::new(config),
            server_name: None,
            handshake_timeout: DEFAULT_LIMITS.timeout,
        }
    }

    /// Checks every server's certificate for this name (a DNS name or an IP address)
    /// instead of the peer's node id or address.
    pub fn with_server_name(mut self, name: &str) -> Result<Self, TlsError> {
        let name = ServerName::try_from(name.to_string())
            .map_err(|_| TlsError::ServerName(name.chars().take(64).collect()))?;
        self.server_name = Some(name);
        Ok(self)
    }

    /// How long the TLS handshake may take. Default: 10 s.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The rustls configuration.
    pub fn rustls(&self) -> &Arc<rustls::ClientConfig> {
        &self.rustls
    }

    /// The name a server reached at `addr` must have in its certificate.
    pub(crate) fn server_name_for(&self, peer: &Peer, addr: SocketAddr) -> ServerName<'static> {
        if let Some(n) = &self.server_name {
            return n.clone();
        }
        if let Some(name) = peer
            .node_id()
            .and_then(|id| ServerName::try_from(id.to_string()).ok())
        {
            return name;
        }
        ServerName::IpAddress(addr.ip().into())
    }
}

fn handshake_error(addr: SocketAddr, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("TLS handshake with {addr}: {e}"))
}

/// Dials mutual TLS over TCP.
#[derive(Clone)]
pub struct TlsDialer {
    config: TlsClientConfig,
    connector: TlsConnector,
    connect_timeout: Duration,
}

impl std::fmt::Debug for TlsDialer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsDialer")
            .field("config", &self.config)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsDialer {
    /// A dialer with these settings and Go's 5 s TCP connect timeout.
    pub fn new(config: TlsClientConfig) -> Self {
        Self {
            connector: TlsConnector::from(config.rustls.clone()),
            config,
            connect_timeout: tcp::TcpDialer::DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Gives up on each address's TCP connect after `timeout`.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Connects to `addr` and runs the TLS handshake, checking the server's name as the
    /// configuration says for `peer`.
    pub(crate) async fn dial_addr(&self, peer: &Peer, addr: SocketAddr) -> io::Result<Transported> {
        let stream = tcp::connect(addr, self.connect_timeout).await?;
        let name = self.config.server_name_for(peer, addr);
        let timeout = self.config.handshake_timeout;
        let tls = match tokio::time::timeout(timeout, self.connector.connect(name, stream)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return Err(handshake_error(addr, e)),
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("TLS handshake with {addr} timed out after {timeout:?}"),
                ));
            }
        };
        let conn = tls.get_ref().1;
        let info = tls_info(
            conn.peer_certificates(),
            conn.negotiated_cipher_suite(),
            conn.negotiated_key_exchange_group(),
        )?;
        Ok(Transported::from_io(tls, TransportAddr::Tls(addr)).with_tls(info))
    }
}

impl Dialer for TlsDialer {
    fn dial<'a>(&'a self, peer: &'a Peer) -> BoxFuture<'a, io::Result<Transported>> {
        Box::pin(each_addr(peer, move |a| self.dial_addr(peer, a)))
    }
}

/// A mutual-TLS listener: accepts TCP connections and runs their TLS handshakes in the
/// background (at most 256 at once, 10 s each, by default), handing out only connections
/// whose client presented a certificate from the trusted CA.
#[derive(Debug)]
pub struct TlsListener {
    handshakes: Handshakes,
    local: TransportAddr,
}

impl TlsListener {
    /// Binds `addr` (port 0 picks a free port).
    pub async fn bind(addr: SocketAddr, config: &TlsServerConfig) -> io::Result<Self> {
        Self::from_tokio(tokio::net::TcpListener::bind(addr).await?, config)
    }

    /// Serves TLS on a bound tokio listener. Must be called within a tokio runtime.
    pub fn from_tokio(
        listener: tokio::net::TcpListener,
        config: &TlsServerConfig,
    ) -> io::Result<Self> {
        let local = TransportAddr::Tls(listener.local_addr()?);
        let acceptor = TlsAcceptor::from(config.rustls.clone());
        let listener = Arc::new(listener);
        let handshakes = Handshakes::spawn(
            "tls",
            move || {
                let listener = listener.clone();
                async move { Some(listener.accept().await) }
            },
            move |(stream, addr): (tokio::net::TcpStream, SocketAddr)| {
                let acceptor = acceptor.clone();
                async move {
                    stream.set_nodelay(true)?;
                    let tls = acceptor
                        .accept(stream)
                        .await
                        .map_err(|e| handshake_error(addr, e))?;
                    let conn = tls.get_ref().1;
                    let info = tls_info(
                        conn.peer_certificates(),
                        conn.negotiated_cipher_suite(),
                        conn.negotiated_key_exchange_group(),
                    )?;
                    Ok(Transported::from_io(tls, TransportAddr::Tls(addr)).with_tls(info))
                }
            },
            config.limits,
        );
        Ok(Self { handshakes, local })
    }
}

impl Listener for TlsListener {
    fn accept(&mut self) -> BoxFuture<'_, io::Result<Transported>> {
        Box::pin(self.handshakes.next())
    }

    fn local_addr(&self) -> TransportAddr {
        self.local.clone()
    }
}
