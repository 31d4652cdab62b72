//! A throwaway certificate authority for the TLS and QUIC contenders: one CA, a server
//! certificate for 127.0.0.1 and a client certificate, made with rcgen at start-up (no
//! files, nothing trusted beyond this process).

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zap_rpc::{TlsClientConfig, TlsServerConfig};

use crate::error::BenchError;

type Certified = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn fail(e: impl std::fmt::Display) -> BenchError {
    BenchError::contender("zap-rpc over TLS", format!("test certificates: {e}"))
}

fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    name: &str,
    sans: Vec<SanType>,
) -> Result<Certified, BenchError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.subject_alt_names = sans;
    let key = KeyPair::generate().map_err(fail)?;
    let cert = params.signed_by(&key, issuer).map_err(fail)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    Ok((vec![cert.der().clone()], key))
}

/// Mutual-TLS configurations for a server on 127.0.0.1 and a client, under one fresh CA.
pub(crate) fn configs() -> Result<(TlsServerConfig, TlsClientConfig), BenchError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(fail)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "zap-bench CA");
    let ca_key = KeyPair::generate().map_err(fail)?;
    let ca = params.self_signed(&ca_key).map_err(fail)?.der().clone();
    let issuer = Issuer::new(params, ca_key);
    let dns = |n: &str| -> Result<SanType, BenchError> {
        Ok(SanType::DnsName(n.try_into().map_err(fail)?))
    };
    let (chain, key) = leaf(
        &issuer,
        "zap-bench-server",
        vec![
            dns("zap-bench-server")?,
            SanType::IpAddress([127, 0, 0, 1].into()),
        ],
    )?;
    let server = TlsServerConfig::new(chain, key, vec![ca.clone()]).map_err(fail)?;
    let (chain, key) = leaf(&issuer, "zap-bench-client", vec![dns("zap-bench-client")?])?;
    let client = TlsClientConfig::new(chain, key, vec![ca]).map_err(fail)?;
    Ok((server, client))
}
