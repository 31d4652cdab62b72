//! The error type of every fallible operation in this crate.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Everything that can go wrong while describing, finding or choosing peers.
///
/// The enum is `Clone` so that a background refresh can keep its last failure for
/// [`Discovery::last_error`](crate::Discovery::last_error) and hand copies to callers;
/// errors from the libraries underneath are carried as text for the same reason, and so
/// that their types do not leak into our public API.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A service type that is not usable as an mDNS service name.
    #[error("invalid service type {service_type:?}: {reason}")]
    InvalidServiceType {
        /// The rejected text.
        service_type: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A node id that cannot be announced or was not well formed.
    #[error("invalid node id {node_id:?}: {reason}")]
    InvalidNodeId {
        /// The rejected id (truncated to 80 characters for display).
        node_id: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A metadata entry that cannot be carried in a TXT record.
    #[error("invalid metadata entry {key:?}: {reason}")]
    InvalidMetadata {
        /// The key of the rejected entry.
        key: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A peer description (`[node-id@]address`) that could not be parsed.
    #[error("invalid peer {input:?}: {reason}")]
    InvalidPeer {
        /// The rejected text (truncated to 80 characters for display).
        input: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// Port 0 cannot be announced: nobody could connect to it (Go's zeroconf refuses it too).
    #[error("port 0 cannot be announced")]
    InvalidPort,
    /// A DNS name that hickory could not parse.
    #[error("invalid DNS name {name:?}: {reason}")]
    InvalidDnsName {
        /// The rejected name.
        name: String,
        /// The parser's explanation.
        reason: String,
    },
    /// A configuration value outside its allowed range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// A [`Picker`](crate::Picker) was handed an empty peer list.
    #[error("no peers to choose from")]
    NoPeers,
    /// The discovery was stopped (explicitly or by being dropped).
    #[error("discovery stopped")]
    Stopped,
    /// Waiting for peers gave up.
    #[error("timed out after {waited:?} waiting for {} (have {have}){}", Wanted(*wanted), LastError(last_error))]
    Timeout {
        /// How long the wait lasted.
        waited: Duration,
        /// How many peers were wanted, when the wait was for a number of peers.
        wanted: Option<usize>,
        /// How many peers there were when the wait gave up.
        have: usize,
        /// The backend's most recent failure, which is often why no peers appeared.
        last_error: Option<Box<Error>>,
    },
    /// The operation needs a Tokio runtime and was called outside one.
    #[error("{0} needs a Tokio runtime (call it from within tokio)")]
    NoRuntime(&'static str),
    /// The mDNS daemon refused or failed an operation.
    #[error("mDNS {op}: {message}")]
    Mdns {
        /// What we asked the daemon to do.
        op: &'static str,
        /// What went wrong.
        message: String,
    },
    /// A DNS lookup failed. NXDOMAIN and empty answers are not errors: they mean no peers.
    #[error("DNS lookup of {name} failed ({kind}): {message}")]
    Dns {
        /// The name that was looked up.
        name: String,
        /// The class of failure, for callers that retry some and not others.
        kind: DnsErrorKind,
        /// The resolver's explanation.
        message: String,
    },
    /// An I/O error from a socket we opened ourselves.
    #[error("{op}: {source}")]
    Io {
        /// What we were doing.
        op: &'static str,
        /// The operating system's error.
        #[source]
        source: Arc<std::io::Error>,
    },
}

/// The class of a DNS lookup failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DnsErrorKind {
    /// No answer arrived within the configured timeout.
    Timeout,
    /// The name server could not be reached (connection refused, no route, no socket).
    Unreachable,
    /// The server answered with a failure code such as SERVFAIL or REFUSED.
    ServerFailure,
    /// The answer could not be decoded.
    Protocol,
    /// Anything else the resolver reported.
    Other,
}

impl fmt::Display for DnsErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Timeout => "timeout",
            Self::Unreachable => "server unreachable",
            Self::ServerFailure => "server failure",
            Self::Protocol => "protocol error",
            Self::Other => "error",
        })
    }
}

impl Error {
    /// An I/O error during `op`.
    #[cfg(feature = "mdns")]
    pub(crate) fn io(op: &'static str, source: std::io::Error) -> Self {
        Self::Io {
            op,
            source: Arc::new(source),
        }
    }

    /// True for failures that may go away by themselves (timeouts, unreachable servers),
    /// as opposed to configuration mistakes that will fail the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Dns { kind, .. } => matches!(
                kind,
                DnsErrorKind::Timeout | DnsErrorKind::Unreachable | DnsErrorKind::ServerFailure
            ),
            Self::Timeout { .. } | Self::Io { .. } | Self::Mdns { .. } => true,
            _ => false,
        }
    }
}

/// Shortens user input quoted in an error so that a hostile peer cannot make our logs huge.
pub(crate) fn clip(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return s.to_string();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// Formats what a timed-out wait was for.
struct Wanted(Option<usize>);

impl fmt::Display for Wanted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(n) => write!(f, "{n} peer(s)"),
            None => f.write_str("the peer set to change"),
        }
    }
}

/// Formats the optional cause of a timeout.
struct LastError<'a>(&'a Option<Box<Error>>);

impl fmt::Display for LastError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(e) => write!(f, "; last error: {e}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_message_names_the_cause() {
        let e = Error::Timeout {
            waited: Duration::from_millis(250),
            wanted: Some(2),
            have: 0,
            last_error: Some(Box::new(Error::Dns {
                name: "svc.local.".into(),
                kind: DnsErrorKind::Unreachable,
                message: "connection refused".into(),
            })),
        };
        let text = e.to_string();
        assert!(text.contains("waiting for 2 peer(s) (have 0)"), "{text}");
        assert!(
            text.contains("last error: DNS lookup of svc.local."),
            "{text}"
        );
        assert!(e.is_transient());
    }

    #[test]
    fn clip_respects_char_boundaries() {
        let long = "é".repeat(100);
        let clipped = clip(&long);
        assert!(clipped.len() <= 84);
        assert!(clipped.ends_with('…'));
        assert_eq!(clip("short"), "short");
    }
}
