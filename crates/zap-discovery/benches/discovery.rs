//! Discovery latency and picker cost, each measured next to a baseline in the same run.
//!
//! * `announce_to_seen`: from registering an announcement to the browser reporting it, on
//!   the loopback interface with probing off. Baseline: mdns-sd alone (announce to its
//!   `ServiceResolved` event); ours adds the TXT decoding, the peer set and the event.
//! * `dns_refresh`: one re-resolution of a headless service (A records) against a local
//!   hickory-server. Baseline: a bare hickory `lookup_ip`.
//! * `pick`: choosing one of 16 peers. Baseline: indexing by a counter.
//!
//! Run with `cargo bench -p zap-discovery` (or `cargo xtask bench`). Traffic stays on
//! 127.0.0.1, on a private port.
#![allow(missing_docs)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use mdns_sd::{IfKind, ServiceDaemon, ServiceEvent, ServiceInfo};
use zap_discovery::dns::{DnsConfig, DnsDiscovery, DnsQuery};
use zap_discovery::mdns::{Announcement, Mdns, MdnsConfig};
use zap_discovery::{
    Discovery, Peer, PeerEvent, Picker, PowerOfTwoChoices, RoundRobin, ServiceType,
};
use zap_testkit::dns::TestDns;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("loopback UDP")
}

fn loopback_daemon(port: u16) -> ServiceDaemon {
    let d = ServiceDaemon::new_with_port(port).expect("mdns daemon");
    d.disable_interface(IfKind::All)
        .expect("disable interfaces");
    d.enable_interface(IfKind::LoopbackV4)
        .expect("enable loopback");
    d
}

fn announce_to_seen(c: &mut Criterion) {
    let rt = runtime();
    let mut group = c.benchmark_group("announce_to_seen");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    let counter = AtomicUsize::new(0);
    let next_name = || format!("n{}", counter.fetch_add(1, Ordering::Relaxed));

    // Baseline: two bare mdns-sd daemons, one browsing, one registering.
    {
        let port = free_port();
        let fqdn = "_zapbraw._tcp.local.";
        let browser = loopback_daemon(port);
        let announcer = loopback_daemon(port);
        let events = browser.browse(fqdn).expect("browse");
        while !matches!(
            events.recv_timeout(Duration::from_secs(2)),
            Ok(ServiceEvent::SearchStarted(_))
        ) {}
        group.bench_function(BenchmarkId::new("mdns_sd_raw", "loopback"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let name = next_name();
                    let mut info = ServiceInfo::new(
                        fqdn,
                        &name,
                        &format!("{name}.local."),
                        IpAddr::V4(Ipv4Addr::LOCALHOST),
                        9000,
                        &[("id", name.as_str())][..],
                    )
                    .expect("service info");
                    info.set_requires_probe(false);
                    let fullname = info.get_fullname().to_string();
                    let t = Instant::now();
                    announcer.register(info).expect("register");
                    loop {
                        match events.recv_timeout(Duration::from_secs(2)) {
                            Ok(ServiceEvent::ServiceResolved(r)) if r.fullname == fullname => break,
                            Ok(_) => continue,
                            Err(e) => panic!("baseline announcement not seen: {e}"),
                        }
                    }
                    total += t.elapsed();
                    let _ = announcer.unregister(&fullname);
                }
                total
            });
        });
        let _ = browser.shutdown();
        let _ = announcer.shutdown();
    }

    // Ours: an MdnsDiscovery subscription seeing an Announcer.
    {
        let port = free_port();
        let service = ServiceType::new("_zapbours._tcp").expect("service type");
        let config = MdnsConfig::new().with_port(port).without_probing();
        let browsing = Mdns::new(config.clone()).expect("mdns");
        let announcing = Mdns::new(config).expect("mdns");
        let browse = rt.block_on(async {
            let browse = browsing.browse(&service).expect("browse");
            browse
                .wait_started(Duration::from_secs(2))
                .await
                .expect("browse started");
            browse
        });
        let mut changes = browse.subscribe();
        group.bench_function(BenchmarkId::new("zap_discovery", "loopback"), |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let name = next_name();
                        let t = Instant::now();
                        let announcer = announcing
                            .announce(Announcement::new(service.clone(), name.clone(), 9000))
                            .expect("announce");
                        loop {
                            match tokio::time::timeout(Duration::from_secs(2), changes.recv()).await
                            {
                                Ok(Some(PeerEvent::Added(p))) if p.node_id() == Some(&name) => {
                                    break;
                                }
                                Ok(Some(_)) => continue,
                                other => panic!("announcement not seen: {other:?}"),
                            }
                        }
                        total += t.elapsed();
                        drop(announcer);
                    }
                    total
                })
            });
        });
    }
    group.finish();
}

