//! `zap serve` and `zap call`: native ZAP RPC from the command line, and the demo's `rpc`
//! step.
//!
//! mDNS stays on the loopback interface unless `--mdns-iface` names others.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use zap_discovery::ServiceType;
use zap_discovery::mdns::{Interfaces, Mdns, MdnsConfig};
use zap_rpc::{
    Client, ClientOptions, Context, Error as RpcError, ErrorKind, MessageBuf, Server,
    ServerBuilder, Status,
};

use crate::demo::StepResult;
use crate::output::{CliError, err, parse_duration};

/// The service type used when none is given.
const DEFAULT_SERVICE: &str = "_zap._tcp";

fn parse_interfaces(s: &str) -> Result<Interfaces, String> {
    s.parse().map_err(|e: zap_discovery::Error| e.to_string())
}

fn parse_service_type(s: &str) -> Result<String, String> {
    ServiceType::new(s)
        .map(|t| t.as_str().to_string())
        .map_err(|e| e.to_string())
}

/// Options of `zap serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// The TCP address to listen on, e.g. `127.0.0.1:9999` (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// The service type to announce, e.g. `_echo._tcp` (a bare `name` means `_name._tcp`).
    #[arg(long = "service", value_name = "TYPE", default_value = DEFAULT_SERVICE, value_parser = parse_service_type)]
    service: String,
    /// The node id sent in handshakes and announced (1 to 60 bytes). Default: random.
    #[arg(long, value_name = "ID")]
    node_id: Option<String>,
    /// Announce over mDNS on these interfaces: `lo` (this machine only), `all`, or names.
    #[arg(long, value_name = "lo|all|NAME", default_value = "lo", value_parser = parse_interfaces, conflicts_with = "no_mdns")]
    mdns_iface: Interfaces,
    /// The mDNS UDP port.
    #[arg(long, value_name = "PORT", default_value_t = zap_discovery::mdns::MDNS_PORT)]
    mdns_port: u16,
    /// Do not announce over mDNS.
    #[arg(long)]
    no_mdns: bool,
    /// How long calls in flight may take to finish after SIGINT or SIGTERM.
    #[arg(long, value_name = "DUR", default_value = "5s", value_parser = parse_duration)]
    grace: Duration,
    /// Log each call (debug level); `RUST_LOG` overrides.
    #[arg(short, long)]
    verbose: bool,
}

/// Options of `zap call`.
#[derive(Debug, clap::Args)]
#[command(group = clap::ArgGroup::new("target").required(true).args(["peer", "service"]))]
#[command(group = clap::ArgGroup::new("body").args(["data", "u32"]))]
pub(crate) struct CallArgs {
    /// Call the server at this address (repeat for several; calls go round robin).
    #[arg(long, value_name = "ADDR")]
    peer: Vec<SocketAddr>,
    /// Find servers of this service type over mDNS.
    #[arg(long = "service", value_name = "TYPE", value_parser = parse_service_type)]
    service: Option<String>,
    /// The procedure name, e.g. `Echo`.
    procedure: String,
    /// The request: the hex of a whole ZAP message.
    #[arg(long, value_name = "HEX", value_parser = parse_message_hex)]
    data: Option<MessageBuf>,
    /// The request: a message whose root holds N as a u32 at offset 0.
    #[arg(long = "u32", value_name = "N")]
    u32: Option<u32>,
    /// Give up after this long.
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print one JSON object instead of the response hex.
    #[arg(long)]
    json: bool,
    /// The node id to present. Default: random.
    #[arg(long, value_name = "ID")]
    node_id: Option<String>,
    /// With `--service`: browse on these interfaces.
    #[arg(long, value_name = "lo|all|NAME", default_value = "lo", value_parser = parse_interfaces)]
    mdns_iface: Interfaces,
    /// With `--service`: the mDNS UDP port.
    #[arg(long, value_name = "PORT", default_value_t = zap_discovery::mdns::MDNS_PORT)]
    mdns_port: u16,
    /// With `--service`: how long to look for a server.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    discover_timeout: Duration,
}

fn parse_message_hex(s: &str) -> Result<MessageBuf, String> {
    let bytes = hex::decode(s.trim()).map_err(|e| format!("not hex: {e}"))?;
    MessageBuf::new(bytes).map_err(|e| format!("not a ZAP message: {e}"))
}

/// What the built-in `Sleep` reports, for the demo's timings.
#[derive(Debug)]
enum SleepEvent {
    Started,
    Cancelled(Instant),
}

