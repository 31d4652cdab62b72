//! Drives every decoder over arbitrary bytes, for the fuzz targets and the property
//! tests (one definition so both exercise the same surface). Not part of the API.

use crate::be::BeReader;
use crate::message::Message;
use crate::node::{self, Handshake};
use crate::object::Object;
use crate::typed;

/// Field offsets tried on every object reached.
const OFFSETS: usize = 48;
/// Objects followed from one object, to keep a run short on deep inputs.
const FAN_OUT: usize = 4;
/// Elements read from one list.
const ELEMENTS: usize = 16;

/// Parses `data` as a message and reads everything reachable, every accessor at every
/// small offset, strictly and leniently.
pub fn message(data: &[u8]) {
    let Ok(msg) = Message::parse(data) else {
        return;
    };
    let _ = (msg.flags(), msg.msg_type(), msg.version(), msg.size());
    let lenient = msg.root_lenient();
    for off in 0..OFFSETS {
        let _ = (lenient.u64(off), lenient.text(off), lenient.bytes(off));
        let _ = lenient.object(off).u32(0);
        let l = lenient.list(off);
        let _ = (l.len(), l.bytes(), l.get::<u32>(0), l.object(1, 8).u8(0));
    }
    if let Some(root) = msg.root() {
        object(root, 3);
    }
    let _ = msg.object_at(data.len() / 2).map(|o| object(o, 1));
}

fn object(o: Object<'_>, budget: u8) {
    let mut followed = 0;
    for off in 0..OFFSETS {
        let _ = (
            o.u8(off),
            o.u16(off),
            o.u32(off),
            o.u64(off),
            o.f64(off),
            o.bool(off),
        );
        let _ = (o.text(off), o.bytes(off), o.fixed::<20>(off));
        if budget == 0 || followed >= FAN_OUT {
            continue;
        }
        if let Ok(Some(child)) = o.object(off) {
            followed += 1;
            object(child, budget - 1);
        }
        if let Ok(Some(list)) = o.list(off) {
            followed += 1;
            let _ = list.bytes();
            if let Ok(it) = list.iter::<u32>() {
                let _ = it.take(ELEMENTS).count();
            }
            for i in 0..list.len().min(ELEMENTS) {
                let _ = (list.u8(i), list.u64(i), list.text(i), list.blob(i));
                if let Ok(Some(child)) = list.object_ptr(i) {
                    object(child, budget - 1);
                }
                if let Ok(child) = list.object(i, 16) {
                    object(child, budget - 1);
                }
                let _ = list.list(i);
            }
        }
    }
}

/// Reads `data` as a stream of node-frame payloads (length-prefixed) and classifies
/// each, decoding handshakes where they appear.
pub fn node_frames(data: &[u8]) {
    let mut rest = data;
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = u32::from_le_bytes(*len) as usize;
        let Some((payload, tail)) = tail.split_at_checked(len.min(tail.len())) else {
            return;
        };
        let c = node::classify(payload);
        let message = &payload[c.message_start.min(payload.len())..];
        message_shallow(message);
        let _ = Handshake::decode(payload);
        rest = tail;
    }
}

fn message_shallow(data: &[u8]) {
    if let Ok(m) = Message::parse(data)
        && let Some(r) = m.root()
    {
        let _ = (r.u32(0), r.text(8), r.object(4), r.list(24));
    }
}

/// Reads `data` as typed frames and their payloads with the big-endian reader.
pub fn typed_frames(data: &[u8]) {
    let mut rest = data;
    while let Some((head, tail)) = rest.split_first_chunk::<{ typed::TYPED_HEADER_SIZE }>() {
        let Ok((len, ty)) = typed::parse_typed_header(head, typed::MAX_TYPED_PAYLOAD) else {
            return;
        };
        let _ = (ty.opcode(), ty.is_response(), ty.is_error());
        let payload = &tail[..len.min(tail.len())];
        if let Ok((_, body)) = typed::split_request_id(payload) {
            be_fields(body);
        }
        rest = &tail[payload.len()..];
    }
}

/// Reads `data` with every big-endian reader operation, driven by the data itself.
pub fn be_fields(data: &[u8]) {
    let mut r = BeReader::new(data);
    let mut ops = data.iter().copied().cycle().take(64);
    while !r.is_empty() {
        let ok = match ops.next().unwrap_or(0) % 10 {
            0 => r.u8().is_ok(),
            1 => r.u16().is_ok(),
            2 => r.u32().is_ok(),
            3 => r.u64().is_ok(),
            4 => r.i64().is_ok(),
            5 => r.bool().is_ok(),
            6 => r.bytes().is_ok(),
            7 => r.str().is_ok(),
            8 => r.count(8).is_ok(),
            _ => r.raw(3).is_ok(),
        };
        if !ok {
            break;
        }
    }
}
