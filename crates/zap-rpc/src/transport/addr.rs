//! Transport addresses and their text form: `zap://`, `zaps://`, `zapq://`, `unix:/path`.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The longest address text [`TransportAddr::from_str`] looks at; longer input is refused
/// before any parsing (a path or an address never needs more).
pub const MAX_ADDR_TEXT: usize = 4096;

/// Which transport an address names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// Plain TCP: `zap://`, or an address without a scheme. Go nodes speak only this.
    Tcp,
    /// Mutual TLS 1.3 over TCP: `zaps://` (feature `tls`).
    Tls,
    /// QUIC, one stream per call: `zapq://` (feature `quic`).
    Quic,
    /// A Unix domain stream socket: `unix:/path` (Unix only).
    Unix,
}

impl Scheme {
    /// The scheme as written in addresses: `zap`, `zaps`, `zapq` or `unix`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Tcp => "zap",
            Scheme::Tls => "zaps",
            Scheme::Quic => "zapq",
            Scheme::Unix => "unix",
        }
    }

    /// True for the transports that authenticate the peer with a certificate.
    pub fn is_secure(self) -> bool {
        matches!(self, Scheme::Tls | Scheme::Quic)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a connection's far end is, and over which transport.
///
/// The text form names the transport with a scheme:
///
/// | text | transport |
/// |---|---|
/// | `127.0.0.1:9999`, `zap://127.0.0.1:9999` | TCP (Go's wire when the peer is a Go node) |
/// | `zaps://127.0.0.1:9999` | mutual TLS over TCP |
/// | `zapq://[::1]:9999` | QUIC |
/// | `unix:/run/zap.sock`, `unix:///run/zap.sock` | a Unix domain socket |
///
/// Addresses hold IP addresses, not host names; [`TransportAddr::resolve`] looks names up.
///
/// ```
/// use zap_rpc::transport::{Scheme, TransportAddr};
///
/// let a: TransportAddr = "zaps://127.0.0.1:9443".parse().unwrap();
/// assert_eq!(a.scheme(), Scheme::Tls);
/// assert_eq!(a.to_string(), "zaps://127.0.0.1:9443");
/// let plain: TransportAddr = "127.0.0.1:9999".parse().unwrap();
/// assert_eq!(plain.scheme(), Scheme::Tcp);
/// let local: TransportAddr = "unix:/tmp/zap.sock".parse().unwrap();
/// assert_eq!(local.socket_addr(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportAddr {
    /// A TCP socket address.
    Tcp(SocketAddr),
    /// A mutual-TLS-over-TCP socket address.
    Tls(SocketAddr),
    /// A QUIC (UDP) socket address.
    Quic(SocketAddr),
    /// A Unix domain socket path. For connections a server accepted, the path of the
    /// socket they came through (the dialing side is usually unnamed).
    Unix(PathBuf),
}

impl TransportAddr {
    /// The socket address of IP transports (`None` for Unix sockets).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            TransportAddr::Tcp(a) | TransportAddr::Tls(a) | TransportAddr::Quic(a) => Some(*a),
            TransportAddr::Unix(_) => None,
        }
    }

    /// The Unix socket path, for Unix sockets.
    pub fn unix_path(&self) -> Option<&Path> {
        match self {
            TransportAddr::Unix(p) => Some(p),
            _ => None,
        }
    }

    /// The transport.
    pub fn scheme(&self) -> Scheme {
        match self {
            TransportAddr::Tcp(_) => Scheme::Tcp,
            TransportAddr::Tls(_) => Scheme::Tls,
            TransportAddr::Quic(_) => Scheme::Quic,
            TransportAddr::Unix(_) => Scheme::Unix,
        }
    }

    /// A short name of the transport: `tcp`, `tls`, `quic` or `unix`.
    pub fn transport(&self) -> &'static str {
        match self {
            TransportAddr::Tcp(_) => "tcp",
            TransportAddr::Tls(_) => "tls",
            TransportAddr::Quic(_) => "quic",
            TransportAddr::Unix(_) => "unix",
        }
    }

    /// The address of `scheme` at `addr` (`None` for [`Scheme::Unix`], which has no socket
    /// address).
    pub fn with_scheme(scheme: Scheme, addr: SocketAddr) -> Option<Self> {
        match scheme {
            Scheme::Tcp => Some(TransportAddr::Tcp(addr)),
            Scheme::Tls => Some(TransportAddr::Tls(addr)),
            Scheme::Quic => Some(TransportAddr::Quic(addr)),
            Scheme::Unix => None,
        }
    }

    /// Parses like [`FromStr`], but also accepts host names (`zaps://node-a.local:9443`,
    /// `localhost:9999`), looked up with the system resolver. Returns every address the
    /// name resolves to, and the host name when there was one (for example to verify a
    /// TLS server by name).
    pub async fn resolve(text: &str) -> io::Result<(Vec<TransportAddr>, Option<String>)> {
        if let Ok(a) = text.parse::<TransportAddr>() {
            return Ok((vec![a], None));
        }
        let (scheme, rest) = split_scheme(text)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        if scheme == Scheme::Unix {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{text:?} is not a Unix socket address"),
            ));
        }
        let (host, port) = rest.rsplit_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{text:?} has no port (expected host:port)"),
            )
        })?;
        let port: u16 = port.parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{text:?} has an invalid port"),
            )
        })?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let found: Vec<TransportAddr> = tokio::net::lookup_host((host, port))
            .await?
            .filter_map(|a| TransportAddr::with_scheme(scheme, a))
            .collect();
        if found.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{host:?} resolved to no address"),
            ));
        }
        Ok((found, Some(host.to_string())))
    }
}

