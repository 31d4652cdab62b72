//! `zap netrunner`: the netrunner control plane over Z-Wing — a server in front of a
//! simulated cluster, and a client command per RPC; and the `netrunner` demo step.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use netrunner_proto::zap_zwing::{self, Identity, IdentityPublic, KeyFile, PeerPolicy};
use netrunner_proto::{
    AddNodeRequest, Client, ClientOptions, ClusterInfo, DEFAULT_ADDR, LoadSnapshotRequest,
    RestartNodeRequest, Server, SimBackend, SimConfig, StartRequest,
};

use crate::output::{CliError, err, ms, parse_duration, print_table};

/// Prints a line to standard output. A reader that went away (`| head`) ends the output
/// quietly instead of panicking the way `println!` does.
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::netrunner::write_line(format_args!($($arg)*))
    };
}

pub(crate) fn write_line(args: std::fmt::Arguments<'_>) -> bool {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .is_ok()
}

/// Options of `zap netrunner`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: NetrunnerCommand,
}

#[derive(Debug, clap::Subcommand)]
enum NetrunnerCommand {
    /// Run a control server over Z-Wing in front of a simulated cluster, until Ctrl-C.
    Server(ServerArgs),
    /// Ping the server: its process id.
    Ping(Conn),
    /// The server's protocol version.
    Version(Conn),
    /// The cluster's health.
    Health(Conn),
    /// The cluster's status; with --watch, a live stream of it.
    Status(StatusArgs),
    /// The nodes' API URIs.
    Uris(Conn),
    /// Wait until every node is healthy.
    WaitHealthy(Conn),
    /// Start a network (when none is running).
    Start(StartArgs),
    /// Add a node.
    AddNode(NameArgs),
    /// Remove a node.
    RemoveNode(NameArgs),
    /// Pause a node.
    PauseNode(NameArgs),
    /// Resume a paused node.
    ResumeNode(NameArgs),
    /// Restart a node.
    RestartNode(NameArgs),
    /// Attach a test peer to a node.
    AttachPeer(NodeArgs),
    /// Save a snapshot (this stops the network).
    SaveSnapshot(NameArgs),
    /// Load a snapshot as the running network.
    LoadSnapshot(NameArgs),
    /// Remove a snapshot.
    RemoveSnapshot(NameArgs),
    /// List the snapshots.
    Snapshots(Conn),
    /// Stop the network.
    Stop(Conn),
}

#[derive(Debug, clap::Args)]
struct ServerArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADDR)]
    listen: SocketAddr,
    /// The server's Z-Wing identity (created with FILE.pub beside it if missing).
    #[arg(long, value_name = "FILE")]
    identity: PathBuf,
    /// Nodes of the simulated cluster.
    #[arg(long, value_name = "N", default_value_t = 5)]
    sim_nodes: u32,
    /// How long a simulated node takes to turn healthy.
    #[arg(long, value_name = "DUR", default_value = "1s", value_parser = parse_duration)]
    health_delay: Duration,
    /// Accept only clients with this identity or public file (repeatable; default:
    /// any client that completes the handshake).
    #[arg(long = "allow", value_name = "FILE")]
    allow: Vec<PathBuf>,
}

/// How to reach the server.
#[derive(Debug, clap::Args)]
struct Conn {
    /// The server's address.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_ADDR)]
    connect: String,
    /// This client's Z-Wing identity; required unless --cleartext (created, with FILE.pub
    /// beside it, if missing).
    #[arg(long, value_name = "FILE", required_unless_present = "cleartext")]
    identity: Option<PathBuf>,
    /// Talk only to the server with this identity or public file.
    #[arg(long, value_name = "FILE")]
    pin: Option<PathBuf>,
    /// Plain TCP, no Z-Wing: only for today's Go zapwire servers (no authentication,
    /// no encryption).
    #[arg(long, conflicts_with_all = ["identity", "pin"])]
    cleartext: bool,
    /// Give up on the call after this long.
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
struct NameArgs {
    /// The node or snapshot name.
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Debug, clap::Args)]
struct NodeArgs {
    /// The node.
    #[arg(value_name = "NODE")]
    node: String,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Debug, clap::Args)]
struct StatusArgs {
    /// Stream the status, one update per interval, until Ctrl-C (or --count updates).
    #[arg(long, value_name = "INTERVAL", value_parser = parse_duration)]
    watch: Option<Duration>,
    /// With --watch: stop after this many updates.
    #[arg(long, value_name = "N", requires = "watch")]
    count: Option<u64>,
    #[command(flatten)]
    conn: Conn,
}

