//! In-memory comparisons (no sockets): the Z-Wing record layer against the raw AEAD, and
//! zap-wire against copying the same bytes.
//!
//! Each pair alternates round by round on the client thread; the figure per round is
//! the time of a fixed number of operations, and the result is the median round.

use std::hint::black_box;
use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chacha20poly1305::aead::inout::InOutBuf;
use chacha20poly1305::{AeadInOut, ChaCha20Poly1305, KeyInit, Nonce};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use zap_wire::{Builder, Message};
use zap_zwing::{Established, IDENTITY_SEED_LEN, Identity, Initiator, VerifiedInit, ZwingStream};

use crate::config::{Config, Mode};
use crate::echo::payload;
use crate::error::BenchError;
use crate::stats::median;

/// Most operations one round times (keeps 32-byte rounds short).
const MAX_REPS: usize = 100_000;
/// Fewest operations one round times (keeps 64 KiB rounds above timer resolution).
const MIN_REPS: usize = 64;

/// One pair of operations at one size: ours against the baseline.
#[derive(Debug, Clone, Serialize)]
pub struct PairResult {
    /// What is compared (`seal`, `open`, `build`, `parse`).
    pub operation: String,
    /// Our side.
    pub ours: String,
    /// The baseline.
    pub baseline: String,
    /// Bytes per operation (the payload).
    pub payload: usize,
    /// Median time per operation on our side, in nanoseconds.
    pub ours_ns: f64,
    /// Median time per operation of the baseline, in nanoseconds.
    pub baseline_ns: f64,
    /// `ours_ns / baseline_ns`: 1.0 is no overhead over the baseline.
    pub time_ratio: f64,
}

fn reps(cfg: &Config, size: usize) -> usize {
    // A smoke run only proves the code runs, in seconds even unoptimised.
    let min = if cfg.mode == Mode::Smoke { 1 } else { MIN_REPS };
    (cfg.memory_bytes / size.max(1)).clamp(min, MAX_REPS)
}

fn pair(
    operation: &str,
    (ours, baseline): (&str, &str),
    payload: usize,
    reps: usize,
    ours_t: &[f64],
    base_t: &[f64],
) -> PairResult {
    let per = |t: &[f64]| median(t).unwrap_or(f64::NAN) * 1e9 / reps as f64;
    let (o, b) = (per(ours_t), per(base_t));
    PairResult {
        operation: operation.into(),
        ours: ours.into(),
        baseline: baseline.into(),
        payload,
        ours_ns: o,
        baseline_ns: b,
        time_ratio: o / b,
    }
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

// ----- Z-Wing -----

fn session() -> Result<(Established, Established), BenchError> {
    let fail = |e: zap_zwing::Error| BenchError::contender("zap-zwing", e);
    let client = Arc::new(Identity::from_seed(&[1u8; IDENTITY_SEED_LEN]).map_err(fail)?);
    let server = Identity::from_seed(&[2u8; IDENTITY_SEED_LEN]).map_err(fail)?;
    let init = Initiator::new(client).map_err(fail)?;
    let (response, responder) = VerifiedInit::verify(init.message())
        .map_err(fail)?
        .respond(&server)
        .map_err(fail)?;
    Ok((init.finish(&response).map_err(fail)?, responder))
}

fn nonce(seq: u64) -> Nonce {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&seq.to_be_bytes());
    Nonce::from(n)
}

fn aead_error(e: impl std::fmt::Display) -> BenchError {
    BenchError::contender("raw ChaCha20-Poly1305", e)
}

/// Records as a peer's stream would send them for `reps` writes of `plain`, and the
/// stream that receives them.
async fn inbound(plain: &[u8], reps: usize) -> Result<ZwingStream<Cursor<Vec<u8>>>, BenchError> {
    let (initiator, responder) = session()?;
    let mut writer = initiator.into_stream(Vec::new());
    for _ in 0..reps {
        writer
            .write_all(plain)
            .await
            .map_err(|e| BenchError::io("zwing: seal", e))?;
        writer
            .flush()
            .await
            .map_err(|e| BenchError::io("zwing: seal", e))?;
    }
    Ok(responder.into_stream(Cursor::new(writer.get_ref().clone())))
}

