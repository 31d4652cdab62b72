//! Scripted peers on raw sockets: limits, malformed frames, truncated streams, stale
//! pooled connections and the retry rules.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{Response, StatusCode};
use http_body_util::BodyExt;
use support::*;
use tokio::net::{TcpListener, TcpStream};
use zap_http::wire::{self, DecodeLimits, EncodeOptions};
use zap_http::{Client, Error};

/// Connects a raw socket to a server.
async fn raw(server: &Running) -> TcpStream {
    TcpStream::connect(server.addr).await.unwrap()
}

/// The response a server sent on a raw socket, then whether it closed the connection.
async fn response_then_close(stream: &mut TcpStream) -> (Response<Bytes>, bool) {
    let mut buf = BytesMut::new();
    let frame = read_raw_frame(stream, &mut buf).await.expect("a response");
    let resp = wire::decode_response(frame, &DecodeLimits::default())
        .unwrap()
        .response;
    let closed = read_raw_frame(stream, &mut buf).await.is_none();
    (resp, closed)
}

fn request_frame(path: &str, extra_headers: usize) -> Bytes {
    let mut req = http::Request::get(path).body(()).unwrap();
    for i in 0..extra_headers {
        req.headers_mut().append(
            http::header::HeaderName::from_bytes(format!("x-h{i}").as_bytes()).unwrap(),
            http::HeaderValue::from_static("v"),
        );
    }
    let (parts, ()) = req.into_parts();
    wire::encode_request(&parts, Bytes::new(), None, &EncodeOptions::default())
        .unwrap()
        .to_bytes()
}

#[tokio::test]
async fn a_malformed_frame_gets_400_and_the_connection_closes() {
    let server = start_default().await;
    let mut s = raw(&server).await;
    // A well-framed message whose magic is wrong.
    let mut frame = request_frame("/health", 0).to_vec();
    frame[4] = b'X';
    write_raw(&mut s, &frame).await;
    let (resp, closed) = response_then_close(&mut s).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(
        std::str::from_utf8(resp.body())
            .unwrap()
            .starts_with("malformed request frame: ")
    );
    assert!(closed);

    // A response frame where a request is due.
    let mut s = raw(&server).await;
    let (parts, ()) = Response::new(()).into_parts();
    let frame = wire::encode_response(&parts, Bytes::new(), None, &EncodeOptions::default())
        .unwrap()
        .to_bytes();
    write_raw(&mut s, &frame).await;
    let (resp, closed) = response_then_close(&mut s).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(closed);

    // A zero-length prefix.
    let mut s = raw(&server).await;
    write_raw(&mut s, &[0, 0, 0, 0]).await;
    let (resp, closed) = response_then_close(&mut s).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(closed);
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn frame_size_and_header_limits_hold() {
    let server = start(
        zap_http::server::Builder::new()
            .max_frame(4096)
            .max_headers(8)
            .max_header_bytes(512),
        app(),
    )
    .await;

    // A prefix above the limit is refused before its bytes are read.
    let mut s = raw(&server).await;
    write_raw(&mut s, &(1u32 << 30).to_be_bytes()).await;
    let (resp, closed) = response_then_close(&mut s).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(closed);

    // Too many header fields.
    let mut s = raw(&server).await;
    write_raw(&mut s, &request_frame("/health", 9)).await;
    let (resp, closed) = response_then_close(&mut s).await;
    assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(closed);

    // Too many header bytes.
    let mut s = raw(&server).await;
    let mut req = http::Request::get("/health").body(()).unwrap();
    req.headers_mut().insert(
        "x-big",
        http::HeaderValue::from_str(&"v".repeat(1000)).unwrap(),
    );
    let (parts, ()) = req.into_parts();
    let frame = wire::encode_request(&parts, Bytes::new(), None, &EncodeOptions::default())
        .unwrap()
        .to_bytes();
    write_raw(&mut s, &frame).await;
    let (resp, closed) = response_then_close(&mut s).await;
    assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert!(closed);

    // Within the limits all is well, and the connection stays open for more.
    let mut s = raw(&server).await;
    let mut buf = BytesMut::new();
    for _ in 0..2 {
        write_raw(&mut s, &request_frame("/health", 7)).await;
        let frame = read_raw_frame(&mut s, &mut buf).await.unwrap();
        let resp = wire::decode_response(frame, &DecodeLimits::default()).unwrap();
        assert_eq!(resp.response.body(), "ok");
    }

    // A response bigger than the frame limit is streamed in chunks that fit.
    let client = Client::builder().max_frame(4096).build();
    let resp = client
        .request(get_request(&server.url("/big?n=20000")))
        .await
        .unwrap();
    assert_eq!(
        resp.into_body().collect().await.unwrap().to_bytes().len(),
        20000
    );
    server.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_client_refuses_what_breaks_its_limits() {
    // A scripted server that answers with 300 headers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        read_raw_frame(&mut s, &mut buf).await.unwrap();
        let mut resp = Response::new(());
        for i in 0..300 {
            resp.headers_mut().append(
                http::header::HeaderName::from_bytes(format!("x-{i}").as_bytes()).unwrap(),
                http::HeaderValue::from_static("v"),
            );
        }
        let (parts, ()) = resp.into_parts();
        let frame =
            wire::encode_response(&parts, Bytes::new(), None, &EncodeOptions::default()).unwrap();
        write_raw(&mut s, &frame.to_bytes()).await;
    });
    let err = Client::new()
        .request(get_request(&format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Wire(wire::WireError::TooManyHeaders { .. })),
        "{err}"
    );
}

