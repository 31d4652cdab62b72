//! A real authoritative DNS server (hickory-server) on 127.0.0.1, whose one zone tests
//! edit while resolvers query it over UDP and TCP.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub use hickory_proto::rr::RecordType;
use hickory_proto::rr::rdata::{A, AAAA, SOA, SRV};
use hickory_proto::rr::{LowerName, Name, RData, Record, RrKey};
use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

/// The server and a handle on its zone. It answers until [`TestDns::stop`] or until it
/// is dropped.
pub struct TestDns {
    /// Where it listens (UDP and TCP on the same port).
    pub addr: SocketAddr,
    ttl: u32,
    zone: Arc<InMemoryZoneHandler<TokioRuntimeProvider>>,
    server: Server<Catalog>,
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("a valid test name")
}

impl TestDns {
    /// Serves an empty zone `origin` (with its SOA) on 127.0.0.1. Every record, and the
    /// zone's negative-caching time, carries `ttl` seconds (0: resolvers ask again every
    /// time).
    pub async fn start(origin: &str, ttl: u32) -> Self {
        let origin_name = name(origin);
        let mut zone = InMemoryZoneHandler::<TokioRuntimeProvider>::empty(
            origin_name.clone(),
            ZoneType::Primary,
            AxfrPolicy::Deny,
        );
        let soa = SOA::new(
            name(&format!("ns.{origin}")),
            name(&format!("admin.{origin}")),
            1,
            3600,
            600,
            86400,
            ttl,
        );
        zone.upsert_mut(
            Record::from_rdata(origin_name.clone(), ttl, RData::SOA(soa)),
            1,
        );
        let zone = Arc::new(zone);
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(&origin_name), vec![zone.clone()]);

        let udp = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("a UDP port on 127.0.0.1");
        let addr = udp.local_addr().expect("the UDP socket's address");
        let tcp = TcpListener::bind(addr)
            .await
            .expect("the same port over TCP");
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64 * 1024);
        Self {
            addr,
            ttl,
            zone,
            server,
        }
    }

    /// Adds an A or AAAA record.
    pub async fn add_ip(&self, owner: &str, ip: IpAddr) {
        let data = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        self.add(owner, data).await;
    }

    /// Adds an SRV record.
    pub async fn add_srv(&self, owner: &str, priority: u16, weight: u16, port: u16, target: &str) {
        let data = RData::SRV(SRV::new(priority, weight, port, name(target)));
        self.add(owner, data).await;
    }

    async fn add(&self, owner: &str, data: RData) {
        let added = self
            .zone
            .upsert(Record::from_rdata(name(owner), self.ttl, data), 1)
            .await;
        assert!(added, "the zone takes the record");
    }

    /// Removes every record of one type at `owner`.
    pub async fn remove(&self, owner: &str, record_type: RecordType) {
        let key = RrKey::new(LowerName::new(&name(owner)), record_type);
        self.zone.records_mut().await.remove(&key);
    }

    /// Replaces the A and AAAA records of `owner` with `ips` (a headless Service
    /// scaling).
    pub async fn set_ips(&self, owner: &str, ips: &[IpAddr]) {
        self.remove(owner, RecordType::A).await;
        self.remove(owner, RecordType::AAAA).await;
        for ip in ips {
            self.add_ip(owner, *ip).await;
        }
    }

    /// Stops answering.
    pub async fn stop(mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }
}
