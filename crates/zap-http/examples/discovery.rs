//! Two axum servers on loopback, found through static discovery and called round robin
//! with a bearer token attached per call. Runs to completion.
#![allow(clippy::print_stdout)]

use axum::Router;
use axum::routing::get;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use zap_discovery::{Peer, StaticDiscovery};
use zap_http::discovery::{Bearer, DiscoveryClient};

async fn start(name: &'static str) -> std::io::Result<std::net::SocketAddr> {
    let app = Router::new().route(
        "/who",
        get(move |headers: http::HeaderMap| async move {
            let auth = headers
                .get(http::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string();
            format!("{name} (authorization: {auth})")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(zap_http::serve(listener, app));
    Ok(addr)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a = start("billing-a").await?;
    let b = start("billing-b").await?;
    let discovery = StaticDiscovery::new(
        "_billing._tcp",
        [
            Peer::new(a).with_node_id("billing-a"),
            Peer::new(b).with_node_id("billing-b"),
        ],
    )?;
    let client = DiscoveryClient::builder(discovery)
        .client_id("example")
        .auth(Bearer::new("example-token")?)
        .min_peers(2)
        .build()
        .await?;
    for _ in 0..4 {
        let req = http::Request::get("http://billing/who").body(Empty::<Bytes>::new())?;
        let resp = client.request(req).await?;
        println!(
            "{}",
            String::from_utf8_lossy(&resp.into_body().collect().await?.to_bytes())
        );
    }
    // An empty token is refused when the client is built, never silently dropped.
    assert!(Bearer::new("").is_err());
    client.shutdown();
    Ok(())
}
