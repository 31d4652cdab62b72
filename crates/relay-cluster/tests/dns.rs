//! Siblings found through a Kubernetes-style headless Service, served by a real DNS server
//! (hickory) on 127.0.0.1: the cluster follows a scale from 2 to 4 to 2 pods, and no pod
//! ever dials itself although the Service lists it.
#![cfg(feature = "cluster")]

mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use relay_cluster::fabric::{ClusterConfig, FabricStatus, Siblings};
use support::*;
use zap_testkit::dns::TestDns;

const ZONE: &str = "ns1.svc.cluster.local.";
const SERVICE: &str = "relay-internal.ns1.svc.cluster.local.";

async fn start(dns: &TestDns, last: u8, port: u16) -> Pod {
    let siblings = Siblings::Headless {
        name: SERVICE.into(),
        nameservers: vec![dns.addr],
        refresh: Duration::from_millis(50),
    };
    let config = ClusterConfig::new(ip(last), siblings, CLUSTER_SECRET)
        .with_port(port)
        .with_fast_timers();
    Pod::start(config, empty_discovery()).await
}

/// Every pod linked to every other, and none listing itself.
fn mesh_of(pods: &[Pod]) -> impl Fn(&[FabricStatus]) -> bool + '_ {
    move |all: &[FabricStatus]| {
        all.iter().all(|s| {
            s.links.len() == pods.len() - 1
                && s.siblings.len() == pods.len() - 1
                && !s.siblings.contains(&s.announce)
                && s.handshaking == 0
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_headless_service_scaled_2_4_2_is_followed_without_self_dials() {
    init_tracing();
    let ips: Vec<IpAddr> = (2..=5).map(ip).collect();
    let port = common_port(&ips);
    let dns = TestDns::start(ZONE, 0).await;
    dns.set_ips(SERVICE, &ips[..2]).await;

    let mut pods = vec![start(&dns, 2, port).await, start(&dns, 3, port).await];
    wait_all(&pods, mesh_of(&pods)).await;

    // Scale up: the Service lists four pods (the two new ones start as they appear).
    dns.set_ips(SERVICE, &ips).await;
    pods.push(start(&dns, 4, port).await);
    pods.push(start(&dns, 5, port).await);
    wait_all(&pods, mesh_of(&pods)).await;
    let mut alice = pods[0].connect("alice").await;
    let mut dave = pods[3].connect("dave").await;
    alice.wait_for_peer(&id("dave"), WAIT).await.unwrap();
    alice.send(&id("dave"), b"found through DNS").await.unwrap();
    assert_eq!(next_transport(&mut dave).await.1, b"found through DNS");
    drop(dave);

    // Scale down: two pods leave the Service and stop.
    dns.set_ips(SERVICE, &ips[..2]).await;
    for p in pods.split_off(2) {
        p.stop().await;
    }
    wait_all(&pods, mesh_of(&pods)).await;
    let gone = SocketAddr::new(ips[3], port);
    for p in &pods {
        let s = p.fabric().stats();
        assert_eq!(s.rejects("self"), 0, "{s:?}");
        assert_eq!(s.dial_failed("self"), 0, "{s:?}");
        assert!(!p.fabric().status().siblings.contains(&gone));
    }
    drop(alice);
    for p in pods {
        p.stop().await;
    }
}
