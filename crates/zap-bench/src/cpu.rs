//! CPU time per side, read from `/proc` for the threads each side runs on.
//!
//! Throughput on a two-CPU machine is bounded by whichever side runs out of CPU first, or
//! by wake-ups when neither does; CPU time per call tells the two apart, and it moves far
//! less with machine load than calls per second do.

use std::sync::Mutex;

use serde::Serialize;

use crate::alloc::Side;

/// The threads of each side (client, server).
#[derive(Debug, Default)]
pub(crate) struct Threads {
    sides: [Mutex<Vec<u32>>; 2],
}

/// CPU time per call on each side, in microseconds (user and system time together).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CpuPerCall {
    /// On the client's threads.
    pub client_us: f64,
    /// On the server's threads.
    pub server_us: f64,
}

/// The calling thread's id, from `/proc/thread-self` (`<pid>/task/<tid>`).
fn current_tid() -> Option<u32> {
    let link = std::fs::read_link("/proc/thread-self").ok()?;
    link.file_name()?.to_str()?.parse().ok()
}

/// Nanoseconds a thread of this process has run: the scheduler's exact figure when the
/// kernel keeps it, else user + system time in clock ticks (USER_HZ is 100 on Linux).
fn thread_cpu_ns(tid: u32) -> Option<u64> {
    if let Ok(s) = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        && let Some(ns) = s
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
        && ns > 0
    {
        return Some(ns);
    }
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    ticks_ns(&stat)
}

/// utime + stime (fields 14 and 15) of a `stat` line, in nanoseconds. The command name
/// (field 2) may hold spaces, so fields are counted after its closing parenthesis.
fn ticks_ns(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some((utime + stime) * 10_000_000)
}

impl Threads {
    /// Records the calling thread as one of `side`'s.
    pub(crate) fn register(&self, side: Side) {
        let i = match side {
            Side::Client => 0,
            Side::Server => 1,
            Side::Other => return,
        };
        if let (Some(tid), Ok(mut v)) = (current_tid(), self.sides[i].lock()) {
            v.push(tid);
        }
    }

    /// CPU nanoseconds used so far by `side`'s threads, when `/proc` tells.
    pub(crate) fn cpu_ns(&self, side: Side) -> Option<u64> {
        let i = match side {
            Side::Client => 0,
            Side::Server => 1,
            Side::Other => return None,
        };
        let tids = self.sides[i].lock().ok()?.clone();
        if tids.is_empty() {
            return None;
        }
        tids.into_iter().map(thread_cpu_ns).sum()
    }

    /// Both sides at once.
    pub(crate) fn snapshot(&self) -> Option<(u64, u64)> {
        Some((self.cpu_ns(Side::Client)?, self.cpu_ns(Side::Server)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_after_a_command_with_spaces() {
        let line = "42 (zap bench) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 1 0";
        assert_eq!(ticks_ns(line), Some(325 * 10_000_000));
        assert_eq!(ticks_ns("garbage"), None);
    }

    #[test]
    fn this_thread_is_found_and_counts_time() {
        let t = Threads::default();
        t.register(Side::Client);
        let before = t.cpu_ns(Side::Client);
        if before.is_none() {
            // No /proc (not Linux): nothing to check.
            return;
        }
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < std::time::Duration::from_millis(30) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        std::hint::black_box(x);
        assert!(t.cpu_ns(Side::Client) > before);
        assert_eq!(t.cpu_ns(Side::Server), None);
    }
}
