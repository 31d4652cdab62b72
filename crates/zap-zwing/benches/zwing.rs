//! Z-Wing benchmarks: handshake time, and record-layer throughput next to the raw
//! ChaCha20-Poly1305 AEAD over the same bytes, in the same run.
//!
//! `cargo bench -p zap-zwing --bench zwing` runs the criterion groups, then a
//! side-by-side pass that alternates the record layer and the raw AEAD round by round
//! (so machine noise hits both alike) and prints their throughput ratio.
#![allow(missing_docs, clippy::print_stdout)]

use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, Nonce, Tag};
use criterion::{BatchSize, Criterion, Throughput};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::runtime::Runtime;
use zap_zwing::sizes::{MAX_RECORD_PLAINTEXT_LEN, TAG_LEN};
use zap_zwing::{
    Config, Established, Identity, Initiator, VerifiedInit, ZwingStream, accept, connect,
};

const SIZES: [usize; 2] = [16 * 1024, 1 << 20];

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn identities() -> (Arc<Identity>, Arc<Identity>) {
    (
        Arc::new(Identity::from_seed(&[1u8; 160]).expect("identity")),
        Arc::new(Identity::from_seed(&[2u8; 160]).expect("identity")),
    )
}

/// A fresh session, without I/O: (initiator side, responder side).
fn session(client: &Arc<Identity>, server: &Identity) -> (Established, Established) {
    let init = Initiator::new(client.clone()).expect("init");
    let (response, responder) = VerifiedInit::verify(init.message())
        .expect("verify")
        .respond(server)
        .expect("respond");
    (init.finish(&response).expect("finish"), responder)
}

fn handshake(c: &mut Criterion) {
    let (client, server) = identities();
    let mut g = c.benchmark_group("zwing/handshake");
    g.sample_size(30);
    g.bench_function("messages_only", |b| {
        b.iter(|| black_box(session(&client, &server)))
    });
    let rt = runtime();
    let client_cfg = Config::new(client.clone()).with_expected_remote(server.public().clone());
    let server_cfg = Config::new(server.clone());
    g.bench_function("connect_accept_duplex", |b| {
        b.iter(|| {
            rt.block_on(async {
                let (a, z) = tokio::io::duplex(64 * 1024);
                let pair = tokio::try_join!(connect(a, &client_cfg), accept(z, &server_cfg))
                    .expect("handshake");
                black_box(pair)
            })
        })
    });
    g.finish();
}

fn nonce(seq: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&seq.to_be_bytes());
    Nonce::from(n)
}

/// The baseline: encrypt `buf` in place, cut as the record layer cuts it.
fn raw_seal(aead: &ChaCha20Poly1305, buf: &mut [u8], seq: &mut u64) {
    for chunk in buf.chunks_mut(MAX_RECORD_PLAINTEXT_LEN) {
        let tag = aead
            .encrypt_inout_detached(&nonce(*seq), &[], InOutBuf::from(chunk))
            .expect("seal");
        black_box(tag);
        *seq += 1;
    }
}

/// Sealed records (ciphertext ‖ tag) for `plain`, as the baseline decrypts them.
fn sealed_records(aead: &ChaCha20Poly1305, plain: &[u8]) -> Vec<Vec<u8>> {
    plain
        .chunks(MAX_RECORD_PLAINTEXT_LEN)
        .enumerate()
        .map(|(i, chunk)| {
            let mut rec = chunk.to_vec();
            let tag = aead
                .encrypt_inout_detached(&nonce(i as u64), &[], InOutBuf::from(&mut rec[..]))
                .expect("seal");
            rec.extend_from_slice(tag.as_slice());
            rec
        })
        .collect()
}

/// The baseline: authenticate and decrypt each record into `out`.
fn raw_open(aead: &ChaCha20Poly1305, records: &[Vec<u8>], out: &mut [u8]) {
    let mut at = 0;
    for (i, rec) in records.iter().enumerate() {
        let (ct, tag) = rec.split_at(rec.len() - TAG_LEN);
        let tag = Tag::try_from(tag).expect("tag");
        let dst = &mut out[at..at + ct.len()];
        aead.decrypt_inout_detached(
            &nonce(i as u64),
            &[],
            InOutBuf::new(ct, dst).expect("len"),
            &tag,
        )
        .expect("open");
        at += ct.len();
    }
}

