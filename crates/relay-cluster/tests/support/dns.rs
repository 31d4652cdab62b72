//! A real authoritative DNS server (hickory-server) on 127.0.0.1 whose zone a test edits:
//! the headless Service of a relay cluster, scaled by adding and removing A records.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

pub struct TestDns {
    pub addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler<TokioRuntimeProvider>>,
    _server: Server<Catalog>,
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("valid test name")
}

impl TestDns {
    /// Serves an empty zone `origin` over UDP and TCP on 127.0.0.1, TTL 0 everywhere so
    /// that every refresh asks again.
    pub async fn start(origin: &str) -> Self {
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
            0,
        );
        zone.upsert_mut(
            Record::from_rdata(origin_name.clone(), 0, RData::SOA(soa)),
            1,
        );
        let zone = Arc::new(zone);
        let mut catalog = Catalog::new();
        catalog.upsert(LowerName::new(&origin_name), vec![zone.clone()]);
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let tcp = TcpListener::bind(addr).await.unwrap();
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 64 * 1024);
        Self {
            addr,
            zone,
            _server: server,
        }
    }

    /// Adds an A record.
    pub async fn add(&self, owner: &str, ip: Ipv4Addr) {
        assert!(
            self.zone
                .upsert(Record::from_rdata(name(owner), 0, RData::A(A(ip))), 1)
                .await
        );
    }

    /// Replaces the A records of `owner` with `ips`.
    pub async fn set(&self, owner: &str, ips: &[IpAddr]) {
        let key = RrKey::new(LowerName::new(&name(owner)), RecordType::A);
        self.zone.records_mut().await.remove(&key);
        for ip in ips {
            if let IpAddr::V4(v4) = ip {
                self.add(owner, *v4).await;
            }
        }
    }
}
