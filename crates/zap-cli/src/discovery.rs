//! `zap announce`, `zap browse` and `zap resolve`: service discovery from the command line.
//!
//! mDNS stays on the loopback interface unless `--mdns-iface` names others, so trying
//! these commands never announces anything to the network by accident.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;
use zap_discovery::dns::{DnsConfig, DnsDiscovery, DnsQuery};
use zap_discovery::mdns::{Announcement, Interfaces, Mdns, MdnsConfig};
use zap_discovery::{Discovery, Metadata, Peer, PeerEvent, ServiceType, parse_metadata_arg};

use crate::demo::StepResult;
use crate::output::{CliError, err, ms, parse_duration, print_table};

/// Where mDNS runs.
#[derive(Debug, clap::Args)]
pub(crate) struct MdnsArgs {
    /// Interfaces to use: `lo` (the default: this machine only), `all`, or names such as
    /// `eth0,wlan0`.
    #[arg(long, value_name = "lo|all|NAME", default_value = "lo", value_parser = parse_interfaces)]
    mdns_iface: Interfaces,
    /// The mDNS UDP port (peers must use the same).
    #[arg(long, value_name = "PORT", default_value_t = zap_discovery::mdns::MDNS_PORT)]
    mdns_port: u16,
}

fn parse_interfaces(s: &str) -> Result<Interfaces, String> {
    s.parse().map_err(|e: zap_discovery::Error| e.to_string())
}

fn parse_meta(s: &str) -> Result<(String, String), String> {
    parse_metadata_arg(s).map_err(|e| e.to_string())
}

fn parse_service_type(s: &str) -> Result<ServiceType, String> {
    ServiceType::new(s).map_err(|e| e.to_string())
}

/// Options of `zap announce`.
#[derive(Debug, clap::Args)]
pub(crate) struct AnnounceArgs {
    /// The service type, e.g. `_luxd._tcp` (a bare `name` means `_name._tcp`).
    #[arg(value_parser = parse_service_type)]
    service_type: ServiceType,
    /// The node id to announce (instance name and TXT `id=`).
    #[arg(long)]
    node_id: String,
    /// The port the node listens on.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// A metadata entry for the TXT record (repeatable).
    #[arg(long = "meta", value_name = "KEY=VALUE", value_parser = parse_meta)]
    meta: Vec<(String, String)>,
    /// Announce at once, without probing for a name conflict first.
    #[arg(long)]
    no_probe: bool,
    #[command(flatten)]
    mdns: MdnsArgs,
}

/// Options of `zap browse`.
#[derive(Debug, clap::Args)]
pub(crate) struct BrowseArgs {
    /// The service type, e.g. `_luxd._tcp`.
    #[arg(value_parser = parse_service_type)]
    service_type: ServiceType,
    /// How long to listen.
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    timeout: Duration,
    /// Stop as soon as this many peers are seen.
    #[arg(long, value_name = "N")]
    expect: Option<usize>,
    /// Print a JSON array of `{node_id, address, metadata}` objects.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    mdns: MdnsArgs,
}

/// Options of `zap resolve`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("kind").required(true).args(["port", "srv"])))]
pub(crate) struct ResolveArgs {
    /// The DNS name: a headless service (with `--port`) or an SRV name such as
    /// `_zap._tcp.relay.ns.svc.cluster.local.` (with `--srv`).
    name: String,
    /// Look up A/AAAA records; every address listens on this port.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    port: Option<u16>,
    /// Look up SRV records, then each target's addresses.
    #[arg(long)]
    srv: bool,
    /// Ask this server instead of the system's resolvers (repeatable).
    #[arg(long, value_name = "IP:PORT")]
    nameserver: Vec<SocketAddr>,
    /// How long one query may take.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print a JSON array of `{node_id, address, metadata}` objects.
    #[arg(long)]
    json: bool,
}

/// One peer as `--json` prints it.
#[derive(Debug, Serialize)]
struct PeerJson<'a> {
    node_id: Option<&'a str>,
    address: String,
    metadata: &'a Metadata,
}

fn print_json(peers: &[Peer]) -> Result<(), CliError> {
    let rows: Vec<PeerJson<'_>> = peers
        .iter()
        .map(|p| PeerJson {
            node_id: p.node_id(),
            address: p.addr().to_string(),
            metadata: p.metadata(),
        })
        .collect();
    println!("{}", serde_json::to_string(&rows).map_err(err)?);
    Ok(())
}