#[tokio::test]
async fn a_peer_that_vanishes_mid_stream_is_an_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = BytesMut::new();
        read_raw_frame(&mut s, &mut buf).await.unwrap();
        let opts = EncodeOptions::default();
        let (parts, ()) = Response::new(()).into_parts();
        write_raw(
            &mut s,
            &wire::encode_response_head(&parts, &opts)
                .unwrap()
                .to_bytes(),
        )
        .await;
        for chunk in ["one", "two"] {
            let frame = wire::encode_data(Bytes::from_static(chunk.as_bytes()), &opts).unwrap();
            write_raw(&mut s, &frame.to_bytes()).await;
        }
        // Gone without an end frame.
    });
    let resp = Client::new()
        .request(get_request(&format!("http://{addr}/")))
        .await
        .unwrap();
    let mut body = resp.into_body();
    let mut got = Vec::new();
    let err = loop {
        match body.frame().await {
            Some(Ok(f)) => got.push(f.into_data().unwrap()),
            Some(Err(e)) => break e,
            None => panic!("a cut stream must not end cleanly"),
        }
    };
    assert_eq!(got, ["one", "two"]);
    assert!(matches!(err, Error::Closed(_)), "{err}");
}

/// A peer that serves one request per connection as scripted, then, on the first
/// connection only, reads the second request and closes without answering: a pooled
/// connection that went stale under the client's feet.
async fn stale_after_one() -> (
    std::net::SocketAddr,
    tokio::sync::mpsc::UnboundedReceiver<usize>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (seen_tx, seen_rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        for conn in 0.. {
            let Ok((mut s, _)) = listener.accept().await else {
                return;
            };
            let seen = seen_tx.clone();
            tokio::spawn(async move {
                let mut buf = BytesMut::new();
                let mut served = 0;
                while let Some(_req) = read_raw_frame(&mut s, &mut buf).await {
                    let _ = seen.send(conn);
                    if conn == 0 && served == 1 {
                        return; // drop the connection with the request unanswered
                    }
                    let (parts, ()) = Response::new(()).into_parts();
                    let body = Bytes::from(format!("conn {conn}"));
                    let frame =
                        wire::encode_response(&parts, body, None, &EncodeOptions::default())
                            .unwrap();
                    write_raw(&mut s, &frame.to_bytes()).await;
                    served += 1;
                }
            });
        }
    });
    (addr, seen_rx)
}

#[tokio::test]
async fn an_idempotent_request_is_resent_once_on_a_fresh_connection() {
    let (addr, mut seen) = stale_after_one().await;
    let client = Client::new();
    let url = format!("http://{addr}/");
    assert_eq!(
        text(client.request(get_request(&url)).await.unwrap()).await,
        "conn 0"
    );
    // The reused connection dies before answering; the GET goes out again on a new one.
    assert_eq!(
        text(client.request(get_request(&url)).await.unwrap()).await,
        "conn 1"
    );
    let mut order = Vec::new();
    while let Ok(c) = seen.try_recv() {
        order.push(c);
    }
    assert_eq!(order, [0, 0, 1]);
}

#[tokio::test]
async fn a_post_is_not_resent_after_it_may_have_arrived() {
    let (addr, _seen) = stale_after_one().await;
    let client = Client::new();
    let url = format!("http://{addr}/");
    assert_eq!(
        text(client.request(post_request(&url, "x")).await.unwrap()).await,
        "conn 0"
    );
    let err = client.request(post_request(&url, "y")).await.unwrap_err();
    assert!(matches!(err, Error::Closed(_)), "{err}");
}

#[tokio::test]
async fn a_pooled_connection_the_server_closed_is_not_reused() {
    let server = start_default().await;
    let url = server.url("/echo");
    let dials = Counting::default();
    let client = Client::builder()
        .connector(dials.clone())
        .retry_stale_connections(false)
        .build();
    let resp = client.request(post_request(&url, "a")).await.unwrap();
    assert_eq!(text(resp).await, "a");
    assert_eq!(client.idle_connections(&server.endpoint()), 1);
    // Graceful shutdown closes the idle connection and returns once it is closed.
    server.shutdown().await.unwrap();
    // Even without retries, the POST does not go out on the dead pooled connection: the
    // liveness check discards it, and the fresh dial finds nobody listening.
    let err = client.request(post_request(&url, "b")).await.unwrap_err();
    assert!(err.is_connect(), "{err}");
    assert_eq!(dials.count(), 2);
}

#[tokio::test]
async fn a_response_head_that_never_comes_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        // Keep the connection open and silent until the test ends.
        std::future::pending::<()>().await;
        drop(s);
    });
    let client = Client::builder()
        .response_head_timeout(Duration::from_millis(100))
        .build();
    let err = client
        .request(get_request(&format!("http://{addr}/")))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Timeout(TimeoutKind::ResponseHead)),
        "{err}"
    );
    hold.abort();
}

use zap_http::TimeoutKind;
