//! Project automation, run as `cargo xtask <task>`.
//!
//! Every task is plain Rust over `cargo` and `rustup` so that it runs the same on a
//! developer machine and on a fresh CI machine. Tasks install the tools they need
//! (pinned versions, `--locked`) when those are missing.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

/// cargo-deny release we install when it is missing; bump deliberately.
const CARGO_DENY_VERSION: &str = "0.20.2";
/// cargo-fuzz release we install when it is missing; bump deliberately.
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// cargo-hack release we install when it is missing; bump deliberately.
const CARGO_HACK_VERSION: &str = "0.6.46";
/// cargo-semver-checks release we install when it is missing; bump deliberately.
const CARGO_SEMVER_CHECKS_VERSION: &str = "0.51.0";
/// Seconds each fuzz target runs by default.
const DEFAULT_FUZZ_SECONDS: u64 = 30;

const USAGE: &str = "\
usage: cargo xtask <task> [options]

tasks:
  ci                      fmt, clippy, tests (nextest), doctests, rustdoc, examples,
                          cargo-deny, the feature powerset and the publish-readiness check
  fuzz [--seconds N] [T]  run every fuzz target (or just T) for N seconds each (default 30)
  demo [ARGS]             cargo run --release -p zap-cli -- demo ARGS
  bench [ARGS]            the zap-bench harness: every contender side by side, ratios,
                          docs/benchmarks.md (--quick: under a minute; --json: one JSON
                          object on stdout; --criterion: also every crate's criterion benches)
  publish-check           metadata and `cargo package` for every publishable crate, in
                          dependency order, without publishing
  features                cargo-hack: every crate checks with every feature combination
  semver                  cargo-semver-checks against the last release on crates.io
                          (meaningful once the crates are published)
";

type Result<T = ()> = std::result::Result<T, String>;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let Some(task) = args.first() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest = &args[1..];
    let outcome = match task.as_str() {
        "ci" => ci(),
        "fuzz" => fuzz(rest),
        "demo" => demo(rest),
        "bench" => bench(rest),
        "publish-check" => publish_check(),
        "features" => features(),
        "semver" => semver(),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(())
        }
        other => {
            eprintln!("xtask: unknown task `{other}`\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root (the parent of this crate's directory).
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

/// Runs a command to completion, failing with its description when it does not succeed.
fn run(what: &str, cmd: &mut Command) -> Result {
    println!("\n==> {what}\n    $ {}", describe(cmd));
    let started = Instant::now();
    let status = cmd
        .status()
        .map_err(|e| format!("{what}: could not start {}: {e}", describe(cmd)))?;
    let secs = started.elapsed().as_secs_f64();
    if status.success() {
        println!("<== {what}: ok in {secs:.1}s");
        Ok(())
    } else {
        Err(format!("{what} failed ({status}) after {secs:.1}s"))
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// True when `program args...` runs and prints something containing `needle`.
fn tool_reports(program: &str, args: &[&str], needle: &str) -> bool {
    Command::new(program)
        .args(args)
        .current_dir(root())
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(needle))
        .unwrap_or(false)
}

fn ci() -> Result {
    let started = Instant::now();
    run("format", cargo().args(["fmt", "--all", "--check"]))?;
    run(
        "clippy",
        cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--locked",
            "--",
            "-D",
            "warnings",
        ]),
    )?;
    tests()?;
    run(
        "rustdoc",
        cargo().env("RUSTDOCFLAGS", "-D warnings").args([
            "doc",
            "--workspace",
            "--no-deps",
            "--all-features",
            "--locked",
        ]),
    )?;
    examples()?;
    deny()?;
    features()?;
    publish_check()?;
    println!(
        "\nci: every step passed in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn tests() -> Result {
    if tool_reports("cargo", &["nextest", "--version"], "cargo-nextest") {
        run(
            "tests (nextest)",
            cargo().args([
                "nextest",
                "run",
                "--workspace",
                "--all-features",
                "--locked",
                "--no-fail-fast",
            ]),
        )?;
        run(
            "doctests",
            cargo().args(["test", "--workspace", "--all-features", "--locked", "--doc"]),
        )
    } else {
        println!("cargo-nextest is not installed: falling back to cargo test");
        run(
            "tests (cargo test, with doctests)",
            cargo().args([
                "test",
                "--workspace",
                "--all-features",
                "--locked",
                "--no-fail-fast",
            ]),
        )
    }
}

/// Builds and runs every `examples/*.rs` of every workspace crate: examples are
/// documentation, and documentation that does not run is wrong.
fn examples() -> Result {
    let meta = metadata()?;
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    for pkg in packages {
        let name = pkg["name"].as_str().unwrap_or_default().to_string();
        for target in pkg["targets"].as_array().into_iter().flatten() {
            let is_example = target["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "example"));
            if !is_example {
                continue;
            }
            let example = target["name"].as_str().unwrap_or_default();
            let features: Vec<String> = target["required-features"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect();
            // All features, like the test run, so the build is reused rather than redone
            // with another feature set; `required-features` are listed for the record.
            let mut cmd = cargo();
            cmd.args([
                "run",
                "--locked",
                "--all-features",
                "-p",
                &name,
                "--example",
                example,
            ]);
            if !features.is_empty() {
                println!("    ({name}/{example} requires: {})", features.join(", "));
            }
            run(&format!("example {name}/{example}"), &mut cmd)?;
        }
    }
    Ok(())
}

fn deny() -> Result {
    ensure_tool("deny", "cargo-deny", CARGO_DENY_VERSION)?;
    // Advisories need the advisory database from the network, which our machines lack:
    // deny.toml says so, and we check everything that works offline.
    run(
        "cargo-deny (bans, licenses, sources)",
        cargo().args([
            "deny",
            "--all-features",
            "--locked",
            "check",
            "bans",
            "licenses",
            "sources",
        ]),
    )
}

/// Installs a cargo subcommand at a pinned version unless that version is present.
fn ensure_tool(subcommand: &str, krate: &str, version: &str) -> Result {
    if tool_reports("cargo", &[subcommand, "--version"], version) {
        return Ok(());
    }
    run(
        &format!("install {krate} {version}"),
        cargo().args(["install", krate, "--version", version, "--locked"]),
    )
}

/// Every crate with features must build with each combination of them: a user picks
/// crates and features à la carte.
fn features() -> Result {
    ensure_tool("hack", "cargo-hack", CARGO_HACK_VERSION)?;
    let meta = metadata()?;
    for pkg in meta["packages"].as_array().into_iter().flatten() {
        let name = pkg["name"].as_str().unwrap_or_default();
        let has_features = pkg["features"]
            .as_object()
            .is_some_and(|f| f.keys().any(|k| k != "default"));
        if !has_features {
            continue;
        }
        run(
            &format!("feature powerset of {name}"),
            cargo().args([
                "hack",
                "check",
                "--locked",
                "--feature-powerset",
                "--depth",
                "3",
                "-p",
                name,
            ]),
        )?;
    }
    Ok(())
}

/// API compatibility against the last published release. Wired for use after the
/// first release: before it there is no baseline on crates.io to compare with.
fn semver() -> Result {
    ensure_tool(
        "semver-checks",
        "cargo-semver-checks",
        CARGO_SEMVER_CHECKS_VERSION,
    )?;
    run(
        "cargo-semver-checks",
        cargo().args(["semver-checks", "check-release", "--workspace"]),
    )
}

fn metadata() -> Result<serde_json::Value> {
    let out = cargo()
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .output()
        .map_err(|e| format!("cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("cargo metadata output: {e}"))
}

/// Every crate we publish must carry complete crates.io metadata, depend on its
/// workspace siblings by version, and package cleanly.
fn publish_check() -> Result {
    let meta = metadata()?;
    let packages = meta["packages"].as_array().cloned().unwrap_or_default();
    let workspace_names: Vec<String> = packages
        .iter()
        .filter_map(|p| p["name"].as_str().map(str::to_string))
        .collect();
    let mut problems = Vec::new();
    let mut publishable = Vec::new();
    for pkg in &packages {
        let name = pkg["name"].as_str().unwrap_or_default();
        // `publish = false` shows up as an empty registry list.
        if pkg["publish"].as_array().is_some_and(|r| r.is_empty()) {
            continue;
        }
        publishable.push(name.to_string());
        for field in [
            "description",
            "license",
            "repository",
            "readme",
            "rust_version",
        ] {
            if pkg[field].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{name}: `{field}` is missing"));
            }
        }
        for field in ["keywords", "categories"] {
            if pkg[field].as_array().is_none_or(|a| a.is_empty()) {
                problems.push(format!("{name}: `{field}` is empty"));
            }
        }
        if let Some(readme) = pkg["readme"].as_str() {
            let manifest_dir = Path::new(pkg["manifest_path"].as_str().unwrap_or_default())
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_default();
            if !manifest_dir.join(readme).exists() {
                problems.push(format!("{name}: readme `{readme}` does not exist"));
            }
        }
        for dep in pkg["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            let is_dev = dep["kind"] == "dev";
            if workspace_names.iter().any(|w| w == dep_name)
                && !is_dev
                && dep["req"].as_str().is_none_or(|r| r == "*")
            {
                problems.push(format!(
                    "{name}: dependency `{dep_name}` has no version requirement"
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(format!(
            "publish-readiness problems:\n  {}",
            problems.join("\n  ")
        ));
    }
    let order = dependency_order(&packages, &publishable)?;
    println!(
        "publishable crates, in dependency order: {}",
        order.join(" → ")
    );
    let mut cmd = cargo();
    // `--allow-dirty` so the check also runs on a working tree; CI works on a clean clone.
    cmd.args(["package", "--locked", "--allow-dirty", "--no-verify"]);
    for name in &order {
        cmd.args(["-p", name]);
    }
    run("cargo package (every publishable crate)", &mut cmd)
}

/// Orders crates so each comes after the workspace crates it depends on (the order
/// `cargo publish` must follow); a cycle is an error.
fn dependency_order(packages: &[serde_json::Value], names: &[String]) -> Result<Vec<String>> {
    let deps_of = |name: &str| -> Vec<String> {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .and_then(|p| p["dependencies"].as_array())
            .into_iter()
            .flatten()
            .filter(|d| d["kind"] != "dev")
            .filter_map(|d| d["name"].as_str())
            .filter(|d| names.iter().any(|n| n == d))
            .map(str::to_string)
            .collect()
    };
    let mut order: Vec<String> = Vec::new();
    while order.len() < names.len() {
        let ready = names
            .iter()
            .find(|n| !order.contains(n) && deps_of(n).iter().all(|d| order.contains(d)))
            .ok_or("workspace crates depend on each other in a cycle")?;
        order.push(ready.clone());
    }
    Ok(order)
}

fn fuzz(args: &[String]) -> Result {
    let mut seconds = DEFAULT_FUZZ_SECONDS;
    let mut only = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => {
                seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .ok_or("--seconds needs a whole number")?;
            }
            target => only.push(target.to_string()),
        }
    }
    ensure_tool("fuzz", "cargo-fuzz", CARGO_FUZZ_VERSION)?;
    let fuzz_dir = root().join("fuzz");
    let listing = Command::new("cargo")
        .env("RUSTUP_TOOLCHAIN", "nightly")
        .args(["fuzz", "list"])
        .current_dir(&fuzz_dir)
        .output()
        .map_err(|e| format!("cargo fuzz list: {e}"))?;
    if !listing.status.success() {
        return Err(format!(
            "cargo fuzz list failed: {}",
            String::from_utf8_lossy(&listing.stderr)
        ));
    }
    let targets: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .filter(|t| only.is_empty() || only.iter().any(|o| o == t))
        .map(str::to_string)
        .collect();
    if targets.is_empty() {
        return Err("no fuzz target matched".into());
    }
    for target in &targets {
        let corpus = fuzz_dir.join("corpus").join(target);
        std::fs::create_dir_all(&corpus).map_err(|e| format!("{}: {e}", corpus.display()))?;
        let seeds = fuzz_dir.join("seeds").join(target);
        let mut cmd = Command::new("cargo");
        cmd.env("RUSTUP_TOOLCHAIN", "nightly")
            .current_dir(&fuzz_dir)
            .args(["fuzz", "run", target])
            .arg(&corpus);
        if seeds.is_dir() {
            cmd.arg(&seeds);
        }
        cmd.arg("--").arg(format!("-max_total_time={seconds}"));
        run(&format!("fuzz {target} for {seconds}s"), &mut cmd)?;
    }
    println!(
        "\nfuzz: {} targets ran {seconds}s each without a crash",
        targets.len()
    );
    Ok(())
}

fn demo(args: &[String]) -> Result {
    run(
        "zap demo",
        cargo()
            .args([
                "run",
                "--release",
                "--locked",
                "-p",
                "zap-cli",
                "--",
                "demo",
            ])
            .args(args),
    )
}

/// Runs the zap-bench harness (every contender side by side in one run; `--quick`,
/// `--json` and its other options pass through), then, with `--criterion`, each crate's
/// criterion benches as well.
fn bench(args: &[String]) -> Result {
    let criterion = args.iter().any(|a| a == "--criterion");
    let harness_args: Vec<&String> = args.iter().filter(|a| *a != "--criterion").collect();
    let json = harness_args.iter().any(|a| *a == "--json");
    let mut cmd = cargo();
    cmd.args(["run", "--release", "--locked", "-p", "zap-bench", "--"])
        .args(&harness_args);
    if json {
        // stdout carries exactly the harness's JSON object; our notes go to stderr.
        eprintln!("==> zap-bench harness\n    $ {}", describe(&cmd));
        let status = cmd
            .status()
            .map_err(|e| format!("zap-bench: could not start {}: {e}", describe(&cmd)))?;
        if !status.success() {
            return Err(format!("zap-bench harness failed ({status})"));
        }
    } else {
        run("zap-bench harness", &mut cmd)?;
    }
    if criterion {
        run(
            "criterion benches",
            cargo().args(["bench", "--workspace", "--all-features", "--locked"]),
        )?;
    }
    Ok(())
}
