//! Control calls over loopback TCP: Z-Wing against cleartext (what the encryption
//! costs per call), and many calls in flight on one connection against one at a time
//! (what multiplexing buys). Plus the message codec on its own.
//!
//! `cargo bench -p netrunner-proto --bench control`; results and the machine in
//! docs/benchmarks.md.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use netrunner_proto::{
    Client, ClientOptions, DecodeOptions, Method, PeerInfo, Response, Server, ServerOptions,
    SimBackend, SimConfig, serve_connection,
};
use tokio::net::TcpListener;
use tokio::runtime::Runtime;
use tokio_util::sync::CancellationToken;
use zap_zwing::{Config, Identity};

fn sim() -> SimBackend {
    SimBackend::new(
        SimConfig::default()
            .with_nodes(20)
            .with_health_delay(Duration::ZERO),
    )
}

struct Pair {
    zwing: Client,
    cleartext: Client,
    _server: Server,
    _stop: CancellationToken,
}

/// One Z-Wing server and one cleartext server (the same backend code) on loopback.
fn pair(rt: &Runtime) -> Pair {
    rt.block_on(async {
        let server_id = Identity::generate().unwrap();
        let pin = server_id.public().clone();
        let server = Server::bind("127.0.0.1:0", Config::new(server_id), sim())
            .await
            .unwrap();
        let zwing = Client::dial(
            server.local_addr(),
            &Config::new(Identity::generate().unwrap()).with_expected_remote(pin),
        )
        .await
        .unwrap();

        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let stop = CancellationToken::new();
        let backend = Arc::new(sim());
        let token = stop.clone();
        tokio::spawn(async move {
            let (conn, _) = tcp.accept().await.unwrap();
            conn.set_nodelay(true).unwrap();
            let _ = serve_connection(
                conn,
                backend,
                ServerOptions::default(),
                PeerInfo::default(),
                token,
            )
            .await;
        });
        let cleartext = Client::connect_cleartext(addr, ClientOptions::default())
            .await
            .unwrap();
        Pair {
            zwing,
            cleartext,
            _server: server,
            _stop: stop,
        }
    })
}

fn calls(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let pair = pair(&rt);

    let mut group = c.benchmark_group("ping_round_trip");
    for (name, client) in [
        ("cleartext_tcp", &pair.cleartext),
        ("zwing_tcp", &pair.zwing),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(client.ping().await.unwrap());
                    }
                    start.elapsed()
                })
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("status_20_nodes");
    for (name, client) in [
        ("cleartext_tcp", &pair.cleartext),
        ("zwing_tcp", &pair.zwing),
    ] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        black_box(client.status().await.unwrap());
                    }
                    start.elapsed()
                })
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("hundred_pings_zwing");
    group.bench_function("one_at_a_time", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    for _ in 0..100 {
                        black_box(pair.zwing.ping().await.unwrap());
                    }
                }
                start.elapsed()
            })
        });
    });
    group.bench_function("all_in_flight", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let mut set = tokio::task::JoinSet::new();
                    for _ in 0..100 {
                        let client = pair.zwing.clone();
                        set.spawn(async move { client.ping().await.unwrap() });
                    }
                    while let Some(pid) = set.join_next().await {
                        black_box(pid.unwrap());
                    }
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

fn codec(c: &mut Criterion) {
    let info = sim().cluster_info().unwrap();
    let response = Response::Cluster(Some(info));
    let body = response.body();
    let mut group = c.benchmark_group("codec_cluster_info_20_nodes");
    group.throughput(criterion::Throughput::Bytes(body.len() as u64));
    group.bench_function("encode", |b| b.iter(|| black_box(response.body())));
    for (name, options) in [
        ("decode_lenient", DecodeOptions::default()),
        ("decode_strict", DecodeOptions::strict()),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                black_box(Response::decode(Method::Status, black_box(&body), &options).unwrap())
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = calls, codec
}
criterion_main!(benches);
