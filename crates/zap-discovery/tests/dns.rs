//! DNS discovery against a real hickory-server on 127.0.0.1.
#![cfg(feature = "dns")]

mod support;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::rr::RecordType;
use zap_discovery::dns::{DnsConfig, DnsDiscovery, DnsQuery};
use zap_discovery::{Discovery, DnsErrorKind, Error, PeerEvent};
use zap_testkit::dns::TestDns;

const ZONE: &str = "ns1.svc.cluster.local.";
const SVC: &str = "relay.ns1.svc.cluster.local.";
const SRV_NAME: &str = "_zap._tcp.relay.ns1.svc.cluster.local.";

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// Refreshes only when asked, so the test decides when the server is consulted.
fn config(server: SocketAddr, query: DnsQuery) -> DnsConfig {
    DnsConfig::new(query)
        .with_nameserver(server)
        .with_refresh_every(Duration::from_secs(3600))
        .with_timeout(Duration::from_millis(300), 1)
}

fn addrs(d: &dyn Discovery) -> Vec<String> {
    d.peers().iter().map(|p| p.addr().to_string()).collect()
}

#[tokio::test]
async fn host_records_added_and_removed_are_seen_on_the_next_refresh() {
    support::init_tracing();
    let dns = TestDns::start(ZONE, 1).await;
    dns.add_ip(SVC, ip(11)).await;
    dns.add_ip(SVC, ip(12)).await;
    let d: Arc<dyn Discovery> = Arc::new(
        DnsDiscovery::start(config(dns.addr, DnsQuery::host(SVC, 7000)))
            .await
            .unwrap(),
    );
    assert_eq!(addrs(&*d), ["127.0.0.11:7000", "127.0.0.12:7000"]);
    assert_eq!(d.peers()[0].meta("dns.name"), Some(SVC));
    let mut sub = d.subscribe();

    dns.remove(SVC, RecordType::A).await;
    dns.add_ip(SVC, ip(12)).await;
    dns.add_ip(SVC, ip(13)).await;
    let snap = d.refresh().await.unwrap();
    assert_eq!(snap.len(), 2);
    assert_eq!(addrs(&*d), ["127.0.0.12:7000", "127.0.0.13:7000"]);
    assert!(
        matches!(sub.recv().await, Some(PeerEvent::Removed(p)) if p.addr().to_string() == "127.0.0.11:7000")
    );
    assert!(
        matches!(sub.recv().await, Some(PeerEvent::Added(p)) if p.addr().to_string() == "127.0.0.13:7000")
    );
    assert!(d.last_error().is_none());
}

#[tokio::test]
async fn the_interval_refresh_picks_up_new_pods() {
    let dns = TestDns::start(ZONE, 1).await;
    dns.add_ip(SVC, ip(21)).await;
    let d = DnsDiscovery::start(
        config(dns.addr, DnsQuery::host(SVC, 7000)).with_refresh_every(Duration::from_millis(50)),
    )
    .await
    .unwrap();
    let mut sub = d.subscribe();
    dns.add_ip(SVC, ip(22)).await;
    let snap = sub.wait_for_peers(2, Duration::from_secs(2)).await.unwrap();
    assert_eq!(snap.len(), 2);
}

#[tokio::test]
async fn aaaa_records_give_bracketed_ipv6_peers() {
    let dns = TestDns::start(ZONE, 1).await;
    dns.add_ip(SVC, IpAddr::V6(Ipv6Addr::LOCALHOST)).await;
    dns.add_ip(SVC, ip(31)).await;
    let d = DnsDiscovery::start(config(dns.addr, DnsQuery::host(SVC, 7000)))
        .await
        .unwrap();
    assert_eq!(addrs(&d), ["127.0.0.31:7000", "[::1]:7000"]);
}

