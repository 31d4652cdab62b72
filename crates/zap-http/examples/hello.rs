//! An axum app served over ZAP-HTTP on loopback, called by the ZAP-HTTP client: a plain
//! GET, a POST echo, and a streamed response with trailers. Runs to completion.
#![allow(clippy::print_stdout)]

use std::convert::Infallible;

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app = Router::new()
        .route("/health", get(|| async { "ok" }))
        .route("/echo", post(|body: Bytes| async move { body }))
        .route(
            "/count",
            get(|| async {
                let mut frames: Vec<Result<Frame<Bytes>, Infallible>> = (1..=3)
                    .map(|i| Ok(Frame::data(Bytes::from(format!("{i}\n")))))
                    .collect();
                let mut trailers = http::HeaderMap::new();
                trailers.insert("x-total", http::HeaderValue::from_static("3"));
                frames.push(Ok(Frame::trailers(trailers)));
                axum::body::Body::new(StreamBody::new(futures_util::stream::iter(frames)))
            }),
        );

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server =
        tokio::spawn(
            zap_http::server::Builder::new().serve_with_shutdown(listener, app, async {
                let _ = stopped.await;
            }),
        );
    println!("serving an axum Router over ZAP-HTTP on {addr}");

    let client = zap_http::Client::new();
    let resp = client
        .request(http::Request::get(format!("http://{addr}/health")).body(Full::new(Bytes::new()))?)
        .await?;
    println!(
        "GET /health -> {} {:?}",
        resp.status(),
        resp.into_body().collect().await?.to_bytes()
    );

    let resp = client
        .request(
            http::Request::post(format!("http://{addr}/echo"))
                .body(Full::new(Bytes::from_static(b"hello over ZAP")))?,
        )
        .await?;
    println!(
        "POST /echo -> {} {:?}",
        resp.status(),
        resp.into_body().collect().await?.to_bytes()
    );

    let resp = client
        .request(http::Request::get(format!("http://{addr}/count")).body(Full::new(Bytes::new()))?)
        .await?;
    let streamed = resp.body().is_streamed();
    let collected = resp.into_body().collect().await?;
    let trailers = collected.trailers().cloned();
    println!(
        "GET /count -> streamed={streamed} body={:?} trailers={trailers:?}",
        collected.to_bytes()
    );

    let _ = stop.send(());
    server.await??;
    Ok(())
}