#[derive(Debug, clap::Args)]
struct StartArgs {
    /// Nodes to start (the server's default when absent).
    #[arg(long, value_name = "N")]
    nodes: Option<u32>,
    /// The node binary.
    #[arg(long, value_name = "PATH", default_value = "")]
    exec_path: String,
    #[command(flatten)]
    conn: Conn,
}

pub(crate) async fn run(args: Args) -> Result<ExitCode, CliError> {
    match args.command {
        NetrunnerCommand::Server(a) => serve(a).await,
        NetrunnerCommand::Ping(c) => {
            let client = connect(&c).await?;
            let started = Instant::now();
            let pid = client.ping().await.map_err(err)?;
            if c.json {
                say!("{}", serde_json::json!({ "pid": pid }));
            } else {
                say!("pong from pid {pid} in {} ms", ms(started.elapsed()));
            }
            Ok(ExitCode::SUCCESS)
        }
        NetrunnerCommand::Version(c) => {
            let version = connect(&c).await?.rpc_version().await.map_err(err)?;
            if c.json {
                say!("{}", serde_json::json!({ "version": version }));
            } else {
                say!("protocol version {version}");
            }
            Ok(ExitCode::SUCCESS)
        }
        NetrunnerCommand::Health(c) => {
            let info = connect(&c).await?.health().await.map_err(err)?;
            show_cluster(&info, c.json)
        }
        NetrunnerCommand::Status(a) => match a.watch {
            Some(interval) => watch(&a.conn, interval, a.count).await,
            None => {
                let info = connect(&a.conn).await?.status().await.map_err(err)?;
                show_cluster(&info, a.conn.json)
            }
        },
        NetrunnerCommand::Uris(c) => {
            let uris = connect(&c).await?.uris().await.map_err(err)?;
            if c.json {
                say!("{}", serde_json::json!({ "uris": uris }));
            } else {
                for uri in uris {
                    say!("{uri}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        NetrunnerCommand::WaitHealthy(c) => {
            let client = connect(&c).await?;
            let info = client.wait_for_healthy().await.map_err(err)?;
            show_cluster(&info, c.json)
        }
        NetrunnerCommand::Start(a) => {
            let response = connect(&a.conn)
                .await?
                .start(StartRequest {
                    exec_path: a.exec_path,
                    num_nodes: a.nodes,
                    ..StartRequest::default()
                })
                .await
                .map_err(err)?;
            show_cluster(&response.cluster_info, a.conn.json)
        }
        NetrunnerCommand::AddNode(a) => {
            let info = connect(&a.conn)
                .await?
                .add_node(AddNodeRequest::named(a.name))
                .await
                .map_err(err)?;
            show_cluster(&info, a.conn.json)
        }
        NetrunnerCommand::RemoveNode(a) => {
            let info = connect(&a.conn)
                .await?
                .remove_node(a.name)
                .await
                .map_err(err)?;
            show_cluster(&info, a.conn.json)
        }
        NetrunnerCommand::PauseNode(a) => {
            let info = connect(&a.conn)
                .await?
                .pause_node(a.name)
                .await
                .map_err(err)?;
            show_cluster(&info, a.conn.json)
        }
        NetrunnerCommand::ResumeNode(a) => {
            let info = connect(&a.conn)
                .await?
                .resume_node(a.name)
                .await
                .map_err(err)?;
            show_cluster(&info, a.conn.json)
        }
        NetrunnerCommand::RestartNode(a) => {
            let info = connect(&a.conn)
                .await?
                .restart_node(RestartNodeRequest::named(a.name))
                .await
                .map_err(err)?;
            show_cluster(&info, a.conn.json)
        }
        NetrunnerCommand::AttachPeer(a) => {
            let response = connect(&a.conn)
                .await?
                .attach_peer(&a.node)
                .await
                .map_err(err)?;
            let peer = response
                .attached_peer_info
                .map(|p| p.id)
                .unwrap_or_default();
            if a.conn.json {
                say!(
                    "{}",
                    serde_json::json!({ "attached_peer_id": peer, "cluster_info": response.cluster_info })
                );
            } else {
                say!("attached peer {peer} to {}", a.node);
            }
            Ok(ExitCode::SUCCESS)
        }
        NetrunnerCommand::SaveSnapshot(a) => {
            let path = connect(&a.conn)
                .await?
                .save_snapshot(&a.name)
                .await
                .map_err(err)?;
            if a.conn.json {
                say!("{}", serde_json::json!({ "snapshot_path": path }));
            } else {
                say!(
                    "saved snapshot {} to {path} (the network is stopped)",
                    a.name
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        NetrunnerCommand::LoadSnapshot(a) => {
            let info = connect(&a.conn)
                .await?
                .load_snapshot(LoadSnapshotRequest::named(a.name))
                .await
                .map_err(err)?;
            show_cluster(&info, a.conn.json)
        }
        NetrunnerCommand::RemoveSnapshot(a) => {
            connect(&a.conn)
                .await?
                .remove_snapshot(&a.name)
                .await
                .map_err(err)?;
            if a.conn.json {
                say!("{}", serde_json::json!({ "removed": a.name }));
            } else {
                say!("removed snapshot {}", a.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        NetrunnerCommand::Snapshots(c) => {
            let names = connect(&c).await?.get_snapshot_names().await.map_err(err)?;
            if c.json {
                say!("{}", serde_json::json!({ "snapshot_names": names }));
            } else if names.is_empty() {
                say!("no snapshots");
            } else {
                for name in names {
                    say!("{name}");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        NetrunnerCommand::Stop(c) => {
            let info = connect(&c).await?.stop().await.map_err(err)?;
            if !c.json {
                say!("stopped; the last state was:");
            }
            show_cluster(&info, c.json)
        }
    }
}

/// `FILE.pub`, where `zap keygen` also puts the public half.
fn public_path(secret: &Path) -> PathBuf {
    let mut name = secret.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Loads a secret identity file, or creates one (and its `.pub`) when none exists.
fn identity_file(path: &Path) -> Result<Arc<Identity>, CliError> {
    let shown = path.display();
    if !path.exists() {
        let identity = Identity::generate().map_err(err)?;
        identity
            .save(path)
            .map_err(|e| CliError::new(format!("cannot write {shown}: {e}")))?;
        let public = public_path(path);
        if !public.exists() {
            identity
                .public()
                .save(&public)
                .map_err(|e| CliError::new(format!("cannot write {}: {e}", public.display())))?;
        }
        eprintln!(
            "created identity {shown} (public half {}), fingerprint {}",
            public.display(),
            identity.fingerprint().short()
        );
        return Ok(Arc::new(identity));
    }
    match KeyFile::load(path).map_err(|e| CliError::new(format!("{shown}: {e}")))? {
        KeyFile::Secret(identity) => Ok(identity.into()),
        KeyFile::Public(_) => Err(CliError::new(format!(
            "{shown} holds only a public identity; --identity needs the secret file"
        ))),
    }
}

/// The public identity in an identity file, a public file or a bare public form.
fn public_file(path: &Path) -> Result<IdentityPublic, CliError> {
    KeyFile::load(path)
        .map(|k| k.public().clone())
        .map_err(|e| CliError::new(format!("{}: {e}", path.display())))
}

async fn connect(c: &Conn) -> Result<Client, CliError> {
    let options = ClientOptions::default()
        .with_call_timeout(c.timeout)
        .with_wait_for_healthy_timeout(c.timeout.max(Duration::from_secs(300)))
        .with_connect_timeout(c.timeout.min(Duration::from_secs(10)));
    if c.cleartext {
        return Client::connect_cleartext(c.connect.as_str(), options)
            .await
            .map_err(|e| CliError::new(format!("cannot connect to {}: {e}", c.connect)));
    }
    let Some(identity) = &c.identity else {
        return Err(CliError::new(
            "--identity FILE is required (or --cleartext)",
        ));
    };
    let mut config = zap_zwing::Config::new(identity_file(identity)?);
    match &c.pin {
        Some(pin) => config = config.with_expected_remote(public_file(pin)?),
        None => eprintln!("warning: no --pin: whichever server completes the handshake is trusted"),
    }
    Client::dial_with(c.connect.as_str(), &config, options)
        .await
        .map_err(|e| CliError::new(format!("cannot connect to {}: {e}", c.connect)))
}

fn show_cluster(info: &Option<ClusterInfo>, json: bool) -> Result<ExitCode, CliError> {
    if json {
        say!("{}", serde_json::to_string(info).map_err(err)?);
        return Ok(ExitCode::SUCCESS);
    }
    let Some(info) = info else {
        say!("no cluster information (the network is not running)");
        return Ok(ExitCode::SUCCESS);
    };
    say!(
        "healthy: {}   nodes: {}   network id: {}   pid: {}   data: {}",
        if info.healthy { "yes" } else { "no" },
        info.node_names.len(),
        info.network_id,
        info.pid,
        info.root_data_dir
    );
    let rows: Vec<Vec<String>> = info
        .node_infos
        .iter()
        .map(|n| {
            vec![
                n.name.clone(),
                n.uri.clone(),
                n.id.clone(),
                if n.paused { "paused" } else { "running" }.to_owned(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        print_table(&["node", "uri", "node id", "state"], &rows);
    }
    if !info.custom_chains.is_empty() {
        let rows: Vec<Vec<String>> = info
            .custom_chains
            .iter()
            .map(|c| {
                vec![
                    c.chain_name.clone(),
                    c.chain_id.clone(),
                    c.vm_name.clone(),
                    c.subnet_id.clone(),
                ]
            })
            .collect();
        print_table(&["chain", "chain id", "vm", "subnet"], &rows);
    }
    Ok(ExitCode::SUCCESS)
}

async fn watch(c: &Conn, interval: Duration, count: Option<u64>) -> Result<ExitCode, CliError> {
    let client = connect(c).await?;
    let mut stream = client.stream_status(interval).await.map_err(err)?;
    let started = Instant::now();
    let mut seen = 0u64;
    loop {
        let next = tokio::select! {
            next = stream.next() => next,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some(update) = next else {
            if !c.json {
                say!("the server ended the stream");
            }
            return Ok(ExitCode::SUCCESS);
        };
        let info = update.map_err(err)?;
        seen += 1;
        let at = format!("{:.2}", started.elapsed().as_secs_f64());
        let written = if c.json {
            say!("{}", serde_json::to_string(&info).map_err(err)?)
        } else {
            match &info {
                Some(i) => say!(
                    "+{at:>8} s  healthy: {:<3}  nodes: {:>3}  paused: {}",
                    if i.healthy { "yes" } else { "no" },
                    i.node_names.len(),
                    i.node_infos.iter().filter(|n| n.paused).count()
                ),
                None => say!("+{at:>8} s  no network running"),
            }
        };
        // Whoever read the output is gone: end the stream politely.
        if !written {
            break;
        }
        if count.is_some_and(|n| seen >= n) {
            break;
        }
    }
    stream.cancel().await.map_err(err)?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(a: ServerArgs) -> Result<ExitCode, CliError> {
    let identity = identity_file(&a.identity)?;
    let fingerprint = identity.fingerprint().to_hex();
    let mut config = zap_zwing::Config::new(identity);
    if !a.allow.is_empty() {
        let allowed = a
            .allow
            .iter()
            .map(|p| public_file(p))
            .collect::<Result<Vec<_>, _>>()?;
        config = config.with_peer_policy(PeerPolicy::Only(allowed));
    }
    let sim = SimBackend::new(
        SimConfig::default()
            .with_nodes(a.sim_nodes)
            .with_health_delay(a.health_delay),
    );
    let server = Server::bind(a.listen, config, sim)
        .await
        .map_err(|e| CliError::new(format!("cannot listen on {}: {e}", a.listen)))?;
    say!(
        "netrunner control server on {} over Z-Wing (simulated cluster of {} nodes)",
        server.local_addr(),
        a.sim_nodes
    );
    say!("identity fingerprint {fingerprint}");
    say!(
        "clients pin it with --pin {}",
        public_path(&a.identity).display()
    );
    let signal = crate::signal::shutdown().await?;
    eprintln!("{signal}: shutting down");
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// The demo step: a control server with the simulated backend, and a client over
/// Z-Wing running ping, add-node, health and stop.
pub(crate) async fn demo_step() -> Result<String, CliError> {
    let sim = SimBackend::new(
        SimConfig::default()
            .with_nodes(3)
            .with_health_delay(Duration::from_millis(50)),
    );
    let server_identity = Identity::generate().map_err(err)?;
    let pin = server_identity.public().clone();
    let server = Server::bind("127.0.0.1:0", zap_zwing::Config::new(server_identity), sim)
        .await
        .map_err(err)?;
    let client_config =
        zap_zwing::Config::new(Identity::generate().map_err(err)?).with_expected_remote(pin);
    let started = Instant::now();
    let client = Client::dial(server.local_addr(), &client_config)
        .await
        .map_err(err)?;
    let handshake = started.elapsed();
    let pid = client.ping().await.map_err(err)?;
    let added = client
        .add_node(AddNodeRequest::named("demo"))
        .await
        .map_err(err)?
        .ok_or_else(|| CliError::new("add-node returned no cluster"))?;
    let waited = Instant::now();
    client.wait_for_healthy().await.map_err(err)?;
    let healthy_after = waited.elapsed();
    let health = client
        .health()
        .await
        .map_err(err)?
        .ok_or_else(|| CliError::new("health returned no cluster"))?;
    if !health.healthy || health.node_names.len() != 4 {
        return Err(CliError::new(format!(
            "expected 4 healthy nodes, got {} (healthy: {})",
            health.node_names.len(),
            health.healthy
        )));
    }
    client.stop().await.map_err(err)?;
    let after_stop = client.status().await;
    if after_stop.is_ok() {
        return Err(CliError::new("the network still answers Status after Stop"));
    }
    server.shutdown().await;
    Ok(format!(
        "Z-Wing handshake {} ms; ping pid {pid}; add-node demo -> {} nodes; healthy after {} ms; stop",
        ms(handshake),
        added.node_names.len(),
        ms(healthy_after)
    ))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// `zap netrunner ...` as the binary parses it.
    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: NetrunnerCommand,
    }

    fn parse(line: &str) -> Result<NetrunnerCommand, clap::Error> {
        Cli::try_parse_from(std::iter::once("netrunner").chain(line.split_whitespace()))
            .map(|c| c.command)
    }

    #[test]
    fn command_lines_parse_as_documented() {
        assert!(matches!(
            parse("server --listen 127.0.0.1:9999 --identity id --sim-nodes 3"),
            Ok(NetrunnerCommand::Server(ServerArgs { sim_nodes: 3, .. }))
        ));
        assert!(matches!(
            parse("status --watch 500ms --count 2 --connect 127.0.0.1:1 --identity id --json"),
            Ok(NetrunnerCommand::Status(StatusArgs {
                watch: Some(w),
                count: Some(2),
                ..
            })) if w == Duration::from_millis(500)
        ));
        assert!(matches!(
            parse("add-node n9 --identity id --pin srv.pub"),
            Ok(NetrunnerCommand::AddNode(NameArgs { ref name, .. })) if name == "n9"
        ));
        assert!(matches!(
            parse("ping --cleartext"),
            Ok(NetrunnerCommand::Ping(_))
        ));
        // Usage errors: clap's own, exit code 2.
        for bad in [
            "ping",
            "ping --cleartext --pin srv.pub",
            "status --count 2 --identity id",
            "add-node --identity id",
        ] {
            let err = parse(bad).expect_err(bad);
            assert_eq!(err.exit_code(), 2, "{bad}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn client_commands_run_against_a_server() {
        let dir = std::env::temp_dir().join(format!("zap-netrunner-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let server_id = dir.join("server.id");
        let server_identity = identity_file(&server_id).unwrap();
        let sim = SimBackend::new(
            SimConfig::default()
                .with_nodes(2)
                .with_health_delay(Duration::from_millis(20)),
        );
        let server = Server::bind(
            "127.0.0.1:0",
            zap_zwing::Config::new(server_identity),
            sim.clone(),
        )
        .await
        .unwrap();
        let conn = format!(
            "--connect {} --identity {} --pin {}",
            server.local_addr(),
            dir.join("client.id").display(),
            public_path(&server_id).display()
        );
        for line in [
            "ping --json",
            "add-node extra",
            "status --watch 20ms --count 2",
            "save-snapshot snap",
            "load-snapshot snap",
            "stop",
        ] {
            let command = parse(&format!("{line} {conn}")).unwrap();
            let code = run(Args { command })
                .await
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(code, ExitCode::SUCCESS, "{line}");
        }
        assert!(sim.cluster_info().is_none(), "stop reached the backend");
        // A wrong pin is refused before any request.
        let wrong = format!(
            "ping --connect {} --identity {} --pin {}",
            server.local_addr(),
            dir.join("client.id").display(),
            public_path(&dir.join("client.id")).display()
        );
        assert!(
            run(Args {
                command: parse(&wrong).unwrap()
            })
            .await
            .is_err()
        );
        server.shutdown().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_step_works() {
        let detail = demo_step().await.unwrap();
        assert!(detail.contains("4 nodes"), "{detail}");
    }
}
