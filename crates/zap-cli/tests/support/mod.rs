//! What the command-line tests share: running `zap` to completion, and running it in the
//! background with its output lines arriving on channels, so that every wait is bounded.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The longest any test waits for one line of a background `zap`.
pub const WAIT: Duration = Duration::from_secs(10);

/// Runs `zap ARGS` to completion.
pub fn zap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zap"))
        .args(args)
        .output()
        .expect("zap runs")
}

/// The one JSON object `zap ... --json` printed.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// A `zap` running in the background; killed when dropped.
pub struct Background {
    /// The process.
    pub child: Child,
    /// Its standard output, a line at a time.
    pub stdout: mpsc::Receiver<String>,
    /// Its standard error, a line at a time.
    pub stderr: mpsc::Receiver<String>,
}

impl Background {
    /// Starts `zap ARGS` with both outputs read on threads of their own.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_zap"))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("zap starts");
        let stdout = lines(child.stdout.take().expect("stdout"));
        let stderr = lines(child.stderr.take().expect("stderr"));
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// The first line on `rx` (a server's banner) and its first word starting with
    /// `prefix` (the address it listens on), any trailing `:` removed.
    pub fn banner(rx: &mpsc::Receiver<String>, prefix: &str) -> (String, String) {
        let line = rx.recv_timeout(WAIT).expect("zap prints where it listens");
        let addr = line
            .split_whitespace()
            .find(|w| w.starts_with(prefix))
            .map(|w| w.trim_end_matches(':').to_string())
            .unwrap_or_else(|| panic!("no {prefix} address in {line:?}"));
        (addr, line)
    }

    /// Sends SIGTERM and tells whether a line on standard error then satisfies `done`
    /// within the wait.
    pub fn terminate_and_wait_for(&self, done: impl Fn(&str) -> bool) -> bool {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill -TERM {pid} failed");
        std::iter::from_fn(|| self.stderr.recv_timeout(WAIT).ok()).any(|l| done(&l))
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn lines(pipe: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}
