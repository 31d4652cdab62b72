//! Test helpers: a private network namespace for multicast tests, free ports, a runtime.
#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use std::net::{Ipv4Addr, UdpSocket};
use std::process::Command;
use std::sync::OnceLock;

/// Set in the re-executed test process that already runs inside the namespace.
const CHILD_ENV: &str = "ZAP_DISCOVERY_IN_NETNS";
/// Set (to anything) to run multicast tests on the shared loopback even where a namespace
/// could be created.
const OPT_OUT_ENV: &str = "ZAP_DISCOVERY_NO_NETNS";

/// Whether `unshare -n` works here and `lo` can be brought up inside it.
fn netns_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        if std::env::var_os(OPT_OUT_ENV).is_some() {
            return false;
        }
        Command::new("unshare")
            .args(["-n", "--", "sh", "-c", "ip link set lo up"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    })
}

/// True inside the namespace the test was moved into.
pub fn in_netns() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Runs the test `name` (its exact libtest name) inside a fresh network namespace whose
/// only interface is `lo`, by re-executing this test binary under `unshare -n`. Where that
/// is not possible (no privilege, not Linux) `body` runs here, on the shared loopback
/// interface, which is still safe: every socket is restricted to loopback.
pub fn isolated(name: &str, body: impl FnOnce()) {
    if in_netns() || !netns_available() {
        body();
        return;
    }
    let exe = std::env::current_exe().expect("the test binary knows its path");
    let out = Command::new("unshare")
        .args([
            "-n",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(&exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .output()
        .expect("unshare ran a moment ago");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{name} failed inside its network namespace\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    // Pass on what the test printed (timings) for `--nocapture` runs.
    eprint!("{stderr}");
    // Guard against a name that matched no test: that would pass without running anything.
    assert!(
        stdout.contains("1 passed"),
        "{name} did not run inside the namespace\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
}

/// A UDP port that was free a moment ago, so parallel tests on a shared loopback do not
/// hear each other (inside a namespace any port would do).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("loopback UDP is available")
}

/// A unique service type per test, so tests on a shared loopback never see each other.
pub fn service_type(tag: &str) -> String {
    let n = std::process::id() % 10_000;
    format!("_z{tag}{n}._tcp")
}

/// A multi-threaded runtime for a synchronous test body.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
