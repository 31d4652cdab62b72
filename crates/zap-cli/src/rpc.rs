//! `zap serve` and `zap call`: native ZAP RPC from the command line over TCP, mutual
//! TLS, QUIC or a Unix socket, and the demo's `rpc`, `tls` and `quic` steps.
//!
//! mDNS stays on the loopback interface unless `--mdns-iface` names others.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use zap_discovery::ServiceType;
use zap_discovery::mdns::{Interfaces, Mdns, MdnsConfig};
use zap_rpc::{
    Client, ClientOptions, Context, Error as RpcError, ErrorKind, MessageBuf, PeerInfo, Scheme,
    Server, ServerBuilder, Status, TlsClientConfig, TlsServerConfig, TransportAddr,
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

/// Mutual TLS settings shared by `zap serve` and `zap call` (files from `zap cert`).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TlsArgs {
    /// Our certificate (PEM), for mutual TLS or QUIC.
    #[arg(long, value_name = "FILE", requires_all = ["tls_key", "ca"])]
    tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// The CA whose certificates we accept from the other side (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    ca: Option<PathBuf>,
    /// Use QUIC (UDP, a stream per call) instead of TLS over TCP; needs the TLS files.
    #[arg(long, requires = "tls_cert")]
    quic: bool,
}

impl TlsArgs {
    /// The transport the options ask for: TCP without certificates, TLS or QUIC with them.
    fn scheme(&self) -> Scheme {
        match (&self.tls_cert, self.quic) {
            (None, _) => Scheme::Tcp,
            (Some(_), false) => Scheme::Tls,
            (Some(_), true) => Scheme::Quic,
        }
    }

    fn files(&self) -> Option<(&PathBuf, &PathBuf, &PathBuf)> {
        Some((
            self.tls_cert.as_ref()?,
            self.tls_key.as_ref()?,
            self.ca.as_ref()?,
        ))
    }

    fn server(&self) -> Result<Option<TlsServerConfig>, CliError> {
        self.files()
            .map(|(c, k, ca)| TlsServerConfig::from_pem_files(c, k, ca).map_err(err))
            .transpose()
    }

    fn client(&self) -> Result<Option<TlsClientConfig>, CliError> {
        self.files()
            .map(|(c, k, ca)| TlsClientConfig::from_pem_files(c, k, ca).map_err(err))
            .transpose()
    }
}

/// A plain address (no scheme written) takes the transport the TLS options choose.
fn with_default_scheme(text: &str, addr: TransportAddr, scheme: Scheme) -> TransportAddr {
    if text.contains("://") || text.starts_with("unix:") {
        return addr;
    }
    match addr {
        TransportAddr::Tcp(a) => TransportAddr::with_scheme(scheme, a).unwrap_or(addr),
        other => other,
    }
}

