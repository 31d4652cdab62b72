//! Cross-pod delivery against same-pod delivery, side by side in one run.
//!
//! Two relay pods on 127.0.0.2 and 127.0.0.3 are linked by the fabric. Raw WebSocket
//! clients A and B attach to the first pod and C to the second; every path carries the
//! same 1 KiB Transport messages with the same client code:
//!
//! * `same_pod`: A → B, through one relay (the baseline);
//! * `cross_pod`: A → C, through the first relay, one fabric link and the second relay;
//! * `cross_pod_cold`: A → C on a cluster without presence, after forgetting where C is,
//!   so each message pays a WHO_HAS / I_HAVE lookup first (the first packet to a peer
//!   that is not in the cache).
//!
//! Criterion measures one-way latency (send one message, receive it) and throughput
//! (windows of 32). After the criterion groups, the same three paths are sampled message
//! by message, interleaved so that machine noise hits them alike, and the percentiles and
//! ratios are printed.
#![allow(missing_docs, clippy::print_stdout)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::{SinkExt, StreamExt};
use relay_cluster::fabric::{ClusterBootstrap, ClusterConfig, Fabric, Siblings};
use relay_cluster::{AllowAll, HealthCheckConfig, PeerId, RelayConfig, Server, ServerConfig, wire};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use zap_discovery::{Peer, StaticDiscovery};

type Ws = WebSocketStream<TcpStream>;

const WINDOW: usize = 32;
const PAYLOAD: usize = 1024;
const SAMPLES: usize = 2000;

struct Pod {
    server: Server,
    cluster: ClusterBootstrap,
    ws: SocketAddr,
}

async fn pod(ip: &str, presence: bool, discovery: Arc<StaticDiscovery>) -> Pod {
    // Raw clients never echo health checks; keep the relay from dropping them mid-run.
    let mut relay = RelayConfig::default();
    relay.health_check = HealthCheckConfig::new(Duration::from_secs(3600), Duration::from_secs(60));
    relay.read_timeout = Duration::from_secs(7200);
    relay.peer_queue = 256;
    let ip: std::net::IpAddr = ip.parse().unwrap();
    let config =
        ServerConfig::new(SocketAddr::new(ip, 0), "bench", AllowAll).with_relay_config(relay);
    let server = Server::new(config).unwrap();
    let mut cc = ClusterConfig::new(ip, Siblings::Custom(discovery), "bench-secret").with_port(0);
    cc.presence = presence;
    let cluster = ClusterBootstrap::start(cc, server.relay()).await.unwrap();
    let ws = server.listen().await.unwrap().websocket;
    Pod {
        server,
        cluster,
        ws,
    }
}

