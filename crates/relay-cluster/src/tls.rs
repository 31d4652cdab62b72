//! rustls configurations from PEM, with the aws-lc-rs provider (post-quantum key exchange
//! preferred). The server and client set the ALPN they need themselves.

use std::path::Path;
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};

/// ALPN of the relay's QUIC listener (upstream `nb-quic`).
pub const QUIC_ALPN: &[u8] = b"nb-quic";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn pem_error(what: &str, e: rustls_pki_types::pem::Error) -> Error {
    Error::Config(format!("cannot read {what}: {e}"))
}

/// A server configuration from a PEM certificate chain and a PEM private key.
pub fn server_config_from_pem(cert_chain: &[u8], key: &[u8]) -> Result<rustls::ServerConfig> {
    let certs = CertificateDer::pem_slice_iter(cert_chain)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error("the certificate chain", e))?;
    if certs.is_empty() {
        return Err(Error::Config(
            "the certificate file holds no certificate".into(),
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| pem_error("the private key", e))?;
    Ok(rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?)
}

/// A server configuration from PEM files (`--tls-cert`, `--tls-key`).
pub fn server_config_from_pem_files(cert_chain: &Path, key: &Path) -> Result<rustls::ServerConfig> {
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| Error::Config(format!("cannot read {}: {e}", p.display())))
    };
    server_config_from_pem(&read(cert_chain)?, &read(key)?)
}

/// A client configuration that trusts the certificates in `roots_pem` (a CA, or the
/// server's own self-signed certificate).
pub fn client_config_with_roots(roots_pem: &[u8]) -> Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(roots_pem) {
        roots.add(cert.map_err(|e| pem_error("the trust roots", e))?)?;
    }
    if roots.is_empty() {
        return Err(Error::Config(
            "the trust-root file holds no certificate".into(),
        ));
    }
    Ok(rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A client configuration that trusts the certificates in a PEM file.
pub fn client_config_from_roots_file(path: &Path) -> Result<rustls::ClientConfig> {
    let pem = std::fs::read(path)
        .map_err(|e| Error::Config(format!("cannot read {}: {e}", path.display())))?;
    client_config_with_roots(&pem)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_pem_is_a_config_error() {
        assert!(matches!(
            server_config_from_pem(b"", b""),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            client_config_with_roots(b"nothing"),
            Err(Error::Config(_))
        ));
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cfg = server_config_from_pem(
            ck.cert.pem().as_bytes(),
            ck.signing_key.serialize_pem().as_bytes(),
        );
        assert!(cfg.is_ok());
        assert!(client_config_with_roots(ck.cert.pem().as_bytes()).is_ok());
    }
}
