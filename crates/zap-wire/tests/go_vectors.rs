//! Conformance with the golden vectors produced by running the Go luxfi/zap v0.6.0 code.
//!
//! Messages are rebuilt by replaying the recorded Go builder calls through our builder
//! (a small interpreter below), and must come out byte for byte; the recorded bytes
//! must parse and read back the recorded values; every captured TCP frame must decode
//! to the right kind and re-encode identically; every opcode must match.

use std::collections::HashMap;

use bytes::BytesMut;
use serde_json::Value;
use tokio_util::codec::{Decoder, Encoder};
use zap_wire::codec::{NodeCodec, NodeFrame};
use zap_wire::node::{FrameKind, Handshake};
use zap_wire::{Builder, ListBuilder, ListRef, Message, ObjectBuilder, ObjectRef, Version};

fn vectors() -> Value {
    let text = include_str!("data/zap-message-vectors.json");
    serde_json::from_str(text).expect("vector file is JSON")
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).expect("vector hex")
}

/// Parses one integer argument as Go would have printed it: decimal, negative or 0x.
fn int(arg: &str, vars: &HashMap<String, i64>) -> i64 {
    let a = arg.trim();
    if let Some(v) = vars.get(a) {
        return *v;
    }
    if let Some(h) = a.strip_prefix("0x").or_else(|| a.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16).expect("hex literal");
    }
    a.parse().unwrap_or_else(|_| panic!("not an integer: {a}"))
}

fn string_arg(arg: &str) -> Vec<u8> {
    let a = arg.trim();
    if a == "nil" {
        return Vec::new();
    }
    if let Some(s) = a.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        return s.as_bytes().to_vec();
    }
    // Space-separated hex bytes, as in `SetBytes(16,de ad be ef)`.
    unhex(a)
}

