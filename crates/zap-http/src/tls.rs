//! rustls on ZAP-HTTP connections (feature `tls`). The Go original has no TLS at all.
//!
//! Clients use [`TlsConnector`] over any other connector; servers call
//! [`server::Builder::tls`](crate::server::Builder::tls). With a client certificate in the
//! client configuration and a server that requires one, both sides are authenticated,
//! which is what [`NoAuth`](crate::discovery::NoAuth) local trust needs.
//!
//! The TLS server name is the endpoint's TLS name ([`Endpoint::with_tls_name`], the
//! node id for discovered peers), else its host name, else its IP address.

use std::io;
use std::sync::Arc;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;

use crate::client::{BoxFuture, Connect, Endpoint, TcpConnector};
use crate::conn::BoxIo;

/// Runs a rustls client handshake over the streams of another connector.
///
/// ```
/// use std::sync::Arc;
/// use rustls_pki_types::CertificateDer;
/// use zap_http::{Client, tls::TlsConnector};
///
/// fn tls_client(ca: CertificateDer<'static>) -> Result<Client, Box<dyn std::error::Error>> {
///     let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
///     let mut roots = rustls::RootCertStore::empty();
///     roots.add(ca)?;
///     let config = rustls::ClientConfig::builder_with_provider(provider)
///         .with_safe_default_protocol_versions()?
///         .with_root_certificates(roots)
///         .with_no_client_auth();
///     Ok(Client::builder().connector(TlsConnector::new(Arc::new(config))).build())
/// }
/// ```
#[derive(Clone)]
pub struct TlsConnector {
    inner: Arc<dyn Connect>,
    tls: tokio_rustls::TlsConnector,
    mutual: bool,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("mutual", &self.mutual)
            .finish_non_exhaustive()
    }
}

impl TlsConnector {
    /// TLS over plain TCP with `config`.
    pub fn new(config: Arc<ClientConfig>) -> Self {
        Self::over(TcpConnector::new(), config)
    }

    /// TLS over the streams `inner` opens.
    pub fn over(inner: impl Connect, config: Arc<ClientConfig>) -> Self {
        let mutual = config.client_auth_cert_resolver.has_certs();
        Self {
            inner: Arc::new(inner),
            tls: tokio_rustls::TlsConnector::from(config),
            mutual,
        }
    }

    fn server_name(endpoint: &Endpoint) -> io::Result<ServerName<'static>> {
        let name = match (endpoint.tls_name(), endpoint.addr()) {
            (Some(name), _) => ServerName::try_from(name.to_string()),
            (None, Some(addr)) => return Ok(ServerName::IpAddress(addr.ip().into())),
            (None, None) => ServerName::try_from("localhost".to_string()),
        };
        name.map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))
    }
}

impl Connect for TlsConnector {
    fn connect<'a>(&'a self, endpoint: &'a Endpoint) -> BoxFuture<'a, io::Result<BoxIo>> {
        Box::pin(async move {
            let name = Self::server_name(endpoint)?;
            let io = self.inner.connect(endpoint).await?;
            let tls = self.tls.connect(name, io).await?;
            Ok(Box::new(tls) as BoxIo)
        })
    }

    /// True when the configuration carries a client certificate: the server learns who
    /// we are, and rustls checks who it is against the configured roots. The server must
    /// also require client certificates for the session to be mutual.
    fn is_mutual_tls(&self) -> bool {
        self.mutual
    }
}
