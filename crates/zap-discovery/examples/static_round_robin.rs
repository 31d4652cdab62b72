//! A fixed list of peers, round robin, and power of two choices on a load hint.
//!
//! Run with `cargo run -p zap-discovery --example static_round_robin`.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::sync::Mutex;

use zap_discovery::{Discovery, Peer, Picker, PowerOfTwoChoices, RoundRobin, StaticDiscovery};

fn main() -> Result<(), zap_discovery::Error> {
    let discovery = StaticDiscovery::parse(
        "_luxd._tcp",
        [
            "node-c@127.0.0.1:9003",
            "node-a@127.0.0.1:9001",
            "[::1]:9002",
        ],
    )?;
    println!(
        "{} peers of {}:",
        discovery.peer_count(),
        discovery.service_type()
    );
    for peer in discovery.peers().iter() {
        println!("  {:<12} {}", peer.key(), peer.addr());
    }

    let rr = RoundRobin::new();
    let order: Vec<String> = (0..6)
        .map(|_| rr.pick_from(&discovery).map(|p| p.key().to_string()))
        .collect::<Result<_, _>>()?;
    println!("round robin: {}", order.join(" → "));

    // In-flight calls per peer, as a client would track them.
    let in_flight: Mutex<HashMap<String, u64>> = Mutex::new(HashMap::new());
    let load = |p: &Peer| {
        in_flight
            .lock()
            .map(|m| m.get(p.key()).copied().unwrap_or(0))
            .unwrap_or(0)
    };
    let p2c = PowerOfTwoChoices::new(load);
    for _ in 0..30 {
        let chosen = p2c.pick_from(&discovery)?;
        if let Ok(mut m) = in_flight.lock() {
            *m.entry(chosen.key().to_string()).or_default() += 1;
        }
    }
    let mut counts: Vec<(String, u64)> = in_flight
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .collect();
    counts.sort();
    println!("power of two choices, 30 calls that never finish: {counts:?}");
    discovery.stop();
    Ok(())
}