#[tokio::test]
async fn srv_records_give_ports_and_targets() {
    let dns = TestDns::start(ZONE, 1).await;
    let pod0 = "relay-0.relay.ns1.svc.cluster.local.";
    let pod1 = "relay-1.relay.ns1.svc.cluster.local.";
    dns.add_srv(SRV_NAME, 10, 50, 7001, pod0).await;
    dns.add_srv(SRV_NAME, 10, 50, 7002, pod1).await;
    dns.add_ip(pod0, ip(40)).await;
    dns.add_ip(pod1, ip(41)).await;
    let d = DnsDiscovery::start(config(
        dns.addr,
        DnsQuery::kubernetes_srv("zap", "tcp", SVC),
    ))
    .await
    .unwrap();
    assert_eq!(addrs(&d), ["127.0.0.40:7001", "127.0.0.41:7002"]);
    let p = d.peers()[0].clone();
    assert_eq!(p.meta("dns.target"), Some(pod0));
    assert_eq!(p.meta("dns.priority"), Some("10"));
    assert_eq!(p.meta("dns.weight"), Some("50"));
    assert_eq!(p.node_id(), None, "DNS does not know node ids");

    // Pod 1 goes away: its SRV record is withdrawn.
    dns.remove(SRV_NAME, RecordType::SRV).await;
    dns.add_srv(SRV_NAME, 10, 50, 7001, pod0).await;
    let mut sub = d.subscribe();
    d.refresh().await.unwrap();
    assert_eq!(addrs(&d), ["127.0.0.40:7001"]);
    assert!(matches!(sub.recv().await, Some(PeerEvent::Removed(p)) if p.addr().port() == 7002));
}

#[tokio::test]
async fn nxdomain_gives_an_empty_set() {
    let dns = TestDns::start(ZONE, 1).await;
    let host = DnsDiscovery::start(config(
        dns.addr,
        DnsQuery::host("missing.ns1.svc.cluster.local.", 7000),
    ))
    .await
    .expect("NXDOMAIN is not an error");
    assert!(host.peers().is_empty());
    let srv = DnsDiscovery::start(config(
        dns.addr,
        DnsQuery::srv("_nope._tcp.ns1.svc.cluster.local."),
    ))
    .await
    .expect("NXDOMAIN is not an error");
    assert!(srv.peers().is_empty());

    // A name that exists with other records only (NODATA) is empty too.
    dns.add_srv(SRV_NAME, 0, 0, 1, "x.ns1.svc.cluster.local.")
        .await;
    let nodata = DnsDiscovery::start(config(dns.addr, DnsQuery::host(SRV_NAME, 1)))
        .await
        .unwrap();
    assert!(nodata.peers().is_empty());

    // Pods that disappear from DNS entirely leave an empty set behind.
    dns.add_ip(SVC, ip(50)).await;
    let d = DnsDiscovery::start(config(dns.addr, DnsQuery::host(SVC, 7000)))
        .await
        .unwrap();
    assert_eq!(d.peer_count(), 1);
    dns.remove(SVC, RecordType::A).await;
    assert!(d.refresh().await.unwrap().is_empty());
}

#[tokio::test]
async fn errors_reach_the_caller_and_keep_the_last_peers() {
    let dns = TestDns::start(ZONE, 1).await;
    let server = dns.addr;
    dns.add_ip(SVC, ip(60)).await;
    let d = DnsDiscovery::start(config(server, DnsQuery::host(SVC, 7000)))
        .await
        .unwrap();
    assert_eq!(d.peer_count(), 1);
    dns.stop().await;

    let started = Instant::now();
    let err = d.refresh().await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "bounded by the timeouts"
    );
    match &err {
        Error::Dns { kind, name, .. } => {
            assert!(
                matches!(kind, DnsErrorKind::Unreachable | DnsErrorKind::Timeout),
                "{err}"
            );
            assert_eq!(name, SVC);
        }
        other => panic!("expected a DNS error, got {other}"),
    }
    assert!(err.is_transient());
    assert_eq!(
        d.peer_count(),
        1,
        "a failed refresh keeps the previous peers"
    );
    assert!(d.last_error().is_some());

    // Starting against a dead server fails at once rather than pretending to be empty.
    let err = DnsDiscovery::start(config(server, DnsQuery::host(SVC, 7000)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Dns { .. }), "{err}");
}

#[tokio::test]
async fn stop_ends_the_refresh_loop_and_subscriptions() {
    let dns = TestDns::start(ZONE, 1).await;
    dns.add_ip(SVC, ip(70)).await;
    let d = DnsDiscovery::start(
        config(dns.addr, DnsQuery::host(SVC, 7000)).with_refresh_every(Duration::from_millis(20)),
    )
    .await
    .unwrap();
    let mut sub = d.subscribe();
    d.stop();
    d.stop();
    assert!(d.is_stopped());
    assert!(sub.recv().await.is_none());
    assert!(matches!(d.refresh().await, Err(Error::Stopped)));
    assert!(d.peers().is_empty());
}

#[tokio::test]
async fn one_shot_resolution() {
    let dns = TestDns::start(ZONE, 1).await;
    dns.add_ip(SVC, ip(80)).await;
    let peers = DnsDiscovery::resolve(config(dns.addr, DnsQuery::host(SVC, 9)))
        .await
        .unwrap();
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].addr().to_string(), "127.0.0.80:9");
}
