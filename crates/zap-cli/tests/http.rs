//! `zap http serve` and `zap http get`, run as a user runs them: a real server process on
//! loopback, a fetch that dials the URL's own authority, a clear error for a URL without
//! one, and a graceful stop on SIGTERM.

mod support;

use support::{Background, zap};

fn serve() -> (Background, String) {
    let served = Background::start(&["http", "serve", "--listen", "127.0.0.1:0"]);
    let (addr, _) = Background::banner(&served.stderr, "127.0.0.1:");
    (served, addr)
}

#[test]
fn get_dials_the_urls_authority_and_serve_stops_on_sigterm() {
    let (served, addr) = serve();

    let url = format!("zap://{addr}/health");
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
        &addr,
        "--service",
        "_web._tcp",
    ]);
    assert_eq!(out.status.code(), Some(2));

    let graceful =
        served.terminate_and_wait_for(|l| l.starts_with("SIGTERM: finishing in-flight requests"));
    assert!(
        graceful,
        "zap http serve did not stop gracefully on SIGTERM"
    );
}
