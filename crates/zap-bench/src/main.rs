//! `zap-bench`: runs the harness, prints the tables (or one JSON object) and records the
//! results in docs/benchmarks.md.
//!
//! ```text
//! cargo run --release -p zap-bench -- [--quick | --smoke] [--json] [--pin none|split|same]
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Parser;
use zap_bench::{AllocCounter, Config, Group, Mode, Pinning, Side};

/// One counter per side, each on its own cache line so that the client's and the
/// server's threads never write to the same line.
#[repr(align(128))]
struct Padded(AtomicU64);

static COUNTS: [Padded; 3] = [
    Padded(AtomicU64::new(0)),
    Padded(AtomicU64::new(0)),
    Padded(AtomicU64::new(0)),
];

thread_local! {
    // Untagged threads count as `Other` (index 2).
    static SIDE: Cell<usize> = const { Cell::new(2) };
}

/// Counts every allocation and reallocation by the side of the thread making it, then
/// hands it to the system allocator.
struct Counting;

fn count_one() {
    // `try_with`: a thread being torn down has no thread-locals left; it counts as other.
    let side = SIDE.try_with(Cell::get).unwrap_or(2);
    COUNTS[side].0.fetch_add(1, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the arguments it was given, so the
// allocator contract is `System`'s; the bookkeeping touches only a const-initialized
// thread-local `Cell` and static atomics, neither of which allocates or can unwind.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: our caller upholds `GlobalAlloc::alloc`'s contract, which we pass on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s size contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn tag_thread(side: Side) {
    SIDE.with(|s| s.set(side.index()));
}

fn count(side: Side) -> u64 {
    COUNTS[side.index()].0.load(Ordering::Relaxed)
}

/// Measures the ZAP stack against the raw TCP floor, tarpc, tonic and hyper, side by side.
#[derive(Debug, Parser)]
#[command(name = "zap-bench", version)]
struct Args {
    /// Short rounds: finishes in well under a minute (figures are noisier).
    #[arg(long, conflicts_with = "smoke")]
    quick: bool,
    /// A few hundred calls per contender: checks that everything runs, measures nothing.
    #[arg(long)]
    smoke: bool,
    /// Print one JSON object on stdout instead of the tables.
    #[arg(long)]
    json: bool,
    /// Client and server thread placement: `split` puts them on two CPUs (every hop is a
    /// cross-CPU wake-up, as between two hosts), `same` on one, `none` leaves it to the
    /// scheduler (which moves them, so figures vary from run to run).
    #[arg(long, default_value = "split", value_parser = ["none", "split", "same"])]
    pin: String,
    /// Worker threads per side (0: one current-thread runtime per side).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Groups to run (comma-separated: rpc, http, relay, zwing, wire). Default: all.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Only contenders whose name contains one of these (comma-separated), e.g. for
    /// profiling one stack; ratios against the others are then missing.
    #[arg(long, value_delimiter = ',')]
    filter: Vec<String>,
    /// Calls in flight for the throughput passes, comma-separated (default: 16,256 for
    /// RPC, 16 for HTTP).
    #[arg(long, value_delimiter = ',')]
    in_flight: Vec<usize>,
    /// Skip the latency pass (1 call in flight).
    #[arg(long)]
    no_latency: bool,
    /// Skip counting allocations.
    #[arg(long)]
    no_allocs: bool,
    /// Payload sizes in bytes, comma-separated (default: 32,1024,65536).
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<usize>,
    /// Alternating rounds per measurement (default: from the mode).
    #[arg(long)]
    rounds: Option<usize>,
    /// Write the harness section of this page (default for full runs:
    /// docs/benchmarks.md of the workspace).
    #[arg(long)]
    docs: Option<PathBuf>,
    /// Write the docs section after a --quick run too (never after --smoke).
    #[arg(long)]
    write_docs: bool,
    /// Do not write any docs.
    #[arg(long, conflicts_with_all = ["docs", "write_docs"])]
    no_docs: bool,
}

fn default_docs() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/benchmarks.md");
    std::fs::canonicalize(&path).unwrap_or(path)
}

/// The command line as given, for the record next to the results.
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cmd = String::from("cargo run --release -p zap-bench");
    if !args.is_empty() {
        cmd.push_str(" -- ");
        cmd.push_str(&args.join(" "));
    }
    cmd
}

fn config(args: &Args) -> Result<Config, zap_bench::BenchError> {
    let mode = if args.smoke {
        Mode::Smoke
    } else if args.quick {
        Mode::Quick
    } else {
        Mode::Full
    };
    let mut cfg = Config::new(mode);
    if !args.only.is_empty() {
        let groups = args
            .only
            .iter()
            .map(|g| g.parse::<Group>())
            .collect::<Result<Vec<_>, _>>()?;
        cfg = cfg.only(&groups);
    }
    cfg.filter = args.filter.clone();
    cfg.latency_pass = !args.no_latency;
    if !args.in_flight.is_empty() {
        cfg.in_flight = Some(args.in_flight.clone());
    }
    if !args.sizes.is_empty() {
        cfg.sizes = args.sizes.clone();
    }
    if let Some(r) = args.rounds {
        cfg.rounds = r;
    }
    cfg.pinning = args.pin.parse::<Pinning>()?;
    cfg.workers = args.workers;
    cfg.allocs = (!args.no_allocs).then_some(AllocCounter { tag_thread, count });
    cfg.command = command_line();
    cfg.docs = match (mode, &args.docs) {
        _ if args.no_docs => None,
        (Mode::Smoke, _) => None,
        (_, Some(p)) => Some(p.clone()),
        (Mode::Full, None) => Some(default_docs()),
        (Mode::Quick, None) => args.write_docs.then(default_docs),
    };
    Ok(cfg)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zap-bench: {e}");
            return ExitCode::from(2);
        }
    };
    let progress = |m: &str| eprintln!("zap-bench: {m}");
    let report = match zap_bench::run(&cfg, &progress) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zap-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(j) => println!("{j}"),
            Err(e) => {
                eprintln!("zap-bench: encoding the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print!("{}", report.render(false));
    }
    if let Some(path) = &cfg.docs {
        match zap_bench::docs::write(path, &report) {
            Ok(()) => eprintln!(
                "zap-bench: wrote the zap-bench section of {}",
                path.display()
            ),
            Err(e) => {
                eprintln!("zap-bench: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else if cfg.mode == Mode::Quick {
        eprintln!("zap-bench: docs not updated (a --quick run; add --write-docs to record it)");
    }
    ExitCode::SUCCESS
}
