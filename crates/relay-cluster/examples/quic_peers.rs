//! A relay with TLS serving secure WebSocket and QUIC on one port (self-signed rcgen
//! certificate, 127.0.0.1), with one peer on each transport.
//!
//! Run with `cargo run -p relay-cluster --example quic_peers`.
#![allow(clippy::print_stdout)]

use std::time::Duration;

use relay_cluster::{
    Client, ClientConfig, Event, HmacValidator, PeerId, Server, ServerConfig, tls,
};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()])?;
    let (cert, key) = (ck.cert.pem(), ck.signing_key.serialize_pem());
    let server_tls = tls::server_config_from_pem(cert.as_bytes(), key.as_bytes())?;
    let client_tls = tls::client_config_with_roots(cert.as_bytes())?;

    let auth = HmacValidator::new("example-secret");
    let config = ServerConfig::new("127.0.0.1:0".parse()?, "relay.example.com", auth.clone())
        .with_tls(server_tls);
    let server = Server::new(config)?;
    let addrs = server.listen().await?;
    let port = addrs.websocket.port();
    println!(
        "wss and quic on port {port}, announcing {}",
        server.instance_url()
    );

    let token = auth.issue(Duration::from_secs(60));
    let connect = |url: String, name: &str| {
        let cfg = ClientConfig::new(url, PeerId::from_identity(name), token.clone())
            .with_tls(client_tls.clone());
        Client::connect(cfg)
    };
    let quic = connect(format!("quic://127.0.0.1:{port}"), "quic peer").await?;
    let mut wss = connect(format!("rels://127.0.0.1:{port}"), "wss peer").await?;

    quic.send(&wss.peer_id(), b"over QUIC datagrams").await?;
    let within = Duration::from_secs(5);
    if let Event::Transport { from, payload } = tokio::time::timeout(within, wss.recv()).await?? {
        println!(
            "{} peer received {:?} from the {} peer {from}",
            wss.transport(),
            String::from_utf8_lossy(&payload),
            quic.transport()
        );
    }
    server.shutdown().await;
    Ok(())
}
