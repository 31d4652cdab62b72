//! tarpc: a `#[tarpc::service]` over its serde transport (length-delimited frames,
//! bincode), on a TCP stream with `TCP_NODELAY`, the server spawning a task per request
//! as tarpc's examples do.

use std::net::SocketAddr;

use bytes::Bytes;
use futures_util::StreamExt;
use tarpc::server::{BaseChannel, Channel};
use tarpc::tokio_serde::formats::Bincode;
use tarpc::tokio_util::codec::LengthDelimitedCodec;
use tarpc::{client, context, serde_transport};
use tokio::net::{TcpListener, TcpStream};

use crate::echo::{Echo, check_len};
use crate::error::BenchError;

const NAME: &str = "tarpc";
/// tokio-util's default frame limit is 8 MiB; say so explicitly, above our largest payload.
const MAX_FRAME: usize = 8 << 20;

// The service trait and the client and server glue tarpc generates from it.
#[allow(unreachable_pub, missing_docs)]
mod service {
    use bytes::Bytes;

    #[tarpc::service]
    pub trait EchoService {
        async fn echo(payload: Bytes) -> Bytes;
    }
}

use service::{EchoService, EchoServiceClient};

#[derive(Clone)]
struct EchoServer;

impl EchoService for EchoServer {
    async fn echo(self, _: context::Context, payload: Bytes) -> Bytes {
        payload
    }
}

fn framed(stream: TcpStream) -> tarpc::tokio_util::codec::Framed<TcpStream, LengthDelimitedCodec> {
    LengthDelimitedCodec::builder()
        .max_frame_length(MAX_FRAME)
        .new_framed(stream)
}

/// Starts the tarpc server on the server side's runtime.
pub(crate) async fn server() -> Result<(SocketAddr, ()), BenchError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| BenchError::io("tarpc: bind", e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| BenchError::io("tarpc: local address", e))?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            if stream.set_nodelay(true).is_err() {
                continue;
            }
            let transport = serde_transport::new(framed(stream), Bincode::default());
            let channel = BaseChannel::with_defaults(transport);
            tokio::spawn(
                channel
                    .execute(EchoServer.serve())
                    .for_each(|response| async move {
                        tokio::spawn(response);
                    }),
            );
        }
    });
    Ok((addr, ()))
}

/// A tarpc client with its default configuration (1000 requests in flight at most).
pub(crate) struct TarpcEcho {
    client: EchoServiceClient,
}

impl TarpcEcho {
    pub(crate) async fn connect(addr: SocketAddr) -> Result<Self, BenchError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| BenchError::io("tarpc: connect", e))?;
        stream
            .set_nodelay(true)
            .map_err(|e| BenchError::io("tarpc: TCP_NODELAY", e))?;
        let transport = serde_transport::new(framed(stream), Bincode::default());
        let client = EchoServiceClient::new(client::Config::default(), transport).spawn();
        Ok(Self { client })
    }
}

impl Echo for TarpcEcho {
    type Payload = Bytes;
    type Worker = ();

    fn name(&self) -> &'static str {
        NAME
    }

    fn prepare(&self, data: &Bytes) -> Result<Bytes, BenchError> {
        Ok(data.clone())
    }

    fn worker(&self) {}

    async fn call(&self, _: &mut (), payload: &Bytes) -> Result<(), BenchError> {
        let reply = self
            .client
            .echo(context::current(), payload.clone())
            .await
            .map_err(|e| BenchError::contender(NAME, e))?;
        check_len(NAME, payload.len(), reply.len())
    }
}
