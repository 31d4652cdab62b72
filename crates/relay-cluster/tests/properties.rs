//! Random and mutated input never makes a decoder panic, and encoders round-trip.

use proptest::prelude::*;
use relay_cluster::wire::{self, ClientMessage, PeerStateKind, ServerMessage};
use relay_cluster::{HmacValidator, PeerId};

fn peer() -> impl Strategy<Value = PeerId> {
    proptest::array::uniform32(any::<u8>()).prop_map(|d| {
        let mut b = [0u8; 36];
        b[..4].copy_from_slice(b"sha-");
        b[4..].copy_from_slice(&d);
        PeerId::from_bytes(b)
    })
}

fn valid_message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (peer(), proptest::collection::vec(any::<u8>(), 0..170))
            .prop_map(|(p, t)| wire::encode_auth(&p, &t).unwrap().to_vec()),
        (peer(), proptest::collection::vec(any::<u8>(), 0..2000))
            .prop_map(|(p, d)| wire::encode_transport(&p, &d).unwrap().to_vec()),
        proptest::collection::vec(peer(), 1..10).prop_map(|ps| wire::encode_peer_state(
            PeerStateKind::Subscribe,
            &ps
        )
        .unwrap()[0]
            .to_vec()),
        Just(wire::encode_health_check().to_vec()),
        Just(wire::encode_close().to_vec()),
        "[ -~]{0,100}".prop_map(|u| wire::encode_auth_response(&u).unwrap().to_vec()),
    ]
}

fn mutated() -> impl Strategy<Value = Vec<u8>> {
    (
        valid_message(),
        proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        any::<usize>(),
    )
        .prop_map(|(mut m, flips, cut)| {
            for (i, b) in flips {
                if !m.is_empty() {
                    let n = m.len();
                    m[i % n] = b;
                }
            }
            // Truncate one input in four, anywhere.
            if cut % 4 == 0 {
                m.truncate((cut / 4) % (m.len() + 1));
            }
            m
        })
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..9000)) {
        let _ = wire::decode_client(&bytes);
        let _ = wire::decode_server(&bytes);
        let _ = HmacValidator::new("s").check_at(&bytes, 0);
        let _ = std::str::from_utf8(&bytes).map(|s| s.parse::<PeerId>());
    }

    #[test]
    fn mutated_messages_never_panic(bytes in mutated()) {
        let _ = wire::decode_client(&bytes);
        let _ = wire::decode_server(&bytes);
        let _ = HmacValidator::new("s").check_at(&bytes, 0);
    }

    #[test]
    fn transport_round_trips(p in peer(), data in proptest::collection::vec(any::<u8>(), 0..8782)) {
        let m = wire::encode_transport(&p, &data).unwrap();
        prop_assert_eq!(wire::decode_client(&m).unwrap(), ClientMessage::Transport { dst: p, payload: &data });
        prop_assert_eq!(wire::decode_server(&m).unwrap(), ServerMessage::Transport { src: p, payload: &data });
    }

    #[test]
    fn peer_lists_round_trip(ps in proptest::collection::vec(peer(), 1..600)) {
        let mut back = Vec::new();
        for m in wire::encode_peer_state(PeerStateKind::Offline, &ps).unwrap() {
            prop_assert!(m.len() <= wire::MAX_MESSAGE_SIZE);
            match wire::decode_server(&m).unwrap() {
                ServerMessage::PeersWentOffline(l) => back.extend(l.iter()),
                other => prop_assert!(false, "decoded as {:?}", other),
            }
        }
        prop_assert_eq!(back, ps);
    }

    #[test]
    fn tokens_check_until_expiry(exp in 1_000_000_000u64..9_999_999_999, now in 0u64..10_000_000_000) {
        let v = HmacValidator::new("k");
        let t = v.issue_until(exp);
        prop_assert_eq!(v.check_at(&t, now).is_ok(), now <= exp);
    }
}