async fn ws(addr: SocketAddr, name: &str) -> Ws {
    let tcp = TcpStream::connect(addr).await.unwrap();
    tcp.set_nodelay(true).unwrap();
    let (mut ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/relay"), tcp)
        .await
        .unwrap();
    let auth = wire::encode_auth(&PeerId::from_identity(name), b"").unwrap();
    ws.send(Message::Binary(auth)).await.unwrap();
    ws.next().await.unwrap().unwrap();
    ws
}

struct Setup {
    pods: Vec<Pod>,
    a: Ws,
    b: Ws,
    c: Ws,
}

async fn setup(first_ip: u8, presence: bool) -> Setup {
    let d1 = Arc::new(StaticDiscovery::new("bench", Vec::<Peer>::new()).unwrap());
    let d2 = Arc::new(StaticDiscovery::new("bench", Vec::<Peer>::new()).unwrap());
    let p1 = pod(&format!("127.0.0.{first_ip}"), presence, d1.clone()).await;
    let p2 = pod(&format!("127.0.0.{}", first_ip + 1), presence, d2.clone()).await;
    let addrs = [
        p1.cluster.fabric().announce_addr(),
        p2.cluster.fabric().announce_addr(),
    ];
    for d in [&d1, &d2] {
        d.set_peers(addrs.iter().map(|a| Peer::new(*a))).unwrap();
    }
    p1.cluster
        .fabric()
        .wait_until(Duration::from_secs(5), |s| {
            s.links.len() == 1 && s.handshaking == 0
        })
        .await
        .unwrap();
    let a = ws(p1.ws, "a").await;
    let b = ws(p1.ws, "b").await;
    let c = ws(p2.ws, "c").await;
    let mut s = Setup {
        pods: vec![p1, p2],
        a,
        b,
        c,
    };
    // Warm up both paths (and, with presence, let C's presence reach the first pod).
    for _ in 0..50 {
        one(&mut s.a, &mut s.b, &msg_to("b")).await;
        one(&mut s.a, &mut s.c, &msg_to("c")).await;
    }
    s
}

fn msg_to(name: &str) -> Bytes {
    wire::encode_transport(&PeerId::from_identity(name), &[7u8; PAYLOAD]).unwrap()
}

/// Sends one message from `tx` and waits for it on `rx`.
async fn one(tx: &mut Ws, rx: &mut Ws, msg: &Bytes) {
    tx.send(Message::Binary(msg.clone())).await.unwrap();
    loop {
        if let Message::Binary(b) = rx.next().await.unwrap().unwrap()
            && b.len() == msg.len()
        {
            return;
        }
    }
}

/// Sends `WINDOW` messages from `tx`, then reads them on `rx`.
async fn window(tx: &mut Ws, rx: &mut Ws, msg: &Bytes) {
    for _ in 0..WINDOW {
        tx.feed(Message::Binary(msg.clone())).await.unwrap();
    }
    tx.flush().await.unwrap();
    let mut got = 0;
    while got < WINDOW {
        if let Message::Binary(b) = rx.next().await.unwrap().unwrap()
            && b.len() == msg.len()
        {
            got += 1;
        }
    }
}

/// One cold-cache message: forget where C is, then send.
async fn cold(fabric: &Fabric, tx: &mut Ws, rx: &mut Ws, msg: &Bytes, c: &PeerId) {
    fabric.invalidate(c);
    one(tx, rx, msg).await;
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn bench(cr: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut warm = rt.block_on(setup(2, true));
    let mut coldc = rt.block_on(setup(4, false));
    let cold_fabric = coldc.pods[0].cluster.fabric().clone();
    let (to_b, to_c) = (msg_to("b"), msg_to("c"));
    let c_id = PeerId::from_identity("c");

    let mut g = cr.benchmark_group("cluster_latency_1KiB");
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("same_pod", |bn| {
        bn.iter_custom(|n| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..n {
                    one(&mut warm.a, &mut warm.b, &to_b).await;
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("cross_pod", |bn| {
        bn.iter_custom(|n| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..n {
                    one(&mut warm.a, &mut warm.c, &to_c).await;
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("cross_pod_cold", |bn| {
        bn.iter_custom(|n| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..n {
                    cold(&cold_fabric, &mut coldc.a, &mut coldc.c, &to_c, &c_id).await;
                }
                t.elapsed()
            })
        })
    });
    g.finish();

    let mut g = cr.benchmark_group("cluster_throughput_1KiB_windows_of_32");
    g.throughput(Throughput::Elements(WINDOW as u64));
    g.measurement_time(Duration::from_secs(5));
    g.bench_function("same_pod", |bn| {
        bn.iter_custom(|n| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..n {
                    window(&mut warm.a, &mut warm.b, &to_b).await;
                }
                t.elapsed()
            })
        })
    });
    g.bench_function("cross_pod", |bn| {
        bn.iter_custom(|n| {
            rt.block_on(async {
                let t = Instant::now();
                for _ in 0..n {
                    window(&mut warm.a, &mut warm.c, &to_c).await;
                }
                t.elapsed()
            })
        })
    });
    g.finish();

    // Message by message, interleaved: same, cross, cold, same, cross, cold, ...
    let (same, cross, first) = rt.block_on(async {
        let mut same = Vec::with_capacity(SAMPLES);
        let mut cross = Vec::with_capacity(SAMPLES);
        let mut first = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let t = Instant::now();
            one(&mut warm.a, &mut warm.b, &to_b).await;
            same.push(t.elapsed());
            let t = Instant::now();
            one(&mut warm.a, &mut warm.c, &to_c).await;
            cross.push(t.elapsed());
            let t = Instant::now();
            cold(&cold_fabric, &mut coldc.a, &mut coldc.c, &to_c, &c_id).await;
            first.push(t.elapsed());
        }
        (same, cross, first)
    });
    let stats = |mut v: Vec<Duration>| {
        v.sort();
        (percentile(&v, 0.5), percentile(&v, 0.99), v[v.len() - 1])
    };
    let (s50, s99, smax) = stats(same);
    let (c50, c99, cmax) = stats(cross);
    let (f50, f99, fmax) = stats(first);
    println!();
    println!("one-way latency, {SAMPLES} interleaved messages per path (µs):");
    println!("  path            p50      p99      max     p50 / same_pod");
    for (name, p50, p99, max) in [
        ("same_pod", s50, s99, smax),
        ("cross_pod", c50, c99, cmax),
        ("cross_pod_cold", f50, f99, fmax),
    ] {
        println!(
            "  {name:<14} {:>7.1}  {:>7.1}  {:>7.1}   {:.2}",
            micros(p50),
            micros(p99),
            micros(max),
            micros(p50) / micros(s50)
        );
    }
    println!(
        "  goals: cross_pod p50 ≤ 1.3 × same_pod ({}), first packet ≤ 5 ms (p99 {:.2} ms, {})",
        if micros(c50) <= 1.3 * micros(s50) {
            "met"
        } else {
            "missed"
        },
        f99.as_secs_f64() * 1000.0,
        if f99 <= Duration::from_millis(5) {
            "met"
        } else {
            "missed"
        },
    );
    rt.block_on(async {
        for s in [warm, coldc] {
            for p in s.pods {
                p.cluster.stop().await;
                p.server.shutdown().await;
            }
        }
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
