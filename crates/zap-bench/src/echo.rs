//! Request/response contenders and the measurements every one of them goes through.
//!
//! A contender implements [`Echo`]: send a payload, get the same bytes back. The
//! measuring code is generic over it (no boxing per call, so no allocation of ours lands
//! in a contender's count); [`Runner`] erases the type once per measurement so that a
//! group can alternate between contenders round by round.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::try_join_all;
use serde::Serialize;

use crate::alloc::{AllocCounter, AllocsPerCall, Side};
use crate::config::{Budget, Config};
use crate::cpu::{CpuPerCall, Threads};
use crate::error::BenchError;
use crate::stats::{median, percentile};

/// Slack on top of a measurement's own budget before it counts as hung.
const HANG_SLACK: Duration = Duration::from_secs(60);

/// A stack that echoes payloads.
pub(crate) trait Echo {
    /// A payload in the form this stack sends (built once per size, outside the timing).
    type Payload;
    /// Per-caller state (a cloned client handle, where the API needs `&mut`).
    type Worker;

    /// The contender's name in tables and JSON.
    fn name(&self) -> &'static str;

    /// Wraps `data` the way a user of this stack would.
    fn prepare(&self, data: &Bytes) -> Result<Self::Payload, BenchError>;

    /// State for one concurrent caller.
    fn worker(&self) -> Self::Worker;

    /// One call: send, wait for the echo, check its length.
    async fn call(
        &self,
        worker: &mut Self::Worker,
        payload: &Self::Payload,
    ) -> Result<(), BenchError>;

    /// Keeps `in_flight` calls outstanding until the budget runs out; returns the calls
    /// completed. The default runs `in_flight` callers, each issuing its next call when
    /// the last one returns.
    async fn saturate(
        &self,
        payload: &Self::Payload,
        in_flight: usize,
        budget: Budget,
    ) -> Result<u64, BenchError> {
        callers(self, payload, in_flight, budget).await
    }
}

/// `in_flight` concurrent callers on the current task, sharing one budget.
pub(crate) async fn callers<E: Echo + ?Sized>(
    echo: &E,
    payload: &E::Payload,
    in_flight: usize,
    budget: Budget,
) -> Result<u64, BenchError> {
    let issued = Cell::new(0u64);
    let done = Cell::new(0u64);
    let until = Instant::now() + budget.time;
    let workers = (0..in_flight.max(1)).map(|_| async {
        let mut w = echo.worker();
        while issued.get() < budget.calls && Instant::now() < until {
            issued.set(issued.get() + 1);
            echo.call(&mut w, payload).await?;
            done.set(done.get() + 1);
        }
        Ok::<(), BenchError>(())
    });
    try_join_all(workers).await?;
    Ok(done.get())
}

/// A check every contender's `call` makes on what came back.
pub(crate) fn check_len(
    contender: &'static str,
    want: usize,
    got: usize,
) -> Result<(), BenchError> {
    if want == got {
        Ok(())
    } else {
        Err(BenchError::WrongEcho {
            contender,
            want,
            got,
        })
    }
}

/// One measurement asked of a contender.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Job {
    /// Sequential calls, then a short concurrent burst (pools and windows grow).
    Warmup(u64),
    /// Sequential calls, each timed.
    Latency(Budget),
    /// Calls per second with this many in flight.
    Throughput(usize, Budget),
    /// Allocations per sequential call on each side.
    Allocs(u64, AllocCounter),
}

/// What a job produced.
#[derive(Debug)]
pub(crate) enum Outcome {
    Done,
    Latency(Vec<Duration>),
    Throughput {
        calls: u64,
        secs: f64,
        /// CPU nanoseconds used meanwhile by (client, server), when known.
        cpu_ns: Option<(u64, u64)>,
    },
    Allocs(AllocsPerCall),
}

type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A contender with its payloads, type-erased per job.
pub(crate) trait Runner {
    fn name(&self) -> &'static str;
    fn run<'a>(
        &'a self,
        job: Job,
        size: usize,
        threads: &'a Threads,
    ) -> LocalFuture<'a, Result<Outcome, BenchError>>;
}

/// An [`Echo`] with one prepared payload per size.
pub(crate) struct Contender<E: Echo> {
    echo: E,
    payloads: Vec<(usize, E::Payload)>,
}

impl<E: Echo> Contender<E> {
    pub(crate) fn new(echo: E, sizes: &[usize]) -> Result<Self, BenchError> {
        let payloads = sizes
            .iter()
            .map(|&n| Ok((n, echo.prepare(&payload(n))?)))
            .collect::<Result<_, BenchError>>()?;
        Ok(Self { echo, payloads })
    }
}

