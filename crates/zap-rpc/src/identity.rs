//! What a transport proved about a peer: its certificate (mutual TLS, QUIC) or its
//! process credentials (Unix sockets). Verifiers decide on these, not on the node id the
//! peer claims.

use std::fmt;
use std::net::IpAddr;
use std::time::SystemTime;

use bytes::Bytes;

/// The leaf certificate a peer presented and the TLS stack verified against the trusted
/// CA (chain, validity period, key usage).
///
/// Names are as the certificate states them; [`PeerCertificate::names`] lists the ones
/// that identify the peer.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerCertificate {
    /// The subject's common name (the first, if several).
    pub common_name: Option<String>,
    /// DNS names among the subject alternative names.
    pub dns_names: Vec<String>,
    /// URIs among the subject alternative names (e.g. `spiffe://cluster/ns/a/sa/b`).
    pub uris: Vec<String>,
    /// IP addresses among the subject alternative names.
    pub ip_addresses: Vec<IpAddr>,
    /// SHA-256 of the certificate's DER bytes.
    pub fingerprint: [u8; 32],
    /// The end of the validity period.
    pub not_after: Option<SystemTime>,
    /// The certificate, DER.
    pub der: Bytes,
}

impl PeerCertificate {
    /// The names that identify the peer, most specific first: URI SANs, then DNS SANs,
    /// and the subject common name only when the certificate has no DNS or URI SAN (as
    /// RFC 6125 asks: a certificate with SANs is not identified by its CN).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        let cn = if self.uris.is_empty() && self.dns_names.is_empty() {
            self.common_name.as_deref()
        } else {
            None
        };
        self.uris
            .iter()
            .chain(self.dns_names.iter())
            .map(String::as_str)
            .chain(cn)
    }

    /// The first of [`names`](Self::names), if the certificate has any.
    pub fn primary_name(&self) -> Option<&str> {
        self.names().next()
    }

    /// True if `name` is one of [`names`](Self::names).
    pub fn has_name(&self, name: &str) -> bool {
        self.names().any(|n| n == name)
    }

    /// The fingerprint as lowercase hex, colon-free.
    pub fn fingerprint_hex(&self) -> String {
        use std::fmt::Write as _;
        self.fingerprint
            .iter()
            .fold(String::with_capacity(64), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
    }
}

impl fmt::Debug for PeerCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeerCertificate")
            .field("common_name", &self.common_name)
            .field("dns_names", &self.dns_names)
            .field("uris", &self.uris)
            .field("ip_addresses", &self.ip_addresses)
            .field("fingerprint", &self.fingerprint_hex())
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

/// What a TLS or QUIC handshake established about the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The peer's verified leaf certificate.
    pub certificate: PeerCertificate,
    /// The negotiated cipher suite, e.g. `TLS13_AES_256_GCM_SHA384` (`None` where the
    /// stack does not report it: quinn does not).
    pub cipher_suite: Option<String>,
    /// The negotiated key exchange group, e.g. `X25519MLKEM768` (`None` where the stack
    /// does not report it: quinn does not).
    pub key_exchange: Option<String>,
}

impl TlsInfo {
    /// A description of a verified peer.
    pub fn new(certificate: PeerCertificate) -> Self {
        Self {
            certificate,
            cipher_suite: None,
            key_exchange: None,
        }
    }
}

/// The credentials of the process at the other end of a Unix socket, as the kernel
/// reports them (`SO_PEERCRED` on Linux): they cannot be forged by the peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct UnixCredentials {
    /// The peer's effective user id.
    pub uid: u32,
    /// The peer's effective group id.
    pub gid: u32,
    /// The peer's process id, where the platform reports it.
    pub pid: Option<i32>,
}

impl UnixCredentials {
    /// Credentials as a platform reported them.
    pub fn new(uid: u32, gid: u32, pid: Option<i32>) -> Self {
        Self { uid, gid, pid }
    }
}

impl fmt::Display for UnixCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "uid={} gid={}", self.uid, self.gid)?;
        if let Some(pid) = self.pid {
            write!(f, " pid={pid}")?;
        }
        Ok(())
    }
}

/// How the node id a peer claimed in its handshake relates to what its transport proved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NodeIdStatus {
    /// Nothing to compare it with (plain TCP, Unix sockets): the id is a claim.
    Claimed,
    /// The peer's verified certificate names the id (as a SAN, or as its CN when it has
    /// no SAN).
    Verified,
    /// The peer's verified certificate does not name the id: it claims to be someone its
    /// certificate does not say it is.
    Mismatch,
}