/// Z-Wing's record layer (`ZwingStream`, one record per write) against the raw AEAD
/// sealing and opening the same bytes as one record each, with no framing or buffers.
pub(crate) async fn zwing(
    cfg: &Config,
    progress: &dyn Fn(&str),
) -> Result<Vec<PairResult>, BenchError> {
    let aead = ChaCha20Poly1305::new(&[7u8; 32].into());
    let names = ("zap-zwing ZwingStream", "raw ChaCha20-Poly1305");
    let mut out = Vec::new();
    for &size in &cfg.sizes {
        progress(&format!("{size} B"));
        let plain = payload(size).to_vec();
        let n = reps(cfg, size);
        let (initiator, _) = session()?;
        let mut sealer = initiator.into_stream(tokio::io::sink());
        let mut buf = plain.clone();
        let mut seq = 0u64;
        let (mut ours, mut base) = (Vec::new(), Vec::new());
        for _ in 0..cfg.rounds {
            let t = Instant::now();
            for _ in 0..n {
                let tag = aead
                    .encrypt_inout_detached(&nonce(seq), &[], InOutBuf::from(&mut buf[..]))
                    .map_err(aead_error)?;
                black_box(tag);
                seq += 1;
            }
            base.push(secs(t.elapsed()));
            let t = Instant::now();
            for _ in 0..n {
                sealer
                    .write_all(&plain)
                    .await
                    .map_err(|e| BenchError::io("zwing: seal", e))?;
                sealer
                    .flush()
                    .await
                    .map_err(|e| BenchError::io("zwing: seal", e))?;
            }
            ours.push(secs(t.elapsed()));
        }
        out.push(pair("seal", names, size, n, &ours, &base));

        let mut record = plain.clone();
        let tag = aead
            .encrypt_inout_detached(&nonce(0), &[], InOutBuf::from(&mut record[..]))
            .map_err(aead_error)?;
        let mut opened = vec![0u8; size];
        let (mut ours, mut base) = (Vec::new(), Vec::new());
        for _ in 0..cfg.rounds {
            let t = Instant::now();
            for _ in 0..n {
                let io = InOutBuf::new(&record, &mut opened).map_err(aead_error)?;
                aead.decrypt_inout_detached(&nonce(0), &[], io, &tag)
                    .map_err(aead_error)?;
                black_box(&opened);
            }
            base.push(secs(t.elapsed()));
            let mut reader = inbound(&plain, n).await?;
            let t = Instant::now();
            for _ in 0..n {
                reader
                    .read_exact(&mut opened)
                    .await
                    .map_err(|e| BenchError::io("zwing: open", e))?;
            }
            ours.push(secs(t.elapsed()));
            if opened != plain {
                return Err(BenchError::contender("zap-zwing", "opened bytes differ"));
            }
        }
        out.push(pair("open", names, size, n, &ours, &base));
    }
    Ok(out)
}

// ----- zap-wire -----

fn build(b: &mut Builder, data: &[u8]) -> Result<usize, BenchError> {
    b.reset();
    let mut root = b.object(8);
    root.set_bytes(0, data);
    root.finish_root();
    b.finish(0)
        .map(<[u8]>::len)
        .map_err(|e| BenchError::contender("zap-wire", e))
}

fn parse(bytes: &[u8]) -> Result<usize, BenchError> {
    let fail = |e: zap_wire::Error| BenchError::contender("zap-wire", e);
    let msg = Message::parse(bytes).map_err(fail)?;
    let root = msg
        .root()
        .ok_or_else(|| BenchError::contender("zap-wire", "message has no root"))?;
    Ok(root.bytes(0).map_err(fail)?.map_or(0, <[u8]>::len))
}

/// zap-wire building a message around the payload (warm builder) and parsing it back
/// to the payload's slice, each against `memcpy` of the same message's bytes.
pub(crate) fn wire(cfg: &Config) -> Result<Vec<PairResult>, BenchError> {
    let mut out = Vec::new();
    for &size in &cfg.sizes {
        let data = payload(size);
        let mut b = Builder::with_capacity(size + 64);
        build(&mut b, &data)?;
        let msg = b
            .finish(0)
            .map_err(|e| BenchError::contender("zap-wire", e))?
            .to_vec();
        if parse(&msg)? != size {
            return Err(BenchError::contender("zap-wire", "parsed payload differs"));
        }
        let n = reps(cfg, msg.len());
        let mut dst = vec![0u8; msg.len()];
        let (mut built, mut parsed, mut copied) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..cfg.rounds {
            let t = Instant::now();
            for _ in 0..n {
                dst.copy_from_slice(black_box(&msg));
                black_box(&mut dst);
            }
            copied.push(secs(t.elapsed()));
            let t = Instant::now();
            for _ in 0..n {
                black_box(build(&mut b, black_box(&data))?);
            }
            built.push(secs(t.elapsed()));
            let t = Instant::now();
            for _ in 0..n {
                black_box(parse(black_box(&msg))?);
            }
            parsed.push(secs(t.elapsed()));
        }
        let names = ("zap-wire Builder", "memcpy of the message");
        out.push(pair("build", names, size, n, &built, &copied));
        let names = (
            "zap-wire Message::parse + root + bytes",
            "memcpy of the message",
        );
        out.push(pair("parse", names, size, n, &parsed, &copied));
    }
    Ok(out)
}
