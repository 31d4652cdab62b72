//! Any bytes, read as a relay message in both directions: decoded, its peer lists walked,
//! its source slot stamped, and whatever decodes re-encoded to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relay_cluster::PeerId;
use relay_cluster::wire::{self, ClientMessage, ServerMessage};

fuzz_target!(|data: &[u8]| {
    match wire::decode_client(data) {
        Ok(ClientMessage::Transport { dst, payload }) => {
            assert_eq!(
                wire::encode_transport(&dst, payload).unwrap().as_ref(),
                data
            );
        }
        Ok(ClientMessage::Auth { peer, token }) => {
            if let Ok(m) = wire::encode_auth(&peer, token) {
                assert_eq!(m.as_ref(), data);
            }
        }
        Ok(ClientMessage::Subscribe(list) | ClientMessage::Unsubscribe(list)) => {
            assert_eq!(list.iter().count(), list.len());
        }
        _ => {}
    }
    if let Ok(ServerMessage::PeersOnline(list) | ServerMessage::PeersWentOffline(list)) =
        wire::decode_server(data)
    {
        let _ = list.to_vec();
    }
    let src = PeerId::from_identity("fuzz");
    if let Ok(stamped) = wire::stamp_source(bytes::Bytes::copy_from_slice(data), &src) {
        assert_eq!(wire::transport_peer(&stamped).unwrap(), src);
        assert_eq!(stamped.len(), data.len());
    }
});
