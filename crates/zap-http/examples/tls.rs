//! ZAP-HTTP over mutual TLS on loopback, with a throwaway CA made by rcgen, and a
//! discovery client using local trust (NoAuth), which only mutual TLS allows. Runs to
//! completion. `cargo run -p zap-http --example tls --features tls`
#![allow(clippy::print_stdout)]

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use zap_discovery::{Peer, StaticDiscovery};
use zap_http::discovery::{DiscoveryClient, NoAuth};
use zap_http::server::PeerCertificates;
use zap_http::tls::TlsConnector;

type Leaf = (CertificateDer<'static>, PrivateKeyDer<'static>);

fn leaf(name: &str, issuer: &Issuer<'_, KeyPair>) -> Result<Leaf, rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![name.to_string()])?;
    params
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    let cert = params.signed_by(&key, issuer)?;
    Ok((
        cert.der().clone(),
        PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    ))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key)?.der().clone();
    let issuer = Issuer::from_params(&ca_params, ca_key);
    let (server_cert, server_key) = leaf("node-1", &issuer)?;
    let (client_cert, client_key) = leaf("client-1", &issuer)?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(ca)?;
    let roots = Arc::new(roots);
    let server_tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider.clone()).build()?,
        )
        .with_single_cert(vec![server_cert], server_key)?;
    let client_tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![client_cert], client_key)?;

    let app = Router::new().route(
        "/whoami",
        get(|certs: axum::Extension<PeerCertificates>| async move {
            format!("you presented {} certificate(s)", certs.0.0.len())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(
        zap_http::server::Builder::new()
            .tls(Arc::new(server_tls))
            .serve(listener, app),
    );

    let client = zap_http::Client::builder()
        .connector(TlsConnector::new(Arc::new(client_tls)))
        .build();
    let discovery = StaticDiscovery::new("_secure._tcp", [Peer::new(addr).with_node_id("node-1")])?;
    let client = DiscoveryClient::builder(discovery)
        .auth(NoAuth)
        .client(client)
        .build()
        .await?;
    let resp = client
        .request(http::Request::get("http://secure/whoami").body(Empty::<Bytes>::new())?)
        .await?;
    println!(
        "{} {}",
        resp.status(),
        String::from_utf8_lossy(&resp.into_body().collect().await?.to_bytes())
    );
    Ok(())
}
