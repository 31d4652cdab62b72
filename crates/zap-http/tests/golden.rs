//! The golden frames captured from Go's zap-proto/http decode to the recorded values and
//! re-encode byte for byte.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use serde_json::Value;
use tokio_util::codec::Decoder;
use zap_http::codec::FrameCodec;
use zap_http::wire::{
    self, DecodeLimits, EncodeOptions, Frame, FrameType, HeaderCase, ReasonPhrase, WireProto,
};

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/zap-http-vectors.json"
    ))
    .expect("vector file");
    let doc: Value = serde_json::from_str(&text).expect("vector JSON");
    doc["vectors"].as_array().expect("vectors").clone()
}

fn vector(name: &str) -> (Bytes, Value) {
    let v = vectors()
        .into_iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"));
    let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
    (Bytes::from(bytes), v["meaning"].clone())
}

/// The recorded header pairs, in order.
fn recorded_pairs(meaning: &Value) -> Vec<(String, String)> {
    meaning["headers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_string(),
                p[1].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The decoded header pairs, in order, names compared without case.
fn decoded_pairs(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect()
}

fn assert_same_pairs(decoded: &HeaderMap, meaning: &Value) {
    let want: Vec<_> = recorded_pairs(meaning)
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .collect();
    assert_eq!(decoded_pairs(decoded), want);
}

#[test]
fn the_vector_file_holds_both_frames() {
    let names: Vec<_> = vectors()
        .iter()
        .map(|v| v["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["request-post-json", "response-200-json"]);
    for v in vectors() {
        let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
        let ty = wire::frame_type(&bytes).unwrap();
        assert_eq!(ty as u8 as u64, v["frame_type"].as_u64().unwrap());
    }
}

#[test]
fn golden_request_decodes_to_the_recorded_values() {
    let (bytes, meaning) = vector("request-post-json");
    assert_eq!(bytes.len(), 205);
    let decoded = wire::decode_request(bytes, &DecodeLimits::default()).unwrap();
    let req = &decoded.request;
    assert_eq!(req.method().as_str(), meaning["method"]);
    assert_eq!(req.uri().to_string(), meaning["target"]);
    assert_eq!(req.uri().path(), "/v1/blocks");
    assert_eq!(req.uri().query(), Some("height=42"));
    assert_eq!(req.version(), Version::HTTP_11);
    assert!(
        req.extensions().get::<WireProto>().is_none(),
        "HTTP/1.1 is implied"
    );
    assert_eq!(meaning["proto"], "HTTP/1.1");
    assert_same_pairs(req.headers(), &meaning);
    assert_eq!(req.body(), meaning["body"].as_str().unwrap());
    assert!(meaning["trailer"].is_null());
    assert!(decoded.trailers.is_none());
}

#[test]
fn golden_request_reencodes_byte_for_byte() {
    let (bytes, _) = vector("request-post-json");
    let decoded = wire::decode_request(bytes.clone(), &DecodeLimits::default()).unwrap();
    let (parts, body) = decoded.request.into_parts();
    let frame = wire::encode_request(
        &parts,
        body,
        decoded.trailers.as_ref(),
        &EncodeOptions::default(),
    )
    .unwrap();
    assert_eq!(frame.message(), bytes);
    let whole = frame.to_bytes();
    assert_eq!(&whole[..4], &(bytes.len() as u32).to_be_bytes());
}

#[test]
fn golden_request_is_what_a_fresh_request_encodes_to() {
    let (bytes, meaning) = vector("request-post-json");
    let mut builder = Request::builder()
        .method(meaning["method"].as_str().unwrap())
        .uri(meaning["target"].as_str().unwrap());
    for (name, value) in recorded_pairs(&meaning) {
        builder = builder.header(name, value);
    }
    let req = builder
        .body(Bytes::from(meaning["body"].as_str().unwrap().to_string()))
        .unwrap();
    let (parts, body) = req.into_parts();
    let frame = wire::encode_request(&parts, body, None, &EncodeOptions::default()).unwrap();
    assert_eq!(frame.message(), bytes);
}

#[test]
fn golden_response_decodes_to_the_recorded_values() {
    let (bytes, meaning) = vector("response-200-json");
    assert_eq!(bytes.len(), 156);
    let decoded = wire::decode_response(bytes, &DecodeLimits::default()).unwrap();
    let resp = &decoded.response;
    assert_eq!(
        resp.status().as_u16() as u64,
        meaning["status"].as_u64().unwrap()
    );
    assert_eq!(meaning["reason"], "OK");
    assert!(
        resp.extensions().get::<ReasonPhrase>().is_none(),
        "OK is canonical"
    );
    assert_eq!(resp.version(), Version::HTTP_11);
    assert_same_pairs(resp.headers(), &meaning);
    assert_eq!(resp.body(), meaning["body"].as_str().unwrap());
    assert!(decoded.trailers.is_none());
}

#[test]
fn golden_response_reencodes_byte_for_byte_from_decode_and_from_scratch() {
    let (bytes, meaning) = vector("response-200-json");
    let decoded = wire::decode_response(bytes.clone(), &DecodeLimits::default()).unwrap();
    let (parts, body) = decoded.response.into_parts();
    let frame = wire::encode_response(&parts, body, None, &EncodeOptions::default()).unwrap();
    assert_eq!(frame.message(), bytes);

    let mut builder = Response::builder().status(StatusCode::OK);
    for (name, value) in recorded_pairs(&meaning) {
        builder = builder.header(name, value);
    }
    let resp = builder
        .body(Bytes::from(meaning["body"].as_str().unwrap().to_string()))
        .unwrap();
    let (parts, body) = resp.into_parts();
    let frame = wire::encode_response(&parts, body, None, &EncodeOptions::default()).unwrap();
    assert_eq!(frame.message(), bytes);
}

#[test]
fn golden_frames_pass_through_the_length_prefix_codec() {
    let mut wire_bytes = BytesMut::new();
    let mut expected = Vec::new();
    for v in vectors() {
        let bytes = hex::decode(v["hex"].as_str().unwrap()).unwrap();
        wire_bytes.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        wire_bytes.extend_from_slice(&bytes);
        expected.push(Bytes::from(bytes));
    }
    let mut codec = FrameCodec::new();
    let mut got = Vec::new();
    while let Some(frame) = codec.decode(&mut wire_bytes).unwrap() {
        got.push(frame);
    }
    assert_eq!(got, expected);
    match wire::decode(got[0].clone(), &DecodeLimits::default()).unwrap() {
        Frame::Request(r) => assert_eq!(r.request.method(), Method::POST),
        other => panic!("expected a request, got {other:?}"),
    }
}

#[test]
fn the_types_refuse_each_other() {
    let (req, _) = vector("request-post-json");
    let (resp, _) = vector("response-200-json");
    let limits = DecodeLimits::default();
    assert!(matches!(
        wire::decode_response(req.clone(), &limits),
        Err(wire::WireError::UnexpectedFrame {
            found: FrameType::Request,
            ..
        })
    ));
    assert!(matches!(
        wire::decode_request(resp.clone(), &limits),
        Err(wire::WireError::UnexpectedFrame {
            found: FrameType::Response,
            ..
        })
    ));
    assert!(wire::decode_chunk(resp, &limits).is_err());
}

/// `goldenEmptyRequest` from zap-proto/http (82 bytes, `GET /health HTTP/1.1`, no
/// headers), as laid out byte by byte in the reference (§3.9).
#[test]
fn the_empty_request_layout_matches_go() {
    let mut want = Vec::new();
    want.extend_from_slice(b"ZAP\0");
    want.extend_from_slice(&[1, 0, 0, 1]);
    want.extend_from_slice(&16u32.to_le_bytes());
    want.extend_from_slice(&82u32.to_le_bytes());
    want.extend_from_slice(&[0x30, 0, 0, 0, 3, 0, 0, 0]);
    want.extend_from_slice(&[0x2b, 0, 0, 0, 7, 0, 0, 0]);
    want.extend_from_slice(&[0x2a, 0, 0, 0, 8, 0, 0, 0]);
    want.extend_from_slice(&[0; 24]);
    want.extend_from_slice(b"GET/healthHTTP/1.1");
    let (parts, ()) = Request::get("/health").body(()).unwrap().into_parts();
    let frame =
        wire::encode_request(&parts, Bytes::new(), None, &EncodeOptions::default()).unwrap();
    assert_eq!(frame.message(), want);
    assert_eq!(&frame.to_bytes()[..4], &[0, 0, 0, 0x52]);
}

#[test]
fn lower_case_names_are_an_option_and_decode_the_same() {
    let (bytes, meaning) = vector("request-post-json");
    let decoded = wire::decode_request(bytes.clone(), &DecodeLimits::default()).unwrap();
    let (parts, body) = decoded.request.into_parts();
    let opts = EncodeOptions {
        header_case: HeaderCase::Lower,
        ..EncodeOptions::default()
    };
    let lower = wire::encode_request(&parts, body, None, &opts)
        .unwrap()
        .message();
    assert_eq!(lower.len(), bytes.len());
    assert_ne!(lower, bytes);
    let again = wire::decode_request(lower, &DecodeLimits::default()).unwrap();
    assert_same_pairs(again.request.headers(), &meaning);
}