/// `n` bytes of application data, the same for every contender.
pub(crate) fn payload(n: usize) -> Bytes {
    (0..n).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into()
}

impl<E: Echo> Runner for Contender<E> {
    fn name(&self) -> &'static str {
        self.echo.name()
    }

    fn run<'a>(
        &'a self,
        job: Job,
        size: usize,
        threads: &'a Threads,
    ) -> LocalFuture<'a, Result<Outcome, BenchError>> {
        Box::pin(async move {
            let name = self.echo.name();
            let Some((_, p)) = self.payloads.iter().find(|(n, _)| *n == size) else {
                return Err(BenchError::Config(format!(
                    "{name}: no payload of {size} bytes"
                )));
            };
            let bound = match job {
                Job::Latency(b) | Job::Throughput(_, b) => b.time + HANG_SLACK,
                Job::Warmup(_) | Job::Allocs(..) => HANG_SLACK,
            };
            let work = async {
                match job {
                    Job::Warmup(calls) => {
                        let mut w = self.echo.worker();
                        for _ in 0..calls {
                            self.echo.call(&mut w, p).await?;
                        }
                        let burst = Budget {
                            time: Duration::from_secs(5),
                            calls: calls.max(16),
                        };
                        self.echo.saturate(p, 16, burst).await?;
                        Ok(Outcome::Done)
                    }
                    Job::Latency(budget) => {
                        latency(&self.echo, p, budget).await.map(Outcome::Latency)
                    }
                    Job::Throughput(n, budget) => {
                        let cpu_before = threads.snapshot();
                        let started = Instant::now();
                        let calls = self.echo.saturate(p, n, budget).await?;
                        let secs = started.elapsed().as_secs_f64();
                        let cpu_ns = cpu_before
                            .zip(threads.snapshot())
                            .map(|(b, a)| (a.0.saturating_sub(b.0), a.1.saturating_sub(b.1)));
                        Ok(Outcome::Throughput {
                            calls,
                            secs,
                            cpu_ns,
                        })
                    }
                    Job::Allocs(calls, counter) => allocs(&self.echo, p, calls, counter)
                        .await
                        .map(Outcome::Allocs),
                }
            };
            tokio::time::timeout(bound, work).await.unwrap_or_else(|_| {
                Err(BenchError::Timeout {
                    what: format!("{name}: {job:?} with {size}-byte payloads"),
                    secs: bound.as_secs(),
                })
            })
        })
    }
}

async fn latency<E: Echo>(
    echo: &E,
    p: &E::Payload,
    budget: Budget,
) -> Result<Vec<Duration>, BenchError> {
    let cap = usize::try_from(budget.calls).unwrap_or(usize::MAX);
    // Reserved up front so that recording a sample never allocates during the run.
    let mut samples = Vec::with_capacity(cap.min(1 << 20));
    let mut w = echo.worker();
    let until = Instant::now() + budget.time;
    while samples.len() < cap && samples.len() < samples.capacity() {
        let t = Instant::now();
        if t >= until {
            break;
        }
        echo.call(&mut w, p).await?;
        samples.push(t.elapsed());
    }
    Ok(samples)
}

async fn allocs<E: Echo>(
    echo: &E,
    p: &E::Payload,
    calls: u64,
    counter: AllocCounter,
) -> Result<AllocsPerCall, BenchError> {
    let mut w = echo.worker();
    // One call first, so that lazily created per-caller state is not counted.
    echo.call(&mut w, p).await?;
    let before = [Side::Client, Side::Server, Side::Other].map(counter.count);
    for _ in 0..calls {
        echo.call(&mut w, p).await?;
    }
    let after = [Side::Client, Side::Server, Side::Other].map(counter.count);
    let per = |i: usize| after[i].saturating_sub(before[i]) as f64 / calls as f64;
    Ok(AllocsPerCall {
        client: per(0),
        server: per(1),
        other: per(2),
        calls,
    })
}

