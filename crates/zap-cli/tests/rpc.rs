//! `zap serve` and `zap call`, run as a user runs them: a real server process on loopback
//! (no mDNS), real calls, exit codes, JSON, and a graceful stop on SIGTERM.

mod support;

use support::{Background, json, zap};

fn serve() -> (Background, String) {
    let served = Background::start(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--no-mdns",
        "--node-id",
        "cli-test",
    ]);
    let (addr, line) = Background::banner(&served.stdout, "127.0.0.1:");
    assert!(line.contains("as cli-test"), "{line}");
    (served, addr)
}

fn call(args: &[&str]) -> std::process::Output {
    zap(&[&["call"], args].concat())
}

#[test]
fn serve_and_call_from_the_shell() {
    let (served, addr) = serve();
    let peer = addr.as_str();

    // Echo returns the message unchanged; --u32 builds a root with N at offset 0.
    let out = call(&["--peer", peer, "Echo", "--u32", "7"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "5a4150000100000010000000180000000700000000000000"
    );
    let msg = "5a415000010000421000000018000000070000000000000a";
    let out = call(&["--peer", peer, "Echo", "--data", msg, "--json"]);
    let doc = json(&out);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["response_hex"], msg);
    assert!(doc["elapsed_ms"].as_f64().is_some());

    let out = call(&["--peer", peer, "Ping", "--json"]);
    assert_eq!(
        json(&out)["response_hex"],
        "5a415000010000000000000010000000"
    );

    // Errors: exit 1, with the documented kinds.
    for (procedure, extra, kind) in [
        ("Fail", vec![], "handler_error"),
        ("NoSuchProcedure", vec![], "unknown_procedure"),
        (
            "Sleep",
            vec!["--u32", "5000", "--timeout", "100ms"],
            "deadline_exceeded",
        ),
    ] {
        let mut args = vec!["--peer", peer, procedure, "--json"];
        args.extend(extra);
        let out = call(&args);
        assert_eq!(out.status.code(), Some(1), "{procedure}: {out:?}");
        let doc = json(&out);
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["error_kind"], kind, "{doc}");
    }
    let out = call(&["--peer", peer, "Fail", "--json"]);
    assert!(
        json(&out)["error"]
            .as_str()
            .unwrap()
            .contains("requested failure")
    );

    // An unknown procedure is named as the user typed it, not by its hash.
    let out = call(&["--peer", peer, "NoSuchProcedure"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("\"NoSuchProcedure\""), "{stderr}");

    // Without --json the error goes to standard error.
    let out = call(&["--peer", peer, "Fail"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("requested failure"));

    // Bad usage is exit 2.
    assert_eq!(call(&["Echo"]).status.code(), Some(2));
    assert_eq!(
        call(&["--peer", peer, "Echo", "--data", "zz"])
            .status
            .code(),
        Some(2)
    );

    // SIGTERM stops it gracefully.
    let stopped = served.terminate_and_wait_for(|l| l.trim() == "stopped");
    assert!(stopped, "zap serve did not report a graceful stop");
}

#[test]
fn a_dead_peer_is_a_connection_error() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let peer = format!("127.0.0.1:{port}");
    let out = call(&["--peer", &peer, "Ping", "--json", "--timeout", "2s"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["error_kind"], "connection");
}
