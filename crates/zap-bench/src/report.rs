//! A run's results: the headline ratios, the goals they are held to, and the tables
//! printed for people and written to docs/benchmarks.md.

use std::fmt::Write as _;

use serde::Serialize;

use crate::config::{HTTP_IN_FLIGHT, Mode};
use crate::echo::EchoResult;
use crate::http::{self, HttpResults};
use crate::machine::Machine;
use crate::memory::PairResult;
use crate::relay::{self, RELAY_IN_FLIGHT, RelayResults};
use crate::rpc::{self, Pending, RpcResults};
use crate::stats::ratio;

/// The ratios the issue asks for, at the smallest payload of the run (32 B by default).
/// `None` (JSON `null`) when the group that yields one did not run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Headline {
    /// Payload size the headline ratios are taken at.
    pub headline_payload: usize,
    /// zap-rpc TCP p50 / raw floor p50, 1 call in flight.
    pub rpc_p50_ratio_vs_raw: Option<f64>,
    /// zap-rpc TCP p99 / raw floor p99, 1 call in flight.
    pub rpc_p99_ratio_vs_raw: Option<f64>,
    /// zap-rpc / raw floor calls per second, 16 in flight.
    pub rpc_tput_ratio_vs_raw_16: Option<f64>,
    /// zap-rpc / raw floor calls per second, 256 in flight.
    pub rpc_tput_ratio_vs_raw_256: Option<f64>,
    /// zap-rpc / tonic calls per second, 256 in flight.
    pub rpc_tput_ratio_vs_tonic_256: Option<f64>,
    /// zap-rpc / tarpc calls per second, 256 in flight.
    pub rpc_tput_ratio_vs_tarpc_256: Option<f64>,
    /// zap-rpc / raw floor CPU time per call (client and server together), 256 in flight.
    pub rpc_cpu_ratio_vs_raw_256: Option<f64>,
    /// zap-rpc p50 / tonic p50, 1 call in flight.
    pub rpc_p50_ratio_vs_tonic: Option<f64>,
    /// zap-rpc p50 / tarpc p50, 1 call in flight.
    pub rpc_p50_ratio_vs_tarpc: Option<f64>,
    /// Allocations per zap-rpc call on the client's threads.
    pub rpc_client_allocs_per_call: Option<f64>,
    /// Allocations per zap-rpc call on the server's threads.
    pub rpc_server_allocs_per_call: Option<f64>,
    /// zap-http / hyper requests per second, 16 in flight.
    pub http_tput_ratio_vs_hyper: Option<f64>,
    /// zap-http p50 / hyper p50, 1 request in flight.
    pub http_p50_ratio_vs_hyper: Option<f64>,
    /// Relay cross-pod p50 / same-pod p50 (round trip through the echo peer), 1 in flight.
    pub relay_cross_pod_p50_ratio_vs_same_pod: Option<f64>,
    /// Relay cross-pod / same-pod messages per second, 16 in flight.
    pub relay_cross_pod_tput_ratio_vs_same_pod: Option<f64>,
    /// Z-Wing record layer throughput / raw AEAD throughput, sealing the largest payload.
    pub zwing_seal_tput_ratio_vs_aead: Option<f64>,
    /// Z-Wing record layer throughput / raw AEAD throughput, opening the largest payload.
    pub zwing_open_tput_ratio_vs_aead: Option<f64>,
}

/// One goal of the issue, with the measured value.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    /// What is held to the goal.
    pub name: String,
    /// The measured value, when measured.
    pub measured: Option<f64>,
    /// The target, as people read it.
    pub target: String,
    /// Whether it is met; `None` when not measured.
    pub met: Option<bool>,
}

/// Everything one run produced.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The headline ratios (flattened into the top of the JSON object).
    #[serde(flatten)]
    pub headline: Headline,
    /// The machine and its load.
    pub machine: Machine,
    /// `full`, `quick` or `smoke`.
    pub mode: String,
    /// Alternating rounds per measurement.
    pub rounds: usize,
    /// The command that reproduces the run.
    pub command: String,
    /// Wall-clock seconds of the measurements.
    pub elapsed_secs: f64,
    /// Each goal and whether it is met.
    pub goals: Vec<Goal>,
    /// The RPC group, when run.
    pub rpc: Option<RpcResults>,
    /// The HTTP group, when run.
    pub http: Option<HttpResults>,
    /// The relay group, when run.
    pub relay: Option<RelayResults>,
    /// Z-Wing record layer against the raw AEAD, when run.
    pub zwing: Option<Vec<PairResult>>,
    /// zap-wire against a copy, when run.
    pub wire: Option<Vec<PairResult>>,
}

