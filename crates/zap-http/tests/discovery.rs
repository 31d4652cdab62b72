//! The discovery dialer: auth rules, round robin, failover, eviction, the startup gate,
//! and mDNS on the loopback interface.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use http::HeaderMap;
use support::*;
use zap_discovery::{Peer, StaticDiscovery};
use zap_http::discovery::{Bearer, DiscoveryClient, NoAuth};
use zap_http::{Client, Endpoint, Error};

/// An app that says which server it is and what Authorization it received.
fn named(name: &'static str) -> Router {
    Router::new().route(
        "/who",
        get(move |headers: HeaderMap| async move {
            let auth = headers
                .get(http::header::AUTHORIZATION)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_else(|| "-".into());
            let host = headers
                .get(http::header::HOST)
                .map(|v| v.to_str().unwrap().to_string())
                .unwrap_or_default();
            format!("{name} {auth} {host}")
        }),
    )
}

async fn two_servers() -> (Running, Running, Arc<StaticDiscovery>) {
    let a = start(zap_http::server::Builder::new(), named("a")).await;
    let b = start(zap_http::server::Builder::new(), named("b")).await;
    let discovery = Arc::new(
        StaticDiscovery::new(
            "_test._tcp",
            [
                Peer::new(a.addr).with_node_id("node-a"),
                Peer::new(b.addr).with_node_id("node-b"),
            ],
        )
        .unwrap(),
    );
    (a, b, discovery)
}

