//! Counts heap allocations: parsing and reading allocate nothing, and a warm builder
//! (or serde encoder) builds without allocating.
//!
//! The counter is per thread, so tests running in parallel threads do not disturb
//! each other's counts.

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};
use zap_testkit::{Counting, allocations_during};
use zap_wire::codec::{NodeCodec, NodeFrameRef};
use zap_wire::node::FrameKind;
use zap_wire::{Builder, Message};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn build_message(b: &mut Builder, n: u32) {
    b.reset();
    let mut list = b.list();
    for v in 0..8 {
        list.push_u32(v * n);
    }
    let list = list.finish();
    let mut inner = b.object(8);
    inner.set_u64(0, u64::from(n));
    let inner = inner.finish();
    let mut root = b.object(40);
    root.set_u32(0, n);
    root.set_text(8, "a text field that is long enough to matter");
    root.set_bytes(16, &[1, 2, 3, 4, 5, 6, 7]);
    root.set_list(24, list);
    root.set_object(32, inner);
    root.finish_root();
}

#[test]
fn the_counter_counts() {
    // Guards the other tests: an allocation must be seen.
    let n = allocations_during(|| {
        let v: Vec<u8> = Vec::with_capacity(10);
        std::hint::black_box(v);
    });
    assert_eq!(n, 1);
}

#[test]
fn parsing_and_reading_allocate_nothing() {
    let mut b = Builder::new();
    build_message(&mut b, 7);
    let bytes = b.to_vec(0x0100).unwrap();
    let n = allocations_during(|| {
        let msg = Message::parse_exact(&bytes).unwrap();
        let root = msg.root().unwrap();
        let mut sum = u64::from(root.u32(0).unwrap());
        sum += root.text(8).unwrap().unwrap().len() as u64;
        sum += root.bytes(16).unwrap().unwrap().len() as u64;
        sum += root
            .list(24)
            .unwrap()
            .unwrap()
            .iter::<u32>()
            .unwrap()
            .map(u64::from)
            .sum::<u64>();
        sum += root.object(32).unwrap().unwrap().u64(0).unwrap();
        sum += u64::from(msg.root_lenient().object(32).u32(0));
        std::hint::black_box(sum);
    });
    assert_eq!(n, 0, "parsing and reading allocated {n} times");
}

#[test]
fn a_warm_builder_allocates_nothing() {
    let mut b = Builder::new();
    build_message(&mut b, 1); // warms the buffers
    let n = allocations_during(|| {
        for i in 0..100 {
            build_message(&mut b, i);
            std::hint::black_box(b.finish(0x0100).unwrap());
        }
    });
    assert_eq!(n, 0, "building 100 messages allocated {n} times");
}

#[test]
fn framing_into_a_warm_buffer_allocates_nothing() {
    let mut b = Builder::new();
    build_message(&mut b, 3);
    let msg = b.to_vec(0x0100).unwrap();
    let mut codec = NodeCodec::new();
    let mut wire = BytesMut::with_capacity(64 * 1024);
    let mut round = |id: u32| {
        codec
            .encode(
                NodeFrameRef {
                    kind: FrameKind::Request,
                    request_id: id,
                    message: &msg,
                },
                &mut wire,
            )
            .unwrap();
        let frame = codec.decode(&mut wire).unwrap().unwrap();
        assert_eq!(frame.request_id, id);
        drop(frame);
        // Decoded frames share the buffer's allocation; once they are gone the
        // space is reclaimed instead of reallocated.
        wire.reserve(msg.len() + 12);
    };
    // The first frame split off turns the buffer into a shared one: a one-time
    // allocation of its reference count, part of warming up.
    round(0);
    let n = allocations_during(|| {
        for id in 1..=100 {
            round(id);
        }
    });
    assert_eq!(n, 0, "framing 100 calls allocated {n} times");
}

#[derive(serde::Serialize)]
struct Reading<'a> {
    sensor: u32,
    name: &'a str,
    values: &'a [u16],
}

#[test]
fn a_warm_serde_encoder_allocates_nothing() {
    let mut enc = zap_wire::Encoder::new();
    let values = [1u16, 2, 3, 4];
    let r = Reading {
        sensor: 9,
        name: "temperature",
        values: &values,
    };
    enc.encode(&r, 0).unwrap();
    let n = allocations_during(|| {
        for sensor in 0..100 {
            let r = Reading { sensor, ..r };
            std::hint::black_box(enc.encode(&r, 0).unwrap());
        }
    });
    assert_eq!(n, 0, "encoding 100 values allocated {n} times");
}
