//! A real authoritative DNS server (hickory-server) on 127.0.0.1, whose zone tests edit.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::rr::rdata::{A, AAAA, SOA, SRV};
use hickory_proto::rr::{LowerName, Name, RData, Record, RecordType, RrKey};
use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use tokio::net::{TcpListener, UdpSocket};

/// The server and a handle on its one zone.
pub struct TestDns {
    pub addr: SocketAddr,
    zone: Arc<InMemoryZoneHandler<TokioRuntimeProvider>>,
    server: Server<Catalog>,
}

fn name(text: &str) -> Name {
    Name::from_ascii(text).expect("valid test name")
}

impl TestDns {
    /// Serves an empty zone `origin` (with its SOA) over UDP and TCP on 127.0.0.1.
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
            1,
        );
        zone.upsert_mut(
            Record::from_rdata(origin_name.clone(), 1, RData::SOA(soa)),
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
        Self { addr, zone, server }
    }

    /// Adds an A or AAAA record.
    pub async fn add_ip(&self, owner: &str, ip: IpAddr) {
        let data = match ip {
            IpAddr::V4(v4) => RData::A(A(v4)),
            IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
        };
        assert!(
            self.zone
                .upsert(Record::from_rdata(name(owner), 1, data), 1)
                .await
        );
    }

    /// Adds an SRV record.
    pub async fn add_srv(&self, owner: &str, priority: u16, weight: u16, port: u16, target: &str) {
        let data = RData::SRV(SRV::new(priority, weight, port, name(target)));
        assert!(
            self.zone
                .upsert(Record::from_rdata(name(owner), 1, data), 1)
                .await
        );
    }

    /// Removes every record of one type at `owner`.
    pub async fn remove(&self, owner: &str, record_type: RecordType) {
        let key = RrKey::new(LowerName::new(&name(owner)), record_type);
        self.zone.records_mut().await.remove(&key);
    }

    /// Stops answering.
    pub async fn stop(mut self) {
        let _ = self.server.shutdown_gracefully().await;
    }
}