/// One contender's figures at one payload size.
#[derive(Debug, Clone, Serialize)]
pub struct EchoResult {
    /// The contender.
    pub contender: String,
    /// Payload bytes per call (each way).
    pub payload: usize,
    /// Median latency at 1 call in flight, in microseconds.
    pub p50_us: f64,
    /// 99th percentile latency at 1 call in flight, in microseconds.
    pub p99_us: f64,
    /// Latency samples behind the percentiles.
    pub latency_samples: usize,
    /// Calls timed in all (latency and throughput passes; warm-up and allocation
    /// counting excluded).
    pub measured_calls: u64,
    /// Calls per second by calls in flight (median over rounds).
    pub calls_per_sec: BTreeMap<usize, f64>,
    /// Allocations per call, when a counting allocator was installed.
    pub allocs: Option<AllocsPerCall>,
    /// CPU time per call on each side by calls in flight (median over rounds), when the
    /// operating system reports per-thread CPU time.
    pub cpu_per_call: BTreeMap<usize, CpuPerCall>,
}

impl EchoResult {
    /// Calls per second at `in_flight`, if measured.
    pub fn rate(&self, in_flight: usize) -> Option<f64> {
        self.calls_per_sec.get(&in_flight).copied()
    }
}

/// Runs every job for every contender and payload size, alternating contenders within
/// each round (and rotating which goes first) so that a burst of load on the machine
/// does not land on one of them only.
pub(crate) async fn measure(
    contenders: &[Box<dyn Runner>],
    threads: &Threads,
    cfg: &Config,
    in_flight: &[usize],
    progress: &dyn Fn(&str),
) -> Result<Vec<EchoResult>, BenchError> {
    let in_flight = cfg.in_flight.as_deref().unwrap_or(in_flight);
    let kept: Vec<&Box<dyn Runner>> = contenders.iter().filter(|c| cfg.keeps(c.name())).collect();
    let contenders = kept.as_slice();
    let mut results = Vec::new();
    for &size in &cfg.sizes {
        for c in contenders {
            c.run(Job::Warmup(cfg.warmup_calls), size, threads).await?;
        }
        let mut allocs = vec![None; contenders.len()];
        if let Some(counter) = cfg.allocs {
            for (i, c) in contenders.iter().enumerate() {
                if let Outcome::Allocs(a) = c
                    .run(Job::Allocs(cfg.alloc_calls, counter), size, threads)
                    .await?
                {
                    allocs[i] = Some(a);
                }
            }
        }
        let mut lat: Vec<Vec<Duration>> = vec![Vec::new(); contenders.len()];
        let mut rates: Vec<BTreeMap<usize, Vec<f64>>> = vec![BTreeMap::new(); contenders.len()];
        let mut counted = vec![0u64; contenders.len()];
        type PerSide = (Vec<f64>, Vec<f64>);
        let mut cpu: Vec<BTreeMap<usize, PerSide>> = vec![BTreeMap::new(); contenders.len()];
        for round in 0..cfg.rounds {
            progress(&format!("{size} B, round {}/{}", round + 1, cfg.rounds));
            for k in 0..contenders.len() {
                let i = (k + round) % contenders.len();
                let c = &contenders[i];
                if cfg.latency_pass
                    && let Outcome::Latency(s) =
                        c.run(Job::Latency(cfg.latency), size, threads).await?
                {
                    counted[i] += s.len() as u64;
                    lat[i].extend(s);
                }
                for &n in in_flight {
                    if let Outcome::Throughput {
                        calls,
                        secs,
                        cpu_ns,
                    } = c
                        .run(Job::Throughput(n, cfg.throughput), size, threads)
                        .await?
                    {
                        rates[i].entry(n).or_default().push(calls as f64 / secs);
                        counted[i] += calls;
                        if let Some((cl, sv)) = cpu_ns.filter(|_| calls > 0) {
                            let e = cpu[i].entry(n).or_default();
                            e.0.push(cl as f64 / calls as f64 / 1e3);
                            e.1.push(sv as f64 / calls as f64 / 1e3);
                        }
                    }
                }
            }
        }
        for (i, c) in contenders.iter().enumerate() {
            lat[i].sort_unstable();
            let us = |d: Duration| d.as_secs_f64() * 1e6;
            results.push(EchoResult {
                contender: c.name().to_string(),
                payload: size,
                p50_us: us(percentile(&lat[i], 0.50)),
                p99_us: us(percentile(&lat[i], 0.99)),
                latency_samples: lat[i].len(),
                measured_calls: counted[i],
                calls_per_sec: rates[i]
                    .iter()
                    .filter_map(|(&n, v)| median(v).map(|m| (n, m)))
                    .collect(),
                allocs: allocs[i],
                cpu_per_call: cpu[i]
                    .iter()
                    .filter_map(|(&n, (c, s))| {
                        Some((
                            n,
                            CpuPerCall {
                                client_us: median(c)?,
                                server_us: median(s)?,
                            },
                        ))
                    })
                    .collect(),
            });
        }
    }
    Ok(results)
}
