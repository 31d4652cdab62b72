//! The client's dialer: each peer over the transport its address names, or the client's
//! default transport.
//!
//! Only addresses the application configured choose a transport. Peers found through
//! discovery (mDNS announcements, DNS records) always use the client's default: whatever a
//! discovered peer announces, it cannot talk a TLS client into plain TCP.

use std::collections::HashMap;
use std::io;

use futures_util::future::BoxFuture;
use zap_discovery::Peer;

use crate::error::Error;
use crate::transport::{Dialer, Scheme, TcpDialer, TransportAddr, Transported};

/// Dials by scheme.
pub(crate) struct Transports {
    default: Scheme,
    tcp: TcpDialer,
    #[cfg(feature = "tls")]
    tls: Option<crate::transport::TlsDialer>,
    #[cfg(feature = "quic")]
    quic: Option<crate::transport::QuicDialer>,
    /// Peers configured with a transport address, by peer key.
    explicit: HashMap<String, TransportAddr>,
}

/// What [`Transports`] is built from (the client's options).
pub(crate) struct TransportSettings<'a> {
    pub(crate) default: Scheme,
    pub(crate) explicit: &'a [(String, TransportAddr)],
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<&'a crate::transport::TlsClientConfig>,
    #[cfg(feature = "quic")]
    pub(crate) quic: &'a crate::transport::QuicOptions,
}

impl Transports {
    pub(crate) fn new(s: TransportSettings<'_>) -> Result<Self, Error> {
        let mut needed: Vec<Scheme> = s.explicit.iter().map(|(_, a)| a.scheme()).collect();
        needed.push(s.default);
        #[cfg(feature = "tls")]
        let tls_needed = needed.iter().any(|n| n.is_secure());
        #[cfg(feature = "tls")]
        if tls_needed && s.tls.is_none() {
            return Err(Error::Config(
                "zaps:// and zapq:// peers need client certificates: ClientOptions::tls or ::quic"
                    .into(),
            ));
        }
        for n in &needed {
            let supported = match n {
                Scheme::Tcp => true,
                Scheme::Tls => cfg!(feature = "tls"),
                Scheme::Quic => cfg!(feature = "quic"),
                Scheme::Unix => cfg!(unix),
            };
            if !supported {
                return Err(Error::Config(format!(
                    "{n}:// needs a feature this build lacks (tls, quic) or a Unix platform"
                )));
            }
        }
        if s.default == Scheme::Unix {
            return Err(Error::Config(
                "a Unix socket needs a path: ClientOptions::peers([\"unix:/path\"])".into(),
            ));
        }
        #[cfg(feature = "quic")]
        let quic = match s.tls {
            Some(tls) if needed.contains(&Scheme::Quic) => Some(
                crate::transport::QuicDialer::with_options(tls.clone(), s.quic.clone())?,
            ),
            _ => None,
        };
        Ok(Self {
            default: s.default,
            tcp: TcpDialer::new(),
            #[cfg(feature = "tls")]
            tls: s.tls.cloned().map(crate::transport::TlsDialer::new),
            #[cfg(feature = "quic")]
            quic,
            explicit: s.explicit.iter().cloned().collect(),
        })
    }

    fn unsupported(what: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{what} is not available in this build"),
        )
    }

    async fn dial_addr(&self, peer: &Peer, addr: &TransportAddr) -> io::Result<Transported> {
        match addr {
            TransportAddr::Tcp(a) => Transported::tcp(
                crate::transport::tcp_connect(*a, TcpDialer::DEFAULT_CONNECT_TIMEOUT).await?,
            ),
            #[cfg(feature = "tls")]
            TransportAddr::Tls(a) => match &self.tls {
                Some(d) => d.dial_addr(peer, *a).await,
                None => Err(Self::unsupported("TLS without certificates")),
            },
            #[cfg(feature = "quic")]
            TransportAddr::Quic(a) => match &self.quic {
                Some(d) => d.dial_addr(peer, *a).await,
                None => Err(Self::unsupported("QUIC without certificates")),
            },
            #[cfg(unix)]
            TransportAddr::Unix(path) => {
                crate::transport::UnixDialer::connect(path, TcpDialer::DEFAULT_CONNECT_TIMEOUT)
                    .await
            }
            #[allow(unreachable_patterns)]
            other => {
                let _ = peer;
                Err(Self::unsupported(&format!("{}://", other.scheme())))
            }
        }
    }
}

impl Dialer for Transports {
    fn dial<'a>(&'a self, peer: &'a Peer) -> BoxFuture<'a, io::Result<Transported>> {
        Box::pin(async move {
            if let Some(addr) = self.explicit.get(peer.key()) {
                return self.dial_addr(peer, addr).await;
            }
            match self.default {
                #[cfg(feature = "tls")]
                Scheme::Tls => match &self.tls {
                    Some(d) => d.dial(peer).await,
                    None => Err(Self::unsupported("TLS without certificates")),
                },
                #[cfg(feature = "quic")]
                Scheme::Quic => match &self.quic {
                    Some(d) => d.dial(peer).await,
                    None => Err(Self::unsupported("QUIC without certificates")),
                },
                _ => self.tcp.dial(peer).await,
            }
        })
    }

    fn describe(&self, peer: &Peer) -> String {
        let addr = match self.explicit.get(peer.key()) {
            Some(a) => a.clone(),
            None => TransportAddr::with_scheme(self.default, peer.addr())
                .unwrap_or(TransportAddr::Tcp(peer.addr())),
        };
        match peer.node_id() {
            Some(id) => format!("{id}@{addr}"),
            None => addr.to_string(),
        }
    }
}
