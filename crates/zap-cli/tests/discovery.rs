//! `zap announce`, `zap browse` and `zap resolve` as a user runs them: real processes, real
//! mDNS on the loopback interface (private port), real signals.

use std::io::Read;
use std::net::UdpSocket;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

fn zap() -> Command {
    Command::new(env!("CARGO_BIN_EXE_zap"))
}

fn free_port() -> String {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port().to_string())
        .expect("loopback UDP")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("zap runs")
}

/// Sends `signal` to the child and waits (at most 5 s) for it to exit.
fn stop(mut child: Child, signal: &str) -> (std::process::ExitStatus, String) {
    let pid = child.id().to_string();
    let sent = Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill runs");
    assert!(sent.success());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        let _ = tx.send((child.wait(), stderr));
    });
    match rx.recv_timeout(Duration::from_secs(5)) {
        Ok((status, stderr)) => (status.expect("wait"), stderr),
        Err(_) => {
            let _ = Command::new("kill").args(["-KILL", &pid]).status();
            panic!("zap announce did not exit after {signal}");
        }
    }
}

fn announce(port: &str, node: &str, listen: &str, extra: &[&str]) -> Child {
    zap()
        .args([
            "announce",
            "_zapcli._tcp",
            "--node-id",
            node,
            "--port",
            listen,
        ])
        .args(["--mdns-port", port, "--no-probe"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zap announce starts")
}

#[test]
fn announce_then_browse_then_goodbye() {
    let port = free_port();
    let a = announce(&port, "cli-a", "9001", &["--meta", "role=api"]);
    let b = announce(&port, "cli-b", "9002", &[]);

    let out = run(zap().args([
        "browse",
        "_zapcli._tcp",
        "--mdns-port",
        &port,
        "--json",
        "--expect",
        "2",
        "--timeout",
        "5s",
    ]));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peers: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON array");
    let peers = peers.as_array().expect("an array");
    assert_eq!(peers.len(), 2, "{peers:?}");
    assert_eq!(peers[0]["node_id"], "cli-a");
    assert_eq!(peers[0]["address"], "127.0.0.1:9001");
    assert_eq!(peers[0]["metadata"]["role"], "api");
    assert_eq!(peers[1]["node_id"], "cli-b");

    let (status, stderr) = stop(a, "-INT");
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("goodbye sent"), "{stderr}");
    let (status, stderr) = stop(b, "-TERM");
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("goodbye sent"), "{stderr}");

    // Both said goodbye: a browse finds nobody, and that is not an error.
    let out = run(zap().args([
        "browse",
        "_zapcli._tcp",
        "--mdns-port",
        &port,
        "--timeout",
        "300ms",
        "--json",
    ]));
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
}

#[test]
fn bad_usage_and_bad_input_exit_with_the_documented_codes() {
    let out = run(zap().args(["announce", "_zapcli._tcp", "--node-id", "x", "--port", "0"]));
    assert_eq!(out.status.code(), Some(2), "port 0 is a usage error");
    let out = run(zap().args(["browse", "_not valid._tcp"]));
    assert_eq!(out.status.code(), Some(2));
    let out = run(zap().args(["resolve", "svc.example."]));
    assert_eq!(out.status.code(), Some(2), "--port or --srv is required");
    let out = run(zap().args(["browse", "_zapcli._tcp", "--mdns-iface", "no-such-if0"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-if0"));
    // A name server that does not answer: the error names the lookup, exit 1.
    let out = run(zap().args([
        "resolve",
        "svc.example.",
        "--port",
        "1",
        "--nameserver",
        "127.0.0.1:9",
        "--timeout",
        "200ms",
    ]));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("svc.example."));
}