/// The frames a peer would send for `copies` writes of `plain` in a fresh session, and
/// the stream that receives them.
fn inbound(
    client: &Arc<Identity>,
    server: &Identity,
    rt: &Runtime,
    plain: &[u8],
    copies: usize,
) -> ZwingStream<Cursor<Vec<u8>>> {
    let (initiator, responder) = session(client, server);
    let mut writer = initiator.into_stream(Vec::new());
    rt.block_on(async {
        for _ in 0..copies {
            writer.write_all(plain).await.expect("write");
        }
        writer.flush().await.expect("flush");
    });
    let frames = writer.get_ref().clone();
    responder.into_stream(Cursor::new(frames))
}

fn records(c: &mut Criterion) {
    let (client, server) = identities();
    let rt = runtime();
    let aead = ChaCha20Poly1305::new(&[7u8; 32].into());
    let mut g = c.benchmark_group("zwing/record");
    for size in SIZES {
        let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        g.throughput(Throughput::Bytes(size as u64));

        let mut buf = plain.clone();
        let mut seq = 0u64;
        g.bench_function(format!("seal_raw_aead/{size}"), |b| {
            b.iter(|| raw_seal(&aead, &mut buf, &mut seq))
        });
        let (initiator, _) = session(&client, &server);
        let mut stream = initiator.into_stream(tokio::io::sink());
        g.bench_function(format!("seal_zwing_stream/{size}"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    stream.write_all(&plain).await.expect("write");
                    stream.flush().await.expect("flush");
                })
            })
        });

        let sealed = sealed_records(&aead, &plain);
        let mut out = vec![0u8; size];
        g.bench_function(format!("open_raw_aead/{size}"), |b| {
            b.iter(|| raw_open(&aead, &sealed, &mut out))
        });
        g.bench_function(format!("open_zwing_stream/{size}"), |b| {
            b.iter_batched(
                || inbound(&client, &server, &rt, &plain, 1),
                |mut s| rt.block_on(async { s.read_exact(&mut out).await.expect("read") }),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Alternates the record layer and the raw AEAD round by round and prints the ratio of
/// their throughputs (record layer / raw; 1.0 means no overhead).
fn side_by_side() {
    const ROUNDS: usize = 41;
    let (client, server) = identities();
    let rt = runtime();
    let aead = ChaCha20Poly1305::new(&[7u8; 32].into());
    println!("\nside by side ({ROUNDS} alternating rounds, medians):");
    for size in SIZES {
        let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
        let reps = (8 << 20) / size; // about 8 MiB per round

        let (initiator, _) = session(&client, &server);
        let mut stream = initiator.into_stream(tokio::io::sink());
        let mut buf = plain.clone();
        let mut seq = 0u64;
        let (mut raw_t, mut zw_t) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let t = Instant::now();
            for _ in 0..reps {
                raw_seal(&aead, &mut buf, &mut seq);
            }
            raw_t.push(t.elapsed());
            let t = Instant::now();
            rt.block_on(async {
                for _ in 0..reps {
                    stream.write_all(&plain).await.expect("write");
                }
                stream.flush().await.expect("flush");
            });
            zw_t.push(t.elapsed());
        }
        report("seal", size, reps, median(raw_t), median(zw_t));

        let sealed = sealed_records(&aead, &plain);
        let mut out = vec![0u8; size];
        let (mut raw_t, mut zw_t) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let t = Instant::now();
            for _ in 0..reps {
                raw_open(&aead, &sealed, &mut out);
            }
            raw_t.push(t.elapsed());
            let mut stream = inbound(&client, &server, &rt, &plain, reps);
            let t = Instant::now();
            rt.block_on(async {
                for _ in 0..reps {
                    stream.read_exact(&mut out).await.expect("read");
                }
            });
            zw_t.push(t.elapsed());
        }
        report("open", size, reps, median(raw_t), median(zw_t));
    }
}

fn report(what: &str, size: usize, reps: usize, raw: Duration, zwing: Duration) {
    let bytes = (size * reps) as f64;
    let mib = |d: Duration| bytes / d.as_secs_f64() / (1024.0 * 1024.0);
    println!(
        "  {what} {size:>8} B records: raw AEAD {:>8.1} MiB/s, Z-Wing stream {:>8.1} MiB/s, ratio {:.3}",
        mib(raw),
        mib(zwing),
        raw.as_secs_f64() / zwing.as_secs_f64()
    );
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    handshake(&mut c);
    records(&mut c);
    c.final_summary();
    // Only under `cargo bench`, not when `cargo test` runs benches once as a smoke test.
    if std::env::args().any(|a| a == "--bench") {
        side_by_side();
    }
}
