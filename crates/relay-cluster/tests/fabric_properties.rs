//! Random and mutated bytes never make a fabric decoder panic, and encoders round-trip.
#![cfg(feature = "cluster")]

use bytes::BytesMut;
use proptest::prelude::*;
use relay_cluster::PeerId;
use relay_cluster::fabric::frame::{
    self, Features, FrameType, Hello, HelloAck, IHave, MAX_FRAME_PAYLOAD, NodeId, PresenceEntry,
    PresenceOp,
};

fn peer() -> impl Strategy<Value = PeerId> {
    proptest::array::uniform32(any::<u8>()).prop_map(|d| {
        let mut b = [0u8; 36];
        b[..4].copy_from_slice(b"sha-");
        b[4..].copy_from_slice(&d);
        PeerId::from_bytes(b)
    })
}

fn addr() -> impl Strategy<Value = String> {
    "[a-z0-9.:]{1,60}"
}

/// Valid payloads of every kind, with their frame type.
fn valid() -> impl Strategy<Value = (FrameType, Vec<u8>)> {
    prop_oneof![
        (
            addr(),
            any::<[u8; 16]>(),
            any::<[u8; 32]>(),
            any::<u32>(),
            proptest::collection::vec(any::<[u8; 8]>(), 0..=4)
        )
            .prop_map(|(a, n, nonce, f, keys)| {
                let h = Hello {
                    addr: &a,
                    node: NodeId(n),
                    nonce,
                    features: Features(f),
                    key_ids: keys,
                };
                (FrameType::HELLO, frame::encode_hello(&h).unwrap().to_vec())
            }),
        (
            addr(),
            any::<[u8; 16]>(),
            any::<[u8; 32]>(),
            any::<Option<([u8; 8], [u8; 32])>>()
        )
            .prop_map(|(a, n, nonce, auth)| {
                let h = HelloAck {
                    addr: &a,
                    node: NodeId(n),
                    nonce,
                    features: Features(1),
                    auth,
                };
                (
                    FrameType::HELLO_ACK,
                    frame::encode_hello_ack(&h).unwrap().to_vec(),
                )
            }),
        any::<Option<[u8; 32]>>().prop_map(|m| (
            FrameType::HELLO_FIN,
            frame::encode_hello_fin(m.as_ref()).to_vec()
        )),
        (peer(), any::<u32>(), any::<u64>()).prop_map(|(peer, seqno, stamp)| {
            (
                FrameType::I_HAVE,
                frame::encode_i_have(&IHave { peer, seqno, stamp }).to_vec(),
            )
        }),
        peer().prop_map(|p| (FrameType::WHO_HAS, p.as_bytes().to_vec())),
        (peer(), proptest::collection::vec(any::<u8>(), 0..300)).prop_map(|(p, m)| {
            let mut v = p.as_bytes().to_vec();
            v.extend(m);
            (FrameType::FWD, v)
        }),
        (
            0u8..5,
            proptest::collection::vec((peer(), any::<u64>()), 0..20)
        )
            .prop_map(|(op, es)| {
                let op = [
                    PresenceOp::Snapshot,
                    PresenceOp::Online,
                    PresenceOp::Offline,
                    PresenceOp::SnapshotEnd,
                    PresenceOp::Moved,
                ][op as usize];
                let es: Vec<PresenceEntry> = if op == PresenceOp::SnapshotEnd {
                    vec![]
                } else {
                    es.into_iter()
                        .map(|(peer, stamp)| PresenceEntry { peer, stamp })
                        .collect()
                };
                let mut buf = BytesMut::new();
                frame::encode_presence(&mut buf, op, &es);
                (FrameType::PRESENCE, buf[3..].to_vec())
            }),
        (addr(), any::<u64>(), any::<bool>()).prop_map(|(a, ts, signed)| {
            let secret = signed.then_some(&b"k"[..]);
            (
                FrameType::HELLO,
                frame::encode_hello_v2(&a, ts, secret).unwrap().to_vec(),
            )
        }),
    ]
}

/// Every decoder, on any payload; returns nothing, must not panic.
fn decode_all(ty: FrameType, p: &[u8]) {
    let _ = frame::decode_hello(p);
    let _ = frame::decode_hello_ack(p);
    let _ = frame::decode_hello_fin(p);
    let _ = frame::decode_i_have(p);
    let _ = frame::decode_peer(p, "x");
    let _ = frame::decode_fwd(p);
    let _ = frame::decode_goodbye(p);
    let _ = frame::decode_hello_v2(p, Some(b"k"), 0);
    let _ = frame::decode_hello_v2(p, None, u64::MAX);
    if let Ok(pr) = frame::decode_presence(p) {
        assert_eq!(pr.entries().count(), pr.len());
    }
    let _ = ty.to_string();
}

proptest! {
    #[test]
    fn valid_payloads_round_trip((ty, p) in valid()) {
        match ty {
            FrameType::HELLO if p[0] == 3 => {
                let h = frame::decode_hello(&p).unwrap();
                prop_assert_eq!(frame::encode_hello(&h).unwrap().to_vec(), p);
            }
            FrameType::HELLO_ACK => {
                let (a, body) = frame::decode_hello_ack(&p).unwrap();
                prop_assert_eq!(frame::encode_hello_ack(&a).unwrap().to_vec(), p.clone());
                prop_assert_eq!(frame::encode_hello_ack_body(&a).unwrap().to_vec(), p[..body].to_vec());
            }
            FrameType::I_HAVE => {
                let a = frame::decode_i_have(&p).unwrap();
                prop_assert_eq!(frame::encode_i_have(&a).to_vec(), p);
            }
            FrameType::PRESENCE => {
                prop_assert!(frame::decode_presence(&p).is_ok());
            }
            _ => decode_all(ty, &p),
        }
    }

    #[test]
    fn mutated_payloads_never_panic(
        (ty, mut p) in valid(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in any::<usize>(),
    ) {
        for (i, b) in flips {
            if !p.is_empty() {
                let n = p.len();
                p[i % n] = b;
            }
        }
        let cut = cut % (p.len() + 1);
        decode_all(ty, &p[..cut]);
        decode_all(ty, &p);
    }

    #[test]
    fn random_streams_split_into_frames_without_panicking(
        bytes in proptest::collection::vec(any::<u8>(), 0..2048),
        limit in 0usize..=MAX_FRAME_PAYLOAD,
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        let mut seen = 0;
        while let Ok(Some((ty, payload))) = frame::decode_frame(&mut buf, limit) {
            prop_assert!(payload.len() <= limit);
            decode_all(ty, &payload);
            seen += 3 + payload.len();
        }
        prop_assert_eq!(seen + buf.len(), bytes.len());
    }
}
