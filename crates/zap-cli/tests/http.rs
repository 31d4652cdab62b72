//! `zap http serve` and `zap http get`, run as a user runs them: a real server process on
//! loopback, a fetch that dials the URL's own authority, a clear error for a URL without
//! one, and a graceful stop on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `zap http serve`, its address and its stderr lines.
struct Served {
    child: Child,
    addr: String,
    stderr: mpsc::Receiver<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve() -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_zap"))
        .args(["http", "serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("zap http serve starts");
    // Lines arrive on a thread so that every wait below is bounded.
    let (tx, stderr) = mpsc::channel();
    let pipe = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let banner = stderr
        .recv_timeout(Duration::from_secs(10))
        .expect("zap http serve prints where it listens");
    let addr = banner
        .split_whitespace()
        .find_map(|w| {
            w.strip_prefix("127.0.0.1:")
                .map(|p| p.trim_end_matches(':'))
        })
        .map(|port| format!("127.0.0.1:{port}"))
        .unwrap_or_else(|| panic!("no address in the banner: {banner}"));
    Served {
        child,
        addr,
        stderr,
    }
}

fn zap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zap"))
        .args(args)
        .output()
        .expect("zap runs")
}

#[test]
fn get_dials_the_urls_authority_and_serve_stops_on_sigterm() {
    let served = serve();

    let url = format!("zap://{}/health", served.addr);
    let out = zap(&["http", "get", &url, "--timeout", "5s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");

    // A bare path names nobody to dial: a clear error, exit 1, not a usage error.
    let out = zap(&["http", "get", "/health", "--timeout", "2s"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("names no host to dial"), "{stderr}");

    // --peer and --service together are a usage error.
    let out = zap(&[
        "http",
        "get",
        "/health",
        "--peer",
        &served.addr,
        "--service",
        "_web._tcp",
    ]);
    assert_eq!(out.status.code(), Some(2));

    let pid = served.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs")
            .success()
    );
    let graceful = std::iter::from_fn(|| served.stderr.recv_timeout(Duration::from_secs(10)).ok())
        .any(|l| l.starts_with("SIGTERM: finishing in-flight requests"));
    assert!(
        graceful,
        "zap http serve did not stop gracefully on SIGTERM"
    );
}
