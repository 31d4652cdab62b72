//! Property tests: random and mutated input never panics the decoders, and whatever the
//! encoder writes decodes back to the same message and equals what zap-wire's builder
//! lays out for the same fields.

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use proptest::prelude::*;
use tokio_util::codec::Decoder;
use zap_http::codec::FrameCodec;
use zap_http::wire::{self, DecodeLimits, EncodeOptions};

const GOLDEN_REQUEST: &str = "5a4150000100000110000000cd00000030000000040000002c0000001400000038000000080000003800000041000000710000002c0000000000000000000000504f53542f76312f626c6f636b733f6865696768743d3432485454502f312e31020000000c000000436f6e74656e742d54797065100000006170706c69636174696f6e2f6a736f6e0a000000582d54726163652d4964070000006162632d3132337b226a736f6e727063223a22322e30222c226d6574686f64223a226574685f626c6f636b4e756d626572227d";
const GOLDEN_RESPONSE: &str = "5a41500001000002100000009c000000c8000000000000002800000002000000220000000800000022000000410000005b0000001100000000000000000000004f4b485454502f312e31020000000c000000436f6e74656e742d54797065100000006170706c69636174696f6e2f6a736f6e0a000000582d54726163652d4964070000006162632d3132337b22726573756c74223a2230783261227d";

/// Runs every decoder over `bytes`; none may panic, whatever they return.
fn decode_everything(bytes: &[u8]) {
    let limits = DecodeLimits::default();
    let b = Bytes::copy_from_slice(bytes);
    let _ = wire::decode(b.clone(), &limits);
    let _ = wire::decode_request(b.clone(), &limits);
    let _ = wire::decode_response(b.clone(), &limits);
    let _ = wire::decode_reply(b.clone(), &limits);
    let _ = wire::decode_chunk(b.clone(), &limits);
    let _ = wire::frame_type(&b);
    let mut codec = FrameCodec::with_max_frame(1 << 16);
    let mut buf = BytesMut::from(bytes);
    while let Ok(Some(frame)) = codec.decode(&mut buf) {
        let _ = wire::decode(frame, &limits);
    }
}

fn golden(hex_text: &str) -> Vec<u8> {
    hex::decode(hex_text).unwrap()
}

fn header_name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9-]{0,12}".prop_filter("frame-owned, hop-by-hop and host are special", |n| {
        let name = HeaderName::from_bytes(n.as_bytes()).unwrap();
        !(wire::is_frame_owned(&name) || wire::is_hop_by_hop(&name) || name == "host")
    })
}

fn header_map() -> impl Strategy<Value = HeaderMap> {
    prop::collection::vec((header_name(), "[ -~]{0,24}"), 0..8).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (n, v) in pairs {
            map.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(&v).unwrap(),
            );
        }
        map
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..256),
        1 => prop::collection::vec(any::<u8>(), 8000..9000),
    ]
}

/// Title-Case, written independently of the crate.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The header block written independently of the crate.
fn block(map: &HeaderMap) -> Vec<u8> {
    if map.is_empty() {
        return Vec::new();
    }
    let mut out = BytesMut::new();
    out.put_u32_le(map.len() as u32);
    for (n, v) in map {
        let n = canonical(n.as_str());
        out.put_u32_le(n.len() as u32);
        out.put_slice(n.as_bytes());
        out.put_u32_le(v.len() as u32);
        out.put_slice(v.as_bytes());
    }
    out.to_vec()
}

