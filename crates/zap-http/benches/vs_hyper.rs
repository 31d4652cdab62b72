//! ZAP-HTTP against hyper HTTP/1.1 on loopback: the same axum Router, the same request
//! mix, the same concurrency, both in this process and run side by side.
//!
//! Criterion measures throughput (requests per second) for each; then a latency pass
//! runs a fixed number of requests through each, alternating rounds, and prints
//! p50 / p99 and the throughput ratio. `cargo bench -p zap-http --bench vs_hyper`.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::{get, post};
use bytes::Bytes;
use criterion::{Criterion, Throughput};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::runtime::Runtime;

/// Requests in flight at once, for both stacks.
const CONCURRENCY: usize = 16;

fn app() -> Router {
    Router::new()
        .route("/hello", get(|| async { "hello, world" }))
        .route("/echo", post(|body: Bytes| async move { body }))
}

#[derive(Clone, Copy, Debug)]
enum Case {
    /// `GET /hello`: a 12-byte answer, headers dominate.
    Small,
    /// `POST /echo` with 4 KiB each way.
    Echo4k,
}

impl Case {
    fn name(self) -> &'static str {
        match self {
            Case::Small => "get_12B",
            Case::Echo4k => "post_echo_4KiB",
        }
    }

    fn request(self, base: &str) -> http::Request<Full<Bytes>> {
        match self {
            Case::Small => http::Request::get(format!("{base}/hello"))
                .body(Full::new(Bytes::new()))
                .expect("request"),
            Case::Echo4k => http::Request::post(format!("{base}/echo"))
                .body(Full::new(Bytes::from(vec![b'x'; 4096])))
                .expect("request"),
        }
    }
}

/// One side under test: how to send one request and read the whole answer.
#[derive(Clone)]
enum Stack {
    Zap(zap_http::Client, Arc<str>),
    // Boxed: hyper's pooled client is hundreds of bytes, ours a handle.
    Hyper(Box<HyperClient<HttpConnector, Full<Bytes>>>, Arc<str>),
}

impl Stack {
    fn name(&self) -> &'static str {
        match self {
            Stack::Zap(..) => "zap-http",
            Stack::Hyper(..) => "hyper-http1",
        }
    }

    async fn call(&self, case: Case) -> usize {
        match self {
            Stack::Zap(client, base) => {
                let resp = client
                    .request(case.request(base))
                    .await
                    .expect("zap response");
                resp.into_body()
                    .collect()
                    .await
                    .expect("zap body")
                    .to_bytes()
                    .len()
            }
            Stack::Hyper(client, base) => {
                let resp = client
                    .request(case.request(base))
                    .await
                    .expect("hyper response");
                resp.into_body()
                    .collect()
                    .await
                    .expect("hyper body")
                    .to_bytes()
                    .len()
            }
        }
    }
}

/// Runs `total` requests with `CONCURRENCY` workers; returns the elapsed time and,
/// if asked, every request's latency.
async fn run(stack: &Stack, case: Case, total: u64, latencies: bool) -> (Duration, Vec<Duration>) {
    let start = Instant::now();
    let per = total.div_ceil(CONCURRENCY as u64);
    let mut tasks = Vec::with_capacity(CONCURRENCY);
    for _ in 0..CONCURRENCY {
        let stack = stack.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for _ in 0..per {
                let t = Instant::now();
                let n = stack.call(case).await;
                assert!(n > 0);
                if latencies {
                    lat.push(t.elapsed());
                }
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("worker"));
    }
    (start.elapsed(), all)
}

async fn servers() -> (SocketAddr, SocketAddr) {
    let zap = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let zap_addr = zap.local_addr().expect("addr");
    tokio::spawn(zap_http::serve(zap, app()));

    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let http_addr = tcp.local_addr().expect("addr");
    // Same socket options as the ZAP server: no Nagle delay.
    let tcp = axum::serve::ListenerExt::tap_io(tcp, |io| {
        let _ = io.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(tcp, app()).await });
    (zap_addr, http_addr)
}

fn stacks(zap_addr: SocketAddr, http_addr: SocketAddr) -> [Stack; 2] {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let hyper = HyperClient::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build(connector);
    [
        Stack::Zap(
            zap_http::Client::builder()
                .max_idle_per_endpoint(64)
                .build(),
            Arc::from(format!("http://{zap_addr}")),
        ),
        Stack::Hyper(Box::new(hyper), Arc::from(format!("http://{http_addr}"))),
    ]
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let (zap_addr, http_addr) = rt.block_on(servers());
    let stacks = stacks(zap_addr, http_addr);

    let mut criterion = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    for case in [Case::Small, Case::Echo4k] {
        let mut group =
            criterion.benchmark_group(format!("loopback_c{CONCURRENCY}/{}", case.name()));
        group.throughput(Throughput::Elements(1));
        for stack in &stacks {
            group.bench_function(stack.name(), |b| {
                b.to_async(&rt)
                    .iter_custom(|iters| async move { run(stack, case, iters, false).await.0 })
            });
        }
        group.finish();
    }
    criterion.final_summary();
    latency_report(&rt, &stacks);
}

/// Alternates rounds of each stack so that machine noise hits both alike, then prints
/// throughput, p50 and p99, and the ratios.
fn latency_report(rt: &Runtime, stacks: &[Stack; 2]) {
    const ROUNDS: usize = 4;
    const PER_ROUND: u64 = 4000;
    println!(
        "\nlatency pass: {ROUNDS} alternating rounds of {PER_ROUND} requests, concurrency {CONCURRENCY}"
    );
    println!(
        "{:<16} {:<12} {:>10} {:>10} {:>10}",
        "case", "stack", "req/s", "p50 µs", "p99 µs"
    );
    for case in [Case::Small, Case::Echo4k] {
        let mut results: Vec<(Duration, Vec<Duration>)> = vec![(Duration::ZERO, Vec::new()); 2];
        rt.block_on(async {
            for stack in stacks {
                run(stack, case, 500, false).await; // warm the pools
            }
            for _ in 0..ROUNDS {
                for (i, stack) in stacks.iter().enumerate() {
                    let (elapsed, lat) = run(stack, case, PER_ROUND, true).await;
                    results[i].0 += elapsed;
                    results[i].1.extend(lat);
                }
            }
        });
        let mut summary = Vec::new();
        for (stack, (elapsed, mut lat)) in stacks.iter().zip(results) {
            lat.sort_unstable();
            let rps = lat.len() as f64 / elapsed.as_secs_f64();
            let (p50, p99) = (percentile(&lat, 0.50), percentile(&lat, 0.99));
            println!(
                "{:<16} {:<12} {:>10.0} {:>10.1} {:>10.1}",
                case.name(),
                stack.name(),
                rps,
                p50.as_secs_f64() * 1e6,
                p99.as_secs_f64() * 1e6
            );
            summary.push((rps, p50, p99));
        }
        let (z, h) = (summary[0], summary[1]);
        println!(
            "{:<16} {:<12} {:>9.2}x {:>9.2}x {:>9.2}x   (throughput zap/hyper; latency hyper/zap)",
            case.name(),
            "ratio",
            z.0 / h.0,
            h.1.as_secs_f64() / z.1.as_secs_f64(),
            h.2.as_secs_f64() / z.2.as_secs_f64()
        );
    }
}
