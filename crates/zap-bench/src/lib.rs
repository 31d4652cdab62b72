//! One harness that measures the ZAP stack against its floor and its peers, side by side
//! in one run, and reports ratios.
//!
//! * **RPC**: zap-rpc over TCP (and over mutual TLS and QUIC) against a raw framed TCP echo (the floor, batched as well as
//!   we can write it), tarpc and tonic, echoing 32 B, 1 KiB and 64 KiB payloads: p50 and
//!   p99 latency at 1 call in flight, calls per second at 16 and 256 in flight on one
//!   connection, allocations per call on each side.
//! * **HTTP**: zap-http against hyper HTTP/1.1, the same axum handler behind both.
//! * **Relay**: relay-cluster's cross-pod path (two pods linked by the fabric) against
//!   its same-pod path, with relay-cluster's own client.
//! * **Z-Wing**: the record layer against raw ChaCha20-Poly1305.
//! * **zap-wire**: parsing and building against copying the same bytes.
//!
//! Every contender runs in the same process layout (servers on their own thread and
//! runtime, clients on another), with the same payloads, and the contenders of a group
//! take turns round by round so that load on a shared machine lands on all of them
//! alike. The `zap-bench` binary (`cargo run --release -p zap-bench -- [--quick] [--json]`)
//! adds a counting allocator, prints the tables and writes docs/benchmarks.md.
//!
//! ```
//! use zap_bench::{Config, Group, Mode};
//!
//! // A smoke-sized run of the in-memory zap-wire comparison.
//! let report = zap_bench::run(&Config::new(Mode::Smoke).only(&[Group::Wire]), &|_| {})?;
//! let wire = report.wire.as_ref().expect("the wire group ran");
//! assert!(wire.iter().all(|pair| pair.ours_ns > 0.0 && pair.baseline_ns > 0.0));
//! println!("{}", report.render(false));
//! # Ok::<(), zap_bench::BenchError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

/// The README's example, compiled and run as a doctest so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

mod alloc;
mod config;
mod cpu;
pub mod docs;
mod echo;
mod error;
mod http;
mod layout;
mod machine;
mod memory;
mod relay;
mod report;
mod rpc;
mod stats;

use std::time::Instant;

pub use alloc::{AllocCounter, AllocsPerCall, Side};
pub use config::{
    Budget, Config, Group, HTTP_IN_FLIGHT, Mode, PAYLOAD_SIZES, Pinning, RPC_IN_FLIGHT,
};
pub use cpu::CpuPerCall;
pub use echo::EchoResult;
pub use error::BenchError;
pub use http::{HYPER, HttpResults, ZAP_HTTP};
pub use machine::Machine;
pub use memory::PairResult;
pub use relay::{RELAY_CROSS_POD, RELAY_IN_FLIGHT, RELAY_SAME_POD, RelayResults};
pub use report::{Goal, Headline, Report};
pub use rpc::{
    Pending, RAW, RpcResults, TARPC, TONIC, ZAP_CLIENT, ZAP_CONNECTION, ZAP_QUIC, ZAP_TLS,
};

use layout::Layout;

/// Runs the groups `cfg` selects and returns the report. `progress` hears a short line
/// before each step (for a progress display; the figures are in the report).
pub fn run(cfg: &Config, progress: &dyn Fn(&str)) -> Result<Report, BenchError> {
    cfg.validate()?;
    let mut machine = Machine::describe(cfg);
    let started = Instant::now();
    let rpc = if cfg.runs(Group::Rpc) {
        // A fresh layout per network group: no idle server of another group runs timers
        // next to the one being measured.
        let layout = Layout::start(cfg)?;
        let say = |m: &str| progress(&format!("rpc: {m}"));
        Some(layout.block_on(rpc::run(&layout, cfg, &say))?)
    } else {
        None
    };
    let http = if cfg.runs(Group::Http) {
        let layout = Layout::start(cfg)?;
        let say = |m: &str| progress(&format!("http: {m}"));
        Some(layout.block_on(http::run(&layout, cfg, &say))?)
    } else {
        None
    };
    let relay = if cfg.runs(Group::Relay) {
        let layout = Layout::start(cfg)?;
        let say = |m: &str| progress(&format!("relay: {m}"));
        Some(layout.block_on(relay::run(&layout, cfg, &say))?)
    } else {
        None
    };
    let zwing = if cfg.runs(Group::Zwing) {
        let layout = Layout::start(cfg)?;
        let say = |m: &str| progress(&format!("zwing: {m}"));
        Some(layout.block_on(memory::zwing(cfg, &say))?)
    } else {
        None
    };
    let wire = if cfg.runs(Group::Wire) {
        progress("wire: parse and build");
        Some(memory::wire(cfg)?)
    } else {
        None
    };
    machine.load_after = machine::load();
    let payload = cfg.sizes.iter().copied().min().unwrap_or(PAYLOAD_SIZES[0]);
    let headline = Headline::compute(payload, rpc.as_ref(), http.as_ref(), relay.as_ref(), &zwing);
    Ok(Report {
        goals: headline.goals(),
        headline,
        machine,
        mode: cfg.mode.as_str().into(),
        rounds: cfg.rounds,
        command: cfg.command.clone(),
        elapsed_secs: started.elapsed().as_secs_f64(),
        rpc,
        http,
        relay,
        zwing,
        wire,
    })
}