/// Options of `zap serve`.
#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    /// Where to listen: `127.0.0.1:9999` (TCP; TLS or QUIC with the TLS options; port 0
    /// picks a free one), `zaps://…`, `zapq://…` or `unix:/path` (mode 0600).
    #[arg(long, value_name = "ADDR")]
    listen: TransportAddr,
    #[command(flatten)]
    tls: TlsArgs,
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
    /// Call the server at this address: `host:port` (TCP; TLS or QUIC with the TLS
    /// options), `zaps://…`, `zapq://…` or `unix:/path`. Repeat for several; calls go
    /// round robin.
    #[arg(long, value_name = "ADDR")]
    peer: Vec<String>,
    #[command(flatten)]
    tls: TlsArgs,
    /// The name the server's certificate must have. Default: the host name in --peer,
    /// else the address (the certificate then needs it as an IP SAN).
    #[arg(long, value_name = "NAME", requires = "tls_cert")]
    server_name: Option<String>,
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
    let scheme = args.tls.scheme();
    let listen = match args.listen.clone() {
        TransportAddr::Tcp(a) => {
            TransportAddr::with_scheme(scheme, a).unwrap_or(args.listen.clone())
        }
        other => other,
    };
    let mut builder = Server::builder(&args.service).listen_on(listen.clone());
    if let Some(tls) = args.tls.server()? {
        builder = if listen.scheme() == Scheme::Quic {
            builder.quic(tls)
        } else {
            builder.tls(tls)
        };
    }
    if let Some(id) = &args.node_id {
        builder = builder.node_id(id.clone());
    }
    // A Unix socket cannot be announced over mDNS.
    let no_mdns = args.no_mdns || listen.scheme() == Scheme::Unix;
    builder = if no_mdns {
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
    let mdns = if no_mdns {
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
    let mut peer: Option<PeerInfo> = None;
    let result = async {
        let client = connect(&args).await?;
        let r = client
            .call_with_timeout(args.procedure.as_str(), message, Some(args.timeout))
            .await;
        peer = client.connections().first().map(|c| c.peer().clone());
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
                let mut doc = serde_json::json!({
                    "ok": true,
                    "response_hex": hex,
                    "elapsed_ms": elapsed_ms,
                });
                if let Some(p) = &peer {
                    doc["peer"] = describe_peer(p);
                }
                println!("{doc}");
            } else {
                println!("{hex}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            let text = e.to_string();
            if args.json {
                let doc = serde_json::json!({
                    "ok": false,
                    "error_kind": e.kind().as_str(),
                    "error": text,
                    "elapsed_ms": elapsed_ms,
                });
                println!("{doc}");
                Ok(ExitCode::FAILURE)
            } else {
                Err(CliError::new(format!("{text} ({})", e.kind())))
            }
        }
    }
}

/// What `zap call --json` reports of the server: its node id, transport and, over TLS
/// and QUIC, the verified certificate identity.
fn describe_peer(p: &PeerInfo) -> serde_json::Value {
    let mut v = serde_json::json!({
        "node_id": p.node_id,
        "address": p.addr.to_string(),
        "transport": p.addr.transport(),
    });
    if let Some(tls) = p.tls() {
        v["identity"] = p.identity().into();
        v["certificate_sha256"] = tls.certificate.fingerprint_hex().into();
        v["key_exchange"] = tls.key_exchange.clone().into();
    }
    if let Some(c) = p.credentials() {
        v["uid"] = c.uid.into();
        v["pid"] = c.pid.into();
    }
    v
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
            (service.clone(), args.server_name.clone())
        }
        None => {
            let scheme = args.tls.scheme();
            let mut addrs = Vec::new();
            let mut host_names = Vec::new();
            for text in &args.peer {
                let (found, host) = TransportAddr::resolve(text)
                    .await
                    .map_err(|e| RpcError::Config(format!("--peer {text}: {e}")))?;
                host_names.extend(host);
                addrs.extend(
                    found
                        .into_iter()
                        .map(|a| with_default_scheme(text, a, scheme)),
                );
            }
            options = options.peers(addrs);
            let server_name = args.server_name.clone().or_else(|| {
                host_names.dedup();
                (host_names.len() == 1).then(|| host_names.remove(0))
            });
            (DEFAULT_SERVICE.to_string(), server_name)
        }
    };
    let (service, server_name) = service;
    if let Some(tls) = args
        .tls
        .client()
        .map_err(|e| RpcError::Config(e.to_string()))?
    {
        let tls = match server_name {
            Some(name) => tls.with_server_name(&name)?,
            None => tls,
        };
        options = if args.tls.quic {
            options.quic(tls)
        } else {
            options.tls(tls)
        };
    }
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

/// A development CA with a server and a client certificate, in memory, as TLS settings.
struct DemoPki {
    server: TlsServerConfig,
    client: TlsClientConfig,
    /// A client certificate from a CA the server does not trust.
    rogue: TlsClientConfig,
}

fn demo_pki() -> Result<DemoPki, CliError> {
    let ca = crate::cert::DevCa::new("zap demo CA", 1)?;
    let server = ca.issue("demo-server", &["127.0.0.1".to_string()], 1)?;
    let client = ca.issue("demo-client", &["spiffe://demo/client".to_string()], 1)?;
    let other = crate::cert::DevCa::new("another CA", 1)?;
    let rogue = other.issue("demo-client", &[], 1)?;
    let pem = |i: &crate::cert::Issued, ca: &str| {
        (
            i.cert_pem.clone().into_bytes(),
            i.key_pem.clone().into_bytes(),
            ca.as_bytes().to_vec(),
        )
    };
    let (c, k, a) = pem(&server, &ca.cert_pem);
    let server = TlsServerConfig::from_pem(&c, &k, &a).map_err(err)?;
    let (c, k, a) = pem(&client, &ca.cert_pem);
    let client = TlsClientConfig::from_pem(&c, &k, &a).map_err(err)?;
    // The rogue client trusts the real CA for the server, so only its own certificate is
    // wrong.
    let (c, k, _) = pem(&rogue, &other.cert_pem);
    let rogue = TlsClientConfig::from_pem(&c, &k, ca.cert_pem.as_bytes()).map_err(err)?;
    Ok(DemoPki {
        server,
        client,
        rogue,
    })
}

