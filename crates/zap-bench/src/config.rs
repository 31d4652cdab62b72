//! What to measure and for how long.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::alloc::AllocCounter;
use crate::error::BenchError;

/// Payload sizes every contender carries, in bytes of application data (each stack adds
/// its own envelope around them).
pub const PAYLOAD_SIZES: [usize; 3] = [32, 1024, 64 * 1024];

/// Calls in flight on one connection for the RPC throughput passes.
pub const RPC_IN_FLIGHT: [usize; 2] = [16, 256];

/// Requests in flight for the HTTP throughput pass (HTTP/1.1 needs one connection each).
pub const HTTP_IN_FLIGHT: usize = 16;

/// How long the run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The recorded run: 5 alternating rounds of about 0.4 s per measurement.
    Full,
    /// A check that finishes in well under a minute: 3 rounds of about 0.08 s.
    Quick,
    /// A few hundred calls per contender: proves every contender works, measures nothing.
    Smoke,
}

impl Mode {
    /// The word used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Quick => "quick",
            Mode::Smoke => "smoke",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the client and server threads run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pinning {
    /// Wherever the scheduler puts them.
    None,
    /// Client on the first CPU, server on the second (a cross-CPU wake-up per hop).
    Split,
    /// Both on the first CPU (no cross-CPU wake-ups, but no parallelism either).
    Same,
}

impl Pinning {
    /// The word used on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Pinning::None => "none",
            Pinning::Split => "split",
            Pinning::Same => "same",
        }
    }
}

impl std::str::FromStr for Pinning {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Pinning::None),
            "split" => Ok(Pinning::Split),
            "same" => Ok(Pinning::Same),
            other => Err(BenchError::Config(format!(
                "pinning `{other}`: expected none, split or same"
            ))),
        }
    }
}

/// A group of contenders that is measured together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// zap-rpc against the raw TCP floor, tarpc and tonic.
    Rpc,
    /// zap-http against hyper HTTP/1.1 with the same axum handler.
    Http,
    /// The relay's cross-pod path against its same-pod path.
    Relay,
    /// The Z-Wing record layer against raw ChaCha20-Poly1305.
    Zwing,
    /// zap-wire parse and build against a copy of the same bytes.
    Wire,
}

impl Group {
    /// Every group, in the order they run.
    pub const ALL: [Group; 5] = [
        Group::Rpc,
        Group::Http,
        Group::Relay,
        Group::Zwing,
        Group::Wire,
    ];

    /// The word used on the command line and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Rpc => "rpc",
            Group::Http => "http",
            Group::Relay => "relay",
            Group::Zwing => "zwing",
            Group::Wire => "wire",
        }
    }
}

impl std::str::FromStr for Group {
    type Err = BenchError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Group::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| {
                BenchError::Config(format!(
                    "group `{s}`: expected one of rpc, http, relay, zwing, wire"
                ))
            })
    }
}

/// A bound on one measurement: whichever of time and count comes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Stop issuing calls after this long.
    pub time: Duration,
    /// Stop issuing calls after this many.
    pub calls: u64,
}

/// Everything a run needs. Build one with [`Config::new`] and adjust the public fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// The run's length preset.
    pub mode: Mode,
    /// Groups to run.
    pub groups: Vec<Group>,
    /// Payload sizes, in bytes.
    pub sizes: Vec<usize>,
    /// Alternating rounds: each measurement runs once per round for every contender in
    /// turn, so load changes on a shared machine hit all of them alike.
    pub rounds: usize,
    /// Calls before any measurement, per contender and payload.
    pub warmup_calls: u64,
    /// One latency measurement (1 call in flight), per round.
    pub latency: Budget,
    /// One throughput measurement (N calls in flight), per round.
    pub throughput: Budget,
    /// Calls over which allocations are counted (after the warm-up).
    pub alloc_calls: u64,
    /// Bytes pushed through each in-memory benchmark (Z-Wing, zap-wire) per round.
    pub memory_bytes: usize,
    /// Client and server thread placement.
    pub pinning: Pinning,
    /// Worker threads per side; 0 runs each side on one thread (tokio current-thread).
    pub workers: usize,
    /// The counting allocator, when the program installed one.
    pub allocs: Option<AllocCounter>,
    /// Where to write the harness section of the benchmarks page, if anywhere.
    pub docs: Option<PathBuf>,
    /// The command line that reproduces this run, recorded next to the results.
    pub command: String,
    /// Whether to run the latency pass (1 call in flight).
    pub latency_pass: bool,
    /// Calls in flight for the throughput passes, instead of each group's own
    /// ([`RPC_IN_FLIGHT`], [`HTTP_IN_FLIGHT`]).
    pub in_flight: Option<Vec<usize>>,
    /// When not empty, only contenders whose name contains one of these (for profiling
    /// one stack; ratios against the others are then missing).
    pub filter: Vec<String>,
}