/// A server builder with the built-in procedures:
///
/// * `Echo`: the request message, unchanged;
/// * `Ping`: an empty message;
/// * `Sleep`: sleeps for the u32 at root offset 0 in milliseconds (cancellable), then
///   answers an empty message;
/// * `Fail`: fails with `requested failure`.
fn builtin(
    builder: ServerBuilder,
    events: Option<mpsc::UnboundedSender<SleepEvent>>,
) -> Result<ServerBuilder, RpcError> {
    builder
        .register("Echo", |ctx: Context, req: MessageBuf| async move {
            tracing::debug!(peer = %ctx.peer(), len = req.len(), "Echo");
            Ok::<_, Status>(req)
        })?
        .register("Ping", |ctx: Context, _req: MessageBuf| async move {
            tracing::debug!(peer = %ctx.peer(), "Ping");
            Ok::<_, Status>(MessageBuf::empty())
        })?
        .register("Sleep", move |ctx: Context, req: MessageBuf| {
            let events = events.clone();
            async move {
                let ms = req
                    .parse()
                    .ok()
                    .and_then(|m| m.root())
                    .and_then(|r| r.u32(0).ok())
                    .ok_or_else(|| {
                        Status::handler_error("Sleep needs a u32 (milliseconds) at root offset 0")
                    })?;
                tracing::debug!(peer = %ctx.peer(), ms, "Sleep");
                let report = |e| {
                    if let Some(tx) = &events {
                        let _ = tx.send(e);
                    }
                };
                report(SleepEvent::Started);
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(u64::from(ms))) => {
                        Ok(MessageBuf::empty())
                    }
                    _ = ctx.cancelled() => {
                        report(SleepEvent::Cancelled(Instant::now()));
                        tracing::debug!(peer = %ctx.peer(), "Sleep cancelled");
                        Err(Status::cancelled("sleep cancelled"))
                    }
                }
            }
        })?
        .register("Fail", |ctx: Context, _req: MessageBuf| async move {
            tracing::debug!(peer = %ctx.peer(), "Fail");
            Err::<MessageBuf, _>(Status::handler_error("requested failure"))
        })
}

