//! Property tests: the decoders of the Rust wire never panic on random or mutated input,
//! and what we encode decodes back to the same frame.

use bytes::Bytes;
use proptest::prelude::*;
use zap_rpc::ErrorCode;
use zap_rpc::extension::{Extensions, Features};
use zap_rpc::frame::{Frame, kind};

fn message() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..64).prop_map(|tail| {
        let mut m = b"ZAP\0\x01\x00\x00\x42\x00\x00\x00\x00".to_vec();
        m.extend_from_slice(&(16 + tail.len() as u32).to_le_bytes());
        m.extend_from_slice(&tail);
        Bytes::from(m)
    })
}

fn frame() -> impl Strategy<Value = Frame> {
    // Request ids never spell ZAP\0 (the sender skips that id).
    let id = any::<u32>().prop_filter("reserved", |i| *i != zap_rpc::frame::RESERVED_ID);
    prop_oneof![
        message().prop_map(|message| Frame::Plain { message }),
        (id.clone(), message()).prop_map(|(id, message)| Frame::Request { id, message }),
        (id.clone(), message()).prop_map(|(id, message)| Frame::Response { id, message }),
        (id.clone(), any::<u32>(), any::<u32>(), message()).prop_map(
            |(id, procedure, timeout_ms, message)| Frame::Call {
                id,
                procedure,
                timeout_ms,
                message
            }
        ),
        (id.clone(), any::<u16>(), ".{0,40}").prop_map(|(id, code, text)| Frame::Error {
            id,
            code: ErrorCode::from_u16(code),
            text: Bytes::from(text),
        }),
        id.clone().prop_map(|id| Frame::Cancel { id }),
        id.clone().prop_map(|nonce| Frame::Ping { nonce }),
        id.clone().prop_map(|nonce| Frame::Pong { nonce }),
        (any::<u32>(), message())
            .prop_map(|(procedure, message)| Frame::Send { procedure, message }),
        Just(Frame::GoAway),
        (id, 10u32..).prop_map(|(id, kind)| Frame::Unknown { id, kind }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_payloads_never_panic(payload in prop::collection::vec(any::<u8>(), 0..256)) {
        let p = Bytes::from(payload);
        let _ = Frame::decode_rust(p.clone());
        let _ = Frame::decode_go(p.clone());
        let _ = Extensions::decode(&p);
        let _ = zap_wire::node::Handshake::decode(&p);
    }

    #[test]
    fn encoded_frames_decode_to_themselves(f in frame()) {
        let wire = f.encode();
        let len = u32::from_le_bytes([wire[0], wire[1], wire[2], wire[3]]) as usize;
        prop_assert_eq!(len + 4, wire.len());
        let back = Frame::decode_rust(Bytes::copy_from_slice(&wire[4..])).unwrap();
        prop_assert_eq!(back, f);
    }

    #[test]
    fn mutated_frames_never_panic(f in frame(), flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6), cut in any::<prop::sample::Index>()) {
        let mut wire = f.encode().to_vec();
        for (at, x) in flips {
            let i = at.index(wire.len());
            wire[i] ^= x;
        }
        let end = cut.index(wire.len() + 1);
        let payload = Bytes::copy_from_slice(&wire[4.min(end)..end]);
        let _ = Frame::decode_rust(payload.clone());
        let _ = Frame::decode_go(payload);
    }

    #[test]
    fn extension_blocks_round_trip(bits in any::<u16>(), max in any::<u32>(), extra in prop::collection::vec(any::<u8>(), 0..16)) {
        let mut b = Extensions { features: Features::from_bits(bits), max_frame: max }.encode().to_vec();
        b.extend_from_slice(&extra);
        let e = Extensions::decode(&b).unwrap().unwrap();
        prop_assert_eq!(e.features.bits(), bits);
        prop_assert_eq!(e.max_frame, max);
    }
}

#[test]
fn kinds_are_the_documented_numbers() {
    assert_eq!(
        [
            kind::REQUEST,
            kind::RESPONSE,
            kind::CALL,
            kind::ERROR,
            kind::CANCEL,
            kind::PING,
            kind::PONG,
            kind::SEND,
            kind::GOAWAY
        ],
        [1, 2, 3, 4, 5, 6, 7, 8, 9]
    );
}
