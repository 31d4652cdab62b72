//! Three relay pods on 127.0.0.2, 127.0.0.3 and 127.0.0.4 form a cluster from a static
//! sibling list (as on plain VMs); Alice attaches to the first pod, Bob to the third, and
//! they exchange a message each way across the fabric. Then Bob's pod leaves and Alice is
//! told that Bob went offline.
//!
//! Run with `cargo run -p relay-cluster --example three_pods`.
#![allow(clippy::print_stdout)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use relay_cluster::fabric::{ClusterBootstrap, ClusterConfig, Siblings};
use relay_cluster::{Client, ClientConfig, Event, HmacValidator, PeerId, Server, ServerConfig};

const WAIT: Duration = Duration::from_secs(5);

struct Pod {
    server: Server,
    cluster: ClusterBootstrap,
    url: String,
}

async fn pod(
    ip: IpAddr,
    fabric_port: u16,
    siblings: &[SocketAddr],
) -> Result<Pod, Box<dyn std::error::Error>> {
    let auth = HmacValidator::new("peer-secret");
    let server = Server::new(ServerConfig::new(
        SocketAddr::new(ip, 0),
        "relay.example.com:443",
        auth,
    ))?;
    let config = ClusterConfig::new(ip, Siblings::Static(siblings.to_vec()), "cluster-secret")
        .with_port(fabric_port)
        .with_fast_timers();
    // The seed's order: the fabric first, then the relay's listeners.
    let cluster = ClusterBootstrap::start(config, server.relay()).await?;
    let url = format!("rel://{}", server.listen().await?.websocket);
    Ok(Pod {
        server,
        cluster,
        url,
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A free port, the same on every pod's IP, as in Kubernetes.
    let port = std::net::TcpListener::bind("127.0.0.2:0")?
        .local_addr()?
        .port();
    let ips: Vec<IpAddr> = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        .iter()
        .map(|s| s.parse())
        .collect::<Result<_, _>>()?;
    let siblings: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
    let mut pods = Vec::new();
    for ip in &ips {
        pods.push(pod(*ip, port, &siblings).await?);
    }
    for p in &pods {
        let status = p
            .cluster
            .fabric()
            .wait_until(WAIT, |s| s.links.len() == 2)
            .await?;
        println!(
            "pod {} linked to {} siblings",
            status.announce,
            status.links.len()
        );
    }

    let token = HmacValidator::new("peer-secret").issue(Duration::from_secs(60));
    let (alice_id, bob_id) = (PeerId::from_identity("alice"), PeerId::from_identity("bob"));
    let mut alice =
        Client::connect(ClientConfig::new(&pods[0].url, alice_id, token.clone())).await?;
    let mut bob = Client::connect(ClientConfig::new(&pods[2].url, bob_id, token)).await?;
    alice.wait_for_peer(&bob_id, WAIT).await?;
    println!(
        "alice (on {}) sees bob (on {}) online",
        pods[0].url, pods[2].url
    );

    let started = Instant::now();
    alice.send(&bob_id, b"hello across pods").await?;
    loop {
        if let Event::Transport { from, payload } = tokio::time::timeout(WAIT, bob.recv()).await?? {
            println!(
                "bob got {:?} from {from}",
                String::from_utf8_lossy(&payload)
            );
            bob.send(&from, b"hello back").await?;
            break;
        }
    }
    loop {
        if let Event::Transport { payload, .. } = tokio::time::timeout(WAIT, alice.recv()).await?? {
            println!(
                "alice got {:?}; round trip {:?}",
                String::from_utf8_lossy(&payload),
                started.elapsed()
            );
            break;
        }
    }

    let leaving = pods.pop().expect("three pods");
    leaving.cluster.stop().await;
    leaving.server.shutdown().await;
    loop {
        if let Event::PeersWentOffline(ids) = tokio::time::timeout(WAIT, alice.recv()).await??
            && ids.contains(&bob_id)
        {
            println!("bob's pod left; alice is told bob went offline");
            break;
        }
    }
    alice.close().await;
    for p in pods {
        p.cluster.stop().await;
        p.server.shutdown().await;
    }
    Ok(())
}
