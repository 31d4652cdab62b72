//! Real certificates for the TLS and QUIC tests, made with rcgen: CAs, servers and
//! clients, and expired ones.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType, date_time_ymd,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zap_rpc::{TlsClientConfig, TlsServerConfig};

/// A certificate authority that issues leaves.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate.
    pub der: CertificateDer<'static>,
    /// The same, PEM.
    pub pem: String,
}

/// A leaf certificate and its key.
pub struct Leaf {
    pub der: CertificateDer<'static>,
    key: Vec<u8>,
    /// The certificate, PEM.
    pub pem: String,
    /// The key, PEM (PKCS#8).
    pub key_pem: String,
}

impl Leaf {
    pub fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.clone()))
    }
}

/// `uri:` names starting with a scheme are URIs, IP addresses are IP SANs, the rest DNS
/// names.
fn san(name: &str) -> SanType {
    if let Ok(ip) = name.parse() {
        SanType::IpAddress(ip)
    } else if name.contains("://") {
        SanType::URI(name.try_into().expect("an IA5 URI"))
    } else {
        SanType::DnsName(name.try_into().expect("an IA5 DNS name"))
    }
}

impl Ca {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        let cert = params.self_signed(&key).expect("CA certificate");
        Self {
            der: cert.der().clone(),
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf with common name `cn` and these SANs, valid for centuries.
    pub fn leaf(&self, cn: &str, sans: &[&str]) -> Leaf {
        self.leaf_valid(cn, sans, false)
    }

    /// A leaf whose validity ended in 2021.
    pub fn expired_leaf(&self, cn: &str, sans: &[&str]) -> Leaf {
        self.leaf_valid(cn, sans, true)
    }

    fn leaf_valid(&self, cn: &str, sans: &[&str], expired: bool) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans.iter().map(|s| san(s)).collect();
        if expired {
            params.not_before = date_time_ymd(2020, 1, 1);
            params.not_after = date_time_ymd(2021, 1, 1);
        }
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        Leaf {
            der: cert.der().clone(),
            key: key.serialize_der(),
            pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// A server presenting `leaf`, trusting this CA for clients.
    pub fn server(&self, leaf: &Leaf) -> TlsServerConfig {
        TlsServerConfig::new(vec![leaf.der.clone()], leaf.key(), vec![self.der.clone()])
            .expect("server TLS config")
    }

    /// A client presenting `leaf`, trusting `server_ca` for servers.
    pub fn client(&self, leaf: &Leaf, server_ca: &Ca) -> TlsClientConfig {
        TlsClientConfig::new(
            vec![leaf.der.clone()],
            leaf.key(),
            vec![server_ca.der.clone()],
        )
        .expect("client TLS config")
    }
}

/// The usual cast: one CA, a server named `server.test` (also reachable as 127.0.0.1),
/// and clients `alice.test` and `bob.test`.
pub struct Cluster {
    pub ca: Ca,
    pub server: TlsServerConfig,
    pub alice: TlsClientConfig,
    pub bob: TlsClientConfig,
    pub alice_leaf: Leaf,
}

impl Cluster {
    pub fn new() -> Self {
        let ca = Ca::new("test cluster CA");
        let server = ca.server(&ca.leaf("server.test", &["server.test", "127.0.0.1"]));
        let alice_leaf = ca.leaf("alice", &["alice.test", "spiffe://cluster/alice"]);
        let alice = ca.client(&alice_leaf, &ca);
        let bob = ca.client(&ca.leaf("bob", &["bob.test"]), &ca);
        Self {
            ca,
            server,
            alice,
            bob,
            alice_leaf,
        }
    }

    /// A client certificate for `name` (CN and DNS SAN).
    pub fn client(&self, name: &str) -> TlsClientConfig {
        self.ca.client(&self.ca.leaf(name, &[name]), &self.ca)
    }
}
