//! Finding the pods of a Kubernetes headless service through DNS, against a small DNS
//! server started on 127.0.0.1 that plays the cluster DNS.
//!
//! Run with `cargo run -p zap-discovery --example dns_headless`. In a pod, leave out
//! `with_nameserver` and the system resolver (the cluster DNS) is used.
#![allow(clippy::print_stdout)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::rdata::{A, SOA, SRV};
use hickory_proto::rr::{LowerName, Name, RData, Record};
use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use zap_discovery::dns::{DnsConfig, DnsDiscovery, DnsQuery};
use zap_discovery::{Discovery, PeerEvent};

type Zone = Arc<InMemoryZoneHandler<TokioRuntimeProvider>>;

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap_or_else(|_| Name::root())
}

/// Serves `prod.svc.cluster.local.` with two relay pods behind `_zap._tcp.relay`.
async fn cluster_dns() -> std::io::Result<(SocketAddr, Zone, Server<Catalog>)> {
    let origin = name("prod.svc.cluster.local.");
    let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
        origin.clone(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
    );
    let soa = SOA::new(
        name("ns.prod.svc.cluster.local."),
        name("admin.prod.svc.cluster.local."),
        1,
        60,
        60,
        60,
        1,
    );
    zone.upsert_mut(Record::from_rdata(origin.clone(), 5, RData::SOA(soa)), 1);
    for (i, port) in [(0u8, 7000u16), (1, 7000)] {
        let pod = format!("relay-{i}.relay.prod.svc.cluster.local.");
        let srv = SRV::new(0, 50, port, name(&pod));
        zone.upsert_mut(
            Record::from_rdata(
                name("_zap._tcp.relay.prod.svc.cluster.local."),
                5,
                RData::SRV(srv),
            ),
            1,
        );
        zone.upsert_mut(
            Record::from_rdata(name(&pod), 5, RData::A(A(Ipv4Addr::new(127, 0, 0, 10 + i)))),
            1,
        );
    }
    let zone = Arc::new(zone);
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), vec![zone.clone()]);
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
    let addr = udp.local_addr()?;
    let tcp = tokio::net::TcpListener::bind(addr).await?;
    let mut server = Server::new(catalog);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 65536);
    Ok((addr, zone, server))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (dns_addr, zone, _server) = cluster_dns().await?;
    println!("cluster DNS stand-in on {dns_addr}");

    let query = DnsQuery::kubernetes_srv("zap", "tcp", "relay.prod.svc.cluster.local.");
    let config = DnsConfig::new(query).with_nameserver(dns_addr);
    let pods = DnsDiscovery::start(config).await?;
    for p in pods.peers().iter() {
        println!(
            "  {:<16} target {}",
            p.addr(),
            p.meta("dns.target").unwrap_or("?")
        );
    }

    // A third pod becomes ready; the next refresh (here on demand) reports it.
    let mut changes = pods.subscribe();
    let pod = "relay-2.relay.prod.svc.cluster.local.";
    zone.upsert(
        Record::from_rdata(
            name("_zap._tcp.relay.prod.svc.cluster.local."),
            5,
            RData::SRV(SRV::new(0, 50, 7000, name(pod))),
        ),
        1,
    )
    .await;
    zone.upsert(
        Record::from_rdata(name(pod), 5, RData::A(A(Ipv4Addr::new(127, 0, 0, 12)))),
        1,
    )
    .await;
    pods.refresh().await?;
    if let Some(PeerEvent::Added(p)) = changes.recv().await {
        println!(
            "new pod: {} ({})",
            p.addr(),
            p.meta("dns.target").unwrap_or("?")
        );
    }
    println!("{} pods now", pods.peer_count());
    Ok(())
}
