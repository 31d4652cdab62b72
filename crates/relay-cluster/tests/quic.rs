//! The relay over real QUIC (and WebSocket over TLS) on 127.0.0.1 with rcgen certificates.
#![cfg(feature = "quic")]

mod common;

use std::time::Duration;

use common::*;
use relay_cluster::{Client, ClientConfig, Error, HmacValidator, PeerId, TransportKind};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_exchange_both_ways_over_quic() {
    let (server, port, tls) = tls_server().await;
    let url = format!("quic://127.0.0.1:{port}");
    let mut a = connect_tls(&url, "alice", &tls).await;
    let mut b = connect_tls(&url, "bob", &tls).await;
    assert_eq!(a.transport(), TransportKind::Quic);
    assert_eq!(a.instance_url(), "rels://relay.test:443");

    a.send(&b.peer_id(), b"hello over quic").await.unwrap();
    assert_eq!(
        next_transport(&mut b).await,
        (a.peer_id(), b"hello over quic".to_vec())
    );
    b.send(&a.peer_id(), b"and back").await.unwrap();
    assert_eq!(
        next_transport(&mut a).await,
        (b.peer_id(), b"and back".to_vec())
    );

    // Presence works the same over datagrams.
    a.subscribe(&[b.peer_id()]).await.unwrap();
    assert_eq!(
        next(&mut a).await,
        relay_cluster::Event::PeersOnline(vec![b.peer_id()])
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_and_secure_websocket_peers_talk_to_each_other() {
    let (server, port, tls) = tls_server().await;
    let mut q = connect_tls(&format!("quic://127.0.0.1:{port}"), "quic-peer", &tls).await;
    let mut w = connect_tls(&format!("rels://127.0.0.1:{port}"), "wss-peer", &tls).await;
    assert_eq!(w.transport(), TransportKind::WebSocket);

    q.send(&w.peer_id(), b"quic to wss").await.unwrap();
    assert_eq!(
        next_transport(&mut w).await,
        (q.peer_id(), b"quic to wss".to_vec())
    );
    w.send(&q.peer_id(), b"wss to quic").await.unwrap();
    assert_eq!(
        next_transport(&mut q).await,
        (w.peer_id(), b"wss to quic".to_vec())
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_refuses_a_bad_token_with_a_reason() {
    let (server, port, tls) = tls_server().await;
    let forged = HmacValidator::new("wrong").issue(Duration::from_secs(60));
    let cfg = ClientConfig::new(
        format!("quic://127.0.0.1:{port}"),
        PeerId::from_identity("m"),
        forged,
    )
    .with_tls(tls);
    match Client::connect(cfg).await {
        Err(Error::Refused(info)) => {
            assert!(info.reason.contains("authentication failed"), "{info}")
        }
        other => panic!("expected a refusal: {other:?}"),
    }
    assert!(server.store().is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quic_reconnect_replaces_the_old_connection() {
    let (server, port, tls) = tls_server().await;
    let url = format!("quic://127.0.0.1:{port}");
    let mut old = connect_tls(&url, "alice", &tls).await;
    let _new = connect_tls(&url, "alice", &tls).await;
    match tokio::time::timeout(WAIT, old.recv()).await.unwrap() {
        Err(Error::Closed(Some(info))) => assert!(info.reason.contains("replaced"), "{info}"),
        other => panic!("expected the old QUIC connection to close: {other:?}"),
    }
    assert_eq!(server.store().len(), 1);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_needs_trust_roots() {
    let (server, port, _tls) = tls_server().await;
    let cfg = ClientConfig::new(
        format!("rels://127.0.0.1:{port}"),
        PeerId::from_identity("x"),
        token(),
    );
    assert!(matches!(Client::connect(cfg).await, Err(Error::Config(_))));
    // Roots that do not match the server's certificate fail the TLS handshake.
    let other = tls().client;
    let cfg = ClientConfig::new(
        format!("rels://127.0.0.1:{port}"),
        PeerId::from_identity("x"),
        token(),
    )
    .with_tls(other);
    assert!(Client::connect(cfg).await.is_err());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_datagram_closes_only_that_quic_connection() {
    use std::sync::Arc;

    let (server, port, tls) = tls_server().await;
    let url = format!("quic://127.0.0.1:{port}");
    let a = connect_tls(&url, "bystander-a", &tls).await;
    let mut b = connect_tls(&url, "bystander-b", &tls).await;

    // A hand-driven QUIC peer: authenticates, then sends a datagram with version 2.
    let mut client_tls = tls.clone();
    client_tls.alpn_protocols = vec![b"nb-quic".to_vec()];
    let crypto = quinn::crypto::rustls::QuicClientConfig::try_from(Arc::new(client_tls)).unwrap();
    let mut transport = quinn::TransportConfig::default();
    transport.datagram_receive_buffer_size(Some(1 << 16));
    let mut cfg = quinn::ClientConfig::new(Arc::new(crypto));
    cfg.transport_config(Arc::new(transport));
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let conn = endpoint
        .connect_with(
            cfg,
            format!("127.0.0.1:{port}").parse().unwrap(),
            "127.0.0.1",
        )
        .unwrap()
        .await
        .unwrap();
    let auth =
        relay_cluster::wire::encode_auth(&PeerId::from_identity("offender"), &token()).unwrap();
    conn.send_datagram(auth).unwrap();
    let resp = tokio::time::timeout(WAIT, conn.read_datagram())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&resp[..2], &[1, 7], "AuthResponse");
    conn.send_datagram(bytes::Bytes::from_static(&[2, 3]))
        .unwrap();
    let closed = tokio::time::timeout(WAIT, conn.closed()).await.unwrap();
    match closed {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code, quinn::VarInt::from_u32(1002));
            assert!(String::from_utf8_lossy(&c.reason).contains("version"));
        }
        other => panic!("expected an application close: {other}"),
    }

    a.send(&b.peer_id(), b"unaffected").await.unwrap();
    assert_eq!(next_transport(&mut b).await.1, b"unaffected");
    assert_eq!(server.store().len(), 2);
    server.shutdown().await;
}
