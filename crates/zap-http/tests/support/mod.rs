//! Shared pieces of the integration tests: an axum app, a server on loopback, a
//! connector that counts dials, and raw frame helpers for scripted peers.
#![allow(dead_code)]

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{self, any};
use bytes::{Bytes, BytesMut};
use futures_util::stream;
use http::header::HeaderValue;
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_util::codec::Decoder;
use zap_http::codec::FrameCodec;
use zap_http::{BoxFuture, BoxIo, Connect, Endpoint, TcpConnector};

/// A bound on every wait in the tests, far above what any of them needs.
pub(crate) const PATIENCE: Duration = Duration::from_secs(10);

/// The test app: the same routes the CLI's built-in app has, plus a few for edge cases.
pub(crate) fn app() -> Router {
    Router::new()
        .route("/health", routing::get(|| async { "ok" }))
        .route(
            "/echo",
            routing::post(|headers: HeaderMap, body: Bytes| async move {
                let mut resp = body.into_response();
                if let Some(ct) = headers.get(http::header::CONTENT_TYPE) {
                    resp.headers_mut()
                        .insert(http::header::CONTENT_TYPE, ct.clone());
                }
                resp
            }),
        )
        .route(
            "/headers",
            any(|headers: HeaderMap| async move {
                let mut lines = Vec::new();
                for (n, v) in &headers {
                    lines.push(format!("{}: {}", n, v.to_str().unwrap_or("?")));
                }
                lines.join("\n")
            }),
        )
        .route(
            "/status/{code}",
            routing::get(
                |axum::extract::Path(code): axum::extract::Path<u16>| async move {
                    (
                        StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
                        format!("status {code}"),
                    )
                },
            ),
        )
        .route(
            "/multi",
            routing::get(|| async {
                let mut resp = "multi".into_response();
                let h = resp.headers_mut();
                h.append("x-multi", HeaderValue::from_static("one"));
                h.append("x-multi", HeaderValue::from_static("two"));
                h.append("x-multi", HeaderValue::from_static("three"));
                resp
            }),
        )
        .route(
            "/stream",
            routing::get(
                |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let n: usize = q.get("n").and_then(|n| n.parse().ok()).unwrap_or(3);
                    chunks(n)
                },
            ),
        )
        .route(
            "/panic",
            routing::get(|| async {
                if std::hint::black_box(true) {
                    panic!("the handler panicked on purpose");
                }
                "unreachable"
            }),
        )
        .route(
            "/big",
            routing::get(
                |Query(q): Query<std::collections::HashMap<String, String>>| async move {
                    let n: usize = q.get("n").and_then(|n| n.parse().ok()).unwrap_or(1 << 20);
                    vec![b'z'; n]
                },
            ),
        )
        // Let the echo route take the 4 MiB bodies of the tests (axum's default is 2 MB).
        .layer(axum::extract::DefaultBodyLimit::max(64 << 20))
}

/// A streamed body of `n` chunks `chunk i\n` and a trailer `x-chunks: n`.
pub(crate) fn chunks(n: usize) -> AxumBody {
    let mut frames: Vec<Result<Frame<Bytes>, Infallible>> = (0..n)
        .map(|i| Ok(Frame::data(Bytes::from(format!("chunk {i}\n")))))
        .collect();
    let mut trailers = HeaderMap::new();
    trailers.insert("x-chunks", HeaderValue::from(n));
    frames.push(Ok(Frame::trailers(trailers)));
    AxumBody::new(StreamBody::new(stream::iter(frames)))
}

/// A server running `service` on 127.0.0.1 until the returned handle's stop is sent.
pub(crate) struct Running {
    pub(crate) addr: SocketAddr,
    pub(crate) stop: Option<oneshot::Sender<()>>,
    pub(crate) task: JoinHandle<io::Result<()>>,
}

impl Running {
    pub(crate) fn endpoint(&self) -> Endpoint {
        Endpoint::tcp(self.addr)
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Sends the shutdown signal and waits (bounded) for the server to return.
    pub(crate) async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(PATIENCE, self.task)
            .await
            .expect("server shut down in time")
            .expect("server task")
    }
}

pub(crate) async fn start(builder: zap_http::server::Builder, app: Router) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(builder.serve_with_shutdown(listener, app, async move {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        task,
    }
}

pub(crate) async fn start_default() -> Running {
    start(zap_http::server::Builder::new(), app()).await
}

/// A TCP connector that counts the connections it opens.
#[derive(Clone, Default)]
pub(crate) struct Counting {
    pub(crate) dials: Arc<AtomicUsize>,
}

impl Counting {
    pub(crate) fn count(&self) -> usize {
        self.dials.load(Ordering::SeqCst)
    }
}

impl Connect for Counting {
    fn connect<'a>(&'a self, endpoint: &'a Endpoint) -> BoxFuture<'a, io::Result<BoxIo>> {
        self.dials.fetch_add(1, Ordering::SeqCst);
        Box::pin(async move { TcpConnector::new().connect(endpoint).await })
    }
}

pub(crate) fn get_request(url: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(url)
        .body(Full::new(Bytes::new()))
        .unwrap()
}

pub(crate) fn post_request(url: &str, body: impl Into<Bytes>) -> http::Request<Full<Bytes>> {
    http::Request::post(url)
        .header("content-type", "text/plain")
        .body(Full::new(body.into()))
        .unwrap()
}

/// Reads a whole body within [`PATIENCE`].
pub(crate) async fn text(resp: http::Response<zap_http::Incoming>) -> String {
    let bytes = tokio::time::timeout(PATIENCE, resp.into_body().collect())
        .await
        .expect("body in time")
        .expect("body")
        .to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// Reads one length-prefixed frame from a raw stream; `None` at a clean end.
pub(crate) async fn read_raw_frame(stream: &mut TcpStream, buf: &mut BytesMut) -> Option<Bytes> {
    let mut codec = FrameCodec::new();
    loop {
        if let Some(frame) = codec.decode(buf).expect("a valid frame") {
            return Some(frame);
        }
        let n = tokio::time::timeout(PATIENCE, stream.read_buf(buf))
            .await
            .expect("peer answered in time")
            .expect("read");
        if n == 0 {
            return None;
        }
    }
}

/// Writes raw bytes to a stream.
pub(crate) async fn write_raw(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).await.unwrap();
}

/// Waits (bounded, without sleeping) for `cond` to hold, yielding to other tasks.
pub(crate) async fn eventually(mut cond: impl FnMut() -> bool) {
    tokio::time::timeout(PATIENCE, async {
        while !cond() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("condition reached in time");
}
