//! The machine a run happened on, recorded next to its figures.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::config::{Config, Pinning};

/// What the machine was and how busy it was.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// CPUs this process may use.
    pub cores: usize,
    /// The CPU's model name (`/proc/cpuinfo`).
    pub cpu_model: String,
    /// True when the CPU reports running under a hypervisor.
    pub virtualized: bool,
    /// Operating system and kernel release.
    pub kernel: String,
    /// 1, 5 and 15-minute load averages when the run started.
    pub load_before: Option<[f64; 3]>,
    /// The same when it ended.
    pub load_after: Option<[f64; 3]>,
    /// True when the 1-minute load at the start exceeded the CPU count: figures from a
    /// busy machine are noisier (their ratios remain comparable, being measured together).
    pub busy: bool,
    /// The compiler that built the harness, when `rustc` can be asked.
    pub rustc: String,
    /// `release` or `debug`.
    pub profile: String,
    /// Thread placement (`none`, `split`, `same`).
    pub pinning: String,
    /// The runtime layout every contender ran in.
    pub runtime: String,
    /// When the run started (UTC, `YYYY-MM-DD HH:MM`).
    pub date_utc: String,
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// The three load averages of `/proc/loadavg`.
pub(crate) fn load() -> Option<[f64; 3]> {
    parse_load(&read("/proc/loadavg")?)
}

fn parse_load(text: &str) -> Option<[f64; 3]> {
    let mut it = text.split_whitespace().map(|w| w.parse::<f64>().ok());
    Some([it.next()??, it.next()??, it.next()??])
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

fn rustc() -> String {
    std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Days since 1970-01-01 to a civil date (proleptic Gregorian), after H. Hinnant.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn now_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = civil(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

impl Machine {
    /// Describes this machine now, for a run with `cfg`.
    pub fn describe(cfg: &Config) -> Self {
        let cpuinfo = read("/proc/cpuinfo").unwrap_or_default();
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let load_before = load();
        let kernel = read("/proc/sys/kernel/osrelease")
            .map(|k| format!("{} {}", std::env::consts::OS, k.trim()))
            .unwrap_or_else(|| std::env::consts::OS.to_string());
        let runtime = if cfg.workers == 0 {
            "one tokio current-thread runtime per side, client and server on two threads of one process".to_string()
        } else {
            format!(
                "one tokio multi-thread runtime of {} workers per side, in one process",
                cfg.workers
            )
        };
        Self {
            cores,
            cpu_model: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown".into()),
            virtualized: cpuinfo
                .lines()
                .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor")),
            kernel,
            load_before,
            load_after: None,
            busy: load_before.is_some_and(|l| l[0] > cores as f64),
            rustc: rustc(),
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
            .into(),
            pinning: match cfg.pinning {
                Pinning::None => "none (the scheduler places both threads)".into(),
                Pinning::Split => "client on CPU 0, server on CPU 1".into(),
                Pinning::Same => "client and server both on CPU 0".into(),
            },
            runtime,
            date_utc: now_utc(),
        }
    }

    /// One line for people: cores, CPU, kernel, load.
    pub fn summary(&self) -> String {
        let load = |l: Option<[f64; 3]>| {
            l.map_or("?".into(), |l| {
                format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])
            })
        };
        format!(
            "{} CPU{} ({}{}), {}, load {} at start / {} at end, {}, {} build, pinning: {}",
            self.cores,
            if self.cores == 1 { "" } else { "s" },
            self.cpu_model,
            if self.virtualized {
                ", virtualized"
            } else {
                ""
            },
            self.kernel,
            load(self.load_before),
            load(self.load_after),
            self.rustc,
            self.profile,
            self.pinning,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(11_016), (2000, 2, 29));
        assert_eq!(civil(20_416), (2025, 11, 24));
    }

    #[test]
    fn parses_proc_files() {
        assert_eq!(
            parse_load("0.52 1.25 2.00 2/345 6789\n"),
            Some([0.52, 1.25, 2.0])
        );
        assert_eq!(parse_load("garbage"), None);
        let info = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nflags\t: fpu hypervisor\n";
        assert_eq!(cpu_model(info).as_deref(), Some("AMD EPYC 7B13"));
    }
}