#[cfg(feature = "tls")]
mod parse {
    use std::net::IpAddr;
    use std::time::{Duration, SystemTime};

    use bytes::Bytes;
    use sha2::{Digest, Sha256};
    use x509_parser::extensions::GeneralName;
    use x509_parser::prelude::{FromDer, X509Certificate};

    use super::PeerCertificate;

    /// At most this many names of each kind are kept, so a certificate with thousands of
    /// SANs cannot make every verifier call slow.
    const MAX_NAMES: usize = 64;

    /// Why certificate bytes could not be read.
    #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
    #[error("invalid certificate: {0}")]
    pub struct CertificateError(pub String);

    impl PeerCertificate {
        /// Reads the names, validity and fingerprint of a DER certificate. Any bytes
        /// give a certificate or an error, never a panic; the certificate is *not*
        /// verified here (the TLS stack did that before this is called).
        pub fn from_der(der: &[u8]) -> Result<PeerCertificate, CertificateError> {
            let (rest, cert) =
                X509Certificate::from_der(der).map_err(|e| CertificateError(e.to_string()))?;
            if !rest.is_empty() {
                return Err(CertificateError(format!(
                    "{} bytes after the certificate",
                    rest.len()
                )));
            }
            let common_name = cert
                .subject()
                .iter_common_name()
                .find_map(|a| a.as_str().ok())
                .map(str::to_string);
            let (mut dns_names, mut uris, mut ip_addresses) = (Vec::new(), Vec::new(), Vec::new());
            match cert.subject_alternative_name() {
                Ok(Some(san)) => {
                    for name in &san.value.general_names {
                        match name {
                            GeneralName::DNSName(n) if dns_names.len() < MAX_NAMES => {
                                dns_names.push((*n).to_string())
                            }
                            GeneralName::URI(u) if uris.len() < MAX_NAMES => {
                                uris.push((*u).to_string())
                            }
                            GeneralName::IPAddress(b) if ip_addresses.len() < MAX_NAMES => {
                                if let Some(ip) = ip_from(b) {
                                    ip_addresses.push(ip);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Ok(None) => {}
                Err(e) => return Err(CertificateError(format!("subjectAltName: {e}"))),
            }
            let not_after = u64::try_from(cert.validity().not_after.timestamp())
                .ok()
                .and_then(|s| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(s)));
            Ok(PeerCertificate {
                common_name,
                dns_names,
                uris,
                ip_addresses,
                fingerprint: Sha256::digest(der).into(),
                not_after,
                der: Bytes::copy_from_slice(der),
            })
        }
    }

    fn ip_from(b: &[u8]) -> Option<IpAddr> {
        match b.len() {
            4 => <[u8; 4]>::try_from(b).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(b).ok().map(IpAddr::from),
            _ => None,
        }
    }
}

#[cfg(feature = "tls")]
pub use parse::CertificateError;

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(cn: Option<&str>, dns: &[&str], uris: &[&str]) -> PeerCertificate {
        PeerCertificate {
            common_name: cn.map(str::to_string),
            dns_names: dns.iter().map(|s| s.to_string()).collect(),
            uris: uris.iter().map(|s| s.to_string()).collect(),
            ip_addresses: Vec::new(),
            fingerprint: [0xab; 32],
            not_after: None,
            der: Bytes::new(),
        }
    }

    #[test]
    fn names_prefer_sans_and_fall_back_to_the_common_name() {
        let c = cert(Some("cn"), &["a.example"], &["spiffe://x/y"]);
        assert_eq!(c.names().collect::<Vec<_>>(), ["spiffe://x/y", "a.example"]);
        assert!(!c.has_name("cn"), "a CN is ignored when SANs exist");
        let c = cert(Some("cn"), &[], &[]);
        assert_eq!(c.primary_name(), Some("cn"));
        assert_eq!(cert(None, &[], &[]).primary_name(), None);
        assert_eq!(c.fingerprint_hex(), "ab".repeat(32));
    }

    #[cfg(feature = "tls")]
    #[test]
    fn garbage_is_an_error() {
        for bytes in [&b""[..], b"\x30", b"\x30\x03\x02\x01\x01", &[0xff; 64]] {
            assert!(PeerCertificate::from_der(bytes).is_err());
        }
    }
}
