//! rustls on ZAP-HTTP connections, with real certificates from a test CA (rcgen).

mod support;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use support::*;
use zap_discovery::{Peer, StaticDiscovery};
use zap_http::discovery::{DiscoveryClient, NoAuth};
use zap_http::server::PeerCertificates;
use zap_http::tls::TlsConnector;
use zap_http::{Client, Endpoint, Error};

struct Pki {
    ca: CertificateDer<'static>,
    server: (CertificateDer<'static>, PrivateKeyDer<'static>),
    client: (CertificateDer<'static>, PrivateKeyDer<'static>),
}

fn leaf(
    names: &[&str],
    ip: bool,
    issuer: &Issuer<'_, KeyPair>,
) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    if ip {
        params
            .subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
    }
    params.distinguished_name.push(DnType::CommonName, names[0]);
    let cert = params.signed_by(&key, issuer).unwrap();
    (
        cert.der().clone(),
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

fn pki() -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "zap-http test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).unwrap().der().clone();
    let issuer = Issuer::from_params(&ca_params, ca_key);
    Pki {
        ca,
        server: leaf(&["node-1", "localhost"], true, &issuer),
        client: leaf(&["client-1"], false, &issuer),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn roots(pki: &Pki) -> Arc<RootCertStore> {
    let mut roots = RootCertStore::empty();
    roots.add(pki.ca.clone()).unwrap();
    Arc::new(roots)
}

fn server_config(pki: &Pki) -> Arc<rustls::ServerConfig> {
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(pki), provider())
        .build()
        .unwrap();
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(vec![pki.server.0.clone()], pki.server.1.clone_key())
        .unwrap();
    Arc::new(config)
}

fn client_config(pki: &Pki, with_cert: bool) -> Arc<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots(pki));
    Arc::new(if with_cert {
        builder
            .with_client_auth_cert(vec![pki.client.0.clone()], pki.client.1.clone_key())
            .unwrap()
    } else {
        builder.with_no_client_auth()
    })
}

/// An app that reports how many certificates the client presented.
fn app_with_certs() -> Router {
    Router::new().route(
        "/certs",
        get(|req: axum::extract::Request| async move {
            let n = req
                .extensions()
                .get::<PeerCertificates>()
                .map_or(0, |c| c.0.len());
            let auth = req.headers().contains_key(http::header::AUTHORIZATION);
            format!("certs={n} auth={auth}")
        }),
    )
}

async fn tls_server(pki: &Pki) -> Running {
    start(
        zap_http::server::Builder::new().tls(server_config(pki)),
        app_with_certs(),
    )
    .await
}

#[tokio::test]
async fn mutual_tls_round_trip() {
    let pki = pki();
    let server = tls_server(&pki).await;
    let client = Client::builder()
        .connector(TlsConnector::new(client_config(&pki, true)))
        .build();
    assert!(client.is_mutual_tls());
    let resp = client
        .request(get_request(&server.url("/certs")))
        .await
        .unwrap();
    assert_eq!(text(resp).await, "certs=1 auth=false");
    // The connection is pooled and reused like a plain one.
    let resp = client
        .request(get_request(&server.url("/certs")))
        .await
        .unwrap();
    assert_eq!(text(resp).await, "certs=1 auth=false");
    assert_eq!(client.idle_connections(&server.endpoint()), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn local_trust_works_over_mutual_tls_with_node_ids_as_names() {
    let pki = pki();
    let server = tls_server(&pki).await;
    let discovery =
        StaticDiscovery::new("_tls._tcp", [Peer::new(server.addr).with_node_id("node-1")]).unwrap();
    let client = DiscoveryClient::builder(discovery)
        .auth(NoAuth)
        .client(
            Client::builder()
                .connector(TlsConnector::new(client_config(&pki, true)))
                .build(),
        )
        .build()
        .await
        .unwrap();
    let resp = client
        .request(get_request("http://svc/certs"))
        .await
        .unwrap();
    assert_eq!(text(resp).await, "certs=1 auth=false");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn one_way_tls_is_not_enough_for_local_trust_nor_for_this_server() {
    let pki = pki();
    let server = tls_server(&pki).await;
    let one_way = Client::builder()
        .connector(TlsConnector::new(client_config(&pki, false)))
        .build();
    assert!(!one_way.is_mutual_tls());
    let discovery = StaticDiscovery::from_addrs("_tls._tcp", [server.addr]).unwrap();
    let err = DiscoveryClient::builder(discovery)
        .auth(NoAuth)
        .client(one_way.clone())
        .build()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");

    // The server requires a client certificate, so the exchange fails.
    let err = one_way
        .request(get_request(&server.url("/certs")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Connect { .. } | Error::Io(_) | Error::Closed(_)),
        "{err}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused() {
    let pki = pki();
    let server = tls_server(&pki).await;
    let client = Client::builder()
        .connector(TlsConnector::new(client_config(&pki, true)))
        .build();
    let mut req = get_request("http://svc/certs");
    req.extensions_mut()
        .insert(Endpoint::tcp(server.addr).with_tls_name("node-2"));
    let err = client.request(req).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn plain_clients_get_nothing_from_a_tls_server() {
    let pki = pki();
    let server = tls_server(&pki).await;
    let err = Client::new()
        .request(get_request(&server.url("/certs")))
        .await
        .unwrap_err();
    assert!(!matches!(err, Error::Timeout(_)), "fails fast: {err}");
    server.shutdown().await.unwrap();
}