fn pair_tput(pairs: &Option<Vec<PairResult>>, op: &str) -> Option<f64> {
    let p = pairs
        .as_ref()?
        .iter()
        .filter(|p| p.operation == op)
        .max_by_key(|p| p.payload)?;
    ratio(Some(p.baseline_ns), Some(p.ours_ns))
}

fn cpu_total(e: Option<&EchoResult>, in_flight: usize) -> Option<f64> {
    e?.cpu_per_call
        .get(&in_flight)
        .map(|c| c.client_us + c.server_us)
}

impl Headline {
    pub(crate) fn compute(
        payload: usize,
        rpc: Option<&RpcResults>,
        http: Option<&HttpResults>,
        relay: Option<&RelayResults>,
        zwing: &Option<Vec<PairResult>>,
    ) -> Self {
        let r = |name: &str| rpc.and_then(|g| g.get(name, payload));
        let (zap, raw, tonic, tarpc) = (
            r(rpc::ZAP_CLIENT),
            r(rpc::RAW),
            r(rpc::TONIC),
            r(rpc::TARPC),
        );
        let p50 = |e: Option<&EchoResult>| e.map(|e| e.p50_us);
        let p99 = |e: Option<&EchoResult>| e.map(|e| e.p99_us);
        let rate = |e: Option<&EchoResult>, n| e.and_then(|e| e.rate(n));
        let h = |name: &str| http.and_then(|g| g.get(name, payload));
        let (zh, hy) = (h(http::ZAP_HTTP), h(http::HYPER));
        let rl = |name: &str| relay.and_then(|g| g.get(name, payload));
        let (cross, same) = (rl(relay::RELAY_CROSS_POD), rl(relay::RELAY_SAME_POD));
        Self {
            headline_payload: payload,
            rpc_p50_ratio_vs_raw: ratio(p50(zap), p50(raw)),
            rpc_p99_ratio_vs_raw: ratio(p99(zap), p99(raw)),
            rpc_tput_ratio_vs_raw_16: ratio(rate(zap, 16), rate(raw, 16)),
            rpc_tput_ratio_vs_raw_256: ratio(rate(zap, 256), rate(raw, 256)),
            rpc_tput_ratio_vs_tonic_256: ratio(rate(zap, 256), rate(tonic, 256)),
            rpc_tput_ratio_vs_tarpc_256: ratio(rate(zap, 256), rate(tarpc, 256)),
            rpc_cpu_ratio_vs_raw_256: ratio(cpu_total(zap, 256), cpu_total(raw, 256)),
            rpc_p50_ratio_vs_tonic: ratio(p50(zap), p50(tonic)),
            rpc_p50_ratio_vs_tarpc: ratio(p50(zap), p50(tarpc)),
            rpc_client_allocs_per_call: zap.and_then(|z| z.allocs).map(|a| a.client),
            rpc_server_allocs_per_call: zap.and_then(|z| z.allocs).map(|a| a.server),
            http_tput_ratio_vs_hyper: ratio(rate(zh, HTTP_IN_FLIGHT), rate(hy, HTTP_IN_FLIGHT)),
            http_p50_ratio_vs_hyper: ratio(p50(zh), p50(hy)),
            relay_cross_pod_p50_ratio_vs_same_pod: ratio(p50(cross), p50(same)),
            relay_cross_pod_tput_ratio_vs_same_pod: ratio(
                rate(cross, RELAY_IN_FLIGHT),
                rate(same, RELAY_IN_FLIGHT),
            ),
            zwing_seal_tput_ratio_vs_aead: pair_tput(zwing, "seal"),
            zwing_open_tput_ratio_vs_aead: pair_tput(zwing, "open"),
        }
    }

