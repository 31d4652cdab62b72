//! A Z-Wing echo server and client on loopback, each pinning the other's identity.
//!
//! Run with `cargo run -p zap-zwing --example echo`.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zap_zwing::{Config, Identity, Listener, dial};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server_id = Identity::generate()?;
    let client_id = Identity::generate()?;
    let server_public = server_id.public().clone();
    let client_public = client_id.public().clone();

    let mut listener = Listener::bind(
        "127.0.0.1:0",
        Config::new(server_id).with_expected_remote(client_public),
    )
    .await?;
    let addr = listener.local_addr();
    println!(
        "server {} listening on {addr}",
        server_public.fingerprint().short()
    );

    let server = tokio::spawn(async move {
        let (mut stream, peer) = listener.accept().await?;
        println!(
            "server: {peer} proved identity {}",
            stream.remote_identity().fingerprint().short()
        );
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            stream.write_all(&buf[..n]).await?;
            stream.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });

    let started = Instant::now();
    let mut client = dial(
        addr,
        &Config::new(client_id).with_expected_remote(server_public),
    )
    .await?;
    println!(
        "client: handshake done in {:.1} ms",
        started.elapsed().as_secs_f64() * 1e3
    );

    let message = b"post-quantum hello";
    client.write_all(message).await?;
    client.flush().await?;
    let mut echoed = vec![0u8; message.len()];
    client.read_exact(&mut echoed).await?;
    println!("client: echoed back {:?}", String::from_utf8_lossy(&echoed));
    assert_eq!(&echoed, message);

    client.shutdown().await?;
    server.await??;
    Ok(())
}