/// Splits `Name(args) -> result` into its parts.
fn split_call(call: &str) -> (&str, Vec<&str>, Option<&str>) {
    let (call, result) = match call.split_once("->") {
        Some((c, r)) => (c.trim(), Some(r.trim())),
        None => (call.trim(), None),
    };
    let open = call.find('(').expect("call has arguments");
    let name = &call[..open];
    let inner = &call[open + 1..call.rfind(')').expect("closing paren")];
    let mut args = Vec::new();
    let mut depth_quote = false;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '"' => depth_quote = !depth_quote,
            ',' if !depth_quote => {
                args.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner.trim().is_empty() {
        args.push(&inner[start..]);
    }
    (name, args, result)
}

/// Applies one `Set*` call to an open object.
fn object_call(o: &mut ObjectBuilder<'_>, name: &str, args: &[&str], vars: &HashMap<String, i64>) {
    let a = |i: usize| int(args[i], vars);
    let off = a(0) as usize;
    match name {
        "SetUint8" => o.set_u8(off, a(1) as u8),
        "SetInt8" => o.set_i8(off, a(1) as i8),
        "SetUint16" => o.set_u16(off, a(1) as u16),
        "SetInt16" => o.set_i16(off, a(1) as i16),
        "SetUint32" => o.set_u32(off, a(1) as u32),
        "SetInt32" => o.set_i32(off, a(1) as i32),
        "SetUint64" => o.set_u64(off, a(1) as u64),
        "SetInt64" => o.set_i64(off, a(1)),
        "SetFloat32" => o.set_f32(off, args[1].trim().parse().expect("f32")),
        "SetFloat64" => o.set_f64(off, args[1].trim().parse().expect("f64")),
        "SetBool" => o.set_bool(off, args[1].trim() == "true"),
        "SetText" | "SetBytes" => o.set_bytes(off, &string_arg(args[1])),
        "SetObject" => o.set_object(off, ObjectRef(a(1) as u32)),
        "SetList" => o.set_list(
            off,
            ListRef {
                offset: a(1) as u32,
                len: a(2) as u32,
            },
        ),
        other => panic!("unexpected call {other} inside an object"),
    }
}

/// Applies one `Add*` call to an open list.
fn list_call(l: &mut ListBuilder<'_>, name: &str, args: &[&str], vars: &HashMap<String, i64>) {
    match name {
        "AddUint8" => l.push_u8(int(args[0], vars) as u8),
        "AddUint32" => l.push_u32(int(args[0], vars) as u32),
        "AddUint64" => l.push_u64(int(args[0], vars) as u64),
        "AddBytes" => l.push_bytes(&string_arg(args[0])),
        other => panic!("unexpected call {other} inside a list"),
    }
}

/// Replays Go builder calls through our builder and returns the finished bytes.
///
/// An open object or list borrows the builder, so each one is replayed in a scope of
/// its own: the same calls Go accepts in any order must come in build order here.
fn replay(calls: &[Value]) -> Vec<u8> {
    let calls: Vec<&str> = calls.iter().map(|c| c.as_str().expect("a call")).collect();
    let mut b = Builder::new();
    let mut vars: HashMap<String, i64> = HashMap::new();
    let mut i = 0;
    while i < calls.len() {
        let call = calls[i];
        let (name, args, result) = split_call(call);
        i += 1;
        match name {
            "NewBuilder" => {}
            "StartObject" => {
                let mut o = b.object(int(args[0], &vars) as usize);
                loop {
                    let call = calls[i];
                    i += 1;
                    let (name, args, result) = split_call(call);
                    match name {
                        "FinishAsRoot" => {
                            o.finish_root();
                            break;
                        }
                        "Finish" => {
                            let r = o.finish();
                            if let Some(res) = result {
                                vars.insert(res.to_string(), i64::from(r.0));
                            }
                            break;
                        }
                        _ => object_call(&mut o, name, &args, &vars),
                    }
                }
            }
            "StartList" => {
                let mut l = b.list();
                loop {
                    let call = calls[i];
                    i += 1;
                    let (name, args, result) = split_call(call);
                    if name != "Finish" {
                        list_call(&mut l, name, &args, &vars);
                        continue;
                    }
                    let r = l.finish();
                    // `-> (listOff,3)` binds the offset; `-> (16,4)` checks it.
                    let res = result.expect("list Finish records its result");
                    let inner = res.trim_matches(|c| c == '(' || c == ')');
                    let (off, len) = inner.split_once(',').expect("(offset,len)");
                    let off = off.trim();
                    if off.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
                        vars.insert(off.to_string(), i64::from(r.offset));
                    } else {
                        assert_eq!(i64::from(r.offset), int(off, &vars), "{call}");
                    }
                    assert_eq!(i64::from(r.len), int(len, &vars), "{call}");
                    break;
                }
            }
            "WriteText" | "WriteBytes" => {
                let r = b.write_bytes(&string_arg(args[0]));
                if let Some(res) = result {
                    assert_eq!(i64::from(r.offset), int(res, &vars), "{call}");
                }
            }
            "Finish" => return b.to_vec(0).expect("finish"),
            "FinishWithFlags" => return b.to_vec(int(args[0], &vars) as u16).expect("finish"),
            other => panic!("unexpected call {other}: {call}"),
        }
    }
    panic!("the calls do not end with Finish")
}

#[test]
fn every_message_vector_rebuilds_byte_for_byte() {
    let v = vectors();
    let mut checked = 0;
    for vec in v["message_vectors"].as_array().unwrap() {
        let name = vec["name"].as_str().unwrap();
        let expected = unhex(vec["hex"].as_str().unwrap());
        assert_eq!(
            expected.len() as u64,
            vec["length"].as_u64().unwrap(),
            "{name}"
        );
        let calls = vec["builder_calls"].as_array().unwrap();
        let built = if name == "node-handshake-node-a" {
            // The Go calls loop over the id's bytes; our encoder is the same thing.
            Handshake::encode(b"node-a", Version::V1).unwrap().to_vec()
        } else {
            replay(calls)
        };
        assert_eq!(hex::encode(&built), hex::encode(&expected), "vector {name}");

        // The version-2 variant differs in byte 4 only and parses as version 2.
        let v2 = unhex(vec["v2_variant_hex"].as_str().unwrap());
        let mut b2 = expected.clone();
        b2[4] = 2;
        assert_eq!(v2, b2, "{name}");
        assert_eq!(Message::parse_exact(&v2).unwrap().version(), Version::V2);
        checked += 1;
    }
    assert_eq!(checked, 11);
}