    /// The goals, each against its measured ratio.
    pub(crate) fn goals(&self) -> Vec<Goal> {
        let p = self.headline_payload;
        let at_most = |name: String, v: Option<f64>, max: f64, target: &str| Goal {
            name,
            measured: v,
            target: target.into(),
            met: v.map(|v| v <= max),
        };
        let at_least = |name: String, v: Option<f64>, min: f64, target: &str| Goal {
            name,
            measured: v,
            target: target.into(),
            met: v.map(|v| v >= min),
        };
        vec![
            at_most(
                format!("zap-rpc p50 / raw floor p50, 1 call in flight, {p} B"),
                self.rpc_p50_ratio_vs_raw,
                1.15,
                "≤ 1.15",
            ),
            at_least(
                format!("zap-rpc / raw floor calls/s, 256 in flight, {p} B"),
                self.rpc_tput_ratio_vs_raw_256,
                0.60,
                "≥ 0.60",
            ),
            at_least(
                format!("zap-rpc / tonic calls/s, 256 in flight, {p} B"),
                self.rpc_tput_ratio_vs_tonic_256,
                5.0,
                "≥ 5",
            ),
            at_least(
                format!("zap-rpc / tarpc calls/s, 256 in flight, {p} B"),
                self.rpc_tput_ratio_vs_tarpc_256,
                2.0,
                "≥ 2",
            ),
            at_most(
                format!("zap-rpc allocations per call, client, {p} B"),
                self.rpc_client_allocs_per_call,
                1.0,
                "≤ 1",
            ),
            // Steady state: a background timer over thousands of calls is not an
            // allocation per call; anything at 0.01 per call or more is.
            at_most(
                format!("zap-rpc allocations per call, server, {p} B"),
                self.rpc_server_allocs_per_call,
                0.009,
                "0",
            ),
            at_least(
                format!("zap-http / hyper requests/s, {HTTP_IN_FLIGHT} in flight, {p} B"),
                self.http_tput_ratio_vs_hyper,
                1.2,
                "≥ 1.2",
            ),
        ]
    }
}

// ----- rendering -----