/// TCP addresses print without a scheme (as before there were others); the rest with one.
impl fmt::Display for TransportAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransportAddr::Tcp(a) => write!(f, "{a}"),
            TransportAddr::Tls(a) => write!(f, "zaps://{a}"),
            TransportAddr::Quic(a) => write!(f, "zapq://{a}"),
            // A path that itself starts with `//` is written in URL form, so that the
            // parser's `unix://` rule gives it back unchanged.
            TransportAddr::Unix(p) if p.to_string_lossy().starts_with("//") => {
                write!(f, "unix://{}", p.display())
            }
            TransportAddr::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

/// Why an address text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid transport address {input:?}: {reason}")]
pub struct AddrParseError {
    /// The input (at most 64 characters of it).
    pub input: String,
    /// What was wrong.
    pub reason: &'static str,
}

fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

fn split_scheme(s: &str) -> Result<(Scheme, &str), AddrParseError> {
    let bad = |reason| AddrParseError {
        input: clip(s),
        reason,
    };
    if s.len() > MAX_ADDR_TEXT {
        return Err(bad("longer than 4096 bytes"));
    }
    if let Some(path) = s.strip_prefix("unix:") {
        // `unix:///p` (URL form) and `unix:/p` both mean the path `/p`.
        let path = path.strip_prefix("//").unwrap_or(path);
        return Ok((Scheme::Unix, path));
    }
    match s.split_once("://") {
        Some(("zap", rest)) => Ok((Scheme::Tcp, rest)),
        Some(("zaps", rest)) => Ok((Scheme::Tls, rest)),
        Some(("zapq", rest)) => Ok((Scheme::Quic, rest)),
        Some(_) => Err(bad(
            "unknown scheme (expected zap://, zaps://, zapq:// or unix:)",
        )),
        None => Ok((Scheme::Tcp, s)),
    }
}

impl FromStr for TransportAddr {
    type Err = AddrParseError;

    fn from_str(s: &str) -> Result<Self, AddrParseError> {
        let bad = |reason| AddrParseError {
            input: clip(s),
            reason,
        };
        let (scheme, rest) = split_scheme(s)?;
        if scheme == Scheme::Unix {
            if rest.is_empty() {
                return Err(bad("the Unix socket path is empty"));
            }
            if rest.contains('\0') {
                return Err(bad("the Unix socket path contains a NUL byte"));
            }
            return Ok(TransportAddr::Unix(PathBuf::from(rest)));
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let addr: SocketAddr = rest.parse().map_err(|_| {
            bad("expected ip:port (resolve host names with TransportAddr::resolve)")
        })?;
        TransportAddr::with_scheme(scheme, addr).ok_or_else(|| bad("no socket address"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_parses_and_prints_back() {
        for (text, scheme, printed) in [
            ("127.0.0.1:9", Scheme::Tcp, "127.0.0.1:9"),
            ("zap://127.0.0.1:9", Scheme::Tcp, "127.0.0.1:9"),
            ("zaps://127.0.0.1:9", Scheme::Tls, "zaps://127.0.0.1:9"),
            ("zapq://[::1]:9", Scheme::Quic, "zapq://[::1]:9"),
            ("zapq://[::1]:9/", Scheme::Quic, "zapq://[::1]:9"),
            ("unix:/tmp/a.sock", Scheme::Unix, "unix:/tmp/a.sock"),
            ("unix:///tmp/a.sock", Scheme::Unix, "unix:/tmp/a.sock"),
            ("unix:rel.sock", Scheme::Unix, "unix:rel.sock"),
            ("unix:////odd", Scheme::Unix, "unix:////odd"),
        ] {
            let a: TransportAddr = text.parse().unwrap();
            assert_eq!(a.scheme(), scheme, "{text}");
            assert_eq!(a.to_string(), printed, "{text}");
            assert_eq!(a.to_string().parse::<TransportAddr>().unwrap(), a);
        }
    }

    #[test]
    fn bad_input_is_an_error() {
        for text in [
            "",
            "unix:",
            "http://127.0.0.1:9",
            "zaps://localhost:9",
            "zap://127.0.0.1",
            "127.0.0.1",
            "unix:/a\0b",
        ] {
            assert!(text.parse::<TransportAddr>().is_err(), "{text:?}");
        }
        assert!("a".repeat(5000).parse::<TransportAddr>().is_err());
    }

    #[tokio::test]
    async fn resolve_looks_up_names_and_keeps_the_scheme() {
        let (addrs, host) = TransportAddr::resolve("zaps://localhost:9443")
            .await
            .unwrap();
        assert_eq!(host.as_deref(), Some("localhost"));
        assert!(addrs.iter().all(|a| a.scheme() == Scheme::Tls));
        assert!(
            addrs
                .iter()
                .all(|a| a.socket_addr().unwrap().ip().is_loopback())
        );
        let (ip, host) = TransportAddr::resolve("127.0.0.1:1").await.unwrap();
        assert_eq!(ip, vec![TransportAddr::Tcp("127.0.0.1:1".parse().unwrap())]);
        assert_eq!(host, None);
    }
}