#[test]
fn message_vectors_read_back_the_recorded_values() {
    let v = vectors();
    let get = |name: &str| -> Vec<u8> {
        let vec = v["message_vectors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("vector {name}"));
        unhex(vec["hex"].as_str().unwrap())
    };

    let b = get("empty-message");
    let m = Message::parse_exact(&b).unwrap();
    assert!(m.root().is_none());
    assert_eq!(m.size(), 16);

    let b = get("empty-root-object");
    let m = Message::parse_exact(&b).unwrap();
    assert_eq!(m.root_offset(), 16);
    assert!(
        m.root().unwrap().u8(0).is_err(),
        "a zero-size root has no bytes"
    );

    let b = get("zapclient-nil-payload-Ping");
    let m = Message::parse_exact(&b).unwrap();
    assert_eq!(m.flags(), 28672);
    assert_eq!(m.msg_type(), 112);

    let b = get("readme-scalars");
    let r = Message::parse_exact(&b).unwrap().root().unwrap();
    assert_eq!(r.u32(0).unwrap(), 42);
    assert_eq!(r.u64(8).unwrap(), 3_735_928_559);
    assert!(r.bool(16).unwrap());

    let b = get("all-scalars");
    let m = Message::parse_exact(&b).unwrap();
    assert_eq!(m.msg_type(), 1);
    let r = m.root().unwrap();
    assert_eq!(r.i8(0).unwrap(), -1);
    assert_eq!(r.u8(1).unwrap(), 171);
    assert_eq!(r.i16(2).unwrap(), -2);
    assert_eq!(r.u16(4).unwrap(), 48879);
    assert_eq!(r.i32(8).unwrap(), -3);
    assert_eq!(r.f32(12).unwrap(), 1.5);
    assert_eq!(r.i64(16).unwrap(), -4);
    assert_eq!(r.f64(24).unwrap(), -2.25);
    assert_eq!(r.u64(32).unwrap(), 72_623_859_790_382_856);

    let b = get("struct-u32-text-bytes-list");
    let r = Message::parse_exact(&b).unwrap().root().unwrap();
    assert_eq!(r.u32(0).unwrap(), 42);
    assert_eq!(r.text(8).unwrap(), Some("hello"));
    assert_eq!(r.bytes(16).unwrap(), Some(&[0xde, 0xad, 0xbe, 0xef][..]));
    let list = r.list(24).unwrap().unwrap();
    assert_eq!(list.len(), 3);
    assert_eq!(
        list.iter::<u32>().unwrap().collect::<Vec<_>>(),
        [100, 200, 300]
    );

    let b = get("nested-object-backward-pointer");
    let r = Message::parse_exact(&b).unwrap().root().unwrap();
    let inner = r.object(4).unwrap().expect("inner object");
    assert_eq!(inner.offset(), 16);
    assert_eq!(inner.u32(0).unwrap(), 111);

    let b = get("null-pointers");
    let r = Message::parse_exact(&b).unwrap().root().unwrap();
    assert_eq!(r.text(0).unwrap(), None);
    assert_eq!(r.bytes(8).unwrap(), None);
    assert!(r.object(16).unwrap().is_none());
    assert!(r.list(20).unwrap().is_none());
    // Go's zero-default reading of the same message.
    let lenient = Message::parse_exact(&b).unwrap().root_lenient();
    assert_eq!(lenient.text(0), "");
    assert!(lenient.object(16).is_null());
    assert_eq!(
        lenient.object(16).u32(0),
        0,
        "a null object reads as zeros, no crash"
    );
    assert_eq!(lenient.list(20).len(), 0);

    // A backward text pointer: v0.6.0 reads "abc"; so do we.
    let b = get("text-backward-pointer");
    let r = Message::parse_exact(&b).unwrap().root().unwrap();
    assert_eq!(r.text(0).unwrap(), Some("abc"));

    let b = get("byte-list");
    let r = Message::parse_exact(&b).unwrap().root().unwrap();
    assert_eq!(r.list(0).unwrap().unwrap().bytes().unwrap(), b"xyz!");

    let b = get("node-handshake-node-a");
    assert_eq!(Handshake::decode(&b).unwrap().node_id, b"node-a");
}

#[test]
fn every_tcp_frame_decodes_and_reencodes() {
    let v = vectors();
    let expected: HashMap<&str, (FrameKind, u32, Option<u8>)> = HashMap::from([
        ("tcp-frame-handshake-node-a", (FrameKind::Plain, 0, Some(0))),
        (
            "captured-dialer-handshake-node-b",
            (FrameKind::Plain, 0, Some(0)),
        ),
        (
            "captured-acceptor-handshake-node-a",
            (FrameKind::Plain, 0, Some(0)),
        ),
        ("captured-call-request", (FrameKind::Request, 1, Some(0x42))),
        (
            "call-response-accepted-by-node",
            (FrameKind::Response, 1, Some(0x42)),
        ),
        (
            "captured-call-response",
            (FrameKind::Response, 7, Some(0x42)),
        ),
        (
            "captured-call-response-msgtype0",
            (FrameKind::Response, 10, Some(0)),
        ),
        ("captured-send-frame", (FrameKind::Plain, 0, Some(0x43))),
        ("captured-plain-reply", (FrameKind::Plain, 0, Some(0x01))),
    ]);
    let frames = v["tcp_frame_vectors"].as_array().unwrap();
    assert_eq!(frames.len(), expected.len());
    for f in frames {
        let name = f["name"].as_str().unwrap();
        let bytes = unhex(f["hex"].as_str().unwrap());
        let (kind, id, msg_type) = expected[name];

        let mut codec = NodeCodec::new();
        let mut src = BytesMut::from(&bytes[..]);
        let frame = codec.decode(&mut src).unwrap().expect("a whole frame");
        assert!(src.is_empty(), "{name}: the frame consumes every byte");
        assert_eq!(frame.kind, kind, "{name}");
        assert_eq!(frame.request_id, id, "{name}");
        let msg = Message::parse(&frame.message).unwrap();
        assert_eq!(Some(msg.msg_type()), msg_type, "{name}");

        let mut out = BytesMut::new();
        codec.encode(frame.clone(), &mut out).unwrap();
        assert_eq!(hex::encode(&out), hex::encode(&bytes), "{name} re-encodes");

        if name.contains("handshake") {
            let hs = Handshake::decode(&frame.message).unwrap();
            let expected_id: &[u8] = if name.contains("node-b") {
                b"node-b"
            } else {
                b"node-a"
            };
            assert_eq!(hs.node_id, expected_id);
            assert!(hs.extension.is_empty());
        }
    }

    // The captured Call request carries u32@0 = 7; the response 42: a handler saw +1.
    let call = NodeFrame::request(1, unhex("5a4150000100004210000000180000000700000000000000"));
    assert_eq!(
        Message::parse(&call.message)
            .unwrap()
            .root()
            .unwrap()
            .u32(0)
            .unwrap(),
        7
    );
}

#[test]
fn every_opcode_matches() {
    let v = vectors();
    let list = v["opcode_vectors"]["vectors"].as_array().unwrap();
    assert_eq!(list.len(), 9);
    for o in list {
        let name = o["procedure"].as_str().unwrap();
        let fnv = u32::from_str_radix(o["fnv1a32"].as_str().unwrap().trim_start_matches("0x"), 16)
            .unwrap();
        let opcode =
            u16::from_str_radix(o["opcode"].as_str().unwrap().trim_start_matches("0x"), 16)
                .unwrap();
        let id = zap_wire::ProcedureId::new(name).unwrap();
        assert_eq!(id.hash(), fnv, "{name}");
        assert_eq!(id.opcode(), opcode, "{name}");
        assert_eq!(
            u64::from(id.msg_type()),
            o["hi_byte"].as_u64().unwrap(),
            "{name}"
        );
        let wire = hex::encode(id.opcode().to_le_bytes());
        assert_eq!(wire, o["flags_bytes_on_wire"].as_str().unwrap(), "{name}");
    }
    assert!(zap_wire::procedure_opcode("").is_err());
}

#[test]
fn a_plain_flags_zero_message_is_not_taken_for_a_call() {
    // Go v0.6.0 drops this frame (bytes 4..8 read as 1 = request). We deliver it.
    let msg = Builder::new().to_vec(0).unwrap();
    let mut wire = BytesMut::new();
    NodeCodec::new()
        .encode(NodeFrame::plain(msg.clone()), &mut wire)
        .unwrap();
    let frame = NodeCodec::new().decode(&mut wire).unwrap().unwrap();
    assert_eq!(frame.kind, FrameKind::Plain);
    assert_eq!(&frame.message[..], &msg[..]);
}