/// A table rendered either as aligned text or as Markdown.
struct Table {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(head: &[&str]) -> Self {
        Self {
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn render(&self, markdown: bool) -> String {
        let n = self.head.len();
        let mut out = String::new();
        if markdown {
            let line = |cells: &[String]| {
                let mut c: Vec<String> = cells.iter().map(|s| s.replace('|', "\\|")).collect();
                c.resize(n, String::new());
                format!("| {} |\n", c.join(" | "))
            };
            out.push_str(&line(&self.head));
            out.push_str(&format!("|{}\n", "---|".repeat(n)));
            for r in &self.rows {
                out.push_str(&line(r));
            }
            return out;
        }
        let mut width = vec![0; n];
        let full_rows = || self.rows.iter().filter(|r| r.len() == n);
        // A row with fewer cells than columns is a note spanning the rest.
        for r in std::iter::once(&self.head).chain(full_rows()) {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        // Figures line up on the right, words on the left.
        let numeric: Vec<bool> = (0..n)
            .map(|i| {
                full_rows().count() > 0
                    && full_rows()
                        .all(|r| r[i].starts_with(|c: char| c.is_ascii_digit() || c == '–'))
            })
            .collect();
        for r in std::iter::once(&self.head).chain(&self.rows) {
            let mut line = String::new();
            for (i, c) in r.iter().enumerate() {
                let pad = width
                    .get(i)
                    .copied()
                    .unwrap_or(0)
                    .saturating_sub(c.chars().count());
                if r.len() == n && numeric[i] {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(c);
                } else {
                    line.push_str(c);
                    line.push_str(&" ".repeat(pad));
                }
                line.push_str("  ");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `text` broken into lines of at most `width` characters (longer words stay whole).
pub(crate) fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        let n = word.chars().count();
        if line > 0 && line + 1 + n > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += n;
    }
    out
}

fn f(v: Option<f64>, digits: usize) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "–".into(), |v| format!("{v:.digits$}"))
}

fn x(v: Option<f64>) -> String {
    v.filter(|v| v.is_finite())
        .map_or_else(|| "–".into(), |v| format!("{v:.2}×"))
}

fn kilo(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{:.1}k", v / 1e3))
}

fn size(n: usize) -> String {
    if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} B")
    }
}

fn cpu(r: &EchoResult, in_flight: usize) -> String {
    r.cpu_per_call.get(&in_flight).map_or_else(
        || "–".into(),
        |c| format!("{:.1} + {:.1}", c.client_us, c.server_us),
    )
}

fn rpc_table(g: &RpcResults, payload: usize) -> Table {
    let mut t = Table::new(&[
        "contender",
        "p50 µs",
        "p99 µs",
        "p50 ÷ floor",
        "calls/s @16",
        "calls/s @256",
        "@256 ÷ floor",
        "zap-rpc ÷ this @256",
        "allocs/call client",
        "allocs/call server",
        "CPU µs/call @256 client + server",
    ]);
    let floor = g.get(rpc::RAW, payload);
    let zap = g.get(rpc::ZAP_CLIENT, payload);
    for r in g.results.iter().filter(|r| r.payload == payload) {
        t.row(vec![
            r.contender.clone(),
            f(Some(r.p50_us), 1),
            f(Some(r.p99_us), 1),
            x(ratio(Some(r.p50_us), floor.map(|f| f.p50_us))),
            kilo(r.rate(16)),
            kilo(r.rate(256)),
            x(ratio(r.rate(256), floor.and_then(|f| f.rate(256)))),
            x(ratio(zap.and_then(|z| z.rate(256)), r.rate(256))),
            f(r.allocs.map(|a| a.client), 2),
            f(r.allocs.map(|a| a.server), 2),
            cpu(r, 256),
        ]);
    }
    pending_rows(&mut t, &g.pending);
    t
}

fn pending_rows(t: &mut Table, pending: &[Pending]) {
    for p in pending {
        t.row(vec![p.contender.clone(), p.reason.clone()]);
    }
}

fn http_table(g: &HttpResults, payload: usize) -> Table {
    let mut t = Table::new(&[
        "stack",
        "p50 µs",
        "p99 µs",
        "requests/s @16",
        "zap-http ÷ this @16",
        "zap-http p50 ÷ this",
        "allocs/request client",
        "allocs/request server",
        "CPU µs/request @16 client + server",
    ]);
    let zap = g.get(http::ZAP_HTTP, payload);
    for r in g.results.iter().filter(|r| r.payload == payload) {
        t.row(vec![
            r.contender.clone(),
            f(Some(r.p50_us), 1),
            f(Some(r.p99_us), 1),
            kilo(r.rate(HTTP_IN_FLIGHT)),
            x(ratio(
                zap.and_then(|z| z.rate(HTTP_IN_FLIGHT)),
                r.rate(HTTP_IN_FLIGHT),
            )),
            x(ratio(zap.map(|z| z.p50_us), Some(r.p50_us))),
            f(r.allocs.map(|a| a.client), 2),
            f(r.allocs.map(|a| a.server), 2),
            cpu(r, HTTP_IN_FLIGHT),
        ]);
    }
    t
}

fn relay_table(g: &RelayResults) -> Table {
    let rate_head = format!("messages/s @{RELAY_IN_FLIGHT}");
    let mut t = Table::new(&[
        "path",
        "payload",
        "p50 µs",
        "p99 µs",
        "p50 ÷ same-pod",
        rate_head.as_str(),
        "÷ same-pod",
        "allocs/message client",
        "allocs/message server",
    ]);
    for r in &g.results {
        let same = g.get(relay::RELAY_SAME_POD, r.payload);
        t.row(vec![
            r.contender.clone(),
            size(r.payload),
            f(Some(r.p50_us), 1),
            f(Some(r.p99_us), 1),
            x(ratio(Some(r.p50_us), same.map(|s| s.p50_us))),
            kilo(r.rate(RELAY_IN_FLIGHT)),
            x(ratio(
                r.rate(RELAY_IN_FLIGHT),
                same.and_then(|s| s.rate(RELAY_IN_FLIGHT)),
            )),
            f(r.allocs.map(|a| a.client), 2),
            f(r.allocs.map(|a| a.server), 2),
        ]);
    }
    pending_rows(&mut t, &g.pending);
    t
}

fn pair_table(pairs: &[PairResult], throughput: bool) -> Table {
    let mut t = Table::new(&[
        "operation",
        "payload",
        "ours",
        "ns/op",
        "baseline",
        "ns/op",
        if throughput {
            "throughput ours ÷ baseline"
        } else {
            "time ours ÷ baseline"
        },
    ]);
    for p in pairs {
        t.row(vec![
            p.operation.clone(),
            size(p.payload),
            p.ours.clone(),
            f(Some(p.ours_ns), 1),
            p.baseline.clone(),
            f(Some(p.baseline_ns), 1),
            if throughput {
                x(ratio(Some(p.baseline_ns), Some(p.ours_ns)))
            } else {
                x(Some(p.time_ratio))
            },
        ]);
    }
    t
}

fn goal_table(goals: &[Goal], markdown: bool) -> Table {
    let mut t = Table::new(&["goal", "measured", "target", "status"]);
    for g in goals {
        t.row(vec![
            g.name.clone(),
            f(g.measured, 2),
            g.target.clone(),
            match g.met {
                Some(true) => "met".into(),
                Some(false) if markdown => "**MISSED**".into(),
                Some(false) => "MISSED".into(),
                None => "not measured".into(),
            },
        ]);
    }
    t
}

impl Report {
    /// The whole report for people; `markdown` renders tables for docs/benchmarks.md.
    pub fn render(&self, markdown: bool) -> String {
        let mut out = String::new();
        let h = |out: &mut String, title: &str| {
            if markdown {
                let _ = write!(out, "\n### {title}\n\n");
            } else {
                let _ = write!(out, "\n== {title}\n");
            }
        };
        let note = |out: &mut String, text: &str| {
            if markdown {
                let _ = writeln!(out, "\n{}", wrap(text, 90));
            }
        };
        let bullet = if markdown { "* " } else { "" };
        let mut header = vec![
            format!("Machine: {}.", self.machine.summary()),
            format!("Layout: {}.", self.machine.runtime),
            format!(
                "Run: {} mode, {} alternating round{} per measurement, {:.0} s, started {} UTC.",
                self.mode,
                self.rounds,
                if self.rounds == 1 { "" } else { "s" },
                self.elapsed_secs,
                self.machine.date_utc
            ),
        ];
        if self.machine.busy {
            header.push(
                "Warning: the load average exceeded the CPU count when the run started; \
                 absolute figures are pessimistic and p99 mostly shows other processes \
                 taking the CPUs."
                    .into(),
            );
        }
        for line in header {
            let _ = writeln!(out, "{bullet}{line}");
        }
        h(&mut out, "Goals (ratios from this run)");
        out.push_str(&goal_table(&self.goals, markdown).render(markdown));
        if let Some(g) = &self.rpc {
            let mut sizes: Vec<usize> = g.results.iter().map(|r| r.payload).collect();
            sizes.dedup();
            for s in sizes {
                h(
                    &mut out,
                    &format!(
                        "RPC echo over loopback (TCP; TLS and QUIC where named), {} payload",
                        size(s)
                    ),
                );
                out.push_str(&rpc_table(g, s).render(markdown));
            }
            note(
                &mut out,
                "p50/p99: one call at a time, all rounds' samples together. calls/s @N: N calls in \
                 flight on one connection (median of the rounds). Allocations: per sequential call \
                 after warm-up, counted on the client's and the server's threads apart. CPU: time \
                 the client's and the server's threads ran (user and system) per call during the \
                 256-in-flight passes (median of the rounds).",
            );
        }
        if let Some(g) = &self.http {
            let mut sizes: Vec<usize> = g.results.iter().map(|r| r.payload).collect();
            sizes.dedup();
            for s in sizes {
                h(
                    &mut out,
                    &format!("HTTP POST /echo (same axum handler), {} body", size(s)),
                );
                out.push_str(&http_table(g, s).render(markdown));
            }
        }
        if let Some(g) = &self.relay {
            h(
                &mut out,
                "Relay: cross-pod against same-pod (round trip through an echo peer)",
            );
            out.push_str(&relay_table(g).render(markdown));
        }
        if let Some(p) = &self.zwing {
            h(
                &mut out,
                "Z-Wing record layer against raw ChaCha20-Poly1305 (in memory)",
            );
            out.push_str(&pair_table(p, true).render(markdown));
        }
        if let Some(p) = &self.wire {
            h(
                &mut out,
                "zap-wire against a copy of the same bytes (in memory)",
            );
            out.push_str(&pair_table(p, false).render(markdown));
        }
        out
    }

