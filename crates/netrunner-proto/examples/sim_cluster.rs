//! A control server over Z-Wing in front of a simulated cluster, and a client that
//! drives it: `cargo run -p netrunner-proto --example sim_cluster`.
//!
//! Everything runs in this process on 127.0.0.1 and finishes in about a second.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use netrunner_proto::{AddNodeRequest, Client, LoadSnapshotRequest, Server, SimBackend, SimConfig};
use zap_zwing::{Config, Identity};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = SimBackend::new(
        SimConfig::default()
            .with_nodes(3)
            .with_health_delay(Duration::from_millis(100)),
    );
    let server_identity = Identity::generate()?;
    let pin = server_identity.public().clone();
    let server = Server::bind("127.0.0.1:0", Config::new(server_identity), sim).await?;
    println!(
        "control server on {} (identity {})",
        server.local_addr(),
        server.identity().fingerprint().short()
    );

    // The client talks only to the identity it pinned.
    let client = Client::dial(
        server.local_addr(),
        &Config::new(Identity::generate()?).with_expected_remote(pin),
    )
    .await?;
    println!("ping: server pid {}", client.ping().await?);
    println!("protocol version {}", client.rpc_version().await?);

    // Watch the cluster while changing it.
    let mut updates = client.stream_status(Duration::from_millis(50)).await?;
    let info = client
        .add_node(AddNodeRequest::named("node4"))
        .await?
        .ok_or("no cluster")?;
    println!(
        "added node4: {} nodes, healthy {}",
        info.node_names.len(),
        info.healthy
    );
    client.pause_node("node2").await?;
    client.resume_node("node2").await?;
    let info = client.wait_for_healthy().await?.ok_or("no cluster")?;
    println!("healthy again: {}", info.healthy);
    let mut seen = 0;
    while let Some(update) = updates.next().await {
        let info = update?.ok_or("no cluster")?;
        seen += 1;
        if info.healthy && info.node_names.len() == 4 {
            break;
        }
    }
    updates.cancel().await?;
    println!("status stream: {seen} updates, then cancelled");

    let path = client.save_snapshot("demo").await?;
    println!("snapshot saved to {path} (the network stopped)");
    let info = client
        .load_snapshot(LoadSnapshotRequest::named("demo"))
        .await?
        .ok_or("no cluster")?;
    println!("snapshot loaded: nodes {:?}", info.node_names);
    for uri in client.uris().await? {
        println!("  {uri}");
    }
    let last = client.stop().await?.ok_or("no cluster")?;
    println!("stopped ({} nodes were running)", last.node_names.len());
    server.shutdown().await;
    Ok(())
}
