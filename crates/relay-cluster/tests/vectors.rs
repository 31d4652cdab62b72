//! The golden bytes produced by the openZro Go encoders decode and re-encode exactly.

use relay_cluster::wire::{self, ClientMessage, ServerMessage};
use relay_cluster::{HmacValidator, PeerId};

fn vector(name: &str) -> Vec<u8> {
    let text = include_str!("data/relay-vectors.json");
    let doc: serde_json::Value = serde_json::from_str(text).expect("vector file is JSON");
    let v = doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"));
    hex::decode(v["hex"].as_str().unwrap()).unwrap()
}

#[test]
fn peer_id_of_peer_a() {
    let id = PeerId::from_identity("peer-a");
    assert_eq!(id.as_bytes().as_slice(), vector("peerid-peer-a"));
    assert_eq!(
        id.to_string(),
        "sha-vblMc9U8RAI6cVopcKEMTVT6lVC3D9nTTMSwot5d3L4="
    );
}

#[test]
fn auth_message_round_trips() {
    let golden = vector("auth-peer-a");
    let ours = wire::encode_auth(&PeerId::from_identity("peer-a"), b"token-bytes").unwrap();
    assert_eq!(ours.as_ref(), golden);
    assert_eq!(
        wire::decode_client(&golden).unwrap(),
        ClientMessage::Auth {
            peer: PeerId::from_identity("peer-a"),
            token: b"token-bytes"
        }
    );
}

#[test]
fn auth_response_round_trips() {
    let golden = vector("auth-response");
    let ours = wire::encode_auth_response("rels://relay.example.com:443").unwrap();
    assert_eq!(ours.as_ref(), golden);
    assert_eq!(
        wire::decode_server(&golden).unwrap(),
        ServerMessage::AuthResponse {
            url: "rels://relay.example.com:443"
        }
    );
}

#[test]
fn transport_round_trips_and_stamps() {
    let golden = vector("transport-to-peer-b");
    let b = PeerId::from_identity("peer-b");
    assert_eq!(
        wire::encode_transport(&b, b"hello").unwrap().as_ref(),
        golden
    );
    assert_eq!(
        wire::decode_client(&golden).unwrap(),
        ClientMessage::Transport {
            dst: b,
            payload: b"hello"
        }
    );
    // What peer-b receives when peer-a sent it: same bytes with the slot rewritten.
    let a = PeerId::from_identity("peer-a");
    let stamped = wire::stamp_source(golden.clone().into(), &a).unwrap();
    assert_eq!(&stamped[..2], &golden[..2]);
    assert_eq!(&stamped[2..38], a.as_bytes());
    assert_eq!(&stamped[38..], &golden[38..]);
}

#[test]
fn hmac_v2_token_matches_go() {
    let golden = vector("token-v2-relay-secret");
    let auth = HmacValidator::new("relay-secret");
    assert_eq!(auth.issue_until(4_102_444_800), golden);
    assert_eq!(auth.check_at(&golden, 1_764_000_000), Ok(4_102_444_800));
    assert!(HmacValidator::new("other").check_at(&golden, 0).is_err());
}