/// A request or response laid out with zap-wire's builder: the Go layout by construction.
fn built_with_zap_wire(fields: [&[u8]; 6], status: Option<u16>, frame_type: u16) -> Vec<u8> {
    let mut b = zap_wire::Builder::new();
    let mut o = b.object(48);
    match status {
        Some(s) => o.set_u16(0, s),
        None => o.set_bytes(0, fields[0]),
    }
    for (i, f) in fields.iter().enumerate().skip(1) {
        o.set_bytes(i * 8, f);
    }
    o.finish_root();
    b.to_vec(frame_type << 8).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_everything(&bytes);
    }

    #[test]
    fn random_bytes_behind_a_valid_header_never_panic(
        ty in 0u8..8,
        flags_low in any::<u8>(),
        root in 0u32..128,
        tail in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let size = 16 + tail.len() as u32;
        let mut bytes = b"ZAP\0".to_vec();
        bytes.extend_from_slice(&1u16.to_le_bytes());
        bytes.extend_from_slice(&[flags_low, ty]);
        bytes.extend_from_slice(&root.to_le_bytes());
        bytes.extend_from_slice(&size.to_le_bytes());
        bytes.extend_from_slice(&tail);
        decode_everything(&bytes);
    }

    #[test]
    fn mutated_goldens_never_panic(
        which in any::<bool>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = golden(if which { GOLDEN_REQUEST } else { GOLDEN_RESPONSE });
        for (at, byte) in edits {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len()));
        }
        decode_everything(&bytes);
    }

    #[test]
    fn requests_round_trip_and_match_the_zap_wire_layout(
        method in prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "X-CUSTOM"]),
        path in "/[a-z0-9/._~-]{0,24}(\\?[a-z0-9=&]{0,12})?",
        headers in header_map(),
        body in body(),
        trailers in prop::option::of(header_map()),
    ) {
        let mut req = Request::builder().method(method).uri(&path).body(()).unwrap();
        *req.headers_mut() = headers.clone();
        let (parts, ()) = req.into_parts();
        let trailers = trailers.filter(|t| !t.is_empty());
        let frame = wire::encode_request(
            &parts,
            Bytes::from(body.clone()),
            trailers.as_ref(),
            &EncodeOptions::default(),
        ).unwrap();

        let expected = built_with_zap_wire(
            [
                method.as_bytes(),
                path.as_bytes(),
                b"HTTP/1.1",
                &block(&headers),
                &body,
                &trailers.as_ref().map(block).unwrap_or_default(),
            ],
            None,
            1,
        );
        prop_assert_eq!(&frame.message()[..], &expected[..]);

        let back = wire::decode_request(frame.message(), &DecodeLimits::default()).unwrap();
        prop_assert_eq!(back.request.method().as_str(), method);
        prop_assert_eq!(back.request.uri().to_string(), path);
        prop_assert_eq!(back.request.headers(), &headers);
        prop_assert_eq!(&back.request.body()[..], &body[..]);
        prop_assert_eq!(back.trailers, trailers);
    }

    #[test]
    fn responses_round_trip_and_match_the_zap_wire_layout(
        status in 100u16..1000,
        headers in header_map(),
        body in body(),
        trailers in prop::option::of(header_map()),
    ) {
        let mut resp = Response::new(());
        *resp.status_mut() = StatusCode::from_u16(status).unwrap();
        *resp.headers_mut() = headers.clone();
        let (parts, ()) = resp.into_parts();
        let trailers = trailers.filter(|t| !t.is_empty());
        let frame = wire::encode_response(
            &parts,
            Bytes::from(body.clone()),
            trailers.as_ref(),
            &EncodeOptions::default(),
        ).unwrap();
        let reason = parts.status.canonical_reason().unwrap_or("Unknown Status Code");
        let expected = built_with_zap_wire(
            [
                b"",
                reason.as_bytes(),
                b"HTTP/1.1",
                &block(&headers),
                &body,
                &trailers.as_ref().map(block).unwrap_or_default(),
            ],
            Some(status),
            2,
        );
        prop_assert_eq!(&frame.message()[..], &expected[..]);

        let back = wire::decode_response(frame.message(), &DecodeLimits::default()).unwrap();
        prop_assert_eq!(back.response.status().as_u16(), status);
        prop_assert_eq!(back.response.headers(), &headers);
        prop_assert_eq!(&back.response.body()[..], &body[..]);
        prop_assert_eq!(back.trailers, trailers);
    }

    #[test]
    fn stream_chunks_round_trip(
        chunk in prop::collection::vec(any::<u8>(), 0..10000),
        trailers in prop::option::of(header_map()),
    ) {
        let opts = EncodeOptions::default();
        let limits = DecodeLimits::default();
        let data = wire::encode_data(Bytes::from(chunk.clone()), &opts).unwrap();
        prop_assert_eq!(
            wire::decode_chunk(data.message(), &limits).unwrap(),
            wire::Chunk::Data(Bytes::from(chunk))
        );
        let trailers = trailers.filter(|t| !t.is_empty());
        let end = wire::encode_end(trailers.as_ref(), &opts).unwrap();
        prop_assert_eq!(
            wire::decode_chunk(end.message(), &limits).unwrap(),
            wire::Chunk::End(trailers)
        );
    }

    #[test]
    fn the_codec_reassembles_frames_split_anywhere(
        messages in prop::collection::vec(prop::collection::vec(any::<u8>(), 1..300), 1..6),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let mut stream = Vec::new();
        for m in &messages {
            stream.extend_from_slice(&(m.len() as u32).to_be_bytes());
            stream.extend_from_slice(m);
        }
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(stream.len() + 1)).collect();
        points.push(stream.len());
        points.sort_unstable();
        let mut codec = FrameCodec::new();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut at = 0;
        for p in points {
            buf.extend_from_slice(&stream[at..p]);
            at = p;
            while let Some(frame) = codec.decode(&mut buf).unwrap() {
                got.push(frame.to_vec());
            }
        }
        prop_assert_eq!(got, messages);
    }
}
