//! Where a client connects: a socket address, a host name and port, or a Unix socket.

use std::fmt;
use std::net::SocketAddr;
#[cfg(unix)]
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use crate::error::Error;

/// The port ZAP-HTTP servers listen on when a URI names none (Go's `DefaultPort`).
pub const DEFAULT_PORT: u16 = 9999;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Target {
    Addr(SocketAddr),
    Host(Arc<str>, u16),
    #[cfg(unix)]
    Unix(Arc<Path>),
}

/// A place to connect to, and the key of the client's connection pool.
///
/// A request goes to the `Endpoint` in its extensions if it has one (the discovery
/// dialer puts one there), otherwise to the authority of its URI. Either way the `Host`
/// field sent is the URI's authority when there is one, so a logical service name still
/// reaches a multi-tenant callee.
///
/// ```
/// use zap_http::Endpoint;
///
/// let ep: Endpoint = "127.0.0.1:9999".parse()?;
/// assert_eq!(ep.addr(), Some(([127, 0, 0, 1], 9999).into()));
/// let named = Endpoint::host("billing.svc", 9653).with_tls_name("billing.internal");
/// assert_eq!(named.tls_name(), Some("billing.internal"));
/// # Ok::<(), zap_http::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    target: Target,
    tls_name: Option<Arc<str>>,
}

impl Endpoint {
    /// A TCP endpoint at a socket address.
    pub fn tcp(addr: SocketAddr) -> Self {
        Self {
            target: Target::Addr(addr),
            tls_name: None,
        }
    }

    /// A TCP endpoint by host name (resolved when connecting) and port.
    pub fn host(host: impl Into<String>, port: u16) -> Self {
        let host: String = host.into();
        match host.trim_start_matches('[').trim_end_matches(']').parse() {
            Ok(ip) => Self::tcp(SocketAddr::new(ip, port)),
            Err(_) => Self {
                target: Target::Host(host.into(), port),
                tls_name: None,
            },
        }
    }

    /// A Unix-domain socket.
    #[cfg(unix)]
    pub fn unix(path: impl Into<PathBuf>) -> Self {
        Self {
            target: Target::Unix(Arc::from(path.into())),
            tls_name: None,
        }
    }

    /// The endpoint of a URI's authority (port 9999 when it names none); `None` without
    /// an authority.
    pub fn from_uri(uri: &http::Uri) -> Option<Self> {
        let authority = uri.authority()?;
        // `ip:port` (the usual case) parses whole, without splitting the authority first.
        if let Ok(addr) = authority.as_str().parse::<SocketAddr>() {
            return Some(Self::tcp(addr));
        }
        let (host, port) = (
            authority.host(),
            authority.port_u16().unwrap_or(DEFAULT_PORT),
        );
        // An address (the usual case) needs no owned copy of the host text.
        Some(
            match host.trim_start_matches('[').trim_end_matches(']').parse() {
                Ok(ip) => Self::tcp(SocketAddr::new(ip, port)),
                Err(_) => Self::host(host, port),
            },
        )
    }

    /// Uses `name` as the TLS server name (and the name the peer's certificate must carry).
    pub fn with_tls_name(mut self, name: impl Into<String>) -> Self {
        self.tls_name = Some(Arc::from(name.into()));
        self
    }

    /// The TLS server name: the one set with [`with_tls_name`](Self::with_tls_name), else
    /// the host name; `None` for a bare address (TLS then checks the IP address).
    pub fn tls_name(&self) -> Option<&str> {
        match (&self.tls_name, &self.target) {
            (Some(name), _) => Some(name),
            (None, Target::Host(host, _)) => Some(host),
            _ => None,
        }
    }

    /// The socket address, for an endpoint given as one.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self.target {
            Target::Addr(a) => Some(a),
            _ => None,
        }
    }

    /// Host name and port, for an endpoint given by name.
    pub fn host_port(&self) -> Option<(&str, u16)> {
        match &self.target {
            Target::Host(h, p) => Some((h, *p)),
            _ => None,
        }
    }

    /// The socket path, for a Unix-domain endpoint.
    #[cfg(unix)]
    pub fn unix_path(&self) -> Option<&Path> {
        match &self.target {
            Target::Unix(p) => Some(p),
            _ => None,
        }
    }

    /// What to send as `Host` when the request's URI has no authority.
    pub(crate) fn authority(&self) -> String {
        match &self.target {
            Target::Addr(a) => a.to_string(),
            Target::Host(h, p) => format!("{h}:{p}"),
            #[cfg(unix)]
            Target::Unix(_) => "localhost".to_string(),
        }
    }
}

/// `ip:port`, `[v6]:port`, `host:port`, or `unix:/path` (Unix only).
impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        #[cfg(unix)]
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err(Error::Config("`unix:` needs a socket path".into()));
            }
            return Ok(Self::unix(path));
        }
        if let Ok(addr) = s.parse::<SocketAddr>() {
            return Ok(Self::tcp(addr));
        }
        let bad = || {
            Error::Config(format!(
                "endpoint {s:?} is not host:port, ip:port or unix:/path"
            ))
        };
        let (host, port) = s.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().map_err(|_| bad())?;
        if host.is_empty() || host.contains(['/', ' ', '@']) {
            return Err(bad());
        }
        Ok(Self::host(host, port))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Addr(a) => write!(f, "{a}"),
            Target::Host(h, p) => write!(f, "{h}:{p}"),
            #[cfg(unix)]
            Target::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        let v6: Endpoint = "[::1]:80".parse().unwrap();
        assert_eq!(v6.addr(), Some("[::1]:80".parse().unwrap()));
        let named: Endpoint = "localhost:9".parse().unwrap();
        assert_eq!(named.host_port(), Some(("localhost", 9)));
        assert_eq!(named.tls_name(), Some("localhost"));
        #[cfg(unix)]
        assert_eq!(
            "unix:/tmp/x.sock"
                .parse::<Endpoint>()
                .unwrap()
                .unix_path()
                .unwrap(),
            Path::new("/tmp/x.sock")
        );
        for bad in ["", "host", "host:port", ":80", "a b:1", "unix:"] {
            assert!(bad.parse::<Endpoint>().is_err(), "{bad}");
        }
    }

    #[test]
    fn uri_authority_gives_the_endpoint_and_default_port() {
        let uri: http::Uri = "http://127.0.0.1/x".parse().unwrap();
        assert_eq!(
            Endpoint::from_uri(&uri).unwrap().addr().unwrap().port(),
            DEFAULT_PORT
        );
        let uri: http::Uri = "/x".parse().unwrap();
        assert!(Endpoint::from_uri(&uri).is_none());
        let uri: http::Uri = "http://[::1]:81/".parse().unwrap();
        assert_eq!(
            Endpoint::from_uri(&uri).unwrap().addr(),
            Some("[::1]:81".parse().unwrap())
        );
    }
}