fn dns_refresh(c: &mut Criterion) {
    let rt = runtime();
    let svc = "relay.bench.svc.cluster.local.";
    let (addr, _dns) = rt.block_on(async {
        let dns = TestDns::start("bench.svc.cluster.local.", 5).await;
        for i in 0..8u8 {
            dns.add_ip(svc, IpAddr::V4(Ipv4Addr::new(127, 0, 1, i + 1)))
                .await;
        }
        (dns.addr, dns)
    });

    let mut group = c.benchmark_group("dns_refresh");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3));

    let mut udp = ConnectionConfig::udp();
    udp.port = addr.port();
    let ns = NameServerConfig::new(addr.ip(), true, vec![udp]);
    let mut builder = TokioResolver::builder_with_config(
        ResolverConfig::from_parts(None, vec![], vec![ns]),
        TokioRuntimeProvider::default(),
    );
    builder.options_mut().cache_size = 0;
    let raw = builder.build().expect("resolver");
    group.bench_function(BenchmarkId::new("hickory_lookup_ip", "8 A records"), |b| {
        b.iter(|| {
            rt.block_on(async {
                let found = raw.lookup_ip(svc).await.expect("lookup");
                assert_eq!(found.iter().count(), 8);
            })
        });
    });

    let discovery = rt.block_on(async {
        let config = DnsConfig::new(DnsQuery::host(svc, 7000))
            .with_nameserver(addr)
            .with_refresh_every(Duration::from_secs(3600));
        DnsDiscovery::start(config).await.expect("dns discovery")
    });
    group.bench_function(
        BenchmarkId::new("zap_discovery_refresh", "8 A records"),
        |b| {
            b.iter(|| {
                rt.block_on(async {
                    let snap = discovery.refresh().await.expect("refresh");
                    assert_eq!(snap.len(), 8);
                })
            });
        },
    );
    group.finish();
}

fn pick(c: &mut Criterion) {
    let peers: Vec<Peer> = (0..16u16)
        .map(|i| {
            Peer::new(SocketAddr::from(([127, 0, 0, 1], 9000 + i))).with_node_id(format!("p{i:02}"))
        })
        .collect();
    let mut group = c.benchmark_group("pick");
    let counter = AtomicUsize::new(0);
    group.bench_function(BenchmarkId::new("index_by_counter", 16), |b| {
        b.iter(|| {
            let n = counter.fetch_add(1, Ordering::Relaxed);
            std::hint::black_box(&peers[n % peers.len()]);
        });
    });
    let rr = RoundRobin::new();
    group.bench_function(BenchmarkId::new("round_robin", 16), |b| {
        b.iter(|| std::hint::black_box(rr.pick(&peers).expect("peers")));
    });
    let p2c = PowerOfTwoChoices::new(|p: &Peer| u64::from(p.addr().port()));
    group.bench_function(BenchmarkId::new("power_of_two_choices", 16), |b| {
        b.iter(|| std::hint::black_box(p2c.pick(&peers).expect("peers")));
    });
    group.finish();
}

criterion_group!(benches, announce_to_seen, dns_refresh, pick);
criterion_main!(benches);
