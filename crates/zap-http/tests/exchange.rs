//! Client and server together on loopback: round trips, streaming, pooling, Host,
//! timeouts, panics, shutdown, and tower-http layers around the client.

mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http::header::HeaderValue;
use http_body::Body as _;
use http_body_util::{BodyExt, Full};
use support::*;
use tokio::sync::{Notify, oneshot};
use tower::{ServiceBuilder, ServiceExt};
use zap_http::{Client, Endpoint, Error, TimeoutKind};

#[tokio::test]
async fn get_post_status_and_multi_value_headers_round_trip() {
    let server = start_default().await;
    let client = Client::new();

    let resp = client
        .request(get_request(&server.url("/health")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(!resp.body().is_streamed());
    assert_eq!(text(resp).await, "ok");

    let binary: Vec<u8> = (0..=255u8).chain([0, 0, 255]).collect();
    let resp = client
        .request(post_request(&server.url("/echo"), binary.clone()))
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/plain");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, binary);

    for code in [404u16, 418, 500, 503] {
        let resp = client
            .request(get_request(&server.url(&format!("/status/{code}"))))
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), code);
        assert_eq!(text(resp).await, format!("status {code}"));
    }

    let resp = client
        .request(get_request(&server.url("/multi")))
        .await
        .unwrap();
    let values: Vec<_> = resp.headers().get_all("x-multi").iter().collect();
    assert_eq!(values, ["one", "two", "three"]);

    let mut req = get_request(&server.url("/headers"));
    for v in ["a", "b", "c"] {
        req.headers_mut()
            .append("x-many", HeaderValue::from_static(v));
    }
    let seen = text(client.request(req).await.unwrap()).await;
    let many: Vec<_> = seen.lines().filter(|l| l.starts_with("x-many")).collect();
    assert_eq!(many, ["x-many: a", "x-many: b", "x-many: c"]);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn four_mebibytes_each_way() {
    let server = start_default().await;
    let client = Client::new();
    let payload: Vec<u8> = (0..4 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let resp = client
        .request(post_request(&server.url("/echo"), payload.clone()))
        .await
        .unwrap();
    assert!(
        resp.body().is_streamed(),
        "4 MiB is above the inline threshold"
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body.len(), payload.len());
    assert!(body == payload);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn sequential_requests_share_one_connection() {
    let server = start_default().await;
    let dials = Counting::default();
    let client = Client::builder().connector(dials.clone()).build();
    for i in 0..5 {
        let resp = client
            .request(post_request(&server.url("/echo"), format!("n{i}")))
            .await
            .unwrap();
        assert_eq!(text(resp).await, format!("n{i}"));
    }
    assert_eq!(dials.count(), 1);
    assert_eq!(client.idle_connections(&server.endpoint()), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn concurrent_requests_through_a_capped_pool() {
    let server = start_default().await;
    let dials = Counting::default();
    let client = Client::builder()
        .connector(dials.clone())
        .max_connections_per_endpoint(Some(4))
        .build();
    let mut tasks = Vec::new();
    for i in 0..48 {
        let client = client.clone();
        let url = server.url("/echo");
        tasks.push(tokio::spawn(async move {
            let resp = client
                .request(post_request(&url, format!("req {i}")))
                .await?;
            Ok::<_, Error>(text(resp).await)
        }));
    }
    for (i, t) in tasks.into_iter().enumerate() {
        assert_eq!(t.await.unwrap().unwrap(), format!("req {i}"));
    }
    assert!(
        (1..=4).contains(&dials.count()),
        "{} dials for a cap of 4",
        dials.count()
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn streamed_responses_deliver_every_chunk_and_the_trailers() {
    let server = start_default().await;
    let client = Client::new();
    let resp = client
        .request(get_request(&server.url("/stream?n=200")))
        .await
        .unwrap();
    assert!(resp.body().is_streamed());
    let mut body = resp.into_body();
    let mut chunks = Vec::new();
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        match frame.into_data() {
            Ok(d) => chunks.push(d),
            Err(f) => trailers = f.into_trailers().ok(),
        }
    }
    assert_eq!(chunks.len(), 200);
    assert_eq!(chunks[0], "chunk 0\n");
    assert_eq!(chunks[199], "chunk 199\n");
    assert_eq!(trailers.expect("trailers")["x-chunks"], "200");
    assert!(body.is_end_stream());
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_stream_outlives_the_response_head_timeout() {
    let app = Router::new().route(
        "/slow",
        get(|| async {
            let frames = futures_util::stream::unfold(0u32, |i| async move {
                if i == 6 {
                    return None;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((
                    Ok::<_, std::convert::Infallible>(Bytes::from(format!("{i}"))),
                    i + 1,
                ))
            });
            axum::body::Body::from_stream(frames)
        }),
    );
    let server = start(zap_http::server::Builder::new(), app).await;
    let client = Client::builder()
        .response_head_timeout(Duration::from_millis(150))
        .stream_idle_timeout(Some(Duration::from_secs(5)))
        .build();
    let resp = client
        .request(get_request(&server.url("/slow")))
        .await
        .unwrap();
    assert_eq!(text(resp).await, "012345");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_silent_stream_hits_the_stream_idle_timeout() {
    let app = Router::new().route(
        "/silent",
        get(|| async {
            let frames = futures_util::stream::once(async {
                Ok::<_, std::convert::Infallible>(Bytes::from_static(b"first"))
            })
            .chain(futures_util::stream::pending());
            axum::body::Body::from_stream(frames)
        }),
    );
    let server = start(zap_http::server::Builder::new(), app).await;
    let client = Client::builder()
        .stream_idle_timeout(Some(Duration::from_millis(100)))
        .build();
    let resp = client
        .request(get_request(&server.url("/silent")))
        .await
        .unwrap();
    let mut body = resp.into_body();
    let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
    assert_eq!(first, "first");
    let err = body.frame().await.unwrap().unwrap_err();
    assert!(
        matches!(err, Error::Timeout(TimeoutKind::StreamIdle)),
        "{err}"
    );
    server.shutdown().await.unwrap();
}

use futures_util::StreamExt as _;

#[tokio::test]
async fn a_stream_that_fails_midway_is_an_error_not_an_end() {
    let app = Router::new().route(
        "/broken",
        get(|| async {
            let frames = futures_util::stream::iter(vec![
                Ok(Bytes::from_static(b"a")),
                Ok(Bytes::from_static(b"b")),
                Err(std::io::Error::other("disk on fire")),
            ]);
            axum::body::Body::from_stream(frames)
        }),
    );
    let server = start(zap_http::server::Builder::new(), app).await;
    let client = Client::new();
    let resp = client
        .request(get_request(&server.url("/broken")))
        .await
        .unwrap();
    let err = resp.into_body().collect().await.unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn host_always_arrives() {
    let server = start_default().await;
    let client = Client::new();
    let host_of = |body: String| {
        body.lines()
            .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
            .expect("a host line")
    };

    // From the URI authority.
    let seen = text(
        client
            .request(get_request(&server.url("/headers")))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(host_of(seen), server.addr.to_string());

    // A logical name in the URI, the connection from an Endpoint extension.
    let mut req = get_request("http://billing.internal:8443/headers");
    req.extensions_mut().insert(server.endpoint());
    let seen = text(client.request(req).await.unwrap()).await;
    assert_eq!(host_of(seen), "billing.internal:8443");

    // An explicit Host wins.
    let mut req = get_request(&server.url("/headers"));
    req.headers_mut()
        .insert("host", HeaderValue::from_static("lux.id"));
    let seen = text(client.request(req).await.unwrap()).await;
    assert_eq!(host_of(seen), "lux.id");

    // No authority at all: the endpoint's address.
    let mut req = get_request("/headers");
    req.extensions_mut().insert(server.endpoint());
    let seen = text(client.request(req).await.unwrap()).await;
    assert_eq!(host_of(seen), server.addr.to_string());

    // Nowhere to go is a clear error.
    let err = client.request(get_request("/headers")).await.unwrap_err();
    assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_handler_panic_is_a_500_and_the_connection_survives() {
    let server = start_default().await;
    let dials = Counting::default();
    let client = Client::builder().connector(dials.clone()).build();
    let resp = client
        .request(get_request(&server.url("/panic")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let resp = client
        .request(get_request(&server.url("/health")))
        .await
        .unwrap();
    assert_eq!(text(resp).await, "ok");
    assert_eq!(dials.count(), 1);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn graceful_shutdown_finishes_in_flight_exchanges() {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let app = {
        let (started, release) = (started.clone(), release.clone());
        Router::new().route(
            "/wait",
            get(move || {
                let (started, release) = (started.clone(), release.clone());
                async move {
                    started.notify_one();
                    release.notified().await;
                    "finished"
                }
            }),
        )
    };
    let mut server = start(zap_http::server::Builder::new(), app).await;
    let client = Client::new();
    let in_flight = tokio::spawn({
        let client = client.clone();
        let url = server.url("/wait");
        async move { client.request(get_request(&url)).await }
    });
    tokio::time::timeout(PATIENCE, started.notified())
        .await
        .unwrap();
    let _ = server.stop.take().unwrap().send(());
    // The server keeps running while the exchange is in flight...
    tokio::task::yield_now().await;
    assert!(!server.task.is_finished());
    release.notify_one();
    let resp = tokio::time::timeout(PATIENCE, in_flight)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(text(resp).await, "finished");
    // ...and returns once it is done, having closed the idle connection.
    tokio::time::timeout(PATIENCE, server.task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let err = client
        .request(get_request(&format!("http://{}/wait", server.addr)))
        .await;
    assert!(err.is_err(), "nothing listens any more");
}

#[tokio::test]
async fn tower_http_layers_compose_with_the_client() {
    let server = start_default().await;
    let client = Client::new();
    let svc = ServiceBuilder::new()
        .layer(tower_http::set_header::SetRequestHeaderLayer::overriding(
            http::header::HeaderName::from_static("x-layer"),
            HeaderValue::from_static("set-by-tower-http"),
        ))
        .service(client.clone());
    let resp = svc
        .oneshot(get_request(&server.url("/headers")))
        .await
        .unwrap();
    assert!(text(resp).await.contains("x-layer: set-by-tower-http"));

    let slow = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }),
    );
    let slow_server = start(zap_http::server::Builder::new(), slow).await;
    #[allow(deprecated)]
    let timeout = tower_http::timeout::TimeoutLayer::new(Duration::from_millis(100));
    let svc = ServiceBuilder::new().layer(timeout).service(client.clone());
    let resp = svc
        .oneshot(get_request(&slow_server.url("/slow")))
        .await
        .unwrap();
    assert_eq!(resp.status(), http::StatusCode::REQUEST_TIMEOUT);

    let svc = ServiceBuilder::new()
        .timeout(Duration::from_millis(100))
        .service(client);
    let err = svc
        .oneshot(get_request(&slow_server.url("/slow")))
        .await
        .unwrap_err();
    assert!(err.is::<tower::timeout::error::Elapsed>());
    server.shutdown().await.unwrap();
    drop(slow_server);
}

#[tokio::test]
async fn an_oversized_request_fails_before_anything_is_sent() {
    let dials = Counting::default();
    let client = Client::builder()
        .connector(dials.clone())
        .max_frame(1024)
        .build();
    let err = client
        .request(post_request("http://127.0.0.1:9/echo", vec![0u8; 2048]))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge { max: 1024 }), "{err}");
    assert_eq!(dials.count(), 0);
}

#[tokio::test]
async fn a_dead_endpoint_is_a_connect_error() {
    // Bind then drop, so the port is (almost certainly) closed.
    let addr = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let err = Client::new()
        .request(get_request(&format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert!(err.is_connect(), "{err}");
}

#[tokio::test]
async fn the_same_router_answers_the_same_over_zap_and_over_http1() {
    let zap = start_default().await;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http_addr = tcp.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let http_server = tokio::spawn(async move {
        axum::serve(tcp, app())
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    let zap_client = Client::new();
    let http_client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http::<Full<Bytes>>();

    let cases: Vec<(http::Method, &str, Option<&'static [u8]>)> = vec![
        (http::Method::GET, "/health", None),
        (http::Method::POST, "/echo", Some(b"{\"json\":true}\0\xff")),
        (http::Method::GET, "/status/418", None),
        (http::Method::GET, "/status/503", None),
        (http::Method::GET, "/multi", None),
        (http::Method::GET, "/stream?n=5", None),
        (http::Method::GET, "/missing", None),
        (http::Method::DELETE, "/health", None),
    ];
    for (method, path, body) in cases {
        let build = |base: String| {
            let mut b = http::Request::builder()
                .method(method.clone())
                .uri(format!("{base}{path}"));
            if body.is_some() {
                b = b.header("content-type", "application/octet-stream");
            }
            b.body(Full::new(Bytes::from_static(body.unwrap_or_default())))
                .unwrap()
        };
        let a = zap_client
            .request(build(format!("http://{}", zap.addr)))
            .await
            .unwrap();
        let b = http_client
            .request(build(format!("http://{http_addr}")))
            .await
            .unwrap();
        assert_eq!(a.status(), b.status(), "{method} {path}");
        for name in ["content-type", "x-multi"] {
            let av: Vec<_> = a.headers().get_all(name).iter().cloned().collect();
            let bv: Vec<_> = b.headers().get_all(name).iter().cloned().collect();
            assert_eq!(av, bv, "{name} of {method} {path}");
        }
        let a_body = a.into_body().collect().await.unwrap();
        let b_body = b.into_body().collect().await.unwrap();
        let (a_trailers, b_trailers) = (a_body.trailers().cloned(), b_body.trailers().cloned());
        assert_eq!(a_body.to_bytes(), b_body.to_bytes(), "{method} {path}");
        if path.starts_with("/stream") {
            // HTTP/1.1 drops trailers unless the client asked with `TE: trailers`;
            // ZAP-HTTP delivers them.
            assert_eq!(a_trailers.unwrap()["x-chunks"], "5");
            let _ = b_trailers;
        }
    }
    let _ = stop.send(());
    http_server.await.unwrap().unwrap();
    zap.shutdown().await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn unix_sockets_work_both_ways() {
    let dir = std::env::temp_dir().join(format!("zap-http-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let server = tokio::spawn(zap_http::serve(listener, app()));
    let mut req = get_request("/health");
    req.extensions_mut().insert(Endpoint::unix(&path));
    let resp = Client::new().request(req).await.unwrap();
    assert_eq!(text(resp).await, "ok");
    server.abort();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn handlers_see_the_remote_address() {
    use std::net::SocketAddr;
    use zap_http::server::RemoteAddr;
    let app = Router::new().route(
        "/addr",
        get(|req: axum::extract::Request| async move {
            let addr = req
                .extensions()
                .get::<RemoteAddr<SocketAddr>>()
                .map(|a| a.0.ip().to_string());
            addr.unwrap_or_default()
        }),
    );
    #[cfg(feature = "axum")]
    let app = app.route(
        "/connect-info",
        get(
            |axum::extract::ConnectInfo(addr): axum::extract::ConnectInfo<SocketAddr>| async move {
                addr.ip().to_string()
            },
        ),
    );
    let server = start(zap_http::server::Builder::new(), app).await;
    let client = Client::new();
    let seen = text(
        client
            .request(get_request(&server.url("/addr")))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(seen, "127.0.0.1");
    #[cfg(feature = "axum")]
    {
        let seen = text(
            client
                .request(get_request(&server.url("/connect-info")))
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(seen, "127.0.0.1");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_dropped_response_closes_its_connection() {
    let server = start_default().await;
    let dials = Counting::default();
    let client = Client::builder().connector(dials.clone()).build();
    let resp = client
        .request(get_request(&server.url("/stream?n=50000")))
        .await
        .unwrap();
    let mut body = resp.into_body();
    body.frame().await.unwrap().unwrap();
    drop(body); // mid-stream: the connection cannot be reused and is closed
    assert_eq!(client.idle_connections(&server.endpoint()), 0);
    let resp = client
        .request(get_request(&server.url("/health")))
        .await
        .unwrap();
    assert_eq!(text(resp).await, "ok");
    assert_eq!(dials.count(), 2, "the abandoned connection was not reused");
    // A finished stream, on the other hand, gives its connection back.
    let resp = client
        .request(get_request(&server.url("/stream?n=3")))
        .await
        .unwrap();
    assert_eq!(text(resp).await, "chunk 0\nchunk 1\nchunk 2\n");
    assert_eq!(client.idle_connections(&server.endpoint()), 1);
    assert_eq!(dials.count(), 2);
    server.shutdown().await.unwrap();
}

#[test]
fn the_public_types_are_send_and_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<Client>();
    check::<zap_http::Incoming>();
    check::<Error>();
    check::<zap_http::discovery::DiscoveryClient>();
    fn check_send<T: Send + 'static>() {}
    check_send::<zap_http::ResponseFuture>();
}
