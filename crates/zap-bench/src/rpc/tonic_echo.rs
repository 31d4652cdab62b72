//! tonic: gRPC unary over HTTP/2 with prost messages.
//!
//! The message and the client and server glue are written by hand, exactly as
//! `tonic-prost-build` would generate them for
//! `service Echo { rpc Echo (EchoMsg) returns (EchoMsg); } message EchoMsg { bytes data = 1; }`,
//! so that no `protoc` is needed to build the harness. tonic runs at its best settings
//! for this test: `TCP_NODELAY`, HTTP/2 windows large enough for 64 KiB messages in
//! flight by the hundred, no stream limit below our concurrency, and the service served
//! without a router in front of it.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::uri::PathAndQuery;
use tonic::body::Body;
use tonic::client::Grpc;
use tonic::server::{NamedService, UnaryService};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};
use tonic_prost::ProstCodec;

use crate::echo::{Echo, check_len};
use crate::error::BenchError;

const NAME: &str = "tonic (gRPC)";
const PATH: &str = "/zapbench.Echo/Echo";
/// HTTP/2 flow-control windows: the defaults (64 KiB) would throttle 64 KiB messages.
const STREAM_WINDOW: u32 = 4 << 20;
const CONNECTION_WINDOW: u32 = 64 << 20;

/// The request and response message (`bytes data = 1`).
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct EchoMsg {
    #[prost(bytes = "bytes", tag = "1")]
    pub(crate) data: Bytes,
}

/// The handler: the request message comes back as the response.
#[derive(Clone, Copy)]
struct EchoUnary;

impl UnaryService<EchoMsg> for EchoUnary {
    type Response = EchoMsg;
    type Future = std::future::Ready<Result<Response<EchoMsg>, Status>>;

    fn call(&mut self, request: Request<EchoMsg>) -> Self::Future {
        std::future::ready(Ok(Response::new(request.into_inner())))
    }
}

/// The service as tonic's generated server code shapes it.
#[derive(Clone, Copy)]
struct EchoServer;

impl NamedService for EchoServer {
    const NAME: &'static str = "zapbench.Echo";
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<B> tower::Service<http::Request<B>> for EchoServer
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() == PATH {
            Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(ProstCodec::<EchoMsg, EchoMsg>::default());
                Ok(grpc.unary(EchoUnary, req).await)
            })
        } else {
            Box::pin(async move { Ok(Status::unimplemented("no such method").into_http()) })
        }
    }
}

/// Starts the gRPC server on the server side's runtime.
pub(crate) async fn server() -> Result<(SocketAddr, ()), BenchError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::io("tonic: bind", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BenchError::io("tonic: local address", e))?;
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    tokio::spawn(async move {
        let served = tonic::transport::Server::builder()
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .max_concurrent_streams(4096)
            .serve_with_incoming(EchoServer, incoming)
            .await;
        if let Err(e) = served {
            tracing::warn!(error = %e, "tonic server stopped");
        }
    });
    Ok((addr, ()))
}

/// A tonic client on one HTTP/2 connection (a `Channel`).
pub(crate) struct TonicEcho {
    grpc: Grpc<Channel>,
}

impl TonicEcho {
    pub(crate) async fn connect(addr: SocketAddr) -> Result<Self, BenchError> {
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .map_err(|e| BenchError::contender(NAME, e))?
            .tcp_nodelay(true)
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
            .buffer_size(4096)
            .connect()
            .await
            .map_err(|e| BenchError::contender(NAME, e))?;
        Ok(Self {
            grpc: Grpc::new(channel),
        })
    }
}

impl Echo for TonicEcho {
    type Payload = EchoMsg;
    type Worker = Grpc<Channel>;

    fn name(&self) -> &'static str {
        NAME
    }

    fn prepare(&self, data: &Bytes) -> Result<EchoMsg, BenchError> {
        Ok(EchoMsg { data: data.clone() })
    }

    /// Generated tonic clients take `&mut self`; concurrent callers each hold a clone
    /// (they share the connection).
    fn worker(&self) -> Grpc<Channel> {
        self.grpc.clone()
    }

    async fn call(&self, grpc: &mut Grpc<Channel>, msg: &EchoMsg) -> Result<(), BenchError> {
        grpc.ready()
            .await
            .map_err(|e| BenchError::contender(NAME, e))?;
        // As generated clients do: the method travels with the request for interceptors.
        let mut request = Request::new(msg.clone());
        request
            .extensions_mut()
            .insert(tonic::GrpcMethod::new("zapbench.Echo", "Echo"));
        let reply = grpc
            .unary(
                request,
                PathAndQuery::from_static(PATH),
                ProstCodec::<EchoMsg, EchoMsg>::default(),
            )
            .await
            .map_err(|e| BenchError::contender(NAME, e))?;
        check_len(NAME, msg.data.len(), reply.get_ref().data.len())
    }
}
