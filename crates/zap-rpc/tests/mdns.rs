//! Servers announced over mDNS (loopback interface only, a private UDP port and service
//! type) are found by a client and called round robin.
#![cfg(feature = "mdns")]

mod support;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, UdpSocket};
use std::time::Duration;

use zap_discovery::mdns::MdnsConfig;
use zap_rpc::{Client, ClientOptions, Context, MessageBuf, Server, Status};

fn free_udp_port() -> u16 {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("loopback UDP")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_announced_on_loopback_are_found_and_called_round_robin() {
    support::init_tracing();
    let mdns = MdnsConfig::new()
        .with_port(free_udp_port())
        .without_probing();
    let service = format!("_zr{}._tcp", std::process::id() % 100_000);
    let mut servers = Vec::new();
    for name in ["mdns-a", "mdns-b"] {
        let id = name.to_string();
        servers.push(
            Server::builder(&service)
                .node_id(name)
                .mdns(mdns.clone())
                .metadata("role", "test")
                .register("Who", move |_: Context, _: MessageBuf| {
                    let id = id.clone();
                    async move {
                        let mut b = zap_wire::Builder::new();
                        let mut root = b.object(8);
                        root.set_text(0, &id);
                        root.finish_root();
                        MessageBuf::from_builder(&mut b, 0)
                            .map_err(|e| Status::handler_error(e.to_string()))
                    }
                })
                .unwrap()
                .start()
                .await
                .unwrap(),
        );
    }
    let client = Client::connect(
        &service,
        ClientOptions::new()
            .mdns(mdns)
            .min_peers(2)
            .discover_timeout(Duration::from_secs(5))
            .call_timeout(Duration::from_secs(2)),
    )
    .await
    .expect("both servers found");
    let peers = client.peers();
    assert_eq!(
        peers.iter().filter_map(|p| p.node_id()).collect::<Vec<_>>(),
        ["mdns-a", "mdns-b"]
    );
    assert_eq!(peers[0].meta("role"), Some("test"));
    let mut seen = BTreeSet::new();
    for _ in 0..4 {
        let r = client.call("Who", MessageBuf::empty()).await.unwrap();
        let who = r
            .parse()
            .unwrap()
            .root()
            .unwrap()
            .text(0)
            .unwrap()
            .unwrap()
            .to_string();
        seen.insert(who);
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["mdns-a", "mdns-b"]);

    // A server that shuts down says goodbye and leaves the client's peer list; calls
    // then all go to the other.
    let mut changes = client.discovery().subscribe();
    let gone = servers.remove(0);
    gone.shutdown(Duration::from_secs(1)).await;
    changes
        .wait_for(Duration::from_secs(3), |s| s.len() == 1)
        .await
        .expect("the goodbye is seen");
    for _ in 0..3 {
        let r = client.call("Who", MessageBuf::empty()).await.unwrap();
        assert_eq!(
            r.parse().unwrap().root().unwrap().text(0).unwrap(),
            Some("mdns-b")
        );
    }
}