/// Text from the network, with control characters escaped so that a hostile announcement
/// cannot drive the terminal.
fn printable(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

fn metadata_text(m: &Metadata) -> String {
    m.iter()
        .map(|(k, v)| format!("{}={}", printable(k), printable(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn age_text(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

fn mdns_config(args: &MdnsArgs) -> MdnsConfig {
    MdnsConfig::new()
        .with_interfaces(args.mdns_iface.clone())
        .with_port(args.mdns_port)
}

/// `zap announce`: announces until SIGINT or SIGTERM, then says goodbye.
pub(crate) async fn announce(args: AnnounceArgs) -> Result<ExitCode, CliError> {
    let mut config = mdns_config(&args.mdns);
    if args.no_probe {
        config = config.without_probing();
    }
    let mdns = Mdns::new(config).map_err(err)?;
    let announcement =
        Announcement::new(args.service_type.clone(), args.node_id.clone(), args.port)
            .with_metadata(args.meta.into_iter().collect());
    let announcer = mdns.announce(announcement).map_err(err)?;
    eprintln!(
        "announcing {} as {} on port {} via {} (mDNS port {}); Ctrl-C to stop",
        announcer.fullname(),
        args.node_id,
        args.port,
        args.mdns.mdns_iface,
        args.mdns.mdns_port
    );
    let signal = crate::signal::shutdown().await?;
    announcer.withdraw().await.map_err(err)?;
    eprintln!("{signal}: goodbye sent, {} withdrawn", args.node_id);
    Ok(ExitCode::SUCCESS)
}

/// `zap browse`: lists the peers seen within the timeout (none is not an error).
pub(crate) async fn browse(args: BrowseArgs) -> Result<ExitCode, CliError> {
    let mdns = Mdns::new(mdns_config(&args.mdns)).map_err(err)?;
    let discovery = mdns.browse(&args.service_type).map_err(err)?;
    let mut changes = discovery.subscribe();
    let deadline = tokio::time::Instant::now() + args.timeout;
    let enough = |n: usize| args.expect.is_some_and(|want| n >= want);
    while !enough(discovery.peer_count()) {
        match tokio::time::timeout_at(deadline, changes.recv()).await {
            Ok(Some(_)) => continue,
            Ok(None) => break,
            Err(_) => break,
        }
    }
    if let Some(e) = discovery.last_error() {
        eprintln!("warning: {e}");
    }
    let peers = discovery.peers();
    discovery.stop();
    if args.json {
        return print_json(&peers).map(|()| ExitCode::SUCCESS);
    }
    if peers.is_empty() {
        eprintln!(
            "no {} peers seen within {:?} on {}",
            args.service_type, args.timeout, args.mdns.mdns_iface
        );
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                printable(p.node_id().unwrap_or("-")),
                p.addr().to_string(),
                metadata_text(p.metadata()),
                age_text(p.age()),
            ]
        })
        .collect();
    print_table(&["node id", "address", "metadata", "age"], &rows);
    Ok(ExitCode::SUCCESS)
}

/// `zap resolve`: one DNS resolution of a headless service or SRV name.
pub(crate) async fn resolve(args: ResolveArgs) -> Result<ExitCode, CliError> {
    let query = match args.port {
        Some(port) => DnsQuery::host(args.name.clone(), port),
        None => DnsQuery::srv(args.name.clone()),
    };
    let mut config = DnsConfig::new(query).with_timeout(args.timeout, 1);
    for ns in &args.nameserver {
        config = config.with_nameserver(*ns);
    }
    let mut peers = DnsDiscovery::resolve(config).await.map_err(err)?;
    peers.sort_by(|a, b| a.key().cmp(b.key()));
    if args.json {
        return print_json(&peers).map(|()| ExitCode::SUCCESS);
    }
    if peers.is_empty() {
        eprintln!("{}: no records (NXDOMAIN or no addresses)", args.name);
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                p.addr().to_string(),
                printable(p.meta("dns.target").unwrap_or("-")),
                p.meta("dns.priority").unwrap_or("-").to_string(),
                p.meta("dns.weight").unwrap_or("-").to_string(),
            ]
        })
        .collect();
    print_table(&["address", "target", "priority", "weight"], &rows);
    Ok(ExitCode::SUCCESS)
}

/// The demo step: two services announced on loopback, found, and one leaving.
pub(crate) async fn demo_step() -> StepResult {
    // A private port keeps the demo apart from anything on 5353.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .map_err(err)?;
    let config = MdnsConfig::new().with_port(port).without_probing();
    let service = ServiceType::new("_zapdemo._tcp").map_err(err)?;
    let browsing = Mdns::new(config.clone()).map_err(err)?;
    let browse = browsing.browse(&service).map_err(err)?;
    browse
        .wait_started(Duration::from_secs(2))
        .await
        .map_err(err)?;
    let mut changes = browse.subscribe();

    let announcing = Mdns::new(config).map_err(err)?;
    let started = Instant::now();
    let alpha = announcing
        .announce(Announcement::new(service.clone(), "alpha", 9001).with_meta("role", "api"))
        .map_err(err)?;
    let _beta = announcing
        .announce(Announcement::new(service.clone(), "beta", 9002))
        .map_err(err)?;
    let found = changes
        .wait_for_peers(2, Duration::from_secs(2))
        .await
        .map_err(err)?;
    let seen = started.elapsed();
    if found.get("alpha").and_then(|p| p.meta("role")) != Some("api") {
        return Err(CliError::new("alpha was found without its metadata"));
    }

    let leaving = Instant::now();
    alpha.withdraw().await.map_err(err)?;
    let gone = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match changes.recv().await {
                Some(PeerEvent::Removed(p)) if p.key() == "alpha" => return true,
                Some(_) => continue,
                None => return false,
            }
        }
    })
    .await;
    if gone != Ok(true) {
        return Err(CliError::new("alpha's goodbye was not seen within 2 s"));
    }
    Ok(format!(
        "alpha and beta seen {} ms after announcing; alpha's goodbye seen in {} ms (mDNS on lo, port {port})",
        ms(seen),
        ms(leaving.elapsed())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args, Command, FromArgMatches};

    fn cli() -> Command {
        Command::new("zap")
            .subcommand(AnnounceArgs::augment_args(Command::new("announce")))
            .subcommand(BrowseArgs::augment_args(Command::new("browse")))
            .subcommand(ResolveArgs::augment_args(Command::new("resolve")))
    }

    #[test]
    fn network_text_is_made_printable() {
        assert_eq!(printable("a\u{1b}[2Jb\n"), "a\\u{1b}[2Jb\\n");
        assert_eq!(printable("héllo"), "héllo");
    }

    #[test]
    fn arguments_are_consistent() {
        cli().debug_assert();
    }

    #[test]
    fn mdns_defaults_to_loopback() {
        let m = cli().get_matches_from(["zap", "browse", "_luxd._tcp"]);
        let (_, sub) = m.subcommand().unwrap();
        let args = BrowseArgs::from_arg_matches(sub).unwrap();
        assert_eq!(args.mdns.mdns_iface, Interfaces::Loopback);
        assert_eq!(args.mdns.mdns_port, 5353);
        assert_eq!(args.timeout, Duration::from_secs(3));
    }

    #[test]
    fn announce_reads_metadata_and_refuses_port_zero() {
        let m = cli().get_matches_from([
            "zap",
            "announce",
            "_luxd._tcp",
            "--node-id",
            "n1",
            "--port",
            "9000",
            "--meta",
            "role=api",
            "--mdns-iface",
            "all",
        ]);
        let (_, sub) = m.subcommand().unwrap();
        let args = AnnounceArgs::from_arg_matches(sub).unwrap();
        assert_eq!(args.meta, [("role".to_string(), "api".to_string())]);
        assert_eq!(args.mdns.mdns_iface, Interfaces::All);
        let bad = cli().try_get_matches_from([
            "zap",
            "announce",
            "_luxd._tcp",
            "--node-id",
            "n1",
            "--port",
            "0",
        ]);
        assert!(bad.is_err());
    }

    #[test]
    fn resolve_needs_port_or_srv() {
        assert!(
            cli()
                .try_get_matches_from(["zap", "resolve", "svc."])
                .is_err()
        );
        assert!(
            cli()
                .try_get_matches_from(["zap", "resolve", "svc.", "--port", "1", "--srv"])
                .is_err()
        );
        assert!(
            cli()
                .try_get_matches_from(["zap", "resolve", "_a._tcp.svc.", "--srv"])
                .is_ok()
        );
    }
}
