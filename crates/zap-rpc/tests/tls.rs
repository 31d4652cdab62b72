//! Mutual TLS: identities from verified certificates, verifiers deciding on them, and
//! every refusal the issue names. Real certificates (rcgen), real TLS on 127.0.0.1.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls_pki_types::ServerName;
use support::pki::{Ca, Cluster};
use tokio::io::AsyncReadExt;
use zap_rpc::{
    AllowList, Client, ClientOptions, Context, ErrorKind, MessageBuf, NodeIdStatus,
    PeerCertificate, PeerInfo, Server, Status, TlsClientConfig, TransportAddr,
};

/// What a handler saw of its caller.
#[derive(Debug, Clone)]
struct Seen {
    identity: String,
    status: NodeIdStatus,
    certificate: Option<PeerCertificate>,
    key_exchange: Option<String>,
}

impl Seen {
    fn of(peer: &PeerInfo) -> Self {
        Self {
            identity: peer.identity().to_string(),
            status: peer.node_id_status(),
            certificate: peer.certificate().cloned(),
            key_exchange: peer.tls().and_then(|t| t.key_exchange.clone()),
        }
    }
}

async fn tls_server(cluster: &Cluster) -> (Server, tokio::sync::mpsc::UnboundedReceiver<Seen>) {
    let (tx, rx) = support::probe();
    let server = support::builder("server.test")
        .register("WhoAmI", move |ctx: Context, _: MessageBuf| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Seen::of(ctx.peer()));
                Ok::<_, Status>(MessageBuf::empty())
            }
        })
        .unwrap()
        .tls(cluster.server.clone())
        .start()
        .await
        .unwrap();
    (server, rx)
}