/// One line about both sides' verified identities.
fn identities(server_saw: &PeerInfo, client_saw: &PeerInfo) -> String {
    let kx = |p: &PeerInfo| {
        p.tls()
            .and_then(|t| t.key_exchange.clone())
            .unwrap_or_else(|| "not exposed by quinn (same rustls groups as TLS)".into())
    };
    format!(
        "server verified client {:?} (claimed node id {:?}: {:?}), client verified server {:?}; \
         key exchange {}",
        server_saw.identity(),
        server_saw.node_id,
        server_saw.node_id_status(),
        client_saw.identity(),
        kx(client_saw),
    )
}

async fn demo_secure(quic: bool) -> StepResult {
    let pki = demo_pki()?;
    let builder = Server::builder("_zapdemo._tcp")
        .node_id("demo-server")
        .no_mdns();
    let builder = if quic {
        builder.quic(pki.server)
    } else {
        builder.tls(pki.server)
    };
    let server = builtin(builder, None)
        .map_err(err)?
        .start()
        .await
        .map_err(err)?;
    let options = |tls: TlsClientConfig| {
        let o = ClientOptions::new()
            .node_id("demo-client")
            .static_peers(server.tcp_addr())
            .connect_attempts(1)
            .call_timeout(Duration::from_secs(3));
        if quic { o.quic(tls) } else { o.tls(tls) }
    };
    let client = Client::connect("_zapdemo._tcp", options(pki.client))
        .await
        .map_err(err)?;
    let t = Instant::now();
    let reply = client
        .call("Echo", MessageBuf::with_u32(7, 0))
        .await
        .map_err(err)?;
    let first = t.elapsed();
    if reply != MessageBuf::with_u32(7, 0) {
        return Err(CliError::new("Echo answered something else"));
    }
    let t = Instant::now();
    client
        .call("Ping", MessageBuf::empty())
        .await
        .map_err(err)?;
    let warm = t.elapsed();
    let server_saw = server
        .connections()
        .into_iter()
        .next()
        .ok_or_else(|| CliError::new("the server lists no connection"))?;
    let client_saw = client
        .connections()
        .first()
        .map(|c| c.peer().clone())
        .ok_or_else(|| CliError::new("the client lists no connection"))?;
    if server_saw.certificate().is_none() || client_saw.certificate().is_none() {
        return Err(CliError::new("a side saw no certificate"));
    }

    // QUIC: many calls at once, each on its own stream.
    let mut concurrency = String::new();
    if quic {
        let before = server.stats().streams;
        let t = Instant::now();
        let calls = (0..32).map(|_| client.call("Sleep", MessageBuf::with_u32(50, 0)));
        for r in futures_util::future::join_all(calls).await {
            r.map_err(err)?;
        }
        concurrency = format!(
            "; 32 concurrent 50 ms calls on {} streams of one connection in {:.0} ms",
            server.stats().streams - before,
            t.elapsed().as_secs_f64() * 1e3
        );
    }

    // A certificate from another CA gets nowhere.
    let rogue = Client::connect("_zapdemo._tcp", options(pki.rogue))
        .await
        .map_err(err)?;
    let refused = match rogue.call("Ping", MessageBuf::empty()).await {
        Err(e) if e.kind() == ErrorKind::Connection => "refused",
        Err(_) => return Err(CliError::new("the rogue client failed for another reason")),
        Ok(_) => return Err(CliError::new("a certificate from another CA was accepted")),
    };
    rogue.close();
    client.close();
    server.shutdown(Duration::from_secs(1)).await;
    Ok(format!(
        "{}; first call (with handshake) {:.1} ms, next {:.2} ms{concurrency}; a client \
         certificate from another CA: {refused}",
        identities(&server_saw, &client_saw),
        first.as_secs_f64() * 1e3,
        warm.as_secs_f64() * 1e3,
    ))
}

/// The demo's `tls` step: a call over mutual TLS with both verified identities.
pub(crate) async fn tls_demo_step() -> StepResult {
    demo_secure(false).await
}

/// The demo's `quic` step: calls over QUIC, a stream each, with both verified identities.
pub(crate) async fn quic_demo_step() -> StepResult {
    demo_secure(true).await
}
