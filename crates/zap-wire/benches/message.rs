//! Parse-and-read and build, each next to its floor: a copy of the same bytes.
//!
//! The ratios (ours / floor) are what docs/benchmarks.md records; both sides run in the
//! same process, one after the other, on the same message.

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tokio_util::codec::{Decoder, Encoder};
use zap_wire::codec::{NodeCodec, NodeFrameRef};
use zap_wire::node::FrameKind;
use zap_wire::{Builder, Message};

const TEXT: &str = "an order note that is about as long as a typical text field in a call";

/// An order-like message: scalars, a text, a byte blob, a list of 32 u64 and a child.
fn build(b: &mut Builder, n: u64) {
    b.reset();
    let mut list = b.list();
    for i in 0..32 {
        list.push_u64(n + i);
    }
    let list = list.finish();
    let mut child = b.object(16);
    child.set_u64(0, n);
    child.set_u32(8, 7);
    let child = child.finish();
    let mut root = b.object(48);
    root.set_u64(0, n);
    root.set_u32(8, 3);
    root.set_bool(12, true);
    root.set_text(16, TEXT);
    root.set_bytes(24, &[0xab; 32]);
    root.set_list(32, list);
    root.set_object(40, child);
    root.finish_root();
}

fn read(bytes: &[u8]) -> u64 {
    let msg = Message::parse(bytes).expect("valid");
    let root = msg.root().expect("root");
    let mut acc = root.u64(0).unwrap() + u64::from(root.u32(8).unwrap());
    acc += u64::from(root.bool(12).unwrap());
    acc += root.text(16).unwrap().map_or(0, str::len) as u64;
    acc += root.bytes(24).unwrap().map_or(0, <[u8]>::len) as u64;
    acc += root
        .list(32)
        .unwrap()
        .unwrap()
        .iter::<u64>()
        .unwrap()
        .sum::<u64>();
    acc + root.object(40).unwrap().unwrap().u64(0).unwrap()
}

fn benches(c: &mut Criterion) {
    let mut b = Builder::new();
    build(&mut b, 1);
    let bytes = b.to_vec(0x0100).unwrap();
    let mut copy = vec![0u8; bytes.len()];

    let mut g = c.benchmark_group("parse_read");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("zap", |bench| bench.iter(|| read(black_box(&bytes))));
    g.bench_function("floor_copy", |bench| {
        bench.iter(|| {
            copy.copy_from_slice(black_box(&bytes));
            black_box(&copy);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("build");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    let mut n = 0;
    g.bench_function("zap", |bench| {
        bench.iter(|| {
            n += 1;
            build(&mut b, n);
            black_box(b.finish(0x0100).unwrap().len())
        })
    });
    g.bench_function("floor_copy", |bench| {
        bench.iter(|| {
            copy.copy_from_slice(black_box(&bytes));
            black_box(&copy);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("frame_round_trip");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    let mut codec = NodeCodec::new();
    let mut wire = BytesMut::with_capacity(64 * 1024);
    g.bench_function("zap", |bench| {
        bench.iter(|| {
            codec
                .encode(
                    NodeFrameRef {
                        kind: FrameKind::Request,
                        request_id: 9,
                        message: black_box(&bytes),
                    },
                    &mut wire,
                )
                .unwrap();
            let f = codec.decode(&mut wire).unwrap().unwrap();
            black_box(f.message.len())
        })
    });
    g.bench_function("floor_copy", |bench| {
        bench.iter(|| {
            copy.copy_from_slice(black_box(&bytes));
            black_box(&copy);
        })
    });
    g.finish();
}

criterion_group!(message, benches);
criterion_main!(message);
