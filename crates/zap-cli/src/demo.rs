//! `zap demo`: the tour of the whole stack, in-process on loopback.
//!
//! Each step is an async function that does real work (real sockets on 127.0.0.1,
//! real TLS, real mDNS on the loopback interface) and returns a one-line detail of what
//! it saw. The demo prints a table of steps with timings, or one JSON object with
//! `--json`, and exits 0 only when every step worked.

use std::future::Future;
use std::pin::Pin;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::output::{CliError, ms, parse_duration, print_table};

/// Options of `zap demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Print one JSON object with a `steps` array instead of a table.
    #[arg(long)]
    json: bool,
    /// Run only the named steps (repeatable), e.g. `--step wire --step rpc`.
    #[arg(long = "step", value_name = "NAME")]
    only: Vec<String>,
    /// Give up on a step after this long.
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    step_timeout: Duration,
}

/// What a step returns: a short description of what it did and saw.
pub(crate) type StepResult = Result<String, CliError>;

type StepFuture = Pin<Box<dyn Future<Output = StepResult> + Send>>;

/// One step of the tour.
struct Step {
    name: &'static str,
    what: &'static str,
    run: fn() -> StepFuture,
}

/// The tour, in order. Each crate adds its step here.
fn steps() -> Vec<Step> {
    vec![
        Step {
            name: "wire",
            what: "build a ZAP message, frame it, decode it back",
            run: || Box::pin(crate::inspect::demo_step()),
        },
        Step {
            name: "discovery",
            what: "announce two services over mDNS on loopback, find them, see one leave",
            run: || Box::pin(crate::discovery::demo_step()),
        },
        Step {
            name: "rpc",
            what: "two RPC servers found over mDNS (lo): round robin, broadcast, an unknown procedure, a cancelled call",
            run: || Box::pin(crate::rpc::demo_step()),
        },
        Step {
            name: "tls",
            what: "a call over mutual TLS 1.3 (X25519MLKEM768 preferred) with both certificate identities verified",
            run: || Box::pin(crate::rpc::tls_demo_step()),
        },
        Step {
            name: "quic",
            what: "calls over QUIC, one stream each, with the same certificates and identities",
            run: || Box::pin(crate::rpc::quic_demo_step()),
        },
        Step {
            name: "http",
            what: "an axum app served over ZAP-HTTP, found over mDNS (lo) and fetched via the discovery dialer",
            run: || Box::pin(crate::http::demo_step()),
        },
        Step {
            name: "zwing",
            what: "post-quantum Z-Wing handshake on loopback TCP, then an encrypted echo",
            run: || Box::pin(crate::zwing::demo_step()),
        },
        Step {
            name: "netrunner",
            what: "a control server over Z-Wing with a simulated cluster: ping, add-node, health, stop",
            run: || Box::pin(crate::netrunner::demo_step()),
        },
        Step {
            name: "relay",
            what: "three relay pods on 127.0.0.2-4 form a cluster; peers on different pods exchange messages",
            run: || Box::pin(crate::relay::demo_step()),
        },
    ]
}

/// The outcome of one step, as printed and as serialized with `--json`.
#[derive(Debug, Serialize)]
struct Outcome {
    name: &'static str,
    ok: bool,
    ms: f64,
    detail: String,
}

pub(crate) async fn run(args: Args) -> Result<ExitCode, CliError> {
    let all = steps();
    for name in &args.only {
        if !all.iter().any(|s| s.name == name) {
            let known: Vec<_> = all.iter().map(|s| s.name).collect();
            return Err(CliError::new(format!(
                "no demo step is called `{name}` (steps: {})",
                known.join(", ")
            )));
        }
    }
    let chosen: Vec<Step> = all
        .into_iter()
        .filter(|s| args.only.is_empty() || args.only.iter().any(|o| o == s.name))
        .collect();

    let started = Instant::now();
    let mut outcomes = Vec::with_capacity(chosen.len());
    for step in &chosen {
        if !args.json {
            eprintln!("… {:<10} {}", step.name, step.what);
        }
        let t = Instant::now();
        let result = match tokio::time::timeout(args.step_timeout, (step.run)()).await {
            Ok(r) => r,
            Err(_) => Err(CliError::new(format!(
                "did not finish within {:?}",
                args.step_timeout
            ))),
        };
        let elapsed = t.elapsed();
        let (ok, detail) = match result {
            Ok(d) => (true, d),
            Err(e) => (false, e.to_string()),
        };
        outcomes.push(Outcome {
            name: step.name,
            ok,
            ms: (elapsed.as_secs_f64() * 10_000.0).round() / 10.0,
            detail,
        });
    }
    let total = started.elapsed();
    let failed: Vec<&str> = outcomes.iter().filter(|o| !o.ok).map(|o| o.name).collect();

    if args.json {
        let doc = serde_json::json!({
            "ok": failed.is_empty(),
            "total_ms": (total.as_secs_f64() * 10_000.0).round() / 10.0,
            "steps": outcomes,
        });
        println!("{doc}");
    } else {
        let rows: Vec<Vec<String>> = outcomes
            .iter()
            .map(|o| {
                vec![
                    o.name.to_string(),
                    if o.ok { "ok" } else { "FAILED" }.to_string(),
                    format!("{:.1}", o.ms),
                    o.detail.clone(),
                ]
            })
            .collect();
        println!();
        print_table(&["step", "result", "ms", "detail"], &rows);
        println!();
        if failed.is_empty() {
            println!(
                "demo: all {} steps worked in {} ms",
                outcomes.len(),
                ms(total)
            );
        } else {
            println!("demo: FAILED at {}", failed.join(", "));
        }
    }
    Ok(if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
