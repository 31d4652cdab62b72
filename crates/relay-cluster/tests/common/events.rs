//! Waiting for a relay client's events, shared by the single-relay tests (`common`) and
//! the multi-pod tests (`support`). Every wait is bounded by [`WAIT`].
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use relay_cluster::{Client, Event, PeerId};

/// Upper bound of any single wait; a failure shows as a timeout, never a hang.
pub const WAIT: Duration = Duration::from_secs(5);

pub async fn next(client: &mut Client) -> Event {
    tokio::time::timeout(WAIT, client.recv())
        .await
        .expect("an event within the wait")
        .expect("the connection is up")
}

/// The next Transport message, skipping presence events.
pub async fn next_transport(client: &mut Client) -> (PeerId, Vec<u8>) {
    loop {
        if let Event::Transport { from, payload } = next(client).await {
            return (from, payload.to_vec());
        }
    }
}

/// Waits for a presence event naming `peer`; `online` picks which kind.
pub async fn presence(client: &mut Client, peer: &PeerId, online: bool) {
    loop {
        match next(client).await {
            Event::PeersOnline(ids) if online && ids.contains(peer) => return,
            Event::PeersWentOffline(ids) if !online && ids.contains(peer) => return,
            _ => {}
        }
    }
}

pub fn id(name: &str) -> PeerId {
    PeerId::from_identity(name)
}