/// Logs to standard error: info by default, debug for the RPC crates with `--verbose`.
fn init_logging(verbose: bool) {
    use tracing_subscriber::EnvFilter;
    let default = if verbose {
        "info,zap_rpc=debug,zap_cli=debug"
    } else {
        "info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// `zap serve`.
pub(crate) async fn serve(args: ServeArgs) -> Result<ExitCode, CliError> {
    init_logging(args.verbose);
    let mut builder = Server::builder(&args.service).listen(args.listen);
    if let Some(id) = &args.node_id {
        builder = builder.node_id(id.clone());
    }
    builder = if args.no_mdns {
        builder.no_mdns()
    } else {
        builder.mdns(
            MdnsConfig::new()
                .with_interfaces(args.mdns_iface.clone())
                .with_port(args.mdns_port),
        )
    };
    let server = builtin(builder, None)
        .map_err(err)?
        .start()
        .await
        .map_err(err)?;
    let mdns = if args.no_mdns {
        "off".to_string()
    } else {
        format!("{} port {}", args.mdns_iface, args.mdns_port)
    };
    println!(
        "serving {} as {} on {} (procedures: {}; mDNS: {mdns})",
        server.service_type(),
        server.node_id(),
        server.local_addr(),
        server.procedures().join(", "),
    );
    let signal = wait_for_signal().await?;
    eprintln!(
        "{signal}: finishing calls in flight (up to {:?})",
        args.grace
    );
    let report = server.shutdown(args.grace).await;
    if report.drained {
        eprintln!("stopped");
    } else {
        eprintln!(
            "stopped; {} call(s) did not finish in time",
            report.abandoned
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() -> Result<&'static str, CliError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(err)?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map(|_| "SIGINT").map_err(err),
            _ = term.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(err)?;
        Ok("interrupt")
    }
}

/// `zap call`.
pub(crate) async fn call(args: CallArgs) -> Result<ExitCode, CliError> {
    let message = match (&args.data, args.u32) {
        (Some(m), _) => m.clone(),
        (None, Some(n)) => MessageBuf::with_u32(n, 0),
        (None, None) => MessageBuf::empty(),
    };
    let started = Instant::now();
    let result = async {
        let client = connect(&args).await?;
        let r = client
            .call_with_timeout(args.procedure.as_str(), message, Some(args.timeout))
            .await;
        client.close();
        r
    };
    // The whole command, discovery included, is bounded by the timeout and the
    // discovery wait.
    let result = match tokio::time::timeout(args.timeout + args.discover_timeout, result).await {
        Ok(r) => r,
        Err(_) => Err(RpcError::Timeout(started.elapsed())),
    };
    let elapsed_ms = (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
    match result {
        Ok(response) => {
            let hex = hex::encode(response.as_bytes());
            if args.json {
                let doc = serde_json::json!({
                    "ok": true,
                    "response_hex": hex,
                    "elapsed_ms": elapsed_ms,
                });
                println!("{doc}");
            } else {
                println!("{hex}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if args.json {
                let doc = serde_json::json!({
                    "ok": false,
                    "error_kind": e.kind().as_str(),
                    "error": e.to_string(),
                    "elapsed_ms": elapsed_ms,
                });
                println!("{doc}");
                Ok(ExitCode::FAILURE)
            } else {
                Err(CliError::new(format!("{} ({})", e, e.kind())))
            }
        }
    }
}

async fn connect(args: &CallArgs) -> Result<Client, RpcError> {
    let mut options = ClientOptions::new()
        .call_timeout(args.timeout)
        .discover_timeout(args.discover_timeout)
        .connect_attempts(if args.peer.len() > 1 {
            args.peer.len()
        } else {
            1
        });
    if let Some(id) = &args.node_id {
        options = options.node_id(id.clone());
    }
    let service = match &args.service {
        Some(service) => {
            options = options.mdns(
                MdnsConfig::new()
                    .with_interfaces(args.mdns_iface.clone())
                    .with_port(args.mdns_port),
            );
            service.clone()
        }
        None => {
            options = options.static_peers(args.peer.iter().copied());
            DEFAULT_SERVICE.to_string()
        }
    };
    Client::connect(&service, options).await
}

/// The demo step: two servers announced over mDNS on loopback, found by a client, then
/// round-robin calls, a broadcast, an unknown procedure and a cancelled call, with timings.
pub(crate) async fn demo_step() -> StepResult {
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .map_err(err)?;
    let mdns = MdnsConfig::new().with_port(port).without_probing();
    let service = "_zaprpcdemo._tcp";
    let (events_tx, mut events) = mpsc::unbounded_channel();

    // Browse first, so that the announcements are seen the moment they are sent.
    let browse = Mdns::new(mdns.clone())
        .and_then(|m| m.browse(&ServiceType::new(service)?))
        .map_err(err)?;
    browse
        .wait_started(Duration::from_secs(2))
        .await
        .map_err(err)?;

    let started = Instant::now();
    let mut servers = Vec::new();
    for id in ["rpc-a", "rpc-b"] {
        let builder = Server::builder(service).node_id(id).mdns(mdns.clone());
        servers.push(
            builtin(builder, Some(events_tx.clone()))
                .map_err(err)?
                .start()
                .await
                .map_err(err)?,
        );
    }
    let client = Client::connect(
        service,
        ClientOptions::new()
            .discovery(browse)
            .min_peers(2)
            .discover_timeout(Duration::from_secs(3))
            .call_timeout(Duration::from_secs(3)),
    )
    .await
    .map_err(err)?;
    let found = started.elapsed();

    // Round robin: six calls, three on each server.
    let t = Instant::now();
    for i in 0..6u32 {
        let r = client
            .call("Echo", MessageBuf::with_u32(i, 0))
            .await
            .map_err(err)?;
        if r != MessageBuf::with_u32(i, 0) {
            return Err(CliError::new("Echo answered something else"));
        }
    }
    let rr = t.elapsed();
    let spread: Vec<String> = servers
        .iter()
        .map(|s| s.stats().calls.to_string())
        .collect();

    let t = Instant::now();
    let answers = client
        .broadcast("Ping", MessageBuf::empty())
        .await
        .map_err(err)?;
    let bc = t.elapsed();
    let ok = answers.iter().filter(|(_, r)| r.is_ok()).count();

    let t = Instant::now();
    let unknown = client.call("NoSuchProcedure", MessageBuf::empty()).await;
    let unknown_ms = t.elapsed();
    match unknown {
        Err(e) if e.kind() == ErrorKind::UnknownProcedure => {}
        other => {
            return Err(CliError::new(format!(
                "expected unknown_procedure, got {other:?}"
            )));
        }
    }

    // A call the caller abandons: dropping its future cancels the handler on the server.
    let sleeper = tokio::spawn({
        let client = client.clone();
        async move { client.call("Sleep", MessageBuf::with_u32(10_000, 0)).await }
    });
    wait_event(&mut events, |e| matches!(e, SleepEvent::Started)).await?;
    let dropped = Instant::now();
    sleeper.abort();
    let stopped = match wait_event(&mut events, |e| matches!(e, SleepEvent::Cancelled(_))).await? {
        SleepEvent::Cancelled(at) => at.saturating_duration_since(dropped),
        SleepEvent::Started => Duration::ZERO,
    };

    client.close();
    for s in servers {
        s.shutdown(Duration::from_secs(1)).await;
    }
    Ok(format!(
        "found 2 servers over mDNS (lo) in {:.1} ms; 6 round-robin calls ({}) in {:.1} ms; \
         broadcast {ok}/2 ok in {:.1} ms; unknown procedure → unknown_procedure in {:.2} ms; \
         cancelled Sleep stopped on the server {:.2} ms after the caller dropped it",
        found.as_secs_f64() * 1e3,
        spread.join("+"),
        rr.as_secs_f64() * 1e3,
        bc.as_secs_f64() * 1e3,
        unknown_ms.as_secs_f64() * 1e3,
        stopped.as_secs_f64() * 1e3,
    ))
}

async fn wait_event(
    events: &mut mpsc::UnboundedReceiver<SleepEvent>,
    want: impl Fn(&SleepEvent) -> bool,
) -> Result<SleepEvent, CliError> {
    tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(e) = events.recv().await {
            if want(&e) {
                return Some(e);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or_else(|| CliError::new("the Sleep handler did not report in time"))
}
