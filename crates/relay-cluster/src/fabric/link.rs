//! One link's task: a reader that hands each frame to the core, and a writer that drains
//! the sibling's queue with coalesced, deadline-bounded writes and keeps the link alive.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep_until, timeout};
use tracing::trace;

use super::core::Core;
use super::frame::{self, Features, FrameType, MAX_FRAME_PAYLOAD};
use super::queue::Out;
use super::registry::Link;
use super::stats::bump;
use crate::metrics as m;

/// Bytes gathered into one write.
const COALESCE: usize = 128 * 1024;
/// Bytes asked of each read.
const READ_CHUNK: usize = 64 * 1024;
/// Frames handled before the reader lets other tasks run.
const YIELD_EVERY: u32 = 16;

/// Runs a link until it fails, is replaced, says goodbye or the fabric stops.
pub(crate) async fn run(core: Arc<Core>, link: Arc<Link>, stream: TcpStream, leftover: BytesMut) {
    tune(&stream, &core);
    let (rd, wr) = stream.into_split();
    let reason = tokio::select! {
        r = read_loop(&core, &link, rd, leftover) => r,
        r = write_loop(&core, &link, wr) => r,
        () = link.close.cancelled() => "closed",
        () = core.stop.cancelled() => "shutdown",
    };
    link.shut(reason);
    core.link_down(&link);
}

/// Kernel-level backstops under the fabric's own keepalive and write deadline.
fn tune(stream: &TcpStream, core: &Core) {
    let sock = socket2::SockRef::from(stream);
    let idle = core.cfg.ping_interval.max(Duration::from_secs(1));
    let ka = socket2::TcpKeepalive::new()
        .with_time(idle)
        .with_interval(idle);
    let _ = sock.set_tcp_keepalive(&ka);
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
    let _ = sock.set_tcp_user_timeout(Some(core.cfg.write_timeout));
}

async fn read_loop(
    core: &Core,
    link: &Link,
    mut rd: OwnedReadHalf,
    mut buf: BytesMut,
) -> &'static str {
    loop {
        let mut handled = 0u32;
        loop {
            match frame::decode_frame(&mut buf, MAX_FRAME_PAYLOAD) {
                Ok(Some((ty, payload))) => {
                    link.heard();
                    core.on_frame(link, ty, payload);
                    handled += 1;
                    // One read can carry hundreds of frames; let the peers' writers
                    // drain their queues in between, so a burst is not dropped at once.
                    if handled.is_multiple_of(YIELD_EVERY) {
                        tokio::task::yield_now().await;
                    }
                }
                Ok(None) => break,
                // Every u16 length is within the frame limit, so this cannot happen; if
                // it did, the framing would be lost and the link with it.
                Err(_) => return "malformed_frame",
            }
        }
        buf.reserve(READ_CHUNK);
        match rd.read_buf(&mut buf).await {
            Ok(0) if buf.is_empty() => return "eof",
            Ok(0) => return "truncated_frame",
            Ok(n) => {
                metrics::counter!(m::CLUSTER_BYTES, "direction" => "received").increment(n as u64);
            }
            Err(_) => return "read_error",
        }
    }
}

async fn write_loop(core: &Core, link: &Link, mut wr: OwnedWriteHalf) -> &'static str {
    let cfg = &core.cfg;
    let keepalive = link.features.contains(Features::KEEPALIVE);
    let every = cfg.ping_interval;
    let dead_after = every * cfg.dead_after_pings;
    let probe_window = every.min(cfg.handshake_timeout);
    let mut ticks = interval_at(Instant::now() + every, every);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_ping: Option<u64> = None;
    let mut probe: Option<(Instant, u64)> = None;
    let mut buf = BytesMut::with_capacity(COALESCE);
    // A replaced link's backlog is ours now.
    link.queue.wake();
    loop {
        tokio::select! {
            biased;
            () = link.queue.ready() => {}
            _ = ticks.tick(), if keepalive => {
                let silent = link.established.elapsed()
                    .saturating_sub(Duration::from_millis(link.last_rx_ms.load(Ordering::Relaxed)));
                if silent >= dead_after {
                    bump(&core.stats.pings_lost);
                    metrics::counter!(m::CLUSTER_PINGS_LOST).increment(1);
                    return "keepalive";
                }
                if let Some(sent) = last_ping
                    && link.pong.load(Ordering::Relaxed) != sent
                {
                    bump(&core.stats.pings_lost);
                    metrics::counter!(m::CLUSTER_PINGS_LOST).increment(1);
                }
                last_ping = Some(ping(core, link));
            }
            () = link.probe.notified(), if keepalive => {
                let heard = link.rx_frames.load(Ordering::Relaxed);
                last_ping = Some(ping(core, link));
                probe = Some((Instant::now() + probe_window, heard));
                trace!("probing the link");
            }
            () = sleep_until(probe.map_or_else(Instant::now, |(at, _)| at)), if probe.is_some() => {
                let heard_before = probe.take().map_or(0, |(_, h)| h);
                if link.rx_frames.load(Ordering::Relaxed) == heard_before {
                    return "probe_unanswered";
                }
            }
        }
        loop {
            buf.clear();
            let (n, goodbye) = link.queue.drain_into(&mut buf, COALESCE);
            if n == 0 {
                break;
            }
            match timeout(cfg.write_timeout, wr.write_all(&buf)).await {
                Err(_) => return "write_timeout",
                Ok(Err(_)) => return "write_error",
                Ok(Ok(())) => {
                    metrics::counter!(m::CLUSTER_BYTES, "direction" => "sent")
                        .increment(buf.len() as u64);
                }
            }
            if goodbye {
                let _ = timeout(cfg.write_timeout, wr.shutdown()).await;
                return "goodbye";
            }
        }
    }
}

/// Queues a PING carrying its send time; returns the payload to expect back.
fn ping(core: &Core, link: &Link) -> u64 {
    let now = core.micros();
    let _ = link.queue.push_control(Out::Frame {
        ty: FrameType::PING,
        payload: Bytes::copy_from_slice(&now.to_be_bytes()),
    });
    bump(&core.stats.pings_sent);
    metrics::counter!(m::CLUSTER_PINGS_SENT).increment(1);
    now
}
