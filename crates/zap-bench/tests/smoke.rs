//! Runs the `zap-bench` binary in its smoke mode (a few hundred calls per contender) and
//! checks that every contender answered and that the JSON carries the keys scripts read.

use std::process::Command;
use std::time::{Duration, Instant};

const KEYS: [&str; 7] = [
    "rpc_p50_ratio_vs_raw",
    "rpc_tput_ratio_vs_raw_256",
    "rpc_tput_ratio_vs_tonic_256",
    "rpc_tput_ratio_vs_tarpc_256",
    "rpc_client_allocs_per_call",
    "rpc_server_allocs_per_call",
    "http_tput_ratio_vs_hyper",
];

#[test]
fn smoke_run_prints_every_key_and_every_contender() {
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_zap-bench"))
        .args(["--smoke", "--json"])
        .output()
        .expect("zap-bench runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "zap-bench failed:\n{stderr}");
    // Smoke mode never touches the docs.
    assert!(!stderr.contains("wrote the zap-bench section"), "{stderr}");

    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    for key in KEYS {
        let v = report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} is missing or not a number: {}", report[key]));
        assert!(v.is_finite() && v >= 0.0, "{key} = {v}");
    }
    for ratio in [KEYS[0], KEYS[1], KEYS[2], KEYS[3], KEYS[6]] {
        assert!(report[ratio].as_f64().unwrap() > 0.0, "{ratio} is zero");
    }
    let machine = &report["machine"];
    assert!(machine["cores"].as_u64().unwrap() >= 1);
    for field in ["cpu_model", "kernel", "date_utc", "runtime"] {
        assert!(
            machine[field].as_str().is_some_and(|s| !s.is_empty()),
            "{field}"
        );
    }

    // Every contender of every payload size produced latency samples and a rate.
    let rpc = report["rpc"]["results"].as_array().expect("rpc results");
    let contenders = [
        "raw TCP floor",
        "zap-rpc (Client)",
        "zap-rpc (Connection)",
        "zap-rpc over TLS (Client)",
        "zap-rpc over QUIC (Client)",
        "tarpc",
        "tonic (gRPC)",
    ];
    assert_eq!(rpc.len(), contenders.len() * 3);
    for r in rpc {
        assert!(
            contenders.contains(&r["contender"].as_str().unwrap()),
            "{r}"
        );
        assert!(r["latency_samples"].as_u64().unwrap() > 0, "{r}");
        assert!(r["p50_us"].as_f64().unwrap() > 0.0, "{r}");
        for n in ["16", "256"] {
            assert!(r["calls_per_sec"][n].as_f64().unwrap() > 0.0, "{r}");
        }
        assert!(r["allocs"]["calls"].as_u64().unwrap() > 0, "{r}");
    }
    let http = report["http"]["results"].as_array().expect("http results");
    assert_eq!(http.len(), 2 * 3);
    for r in http {
        assert!(r["p50_us"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["calls_per_sec"]["16"].as_f64().unwrap() > 0.0, "{r}");
    }
    // Both relay paths at the sizes a relay message can carry (32 B and 1 KiB); 64 KiB
    // is reported as not measured, with the reason.
    let relay = &report["relay"];
    let paths = relay["results"].as_array().expect("relay results");
    assert_eq!(paths.len(), 2 * 2, "{relay}");
    for r in paths {
        assert!(r["p50_us"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["calls_per_sec"]["16"].as_f64().unwrap() > 0.0, "{r}");
    }
    assert_eq!(relay["pending"].as_array().unwrap().len(), 1, "{relay}");
    for key in [
        "relay_cross_pod_p50_ratio_vs_same_pod",
        "relay_cross_pod_tput_ratio_vs_same_pod",
    ] {
        let v = report[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing"));
        assert!(v.is_finite() && v > 0.0, "{key} = {v}");
    }
    let goals = report["goals"].as_array().expect("goals");
    assert!(
        goals.iter().all(|g| g["met"].is_boolean()),
        "every goal judged"
    );
    for group in ["zwing", "wire"] {
        let pairs = report[group].as_array().expect(group);
        assert!(!pairs.is_empty());
        assert!(pairs.iter().all(|p| p["ours_ns"].as_f64().unwrap() > 0.0));
    }
    // A few hundred calls each: seconds, not minutes, even in a debug build.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "smoke run took {:?}",
        started.elapsed()
    );
}

#[test]
fn bad_arguments_exit_2() {
    let out = Command::new(env!("CARGO_BIN_EXE_zap-bench"))
        .args(["--pin", "sideways"])
        .output()
        .expect("zap-bench runs");
    assert_eq!(out.status.code(), Some(2));
}
