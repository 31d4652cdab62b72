//! `zap`: the command that demonstrates and exercises ZAP for Rust.
//!
//! Exit codes: 0 on success, 1 on a failure that is explained on standard error,
//! 2 on bad usage (clap's own code).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// A command-line program talks to people on standard output and standard error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod cert;
mod demo;
mod discovery;
mod http;
mod inspect;
mod netrunner;
mod output;
mod relay;
mod rpc;
mod signal;
mod zwing;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// ZAP for Rust: demo, inspect and exercise the ZAP stack.
#[derive(Debug, Parser)]
#[command(name = "zap", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// One variant per subcommand; each lives in its own module.
#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole stack in-process on loopback and show each part working.
    Demo(demo::Args),
    /// Decode hex ZAP messages or node frames and report what they hold.
    Inspect(inspect::Args),
    /// Serve Echo, Ping, Sleep and Fail over native ZAP RPC until SIGINT or SIGTERM.
    Serve(rpc::ServeArgs),
    /// Call a procedure on a ZAP RPC server found by address or over mDNS.
    Call(rpc::CallArgs),
    /// A development CA and certificates for trying mutual TLS and QUIC locally.
    Cert(cert::Args),
    /// HTTP over ZAP: serve an app or a directory, or send GET/POST like curl.
    Http(http::Args),
    /// Announce a node over mDNS until interrupted, then say goodbye (loopback by default).
    Announce(discovery::AnnounceArgs),
    /// List the nodes of a service type found over mDNS (loopback by default).
    Browse(discovery::BrowseArgs),
    /// Resolve a headless service (A/AAAA) or SRV name through DNS.
    Resolve(discovery::ResolveArgs),
    /// Run an openZro-compatible relay, issue its tokens, or act as a relay peer.
    Relay(relay::Args),
    /// The netrunner control plane over Z-Wing: a server over a simulated cluster, and a
    /// client command per RPC.
    Netrunner(netrunner::Args),
    /// Generate a Z-Wing identity: FILE (secret) and FILE.pub (public half).
    Keygen(zwing::KeygenArgs),
    /// Show a Z-Wing identity file's fingerprint (SHA-256 of its public form) and key sizes.
    Keyinfo(zwing::KeyinfoArgs),
}

fn main() -> ExitCode {
    quiet_broken_pipe();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Demo(args) => runtime().and_then(|rt| rt.block_on(demo::run(args))),
        Command::Inspect(args) => inspect::run(args),
        Command::Serve(args) => runtime().and_then(|rt| rt.block_on(rpc::serve(args))),
        Command::Call(args) => runtime().and_then(|rt| rt.block_on(rpc::call(args))),
        Command::Cert(args) => cert::run(args),
        Command::Http(args) => runtime().and_then(|rt| rt.block_on(http::run(args))),
        Command::Announce(args) => runtime().and_then(|rt| rt.block_on(discovery::announce(args))),
        Command::Browse(args) => runtime().and_then(|rt| rt.block_on(discovery::browse(args))),
        Command::Resolve(args) => runtime().and_then(|rt| rt.block_on(discovery::resolve(args))),
        Command::Relay(args) => runtime().and_then(|rt| rt.block_on(relay::run(args))),
        Command::Netrunner(args) => runtime().and_then(|rt| rt.block_on(netrunner::run(args))),
        Command::Keygen(args) => zwing::keygen(args),
        Command::Keyinfo(args) => zwing::keyinfo(args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Output piped into `head` and closed early makes `println!` panic on the broken pipe.
/// A command-line tool should then just stop, as `cat` does: exit quietly. Any other
/// panic is reported as an internal error, without a backtrace.
fn quiet_broken_pipe() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.contains("Broken pipe") {
            std::process::exit(0);
        }
        eprintln!(
            "error: internal error: {msg} ({})",
            info.location().map_or_else(String::new, |l| l.to_string())
        );
        eprintln!("this is a bug in zap; please report it");
    }));
}

/// The runtime for subcommands that do network work.
fn runtime() -> Result<tokio::runtime::Runtime, output::CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| output::CliError::new(format!("cannot start the async runtime: {e}")))
}
