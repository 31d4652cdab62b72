//! The relay over real WebSocket connections on 127.0.0.1.

mod common;

use std::time::Duration;

use common::*;
use relay_cluster::{
    Client, ClientConfig, Error, Event, HmacValidator, PeerId, Server, ServerConfig, wire,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_peers_exchange_both_ways() {
    let (server, url) = plain_server().await;
    let mut a = connect(&url, "alice").await;
    let mut b = connect(&url, "bob").await;
    assert_eq!(a.instance_url(), "rel://127.0.0.1:1");
    let (alice, bob) = (a.peer_id(), b.peer_id());

    a.send(&bob, b"hello bob").await.unwrap();
    assert_eq!(next_transport(&mut b).await, (alice, b"hello bob".to_vec()));
    b.send(&alice, b"hello alice").await.unwrap();
    assert_eq!(next_transport(&mut a).await, (bob, b"hello alice".to_vec()));

    // Largest payload the protocol allows, and order is kept.
    let big = vec![0xAB; wire::MAX_TRANSPORT_PAYLOAD];
    for i in 0..20u8 {
        a.send(&bob, &[i]).await.unwrap();
    }
    a.send(&bob, &big).await.unwrap();
    for i in 0..20u8 {
        assert_eq!(next_transport(&mut b).await, (alice, vec![i]));
    }
    assert_eq!(next_transport(&mut b).await.1, big);
    assert_eq!(server.store().len(), 2);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_and_expired_tokens_are_refused() {
    let (server, url) = plain_server().await;
    let id = PeerId::from_identity("mallory");

    let forged = HmacValidator::new("wrong-secret").issue(Duration::from_secs(60));
    match Client::connect(ClientConfig::new(&url, id, forged)).await {
        Err(Error::Refused(info)) => {
            assert_eq!(info.code, 1008);
            assert!(info.reason.contains("signature"), "{info}");
        }
        other => panic!("forged token: {other:?}"),
    }

    let expired = auth().issue_until(1_000_000_000);
    match Client::connect(ClientConfig::new(&url, id, expired)).await {
        Err(Error::Refused(info)) => assert!(info.reason.contains("expired"), "{info}"),
        other => panic!("expired token: {other:?}"),
    }

    match Client::connect(ClientConfig::new(&url, id, b"garbage".to_vec())).await {
        Err(Error::Refused(info)) => assert!(info.reason.contains("malformed"), "{info}"),
        other => panic!("garbage token: {other:?}"),
    }
    assert!(server.store().is_empty(), "no refused peer was admitted");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_with_same_id_replaces_the_old_connection() {
    let (server, url) = plain_server().await;
    let mut old = connect(&url, "alice").await;
    let old_conn = server.store().get(&old.peer_id()).unwrap().conn_id();
    let mut new = connect(&url, "alice").await;
    let mut b = connect(&url, "bob").await;

    match tokio::time::timeout(WAIT, old.recv()).await.unwrap() {
        Err(Error::Closed(Some(info))) => assert!(info.reason.contains("replaced"), "{info}"),
        other => panic!("the old connection should be closed as replaced: {other:?}"),
    }
    let current = server.store().get(&new.peer_id()).unwrap();
    assert_ne!(current.conn_id(), old_conn);
    assert_eq!(server.store().len(), 2);

    b.send(&new.peer_id(), b"to the new one").await.unwrap();
    assert_eq!(next_transport(&mut new).await.1, b"to the new one");
    new.send(&b.peer_id(), b"from the new one").await.unwrap();
    assert_eq!(next_transport(&mut b).await.1, b"from the new one");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_see_online_and_offline() {
    let (server, url) = plain_server().await;
    let mut a = connect(&url, "alice").await;
    let bob = PeerId::from_identity("bob");
    let carol = PeerId::from_identity("carol");

    // Carol is online before the subscription: reported at once.
    let c = connect(&url, "carol").await;
    a.subscribe(&[bob, carol]).await.unwrap();
    assert_eq!(next(&mut a).await, Event::PeersOnline(vec![carol]));

    // Bob comes later: reported when he arrives.
    let b = connect(&url, "bob").await;
    assert_eq!(next(&mut a).await, Event::PeersOnline(vec![bob]));

    b.close().await;
    assert_eq!(next(&mut a).await, Event::PeersWentOffline(vec![bob]));

    // After unsubscribing, Carol's departure is not reported; a later event proves it.
    a.unsubscribe(&[carol]).await.unwrap();
    // The relay handles one connection's messages in order: once a message to ourselves
    // comes back, the unsubscribe has been applied.
    a.send(&a.peer_id(), b"barrier").await.unwrap();
    assert_eq!(next_transport(&mut a).await.1, b"barrier");
    let mut watch = server.store().watch();
    drop(c);
    tokio::time::timeout(WAIT, async {
        while let Ok(ev) = watch.recv().await {
            if ev.peer == carol && !ev.online {
                return;
            }
        }
    })
    .await
    .expect("carol leaves");
    let b2 = connect(&url, "bob").await;
    b2.close().await;
    assert_eq!(next(&mut a).await, Event::PeersWentOffline(vec![bob]));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_for_peer_returns_once_the_peer_attaches() {
    let (server, url) = plain_server().await;
    let mut a = connect(&url, "alice").await;
    let bob = PeerId::from_identity("bob");
    let url2 = url.clone();
    let join = tokio::spawn(async move { connect(&url2, "bob").await });
    a.wait_for_peer(&bob, WAIT).await.unwrap();
    let _b = join.await.unwrap();
    assert!(matches!(
        a.wait_for_peer(&PeerId::from_identity("nobody"), Duration::from_millis(200))
            .await,
        Err(Error::Timeout { .. })
    ));
    server.shutdown().await;
}

/// A healthy pair keeps talking after another connection misbehaved.
async fn pair_still_works(url: &str) {
    let a = connect(url, "healthy-a").await;
    let mut b = connect(url, "healthy-b").await;
    a.send(&b.peer_id(), b"still here").await.unwrap();
    assert_eq!(
        next_transport(&mut b).await,
        (a.peer_id(), b"still here".to_vec())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_messages_close_only_the_offender() {
    let (server, url) = plain_server().await;
    let addr = server.local_addrs().unwrap().websocket;
    let a = connect(&url, "bystander-a").await;
    let mut b = connect(&url, "bystander-b").await;

    let bad_messages: Vec<(&str, Vec<u8>, u16)> = vec![
        ("bad version", vec![2, 3], 1002),
        ("unknown type", vec![1, 12], 1002),
        ("server-only type", vec![1, 10], 1002),
        ("short transport", vec![1, 3, 0, 0], 1002),
        ("ragged subscribe", vec![1, 8, 0, 0, 0], 1002),
        ("oversized", vec![1; wire::MAX_MESSAGE_SIZE + 1], 1009),
    ];
    for (what, msg, code) in bad_messages {
        let (mut raw, status) = RawWs::open(addr, "/relay").await;
        assert_eq!(status, 101);
        raw.auth(&format!("offender-{what}")).await;
        raw.binary(&msg).await;
        let closed = raw.until_closed().await;
        assert_eq!(closed.map(|c| c.0), Some(code), "{what}");
    }

    // A text message, then a frame with reserved bits and an unknown opcode.
    let (mut raw, _) = RawWs::open(addr, "/relay").await;
    raw.auth("offender-text").await;
    raw.frame(0x81, b"not binary").await;
    assert_eq!(raw.until_closed().await.map(|c| c.0), Some(1002));
    let (mut raw, _) = RawWs::open(addr, "/relay").await;
    raw.auth("offender-garbage-frame").await;
    raw.frame(0xFF, b"garbage").await;
    raw.until_closed().await;

    // An oversized first message and a non-Auth first message.
    let (mut raw, _) = RawWs::open(addr, "/relay").await;
    raw.binary(&[1; 300]).await;
    assert_eq!(raw.until_closed().await.map(|c| c.0), Some(1009));
    let (mut raw, _) = RawWs::open(addr, "/relay").await;
    raw.binary(&wire::encode_transport(&a.peer_id(), b"x").unwrap())
        .await;
    assert_eq!(raw.until_closed().await.map(|c| c.0), Some(1002));

    // The bystanders never noticed.
    a.send(&b.peer_id(), b"unaffected").await.unwrap();
    assert_eq!(next_transport(&mut b).await.1, b"unaffected");
    assert_eq!(server.store().len(), 2);
    pair_still_works(&url).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deprecated_hello_is_refused_with_a_reason() {
    let (server, _url) = plain_server().await;
    let addr = server.local_addrs().unwrap().websocket;
    let (mut raw, _) = RawWs::open(addr, "/relay").await;
    let mut hello = vec![1, 1, 0x21, 0x12, 0xA4, 0x42];
    hello.extend_from_slice(PeerId::from_identity("old-client").as_bytes());
    hello.extend_from_slice(b"\x0b\xff\x81gob-bytes");
    raw.binary(&hello).await;
    let (code, reason) = raw.until_closed().await.expect("a close frame");
    assert_eq!(code, 1008);
    assert!(reason.contains("Hello"), "{reason}");
    assert!(server.store().is_empty());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_drop_a_silent_peer() {
    let (server, url) = plain_server().await;
    let addr = server.local_addrs().unwrap().websocket;
    let silent_id = PeerId::from_identity("silent");
    let (mut raw, _) = RawWs::open(addr, "/relay").await;
    raw.auth("silent").await;
    let live = connect(&url, "live").await;
    assert!(server.store().contains(&silent_id));

    // The raw client reads but never echoes; the relay gives up after one missed check.
    let started = std::time::Instant::now();
    let mut saw_health_check = false;
    let closed = tokio::time::timeout(WAIT, async {
        loop {
            match raw.read_frame().await {
                Some((2, p)) if p == wire::encode_health_check() => saw_health_check = true,
                Some((8, p)) => return String::from_utf8_lossy(&p[2..]).into_owned(),
                Some(_) => {}
                None => return String::new(),
            }
        }
    })
    .await
    .expect("the silent peer is dropped");
    assert!(saw_health_check, "the relay probed the peer first");
    assert!(closed.contains("health check"), "{closed}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(!server.store().contains(&silent_id));
    // The client library echoes, so it survived the same checks.
    assert!(server.store().contains(&live.peer_id()));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_timeout_and_wrong_path() {
    let mut cfg = fast_config();
    cfg.handshake_timeout = Duration::from_millis(300);
    let (server, _url) = plain_server_with(cfg).await;
    let addr = server.local_addrs().unwrap().websocket;

    let (_raw, status) = RawWs::open(addr, "/elsewhere").await;
    assert_eq!(status, 404);

    // Upgrades but never authenticates: closed by the handshake deadline.
    let (mut raw, _) = RawWs::open(addr, "/relay").await;
    let started = std::time::Instant::now();
    let closed = raw.until_closed().await;
    assert_eq!(closed.map(|c| c.0), Some(1008));
    assert!(started.elapsed() < Duration::from_secs(2));

    // Never even upgrades: the TCP connection is closed too.
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read(&mut tcp, &mut buf))
        .await
        .expect("closed within the wait");
    assert!(matches!(n, Ok(0) | Err(_)));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_destination_is_dropped_without_a_forwarder() {
    let (server, url) = plain_server().await;
    let a = connect(&url, "alice").await;
    let mut b = connect(&url, "bob").await;
    a.send(&PeerId::from_identity("nobody"), b"lost")
        .await
        .unwrap();
    a.send(&b.peer_id(), b"delivered").await.unwrap();
    assert_eq!(next_transport(&mut b).await.1, b"delivered");
    assert_eq!(server.store().len(), 2, "the sender was not punished");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_pod_forwarder_and_dispatcher_connect_two_relays() {
    let (pod0, url0) = plain_server().await;
    let (pod1, url1) = plain_server().await;
    let to_pod1 = bridge(&pod1);
    pod0.set_cross_pod_forwarder(to_pod1.clone());
    pod1.set_cross_pod_forwarder(bridge(&pod0));

    let mut a = connect(&url0, "alice").await;
    let mut b = connect(&url1, "bob").await;

    // Subscribing on pod-0 to a peer on pod-1 asks the forwarder to locate it.
    a.subscribe(&[b.peer_id()]).await.unwrap();
    assert_eq!(next(&mut a).await, Event::PeersOnline(vec![b.peer_id()]));

    a.send(&b.peer_id(), b"across pods").await.unwrap();
    assert_eq!(
        next_transport(&mut b).await,
        (a.peer_id(), b"across pods".to_vec())
    );
    b.send(&a.peer_id(), b"and back").await.unwrap();
    assert_eq!(
        next_transport(&mut a).await,
        (b.peer_id(), b"and back".to_vec())
    );

    // The forwarder got the destination beside a message already stamped with the source.
    let (dst, msg) = to_pod1.forwarded.lock().unwrap()[0].clone();
    assert_eq!(dst, b.peer_id());
    assert_eq!(
        wire::decode_server(&msg).unwrap(),
        wire::ServerMessage::Transport {
            src: a.peer_id(),
            payload: b"across pods"
        }
    );

    // Remote presence announced by a fabric reaches local subscribers.
    pod0.relay().announce_remote_offline(&[b.peer_id()]);
    assert_eq!(
        next(&mut a).await,
        Event::PeersWentOffline(vec![b.peer_id()])
    );
    pod0.shutdown().await;
    pod1.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_peers_gracefully() {
    let (server, url) = plain_server().await;
    let mut a = connect(&url, "alice").await;
    let started = std::time::Instant::now();
    server.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(3));
    match tokio::time::timeout(WAIT, a.recv()).await.unwrap() {
        Err(Error::Closed(Some(info))) => assert!(info.reason.contains("shutting down"), "{info}"),
        other => panic!("expected a graceful close: {other:?}"),
    }
    assert!(
        Client::connect(ClientConfig::new(
            &url,
            PeerId::from_identity("late"),
            token()
        ))
        .await
        .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_all_admits_any_token_and_store_can_kick() {
    let cfg = ServerConfig::new(
        "127.0.0.1:0".parse().unwrap(),
        "127.0.0.1:1",
        relay_cluster::AllowAll,
    );
    let server = Server::new(cfg).unwrap();
    let url = format!("rel://{}", server.listen().await.unwrap().websocket);
    let mut a = Client::connect(ClientConfig::new(
        &url,
        PeerId::from_identity("a"),
        Vec::new(),
    ))
    .await
    .unwrap();
    assert!(server.store().disconnect(&a.peer_id()));
    match tokio::time::timeout(WAIT, a.recv()).await.unwrap() {
        Err(Error::Closed(Some(info))) => assert!(info.reason.contains("closed by the relay")),
        other => panic!("expected a close: {other:?}"),
    }
    server.shutdown().await;
}

/// A forwarder whose first lookup waits for a gate, counting lookups.
struct GatedLocator {
    calls: std::sync::atomic::AtomicUsize,
    started: tokio::sync::Notify,
    gate: tokio::sync::Notify,
}

impl relay_cluster::CrossPodForwarder for GatedLocator {
    fn forward(&self, _: &PeerId, _: bytes::Bytes) -> Result<(), relay_cluster::ForwardError> {
        Err(relay_cluster::ForwardError::PeerNotFound)
    }

    fn locate<'a>(&'a self, _: &'a PeerId) -> relay_cluster::LocateFuture<'a> {
        Box::pin(async move {
            let n = self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if n == 0 {
                self.started.notify_one();
                self.gate.notified().await;
                None
            } else {
                Some("pod-1".to_owned())
            }
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_subscriptions_share_one_cross_pod_lookup() {
    let (server, url) = plain_server().await;
    let locator = std::sync::Arc::new(GatedLocator {
        calls: Default::default(),
        started: tokio::sync::Notify::new(),
        gate: tokio::sync::Notify::new(),
    });
    server.set_cross_pod_forwarder(locator.clone());
    let mut a = connect(&url, "alice").await;
    let remote = PeerId::from_identity("remote");
    a.subscribe(&[remote]).await.unwrap();
    tokio::time::timeout(WAIT, locator.started.notified())
        .await
        .expect("the first lookup starts");
    // Five more subscriptions while that lookup is in flight, then a barrier proving the
    // relay has handled them.
    for _ in 0..5 {
        a.subscribe(&[remote]).await.unwrap();
    }
    a.send(&a.peer_id(), b"barrier").await.unwrap();
    assert_eq!(next_transport(&mut a).await.1, b"barrier");
    locator.gate.notify_one();
    assert_eq!(next(&mut a).await, Event::PeersOnline(vec![remote]));
    // The first lookup, then one more for the five subscriptions that arrived meanwhile.
    assert_eq!(locator.calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    server.shutdown().await;
}
