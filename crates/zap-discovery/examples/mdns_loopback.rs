//! Two nodes announce themselves over mDNS on the loopback interface; a browser finds them,
//! then sees one leave.
//!
//! Run with `cargo run -p zap-discovery --example mdns_loopback`. Nothing leaves the
//! machine: the daemon is restricted to 127.0.0.1 and uses a private port.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use zap_discovery::mdns::{Announcement, Mdns, MdnsConfig};
use zap_discovery::{Discovery, PeerEvent, ServiceType};

#[tokio::main]
async fn main() -> Result<(), zap_discovery::Error> {
    // A private port keeps this example apart from real mDNS traffic on 5353.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .unwrap_or(25353);
    let config = MdnsConfig::new().with_port(port).without_probing();
    let service = ServiceType::new("_zapdemo._tcp")?;

    let mdns = Mdns::new(config)?;
    let browse = mdns.browse(&service)?;
    browse.wait_started(Duration::from_secs(2)).await?;
    let mut changes = browse.subscribe();

    let started = Instant::now();
    let alpha =
        mdns.announce(Announcement::new(service.clone(), "alpha", 9001).with_meta("role", "api"))?;
    let _beta = mdns.announce(Announcement::new(service.clone(), "beta", 9002))?;
    let peers = changes.wait_for_peers(2, Duration::from_secs(2)).await?;
    println!("found {} peers in {:?}:", peers.len(), started.elapsed());
    for p in peers.iter() {
        println!("  {:<6} {:<16} {:?}", p.key(), p.addr(), p.metadata());
    }

    let left = Instant::now();
    alpha.withdraw().await?;
    loop {
        match tokio::time::timeout(Duration::from_secs(2), changes.recv()).await {
            Ok(Some(PeerEvent::Removed(p))) => {
                println!(
                    "{} left; seen {:?} after its goodbye",
                    p.key(),
                    left.elapsed()
                );
                break;
            }
            Ok(Some(_)) => continue,
            Ok(None) | Err(_) => {
                return Err(zap_discovery::Error::Mdns {
                    op: "example",
                    message: "the goodbye was not seen".into(),
                });
            }
        }
    }
    println!(
        "remaining: {:?}",
        browse.peers().iter().map(|p| p.key()).collect::<Vec<_>>()
    );
    Ok(())
}
