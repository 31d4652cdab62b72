//! Call latency and throughput of zap-rpc next to its floor: a raw length-prefixed echo
//! over a plain tokio TCP socket on the same loopback, in the same process and run; and
//! the same calls over mutual TLS and QUIC next to plain TCP.
//!
//! * `latency/*`: one call at a time (request, wait, response) with a 24-byte message.
//! * `throughput/*`: 64 calls in flight at once per iteration.
//!
//! Ratios (ours / raw, TLS / TCP, QUIC / TCP) are what docs/benchmarks.md records.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::future::join_all;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use zap_rpc::{Client, ClientOptions, ConnectionOptions, Context, MessageBuf, Server, Status};

#[allow(dead_code, unreachable_pub)]
#[path = "../tests/support/pki.rs"]
mod pki;

const BATCH: usize = 64;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// The floor: a server that reads `u32 LE len ∥ payload` frames and writes them back.
async fn raw_echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            s.set_nodelay(true).expect("nodelay");
            tokio::spawn(async move {
                let mut buf = BytesMut::with_capacity(64 * 1024);
                loop {
                    match s.read_buf(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    // Echo every whole frame received, in one write.
                    let mut whole = 0;
                    while buf.len() >= whole + 4 {
                        let len = u32::from_le_bytes([
                            buf[whole],
                            buf[whole + 1],
                            buf[whole + 2],
                            buf[whole + 3],
                        ]) as usize;
                        if buf.len() < whole + 4 + len {
                            break;
                        }
                        whole += 4 + len;
                    }
                    if whole > 0 {
                        let out = buf.split_to(whole);
                        if s.write_all(&out).await.is_err() {
                            return;
                        }
                    }
                }
            });
        }
    });
    addr
}

struct RawClient {
    stream: TcpStream,
    frame: Bytes,
    buf: BytesMut,
}

impl RawClient {
    async fn connect(addr: SocketAddr, message: &[u8]) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        let mut f = BytesMut::new();
        f.put_u32_le(message.len() as u32 + 8);
        f.put_u32_le(1);
        f.put_u32_le(1);
        f.put_slice(message);
        Self {
            stream,
            frame: f.freeze(),
            buf: BytesMut::with_capacity(64 * 1024),
        }
    }

    /// Writes `n` frames at once and waits for `n` back.
    async fn round_trip(&mut self, n: usize) {
        let mut out = BytesMut::with_capacity(self.frame.len() * n);
        for _ in 0..n {
            out.put_slice(&self.frame);
        }
        self.stream.write_all(&out).await.expect("write");
        let want = self.frame.len() * n;
        while self.buf.len() < want {
            self.stream.read_buf(&mut self.buf).await.expect("read");
        }
        self.buf.advance_to(want);
    }
}

trait AdvanceTo {
    fn advance_to(&mut self, n: usize);
}

impl AdvanceTo for BytesMut {
    fn advance_to(&mut self, n: usize) {
        let _ = self.split_to(n);
    }
}

fn echo_server() -> zap_rpc::ServerBuilder {
    Server::builder("_bench._tcp")
        .no_mdns()
        .register("Echo", |_: Context, req: MessageBuf| async move {
            Ok::<_, Status>(req)
        })
        .expect("register")
}

async fn zap_server() -> Server {
    echo_server().start().await.expect("server")
}

async fn zap_client(server: &Server, conn: ConnectionOptions) -> Client {
    warm(ClientOptions::new().connection_options(conn), server).await
}

async fn warm(options: ClientOptions, server: &Server) -> Client {
    let client = Client::connect("_bench._tcp", options.peers([server.local_addr().clone()]))
        .await
        .expect("client");
    client
        .call("Echo", MessageBuf::empty())
        .await
        .expect("warm-up call");
    client
}

fn calls(c: &mut Criterion) {
    let rt = runtime();
    let msg = MessageBuf::with_u32(7, 0);
    let (server, rust, go, raw_addr) = rt.block_on(async {
        let server = zap_server().await;
        let rust = zap_client(&server, ConnectionOptions::new()).await;
        let go = zap_client(&server, ConnectionOptions::new().go_wire()).await;
        (server, rust, go, raw_echo_server().await)
    });
    let cluster = pki::Cluster::new();
    let (tls_server, tls, quic_server, quic) = rt.block_on(async {
        let tls_server = echo_server()
            .tls(cluster.server.clone())
            .start()
            .await
            .expect("TLS server");
        let tls = warm(ClientOptions::new().tls(cluster.alice.clone()), &tls_server).await;
        let quic_server = echo_server()
            .quic(cluster.server.clone())
            .start()
            .await
            .expect("QUIC server");
        let quic = warm(
            ClientOptions::new().quic(cluster.alice.clone()),
            &quic_server,
        )
        .await;
        (tls_server, tls, quic_server, quic)
    });
    let mut raw = rt.block_on(RawClient::connect(raw_addr, msg.as_bytes()));

    let mut latency = c.benchmark_group("latency");
    latency
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(1));
    latency.bench_function("raw_tcp_echo", |b| {
        b.iter(|| rt.block_on(raw.round_trip(1)))
    });
    latency.bench_function("zap_rpc_rust_wire", |b| {
        b.to_async(&rt)
            .iter(|| async { rust.call("Echo", msg.clone()).await.expect("call") })
    });
    latency.bench_function("zap_rpc_go_wire", |b| {
        b.to_async(&rt)
            .iter(|| async { go.call("Echo", msg.clone()).await.expect("call") })
    });
    latency.bench_function("zap_rpc_tls", |b| {
        b.to_async(&rt)
            .iter(|| async { tls.call("Echo", msg.clone()).await.expect("call") })
    });
    latency.bench_function("zap_rpc_quic", |b| {
        b.to_async(&rt)
            .iter(|| async { quic.call("Echo", msg.clone()).await.expect("call") })
    });
    latency.finish();

    let mut throughput = c.benchmark_group("throughput");
    throughput
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(BATCH as u64));
    throughput.bench_function("raw_tcp_echo_pipelined", |b| {
        b.iter(|| rt.block_on(raw.round_trip(BATCH)))
    });
    for (name, client) in [
        ("zap_rpc_rust_wire", &rust),
        ("zap_rpc_tls", &tls),
        ("zap_rpc_quic", &quic),
    ] {
        throughput.bench_function(name, |b| {
            b.to_async(&rt).iter(|| async {
                let calls = (0..BATCH).map(|_| client.call("Echo", msg.clone()));
                for r in join_all(calls).await {
                    r.expect("call");
                }
            })
        });
    }
    throughput.finish();

    drop((rust, go, tls, quic));
    rt.block_on(async {
        for s in [server, tls_server, quic_server] {
            s.shutdown(Duration::from_secs(1)).await;
        }
    });
}

criterion_group!(benches, calls);
criterion_main!(benches);