async fn client(server: &Server, tls: TlsClientConfig, node_id: &str) -> Client {
    Client::connect(
        "_zaptest._tcp",
        support::options(server.tcp_addr())
            .node_id(node_id)
            .tls(tls)
            .connect_attempts(1),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_mutual_tls_succeeds_with_a_ca_signed_client_certificate() {
    support::init_tracing();
    let cluster = Cluster::new();
    let (server, mut seen) = tls_server(&cluster).await;
    assert!(matches!(server.local_addr(), TransportAddr::Tls(_)));
    let client = client(&server, cluster.alice.clone(), "alice.test").await;

    let reply = client
        .call("Add1", MessageBuf::with_u32(41, 0))
        .await
        .unwrap();
    assert_eq!(support::root_u32(&reply), 42);
    client.call("WhoAmI", MessageBuf::empty()).await.unwrap();

    // The server saw the verified certificate, not just a claim.
    let s = support::recv(&mut seen, Duration::from_secs(2), "WhoAmI").await;
    assert_eq!(s.identity, "spiffe://cluster/alice", "URI SANs come first");
    assert_eq!(
        s.status,
        NodeIdStatus::Verified,
        "alice.test is a SAN of the certificate"
    );
    let cert = s.certificate.expect("a certificate");
    assert_eq!(cert.common_name.as_deref(), Some("alice"));
    assert_eq!(cert.dns_names, ["alice.test"]);
    assert_eq!(cert.uris, ["spiffe://cluster/alice"]);
    let expected = PeerCertificate::from_der(&cluster.alice_leaf.der).unwrap();
    assert_eq!(cert.fingerprint, expected.fingerprint);
    assert_eq!(cert.der.as_ref(), cluster.alice_leaf.der.as_ref());
    // The hybrid post-quantum group is what both sides prefer.
    assert_eq!(s.key_exchange.as_deref(), Some("X25519MLKEM768"));

    // And the client saw the server's.
    let conn = &client.connections()[0];
    let peer = conn.peer();
    assert_eq!(peer.identity(), "server.test");
    assert_eq!(peer.node_id_status(), NodeIdStatus::Verified);
    let tls = peer.tls().unwrap();
    assert!(
        tls.cipher_suite.as_deref().unwrap().starts_with("TLS13_"),
        "{tls:?}"
    );
    assert_eq!(
        tls.certificate.ip_addresses,
        ["127.0.0.1".parse::<std::net::IpAddr>().unwrap()]
    );
    client.close();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_from_another_ca_is_refused() {
    let cluster = Cluster::new();
    let (server, _seen) = tls_server(&cluster).await;
    let rogue = Ca::new("rogue CA");
    // Trusts the real server, but holds a certificate the server's CA never issued.
    let tls = rogue.client(&rogue.leaf("alice", &["alice.test"]), &cluster.ca);
    let client = client(&server, tls, "alice.test").await;
    let started = Instant::now();
    let err = client.call("Echo", MessageBuf::empty()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "refused at once"
    );
    let text = err.to_string().to_lowercase();
    assert!(
        text.contains("alert") || text.contains("certificate"),
        "{text}"
    );
    assert_eq!(server.stats().connections_accepted, 0);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_client_certificate_is_refused() {
    let cluster = Cluster::new();
    let (server, _seen) = tls_server(&cluster).await;
    let expired = cluster.ca.expired_leaf("alice", &["alice.test"]);
    let client = client(
        &server,
        cluster.ca.client(&expired, &cluster.ca),
        "alice.test",
    )
    .await;
    let err = client.call("Echo", MessageBuf::empty()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection, "{err}");
    assert!(err.to_string().contains("Expired"), "{err}");
    assert_eq!(server.stats().connections_accepted, 0);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_san_not_in_the_allow_list_is_unauthorized_for_that_procedure_and_not_another() {
    let cluster = Cluster::new();
    let server = support::builder("server.test")
        .verifier(
            AllowList::new()
                .allow("Echo", ["alice.test", "bob.test"])
                .allow("Add1", ["bob.test"]),
        )
        .tls(cluster.server.clone())
        .start()
        .await
        .unwrap();
    // Alice claims to be bob in her handshake: the claim does not count.
    let alice = client(&server, cluster.alice.clone(), "bob.test").await;
    let err = alice
        .call("Add1", MessageBuf::with_u32(1, 0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(err.to_string().contains("spiffe://cluster/alice"), "{err}");
    alice.call("Echo", MessageBuf::empty()).await.unwrap();

    let bob = client(&server, cluster.bob.clone(), "bob.test").await;
    let reply = bob.call("Add1", MessageBuf::with_u32(1, 0)).await.unwrap();
    assert_eq!(support::root_u32(&reply), 2);
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_id_the_certificate_does_not_name_is_visible_to_verifiers() {
    let cluster = Cluster::new();
    let server = support::builder("server.test")
        .verifier(|peer: &PeerInfo, _: &str| match peer.node_id_status() {
            NodeIdStatus::Mismatch => Err(Status::unauthorized(format!(
                "node id {:?} is not in the certificate of {}",
                peer.node_id,
                peer.identity()
            ))),
            _ => Ok(()),
        })
        .tls(cluster.server.clone())
        .start()
        .await
        .unwrap();
    let honest = client(&server, cluster.alice.clone(), "alice.test").await;
    honest.call("Echo", MessageBuf::empty()).await.unwrap();
    let liar = client(&server, cluster.alice.clone(), "server.test").await;
    let err = liar.call("Echo", MessageBuf::empty()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthorized, "{err}");
    assert!(
        err.to_string().contains("\"server.test\" is not in"),
        "{err}"
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_refuses_a_server_it_cannot_verify() {
    let cluster = Cluster::new();
    let (server, _seen) = tls_server(&cluster).await;
    // A client that trusts another CA for servers.
    let other = Ca::new("other CA");
    let tls = cluster
        .ca
        .client(&cluster.ca.leaf("alice", &["alice.test"]), &other);
    let err = client(&server, tls, "alice.test")
        .await
        .call("Echo", MessageBuf::empty())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connection);
    assert!(err.to_string().contains("UnknownIssuer"), "{err}");

    // The right CA, but the certificate does not name what we expect.
    let tls = cluster
        .alice
        .clone()
        .with_server_name("elsewhere.test")
        .unwrap();
    let err = client(&server, tls, "alice.test")
        .await
        .call("Echo", MessageBuf::empty())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not valid for name"), "{err}");

    // Named as the certificate says: fine.
    let tls = cluster
        .alice
        .clone()
        .with_server_name("server.test")
        .unwrap();
    client(&server, tls, "alice.test")
        .await
        .call("Echo", MessageBuf::empty())
        .await
        .unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

/// A raw TLS client with its own settings, for what our client never does.
async fn raw_handshake(
    server: &Server,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[u8],
    cluster: &Cluster,
) -> std::io::Result<()> {
    let leaf = cluster.ca.leaf("alice", &["alice.test"]);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cluster.ca.der.clone()).unwrap();
    let mut config =
        rustls::ClientConfig::builder_with_provider(zap_rpc::transport::crypto_provider())
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(vec![leaf.der.clone()], leaf.key())
            .unwrap();
    if !alpn.is_empty() {
        config.alpn_protocols = vec![alpn.to_vec()];
    }
    let tcp = tokio::net::TcpStream::connect(server.tcp_addr().unwrap()).await?;
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("server.test").unwrap(), tcp)
        .await?;
    // In TLS 1.3 the server judges the client's certificate after the client finished;
    // a refusal would arrive on the first read. Accepted, the server waits for our
    // handshake and says nothing.
    let mut b = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(300), tls.read(&mut b)).await {
        Ok(Err(e)) => Err(e),
        _ => Ok(()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_tls_1_3_and_the_zap_alpn_are_spoken() {
    let cluster = Cluster::new();
    let (server, _seen) = tls_server(&cluster).await;
    let tls12 = raw_handshake(&server, &[&rustls::version::TLS12], b"zap", &cluster).await;
    assert!(tls12.is_err(), "TLS 1.2 was accepted");
    let h2 = raw_handshake(&server, &[&rustls::version::TLS13], b"h2", &cluster).await;
    assert!(
        h2.unwrap_err()
            .to_string()
            .contains("NoApplicationProtocol"),
        "another ALPN was accepted"
    );
    raw_handshake(&server, &[&rustls::version::TLS13], b"zap", &cluster)
        .await
        .unwrap();
    // A client that offers no ALPN at all is served.
    raw_handshake(&server, &[&rustls::version::TLS13], b"", &cluster)
        .await
        .unwrap();
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_stalling_its_handshake_does_not_hold_up_others() {
    let cluster = Cluster::new();
    let (server, _seen) = tls_server(&cluster).await;
    // Connects and never says a word.
    let _silent = tokio::net::TcpStream::connect(server.tcp_addr().unwrap())
        .await
        .unwrap();
    let started = Instant::now();
    let client = client(&server, cluster.alice.clone(), "alice.test").await;
    client.call("Echo", MessageBuf::empty()).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );
    server.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_load_from_pem_files_and_bad_files_are_clear_errors() {
    let dir = support::TempDir::new("pem");
    let ca = Ca::new("pem CA");
    let leaf = ca.leaf("alice", &["alice.test"]);
    std::fs::write(dir.join("ca.pem"), &ca.pem).unwrap();
    std::fs::write(dir.join("a.pem"), &leaf.pem).unwrap();
    std::fs::write(dir.join("a.key"), &leaf.key_pem).unwrap();
    TlsClientConfig::from_pem_files(dir.join("a.pem"), dir.join("a.key"), dir.join("ca.pem"))
        .unwrap();
    zap_rpc::TlsServerConfig::from_pem_files(
        dir.join("a.pem"),
        dir.join("a.key"),
        dir.join("ca.pem"),
    )
    .unwrap();
    let missing = TlsClientConfig::from_pem_files(
        dir.join("nope.pem"),
        dir.join("a.key"),
        dir.join("ca.pem"),
    )
    .unwrap_err();
    assert!(missing.to_string().contains("nope.pem"), "{missing}");
    let swapped =
        TlsClientConfig::from_pem_files(dir.join("a.key"), dir.join("a.key"), dir.join("ca.pem"))
            .unwrap_err();
    assert!(swapped.to_string().contains("no certificate"), "{swapped}");
    let no_key =
        TlsClientConfig::from_pem_files(dir.join("a.pem"), dir.join("a.pem"), dir.join("ca.pem"))
            .unwrap_err();
    assert!(no_key.to_string().contains("no private key"), "{no_key}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_dials_plain_addresses_and_schemes_alike() {
    let cluster = Cluster::new();
    let (server, _seen) = tls_server(&cluster).await;
    let client = Client::connect(
        "_zaptest._tcp",
        ClientOptions::new()
            .peers([format!("zaps://{}", server.tcp_addr().unwrap())
                .parse()
                .unwrap()])
            .tls(cluster.bob.clone())
            .call_timeout(Duration::from_secs(5)),
    )
    .await
    .unwrap();
    client.call("Echo", MessageBuf::empty()).await.unwrap();
    assert_eq!(client.connections()[0].peer().addr, *server.local_addr());
    server.shutdown(Duration::from_secs(1)).await;
}
