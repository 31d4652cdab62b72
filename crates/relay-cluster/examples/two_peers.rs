//! Two peers on one relay, over WebSocket on 127.0.0.1: Alice watches for Bob, Bob
//! arrives, they exchange a message each way, Bob leaves and Alice is told.
//!
//! Run with `cargo run -p relay-cluster --example two_peers`.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use relay_cluster::{Client, ClientConfig, Event, HmacValidator, PeerId, Server, ServerConfig};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let auth = HmacValidator::new("example-secret");
    let server = Server::new(ServerConfig::new(
        "127.0.0.1:0".parse()?,
        "relay.example.com:443",
        auth.clone(),
    ))?;
    let url = format!("rel://{}", server.listen().await?.websocket);
    println!("relay at {url}, announcing {}", server.instance_url());

    let token = auth.issue(Duration::from_secs(60));
    let bob_id = PeerId::from_identity("bob's public key");
    let mut alice = Client::connect(ClientConfig::new(
        &url,
        PeerId::from_identity("alice's public key"),
        token.clone(),
    ))
    .await?;
    alice.subscribe(&[bob_id]).await?;

    let mut bob = Client::connect(ClientConfig::new(&url, bob_id, token)).await?;
    let within = Duration::from_secs(5);
    let ev = tokio::time::timeout(within, alice.recv()).await??;
    println!("alice sees {ev:?}");

    alice.send(&bob_id, b"hi bob").await?;
    if let Event::Transport { from, payload } = tokio::time::timeout(within, bob.recv()).await?? {
        println!(
            "bob got {:?} from {from}",
            String::from_utf8_lossy(&payload)
        );
        bob.send(&from, b"hi alice").await?;
    }
    loop {
        if let Event::Transport { payload, .. } =
            tokio::time::timeout(within, alice.recv()).await??
        {
            println!("alice got {:?}", String::from_utf8_lossy(&payload));
            break;
        }
    }

    bob.close().await;
    let ev = tokio::time::timeout(within, alice.recv()).await??;
    println!("alice sees {ev:?}");
    server.shutdown().await;
    Ok(())
}