impl Config {
    /// The preset for `mode`: all groups, all payload sizes, no pinning (the `zap-bench`
    /// binary pins client and server to two CPUs by default; a library caller's thread is
    /// left alone unless asked), one thread per side, no allocation counter, no docs
    /// written.
    pub fn new(mode: Mode) -> Self {
        // (rounds, warm-up calls, time per measurement, calls per measurement at most,
        // calls counted for allocations, bytes per in-memory round)
        let (rounds, warmup_calls, per, cap, alloc_calls, memory_bytes) = match mode {
            Mode::Full => (5, 500, 400, 2_000_000, 5_000, 16 << 20),
            Mode::Quick => (3, 100, 80, 500_000, 300, 2 << 20),
            Mode::Smoke => (1, 5, 10, 256, 20, 16 << 10),
        };
        let per = Duration::from_millis(per);
        Self {
            mode,
            groups: Group::ALL.to_vec(),
            sizes: PAYLOAD_SIZES.to_vec(),
            rounds,
            warmup_calls,
            latency: Budget {
                time: per,
                calls: cap.min(200_000),
            },
            throughput: Budget {
                time: per,
                calls: cap,
            },
            alloc_calls,
            memory_bytes,
            pinning: Pinning::None,
            workers: 0,
            allocs: None,
            docs: None,
            command: String::new(),
            filter: Vec::new(),
            latency_pass: true,
            in_flight: None,
        }
    }

    /// Only these groups.
    pub fn only(mut self, groups: &[Group]) -> Self {
        self.groups = groups.to_vec();
        self
    }

    /// True when the contender `name` is to run.
    pub fn keeps(&self, name: &str) -> bool {
        self.filter.is_empty() || self.filter.iter().any(|f| name.contains(f.as_str()))
    }

    /// True when `group` is to run.
    pub fn runs(&self, group: Group) -> bool {
        self.groups.contains(&group)
    }

    /// Refuses settings that cannot produce a measurement.
    pub fn validate(&self) -> Result<(), BenchError> {
        if self.rounds == 0 {
            return Err(BenchError::Config("at least one round is needed".into()));
        }
        if self.sizes.is_empty() || self.sizes.contains(&0) {
            return Err(BenchError::Config(
                "payload sizes must be given and non-zero".into(),
            ));
        }
        if let Some(&big) = self.sizes.iter().find(|&&s| s > 4 << 20) {
            return Err(BenchError::Config(format!(
                "payload of {big} bytes: at most 4 MiB (every stack's default frame limit)"
            )));
        }
        if self.latency.calls == 0 || self.throughput.calls == 0 || self.alloc_calls == 0 {
            return Err(BenchError::Config("call budgets must be non-zero".into()));
        }
        if self.in_flight.as_ref().is_some_and(|v| v.contains(&0)) {
            return Err(BenchError::Config(
                "calls in flight must be at least 1".into(),
            ));
        }
        if self.groups.is_empty() {
            return Err(BenchError::Config("no group selected".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_ordered() {
        let full = Config::new(Mode::Full);
        let quick = Config::new(Mode::Quick);
        let smoke = Config::new(Mode::Smoke);
        for c in [&full, &quick, &smoke] {
            c.validate().expect("preset");
        }
        assert!(full.rounds > quick.rounds && quick.rounds >= smoke.rounds);
        assert!(full.throughput.time > quick.throughput.time);
        assert!(
            smoke.throughput.calls <= 1000,
            "smoke stays a few hundred calls"
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        let mut c = Config::new(Mode::Smoke);
        c.sizes = vec![0];
        assert!(c.validate().is_err());
        let c = Config::new(Mode::Smoke).only(&[]);
        assert!(c.validate().is_err());
        assert!("sideways".parse::<Pinning>().is_err());
        assert_eq!("wire".parse::<Group>().unwrap(), Group::Wire);
        assert!("gpu".parse::<Group>().is_err());
    }
}