    /// True when this was a recorded (full) run.
    pub fn is_full(&self) -> bool {
        self.mode == Mode::Full.as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goals_judge_each_direction_and_missing_values() {
        let h = Headline {
            headline_payload: 32,
            rpc_p50_ratio_vs_raw: Some(1.10),
            rpc_tput_ratio_vs_raw_256: Some(0.5),
            rpc_tput_ratio_vs_tonic_256: Some(6.0),
            rpc_client_allocs_per_call: Some(1.0),
            rpc_server_allocs_per_call: Some(0.02),
            ..Headline::default()
        };
        let goals = h.goals();
        let met: Vec<Option<bool>> = goals.iter().map(|g| g.met).collect();
        assert_eq!(
            met,
            vec![
                Some(true),
                Some(false),
                Some(true),
                None,
                Some(true),
                Some(false),
                None
            ]
        );
    }

    #[test]
    fn wrap_breaks_between_words() {
        assert_eq!(wrap("aa bb cc dd", 5), "aa bb\ncc dd");
        assert_eq!(wrap("  one   two ", 80), "one two");
        assert_eq!(
            wrap("averyveryverylongword x", 5),
            "averyveryverylongword\nx"
        );
    }

    #[test]
    fn tables_render_aligned_text_and_markdown() {
        let mut t = Table::new(&["a", "bb", "c"]);
        t.row(vec!["long name".into(), "1".into(), "x".into()]);
        t.row(vec!["note spanning the row".into()]);
        let text = t.render(false);
        assert_eq!(
            text,
            "a          bb  c\nlong name   1  x\nnote spanning the row\n"
        );
        let md = t.render(true);
        assert!(md.starts_with("| a | bb | c |\n|---|---|---|\n| long name | 1 | x |\n"));
        assert!(md.contains("| note spanning the row |  |  |"));
    }
}