#[tokio::test]
async fn bearer_is_attached_per_call_and_a_per_call_header_wins() {
    let (a, b, discovery) = two_servers().await;
    let client = DiscoveryClient::builder(discovery)
        .auth(Bearer::new("t0ken").unwrap())
        .build()
        .await
        .unwrap();
    for _ in 0..2 {
        let seen = text(
            client
                .request(get_request("http://svc.internal/who"))
                .await
                .unwrap(),
        )
        .await;
        assert!(seen.ends_with(" Bearer t0ken svc.internal"), "{seen}");
    }
    let mut req = get_request("http://svc.internal/who");
    req.headers_mut()
        .insert(http::header::AUTHORIZATION, "Bearer mine".parse().unwrap());
    let seen = text(client.request(req).await.unwrap()).await;
    assert!(seen.contains(" Bearer mine "), "{seen}");
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn round_robin_really_rotates() {
    let (a, b, discovery) = two_servers().await;
    let client = DiscoveryClient::builder(discovery)
        .auth(Bearer::new("x").unwrap())
        .min_peers(2)
        .build()
        .await
        .unwrap();
    let mut order = Vec::new();
    for _ in 0..6 {
        let seen = text(client.request(get_request("http://svc/who")).await.unwrap()).await;
        order.push(seen.split(' ').next().unwrap().to_string());
    }
    assert_eq!(order, ["a", "b", "a", "b", "a", "b"]);
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn misconfigured_auth_is_refused() {
    assert!(matches!(Bearer::new(""), Err(Error::Config(_))));
    assert!(matches!(Bearer::new(" \t"), Err(Error::Config(_))));
    assert!(matches!(Bearer::new("bad\ntoken"), Err(Error::Config(_))));

    let discovery = StaticDiscovery::parse("_test._tcp", ["127.0.0.1:9"]).unwrap();
    let err = DiscoveryClient::builder(discovery)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Config(ref m) if m.contains("no auth")),
        "{err}"
    );

    // Local trust over plain TCP would hand unauthenticated requests to any announcer.
    let discovery = StaticDiscovery::parse("_test._tcp", ["127.0.0.1:9"]).unwrap();
    let err = DiscoveryClient::builder(discovery)
        .auth(NoAuth)
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Config(ref m) if m.contains("mutual-TLS")),
        "{err}"
    );

    // A custom attacher can refuse a call.
    let server = start_default().await;
    let discovery = StaticDiscovery::from_addrs("_test._tcp", [server.addr]).unwrap();
    let client = DiscoveryClient::builder(discovery)
        .auth(|_: &mut HeaderMap, peer: &Peer| {
            Err(Error::Auth(format!("no credentials for {peer}")))
        })
        .build()
        .await
        .unwrap();
    let err = client
        .request(get_request("http://svc/health"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_dead_peer_fails_over_to_a_live_one() {
    let live = start(zap_http::server::Builder::new(), named("live")).await;
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let discovery = StaticDiscovery::new(
        "_test._tcp",
        [
            Peer::new(dead).with_node_id("a-dead"),
            Peer::new(live.addr).with_node_id("b-live"),
        ],
    )
    .unwrap();
    let client = DiscoveryClient::builder(discovery)
        .auth(Bearer::new("x").unwrap())
        .build()
        .await
        .unwrap();
    for _ in 0..4 {
        let seen = text(client.request(get_request("http://svc/who")).await.unwrap()).await;
        assert!(seen.starts_with("live "), "{seen}");
    }
    live.shutdown().await.unwrap();
}

#[tokio::test]
async fn removed_peers_lose_their_pooled_connections() {
    let (a, b, discovery) = two_servers().await;
    let client = DiscoveryClient::builder(discovery.clone())
        .auth(Bearer::new("x").unwrap())
        .build()
        .await
        .unwrap();
    for _ in 0..2 {
        client
            .request(get_request("http://svc/who"))
            .await
            .map(drop)
            .unwrap();
    }
    let ep_a = Endpoint::tcp(a.addr).with_tls_name("node-a");
    let ep_b = Endpoint::tcp(b.addr).with_tls_name("node-b");
    assert_eq!(client.client().idle_connections(&ep_a), 1);
    assert_eq!(client.client().idle_connections(&ep_b), 1);

    discovery
        .set_peers([Peer::new(b.addr).with_node_id("node-b")])
        .unwrap();
    eventually(|| client.client().idle_connections(&ep_a) == 0).await;
    assert_eq!(client.client().idle_connections(&ep_b), 1);
    assert!(!client.client().pooled_endpoints().contains(&ep_a));

    // Everything now goes to b.
    for _ in 0..3 {
        let seen = text(client.request(get_request("http://svc/who")).await.unwrap()).await;
        assert!(seen.starts_with("b "), "{seen}");
    }
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_startup_gate_waits_for_peers_and_gives_up_in_time() {
    let discovery = Arc::new(StaticDiscovery::new("_test._tcp", []).unwrap());
    let err = DiscoveryClient::builder(discovery.clone())
        .auth(Bearer::new("x").unwrap())
        .discover_timeout(Duration::from_millis(50))
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Discovery(zap_discovery::Error::Timeout {
                wanted: Some(1),
                have: 0,
                ..
            })
        ),
        "{err}"
    );

    // A peer arriving during the wait releases it.
    let server = start_default().await;
    let waiting = tokio::spawn({
        let discovery = discovery.clone();
        async move {
            DiscoveryClient::builder(discovery)
                .auth(Bearer::new("x").unwrap())
                .build()
                .await
        }
    });
    discovery.set_peers([Peer::new(server.addr)]).unwrap();
    let client = tokio::time::timeout(PATIENCE, waiting)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let resp = client
        .request(get_request("http://svc/health"))
        .await
        .unwrap();
    assert_eq!(text(resp).await, "ok");

    // With every peer gone, a request says so.
    discovery.set_peers([]).unwrap();
    let err = client
        .request(get_request("http://svc/health"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Discovery(zap_discovery::Error::NoPeers)),
        "{err}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_peer_that_disappears_mid_stream_gives_an_error() {
    let release = Arc::new(tokio::sync::Notify::new());
    let app = {
        let release = release.clone();
        Router::new().route(
            "/stream",
            get(move || {
                let release = release.clone();
                async move {
                    let frames = futures_util::stream::unfold(0u8, move |i| {
                        let release = release.clone();
                        async move {
                            match i {
                                0 => Some((Ok(bytes::Bytes::from_static(b"first")), 1)),
                                _ => {
                                    release.notified().await;
                                    Some((Err(std::io::Error::other("pod evicted")), 2))
                                }
                            }
                        }
                    });
                    axum::body::Body::from_stream(frames)
                }
            }),
        )
    };
    let server = start(zap_http::server::Builder::new(), app).await;
    let discovery = StaticDiscovery::from_addrs("_test._tcp", [server.addr]).unwrap();
    let client = DiscoveryClient::builder(discovery)
        .auth(Bearer::new("x").unwrap())
        .build()
        .await
        .unwrap();
    let resp = client
        .request(get_request("http://svc/stream"))
        .await
        .unwrap();
    let mut body = resp.into_body();
    use http_body_util::BodyExt;
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "first");
    release.notify_one();
    let err = body.frame().await.unwrap().unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_discovery_client_is_a_tower_service() {
    use tower::{ServiceBuilder, ServiceExt};
    let server = start_default().await;
    let discovery = StaticDiscovery::from_addrs("_test._tcp", [server.addr]).unwrap();
    let client = DiscoveryClient::builder(discovery)
        .auth(Bearer::new("x").unwrap())
        .client(Client::builder().build())
        .build()
        .await
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(
            tower_http::set_header::SetRequestHeaderLayer::if_not_present(
                http::header::HeaderName::from_static("x-tenant"),
                http::HeaderValue::from_static("t1"),
            ),
        )
        .service(client);
    let resp = svc
        .oneshot(get_request("http://svc/headers"))
        .await
        .unwrap();
    let seen = text(resp).await;
    assert!(seen.contains("x-tenant: t1"));
    assert!(seen.contains("authorization: Bearer x"));
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn mdns_on_loopback_finds_the_server() {
    use zap_discovery::ServiceType;
    use zap_discovery::mdns::{Announcement, Mdns, MdnsConfig};

    let server = start_default().await;
    // A private port keeps this test away from any real mDNS traffic on the machine.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .unwrap()
        .port();
    let mdns = Mdns::new(MdnsConfig::new().with_port(port).without_probing()).unwrap();
    let service = ServiceType::new("_zaphttptest._tcp").unwrap();
    let browse = mdns.browse(&service).unwrap();
    browse.wait_started(PATIENCE).await.unwrap();
    let _announced = mdns
        .announce(Announcement::new(
            service.clone(),
            "node-1",
            server.addr.port(),
        ))
        .unwrap();
    let client = DiscoveryClient::builder(browse)
        .auth(Bearer::new("x").unwrap())
        .discover_timeout(PATIENCE)
        .build()
        .await
        .unwrap();
    assert_eq!(client.peers()[0].node_id(), Some("node-1"));
    let resp = client
        .request(get_request("http://svc/health"))
        .await
        .unwrap();
    assert_eq!(text(resp).await, "ok");
    client.shutdown();
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_http_timeout_bounds_a_request() {
    let app = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let server = start(zap_http::server::Builder::new(), app).await;
    let discovery = StaticDiscovery::from_addrs("_test._tcp", [server.addr]).unwrap();
    let client = DiscoveryClient::builder(discovery)
        .auth(Bearer::new("x").unwrap())
        .http_timeout(Some(Duration::from_millis(100)))
        .build()
        .await
        .unwrap();
    let err = client
        .request(get_request("http://svc/slow"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Timeout(zap_http::TimeoutKind::Request)),
        "{err}"
    );
}
