//! Attaching credentials to a request once its peer is known.

use std::fmt;

use http::HeaderMap;
use http::header::{self, HeaderValue};
use zap_discovery::Peer;

use crate::error::Error;

/// Adds credentials to a request after the peer has been picked, before it is sent.
///
/// It runs once per attempt, on the request's own headers (never the caller's copy), so a
/// failover to another peer gets that peer's credentials. An error aborts the call with
/// [`Error::Auth`]. Closures `Fn(&mut HeaderMap, &Peer) -> Result<(), Error>` are
/// attachers too.
pub trait AuthAttacher: Send + Sync + 'static {
    /// Adds credentials for `peer` to `headers`.
    fn attach(&self, headers: &mut HeaderMap, peer: &Peer) -> Result<(), Error>;

    /// True for attachers that send no credentials and rely on the transport instead;
    /// the discovery client then refuses to build unless its connector is mutual TLS.
    fn relies_on_mutual_tls(&self) -> bool {
        false
    }
}

impl<F> AuthAttacher for F
where
    F: Fn(&mut HeaderMap, &Peer) -> Result<(), Error> + Send + Sync + 'static,
{
    fn attach(&self, headers: &mut HeaderMap, peer: &Peer) -> Result<(), Error> {
        self(headers, peer)
    }
}

/// `Authorization: Bearer <token>` on every request that does not already carry an
/// `Authorization` field (a per-call header wins, as in Go).
///
/// An empty or blank token is a configuration error: auth never silently disappears (Go
/// attached nothing for `WithBearer("")`, so an unset environment variable turned auth
/// off). The value is marked sensitive, so `http`'s `Debug` output hides it.
///
/// ```
/// use zap_http::discovery::Bearer;
///
/// assert!(Bearer::new("s3cret").is_ok());
/// assert!(Bearer::new("").is_err());
/// assert!(Bearer::new("  ").is_err());
/// assert!(Bearer::from_env("ZAP_HTTP_DOC_UNSET_VARIABLE").is_err());
/// ```
#[derive(Clone)]
pub struct Bearer {
    value: HeaderValue,
}

impl fmt::Debug for Bearer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Bearer(<redacted>)")
    }
}

impl Bearer {
    /// A bearer attacher for `token`; fails on an empty token or one that cannot be a
    /// header value.
    pub fn new(token: impl AsRef<str>) -> Result<Self, Error> {
        let token = token.as_ref().trim();
        if token.is_empty() {
            return Err(Error::Config(
                "the bearer token is empty: configure a token, or use mutual TLS with NoAuth"
                    .into(),
            ));
        }
        let mut value = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            Error::Config("the bearer token has bytes a header value cannot carry".into())
        })?;
        value.set_sensitive(true);
        Ok(Self { value })
    }

    /// A bearer attacher for the token in environment variable `var`; an unset or
    /// empty variable is an error naming it.
    pub fn from_env(var: &str) -> Result<Self, Error> {
        match std::env::var(var) {
            Ok(token) if !token.trim().is_empty() => Self::new(token),
            _ => Err(Error::Config(format!(
                "environment variable {var} holds no bearer token"
            ))),
        }
    }
}

impl AuthAttacher for Bearer {
    fn attach(&self, headers: &mut HeaderMap, _peer: &Peer) -> Result<(), Error> {
        if !headers.contains_key(header::AUTHORIZATION) {
            headers.insert(header::AUTHORIZATION, self.value.clone());
        }
        Ok(())
    }
}

/// Local trust: no credentials on the request; the transport vouches for both sides.
///
/// Sound only when all of these hold, which is why the discovery client refuses it
/// unless its connector is mutually authenticated TLS:
///
/// 1. the caller is on a cluster-private network that discovery traffic does not leave;
/// 2. the certificate authority is private to the cluster, not public Web PKI;
/// 3. both sides present certificates from that authority (mutual TLS; one-way TLS is
///    not enough).
///
/// Handlers should still authorize the action, validate input and log the peer identity.
/// The Go original offered this mode over plain TCP, where any process announcing the
/// service type received unauthenticated requests.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAuth;

impl AuthAttacher for NoAuth {
    fn attach(&self, _headers: &mut HeaderMap, _peer: &Peer) -> Result<(), Error> {
        Ok(())
    }

    fn relies_on_mutual_tls(&self) -> bool {
        true
    }
}
