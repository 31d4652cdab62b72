//! The HTTP group: ZAP-HTTP against hyper's HTTP/1.1, serving the same axum `Router`
//! (`POST /echo` returns the body it got) over loopback TCP with `TCP_NODELAY` on every
//! socket. HTTP/1.1 carries one exchange per connection at a time, so N requests in
//! flight use N pooled connections on both stacks.

use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};

use crate::config::{Config, HTTP_IN_FLIGHT};
use crate::echo::{Contender, Echo, EchoResult, Runner, check_len, measure};
use crate::error::BenchError;
use crate::layout::Layout;

/// ZAP-HTTP's name in results.
pub const ZAP_HTTP: &str = "zap-http";
/// hyper's name in results.
pub const HYPER: &str = "hyper HTTP/1.1";
/// Idle connections each client keeps per server; above the concurrency used.
const POOL: usize = 64;

/// The one application both servers run.
fn app() -> Router {
    Router::new().route("/echo", post(|body: Bytes| async move { body }))
}

/// A TCP listener that turns Nagle off on every accepted socket, for ZAP-HTTP's
/// `serve` (axum's listener gets the same through `tap_io`).
struct NoDelay(TcpListener);

impl tokio_util::net::Listener for NoDelay {
    type Io = TcpStream;
    type Addr = SocketAddr;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        match self.0.poll_accept(cx) {
            Poll::Ready(Ok((s, a))) => Poll::Ready(s.set_nodelay(true).map(|()| (s, a))),
            other => other,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

async fn bind(what: &str) -> Result<(TcpListener, SocketAddr), BenchError> {
    let l = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::io(format!("{what}: bind"), e))?;
    let a = l
        .local_addr()
        .map_err(|e| BenchError::io(format!("{what}: local address"), e))?;
    Ok((l, a))
}

async fn zap_server() -> Result<(SocketAddr, ()), BenchError> {
    let (listener, addr) = bind(ZAP_HTTP).await?;
    tokio::spawn(async move {
        if let Err(e) = zap_http::serve(NoDelay(listener), app()).await {
            tracing::warn!(error = %e, "zap-http server stopped");
        }
    });
    Ok((addr, ()))
}

async fn hyper_server() -> Result<(SocketAddr, ()), BenchError> {
    let (listener, addr) = bind(HYPER).await?;
    let listener = axum::serve::ListenerExt::tap_io(listener, |io| {
        let _ = io.set_nodelay(true);
    });
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app()).await {
            tracing::warn!(error = %e, "hyper server stopped");
        }
    });
    Ok((addr, ()))
}

fn uri(addr: SocketAddr) -> Result<Uri, BenchError> {
    format!("http://{addr}/echo")
        .parse()
        .map_err(|e| BenchError::Config(format!("uri for {addr}: {e}")))
}

/// What the two clients have in common: a pooled `request` answering with a streamed body.
/// The harness drives both through this, so neither gets code the other lacks.
trait Fetch {
    /// Sends `req` and collects the whole response body.
    async fn fetch(&self, req: Request<Full<Bytes>>) -> Result<Bytes, BoxError>;
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Fetch for zap_http::Client {
    async fn fetch(&self, req: Request<Full<Bytes>>) -> Result<Bytes, BoxError> {
        let resp = self.request(req).await?;
        Ok(resp.into_body().collect().await?.to_bytes())
    }
}

impl Fetch for HyperClient<HttpConnector, Full<Bytes>> {
    async fn fetch(&self, req: Request<Full<Bytes>>) -> Result<Bytes, BoxError> {
        let resp = self.request(req).await?;
        Ok(resp.into_body().collect().await?.to_bytes())
    }
}

/// One HTTP stack as a contender: its client and the URI of its server's `/echo`.
struct Stack<C> {
    name: &'static str,
    client: C,
    uri: Uri,
}

impl<C: Fetch> Echo for Stack<C> {
    type Payload = Bytes;
    type Worker = ();

    fn name(&self) -> &'static str {
        self.name
    }

    fn prepare(&self, data: &Bytes) -> Result<Bytes, BenchError> {
        Ok(data.clone())
    }

    fn worker(&self) {}

    async fn call(&self, _: &mut (), body: &Bytes) -> Result<(), BenchError> {
        let req = Request::post(self.uri.clone())
            .body(Full::new(body.clone()))
            .map_err(|e| BenchError::contender(self.name, e))?;
        let got = self
            .client
            .fetch(req)
            .await
            .map_err(|e| BenchError::contender(self.name, e))?;
        check_len(self.name, body.len(), got.len())
    }
}

/// What the HTTP group measured.
#[derive(Debug, Clone, Serialize)]
pub struct HttpResults {
    /// One entry per stack and payload size.
    pub results: Vec<EchoResult>,
}

impl HttpResults {
    /// The result of `stack` at `payload` bytes.
    pub fn get(&self, stack: &str, payload: usize) -> Option<&EchoResult> {
        self.results
            .iter()
            .find(|r| r.contender == stack && r.payload == payload)
    }
}

/// Starts both servers, connects both clients, and measures.
pub(crate) async fn run(
    layout: &Layout,
    cfg: &Config,
    progress: &dyn Fn(&str),
) -> Result<HttpResults, BenchError> {
    progress("starting servers");
    let zap_addr = layout.serve(ZAP_HTTP, zap_server()).await?;
    let hyper_addr = layout.serve(HYPER, hyper_server()).await?;
    let zap = Stack {
        name: ZAP_HTTP,
        client: zap_http::Client::builder()
            .max_idle_per_endpoint(POOL)
            .build(),
        uri: uri(zap_addr)?,
    };
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let hyper = Stack {
        name: HYPER,
        client: HyperClient::builder(TokioExecutor::new())
            .pool_max_idle_per_host(POOL)
            .build(connector),
        uri: uri(hyper_addr)?,
    };
    let contenders: Vec<Box<dyn Runner>> = vec![
        Box::new(Contender::new(zap, &cfg.sizes)?),
        Box::new(Contender::new(hyper, &cfg.sizes)?),
    ];
    let results = measure(
        &contenders,
        layout.threads(),
        cfg,
        &[HTTP_IN_FLIGHT],
        progress,
    )
    .await?;
    Ok(HttpResults { results })
}
