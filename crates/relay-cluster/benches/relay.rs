//! Relay throughput against a minimal WebSocket forwarder, side by side in one run.
//!
//! Both paths carry the same 1 KiB binary messages from one raw WebSocket client to
//! another over 127.0.0.1, in windows of 32 (below the relay's per-peer queue, so nothing
//! is dropped): `relay` goes through [`relay_cluster::Server`] (auth, decode, source
//! stamping, store lookup, per-peer queue, batched writes); `forwarder_batching` goes
//! through a hand-written task that copies messages from one socket to the other, feeding
//! all that are ready before one flush, and does nothing else; `forwarder_flush_each` is
//! the same copy loop flushing after every message (the upstream relay's write pattern).
//! The ratio relay / forwarder_batching is the cost of the relay's work per message.
#![allow(missing_docs)]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::{FutureExt, SinkExt, StreamExt};
use relay_cluster::{AllowAll, HealthCheckConfig, PeerId, RelayConfig, Server, ServerConfig, wire};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

type Ws = WebSocketStream<TcpStream>;

const WINDOW: usize = 32;
const PAYLOAD: usize = 1024;

async fn ws_connect(addr: std::net::SocketAddr) -> Ws {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let url = format!("ws://{addr}/relay");
    tokio_tungstenite::client_async(url, tcp).await.unwrap().0
}

/// Sends `msg` `WINDOW` times from `tx`, then reads `WINDOW` binary messages on `rx`.
async fn window(tx: &mut Ws, rx: &mut Ws, msg: &bytes::Bytes) {
    for _ in 0..WINDOW {
        tx.feed(Message::Binary(msg.clone())).await.unwrap();
    }
    tx.flush().await.unwrap();
    let mut got = 0;
    while got < WINDOW {
        match rx.next().await.unwrap().unwrap() {
            Message::Binary(b) if b.len() == msg.len() => got += 1,
            _ => {}
        }
    }
}

async fn relay_pair() -> (Server, Ws, Ws, bytes::Bytes) {
    // The raw clients never echo health checks; keep the relay from dropping them mid-run.
    let mut relay = RelayConfig::default();
    relay.health_check = HealthCheckConfig::new(Duration::from_secs(3600), Duration::from_secs(60));
    relay.read_timeout = Duration::from_secs(7200);
    let config = ServerConfig::new("127.0.0.1:0".parse().unwrap(), "bench", AllowAll)
        .with_relay_config(relay);
    let server = Server::new(config).unwrap();
    let addr = server.listen().await.unwrap().websocket;
    let mut a = ws_connect(addr).await;
    let mut b = ws_connect(addr).await;
    for (ws, name) in [(&mut a, "a"), (&mut b, "b")] {
        let auth = wire::encode_auth(&PeerId::from_identity(name), b"").unwrap();
        ws.send(Message::Binary(auth)).await.unwrap();
        ws.next().await.unwrap().unwrap();
    }
    let msg = wire::encode_transport(&PeerId::from_identity("b"), &[7u8; PAYLOAD]).unwrap();
    (server, a, b, msg)
}

async fn accept(listener: &TcpListener) -> Ws {
    let (tcp, _) = listener.accept().await.unwrap();
    tcp.set_nodelay(true).unwrap();
    tokio_tungstenite::accept_async(tcp).await.unwrap()
}

/// A forwarder that copies messages from the first client to the second. `batch` feeds
/// every message already received before flushing (as the relay does); without it each
/// message is flushed on its own.
async fn forwarder_pair(batch: bool) -> (Ws, Ws, bytes::Bytes) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut from = accept(&listener).await;
        let mut to = accept(&listener).await;
        while let Some(Ok(m)) = from.next().await {
            if !batch {
                if to.send(m).await.is_err() {
                    return;
                }
                continue;
            }
            if to.feed(m).await.is_err() {
                return;
            }
            while let Some(Some(Ok(m))) = from.next().now_or_never() {
                if to.feed(m).await.is_err() {
                    return;
                }
            }
            if to.flush().await.is_err() {
                return;
            }
        }
    });
    let a = ws_connect(addr).await;
    // The forwarder accepts in order: sender first, then receiver.
    let b = ws_connect(addr).await;
    // Same message size as the relay path, header included.
    let msg = bytes::Bytes::from(vec![7u8; wire::TRANSPORT_HEADER_SIZE + PAYLOAD]);
    (a, b, msg)
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (server, mut ra, mut rb, rmsg) = rt.block_on(relay_pair());
    let (mut fa, mut fb, fmsg) = rt.block_on(forwarder_pair(true));
    let (mut na, mut nb, nmsg) = rt.block_on(forwarder_pair(false));

    let mut group = c.benchmark_group("relay_1KiB_windows_of_32");
    group.throughput(Throughput::Elements(WINDOW as u64));
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("relay", |bn| {
        bn.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    window(&mut ra, &mut rb, &rmsg).await;
                }
                t.elapsed()
            })
        })
    });
    group.bench_function("forwarder_batching", |bn| {
        bn.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    window(&mut fa, &mut fb, &fmsg).await;
                }
                t.elapsed()
            })
        })
    });
    group.bench_function("forwarder_flush_each", |bn| {
        bn.iter_custom(|iters| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..iters {
                    window(&mut na, &mut nb, &nmsg).await;
                }
                t.elapsed()
            })
        })
    });
    group.finish();
    rt.block_on(server.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
