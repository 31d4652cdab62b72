//! `zap relay`: run an openZro-compatible relay, issue its tokens, and act as a peer.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use base64::Engine as _;
use relay_cluster::fabric::{ClusterBootstrap, ClusterConfig, DEFAULT_CLUSTER_PORT, Siblings};
use relay_cluster::{
    Client, ClientConfig, Event, HmacValidator, PeerId, Server, ServerConfig, tls,
};

use crate::output::{CliError, err, ms, parse_duration};

/// Options of `zap relay`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: RelayCommand,
}

#[derive(Debug, clap::Subcommand)]
enum RelayCommand {
    /// Run a relay server (WebSocket at /relay; plus QUIC when TLS is configured).
    Serve(ServeArgs),
    /// Print a valid HMAC v2 token (standard base64) for the secret.
    Token(TokenArgs),
    /// Connect as a peer: optionally send a message, optionally wait for messages.
    Peer(PeerArgs),
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// Address for the WebSocket (TCP) and QUIC (UDP) listeners, e.g. 127.0.0.1:8080.
    #[arg(long, value_name = "ADDR")]
    listen: SocketAddr,
    /// The relay's public address, sent to peers as the instance URL (rel:// or rels://
    /// is added when missing).
    #[arg(long, value_name = "URL")]
    exposed_address: String,
    /// Secret the HMAC tokens are checked against.
    #[arg(long, value_name = "SECRET")]
    auth_secret: String,
    /// PEM certificate chain; enables TLS (wss) and QUIC.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    #[command(flatten)]
    cluster: ClusterArgs,
}

/// The cross-pod fabric: on when --cluster-headless or --cluster-peers is given.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Cluster (cross-pod fabric)")]
struct ClusterArgs {
    /// Find sibling pods through this headless Service (DNS A/AAAA records, one per pod),
    /// e.g. `relay-internal` or `relay-internal.prod.svc.cluster.local.`.
    #[arg(
        long,
        value_name = "NAME",
        conflicts_with = "cluster_peers",
        requires = "pod_ip"
    )]
    cluster_headless: Option<String>,
    /// Ask this DNS server for --cluster-headless instead of the system's (/etc/resolv.conf).
    #[arg(long, value_name = "IP:PORT", requires = "cluster_headless")]
    nameserver: Vec<SocketAddr>,
    /// How often --cluster-headless is resolved again.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration, requires = "cluster_headless")]
    cluster_refresh: Duration,
    /// The sibling pods' fabric addresses (plain VMs): ADDR,ADDR,... This pod's own address
    /// may be listed; it is skipped.
    #[arg(
        long,
        value_name = "ADDR,...",
        value_delimiter = ',',
        requires = "pod_ip"
    )]
    cluster_peers: Vec<SocketAddr>,
    /// This pod's IP, announced to siblings (Kubernetes: status.podIP).
    #[arg(long, value_name = "IP")]
    pod_ip: Option<IpAddr>,
    /// The fabric port, the same on every pod.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CLUSTER_PORT)]
    cluster_port: u16,
    /// Listen for siblings here instead of POD_IP:PORT (e.g. 0.0.0.0:7090).
    #[arg(long, value_name = "ADDR")]
    cluster_bind: Option<SocketAddr>,
    /// A cluster secret; repeat to accept several while rotating (the first is preferred).
    #[arg(long, value_name = "SECRET")]
    cluster_secret: Vec<String>,
    /// A file of cluster secrets, one per line (the first is preferred); keeps them out of
    /// the process list.
    #[arg(long, value_name = "FILE")]
    cluster_secret_file: Option<PathBuf>,
    /// Run the fabric without any secret: anyone who can reach the port joins. Explicit
    /// opt-out, logged at start.
    #[arg(long, conflicts_with_all = ["cluster_secret", "cluster_secret_file"])]
    cluster_insecure: bool,
}

impl ClusterArgs {
    fn enabled(&self) -> bool {
        self.cluster_headless.is_some() || !self.cluster_peers.is_empty()
    }

    fn secrets(&self) -> Result<Vec<String>, CliError> {
        let mut secrets = self.cluster_secret.clone();
        if let Some(path) = &self.cluster_secret_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))?;
            secrets.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(String::from),
            );
        }
        Ok(secrets)
    }

    fn config(&self) -> Result<Option<ClusterConfig>, CliError> {
        if !self.enabled() {
            return Ok(None);
        }
        let pod_ip = self
            .pod_ip
            .ok_or_else(|| CliError::new("--pod-ip is needed to join a cluster"))?;
        let siblings = match &self.cluster_headless {
            Some(name) => Siblings::Headless {
                name: name.clone(),
                nameservers: self.nameserver.clone(),
                refresh: self.cluster_refresh,
            },
            None => Siblings::Static(self.cluster_peers.clone()),
        };
        let secrets = self.secrets()?;
        if secrets.is_empty() && !self.cluster_insecure {
            return Err(CliError::new(
                "the cluster needs --cluster-secret (or --cluster-secret-file); \
                 --cluster-insecure runs it without authentication",
            ));
        }
        let mut config = ClusterConfig::new(pod_ip, siblings, "").with_port(self.cluster_port);
        config = if self.cluster_insecure {
            config.insecure_unsigned()
        } else {
            config.with_secrets(&secrets)
        };
        if let Some(bind) = self.cluster_bind {
            config = config.with_bind(bind);
        }
        Ok(Some(config))
    }
}

#[derive(Debug, clap::Args)]
struct TokenArgs {
    /// The relay's secret.
    #[arg(long, value_name = "SECRET")]
    auth_secret: String,
    /// How long the token stays valid.
    #[arg(long, value_name = "DUR", default_value = "24h", value_parser = parse_duration)]
    ttl: Duration,
}

#[derive(Debug, clap::Args)]
struct PeerArgs {
    /// The relay: rel://HOST:PORT, rels://HOST:PORT, ws(s)://HOST:PORT/PATH or quic://HOST:PORT.
    #[arg(long, value_name = "URL")]
    connect: String,
    /// This peer's identity string; its PeerID is `sha-` + SHA-256 of it, as upstream derives it.
    #[arg(long, value_name = "NAME")]
    id: String,
    /// The relay's secret (a token valid for 10 minutes is made from it).
    #[arg(long, value_name = "SECRET")]
    auth_secret: String,
    /// Send --message to the peer with this identity string, once it is online.
    #[arg(long, value_name = "NAME", requires = "message")]
    send_to: Option<String>,
    /// The text to send.
    #[arg(long, value_name = "TEXT", requires = "send_to")]
    message: Option<String>,
    /// Wait for this many Transport messages and print each.
    #[arg(long, value_name = "N", default_value_t = 0)]
    recv: usize,
    /// Give up (exit 1) when this passes before the peer is online or N messages arrived.
    #[arg(long, value_name = "DUR", default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print one JSON object per message (`from`, `text`).
    #[arg(long)]
    json: bool,
    /// PEM trust roots for rels://, wss:// and quic:// (e.g. the relay's self-signed certificate).
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
}

pub(crate) async fn run(args: Args) -> Result<ExitCode, CliError> {
    match args.command {
        RelayCommand::Serve(a) => serve(a).await,
        RelayCommand::Token(a) => {
            let token = HmacValidator::new(&a.auth_secret).issue(a.ttl);
            println!(
                "{}",
                base64::engine::general_purpose::STANDARD.encode(token)
            );
            Ok(ExitCode::SUCCESS)
        }
        RelayCommand::Peer(a) => peer(a).await,
    }
}

async fn serve(a: ServeArgs) -> Result<ExitCode, CliError> {
    let mut config = ServerConfig::new(
        a.listen,
        a.exposed_address,
        HmacValidator::new(&a.auth_secret),
    );
    if let (Some(cert), Some(key)) = (&a.tls_cert, &a.tls_key) {
        config = config.with_tls(tls::server_config_from_pem_files(cert, key).map_err(err)?);
    }
    let server = Server::new(config).map_err(err)?;
    // openZro's order: the fabric first, then the relay's listeners; on the way out the
    // fabric leaves (GOODBYE to every sibling) before the peers are closed.
    let cluster = match a.cluster.config()? {
        Some(c) => Some(
            ClusterBootstrap::start(c, server.relay())
                .await
                .map_err(|e| CliError::new(format!("cannot start the cluster fabric: {e}")))?,
        ),
        None => None,
    };
    let addrs = server.listen().await.map_err(err)?;
    let scheme = if a.tls_cert.is_some() { "wss" } else { "ws" };
    println!("relay {} listening", server.instance_url());
    println!("  websocket  {scheme}://{}/relay", addrs.websocket);
    match addrs.quic {
        Some(q) => println!("  quic       {q} (ALPN nb-quic)"),
        None => println!("  quic       off (needs --tls-cert and --tls-key)"),
    }
    match &cluster {
        Some(c) => {
            let f = c.fabric();
            let siblings = match (&a.cluster.cluster_headless, a.cluster.cluster_peers.len()) {
                (Some(name), _) => format!("headless service {name}"),
                (None, n) => format!("{n} static peers"),
            };
            println!(
                "  cluster    {} (node {}), announcing {}, siblings from {siblings}",
                f.listen_addr(),
                f.node_id(),
                f.announce_addr()
            );
        }
        None => println!("  cluster    off (needs --cluster-headless or --cluster-peers)"),
    }
    println!("press Ctrl-C to stop");
    crate::signal::shutdown().await?;
    if let Some(c) = &cluster {
        eprintln!(
            "leaving the cluster: {} links",
            c.fabric().status().links.len()
        );
        c.stop().await;
    }
    eprintln!("shutting down: closing {} peers", server.store().len());
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn peer(a: PeerArgs) -> Result<ExitCode, CliError> {
    let deadline = Instant::now() + a.timeout;
    let me = PeerId::from_identity(&a.id);
    let token = HmacValidator::new(&a.auth_secret).issue(Duration::from_secs(600));
    let mut config = ClientConfig::new(&a.connect, me, token);
    config.connect_timeout = a.timeout;
    config.handshake_timeout = a.timeout;
    if let Some(ca) = &a.ca {
        config = config.with_tls(tls::client_config_from_roots_file(ca).map_err(err)?);
    }
    let mut client = Client::connect(config)
        .await
        .map_err(|e| CliError::new(format!("cannot attach to {}: {e}", a.connect)))?;
    eprintln!("attached to {} as {me}", client.instance_url());

    let mut names: HashMap<PeerId, String> = HashMap::from([(me, a.id.clone())]);
    if let (Some(to), Some(text)) = (&a.send_to, &a.message) {
        let dst = PeerId::from_identity(to);
        names.insert(dst, to.clone());
        let left = deadline.saturating_duration_since(Instant::now());
        client
            .wait_for_peer(&dst, left)
            .await
            .map_err(|e| CliError::new(format!("peer `{to}` did not come online: {e}")))?;
        client.send(&dst, text.as_bytes()).await.map_err(err)?;
        eprintln!("sent {} bytes to {to}", text.len());
    }

    let mut received = 0;
    while received < a.recv {
        let event = match tokio::time::timeout_at(deadline.into(), client.recv()).await {
            Err(_) => {
                return Err(CliError::new(format!(
                    "timed out after {:?}: received {received} of {} messages",
                    a.timeout, a.recv
                )));
            }
            Ok(Err(e)) => return Err(CliError::new(format!("the relay connection ended: {e}"))),
            Ok(Ok(ev)) => ev,
        };
        if let Event::Transport { from, payload } = event {
            received += 1;
            let from = names
                .get(&from)
                .cloned()
                .unwrap_or_else(|| from.to_string());
            let text = String::from_utf8_lossy(&payload);
            if a.json {
                println!("{}", serde_json::json!({ "from": from, "text": text }));
            } else {
                println!("{from}: {text}");
            }
        }
    }
    client.close().await;
    Ok(ExitCode::SUCCESS)
}

/// One pod of the demo cluster: a relay and its fabric on one loopback address.
struct DemoPod {
    server: Server,
    cluster: ClusterBootstrap,
    url: String,
}

async fn demo_pod(
    ip: IpAddr,
    port: u16,
    siblings: &[SocketAddr],
    auth: &HmacValidator,
) -> Result<DemoPod, CliError> {
    let server = Server::new(ServerConfig::new(
        SocketAddr::new(ip, 0),
        "relay.demo:443",
        auth.clone(),
    ))
    .map_err(err)?;
    let config = ClusterConfig::new(ip, Siblings::Static(siblings.to_vec()), "zap-demo-cluster")
        .with_port(port)
        .with_fast_timers();
    let cluster = ClusterBootstrap::start(config, server.relay())
        .await
        .map_err(|e| CliError::new(format!("pod {ip}: {e}")))?;
    let url = format!("rel://{}", server.listen().await.map_err(err)?.websocket);
    Ok(DemoPod {
        server,
        cluster,
        url,
    })
}

/// Median of ping/pong round trips from `a` to `b` (which echoes), `n` times.
async fn round_trips(
    a: &mut Client,
    b: &mut Client,
    from: PeerId,
    to: PeerId,
    n: usize,
    within: Duration,
) -> Result<Duration, CliError> {
    let mut rtts = Vec::with_capacity(n);
    for i in 0..n {
        let msg = format!("ping {i}");
        let started = Instant::now();
        a.send(&to, msg.as_bytes()).await.map_err(err)?;
        expect_transport(b, from, msg.as_bytes(), within).await?;
        b.send(&from, msg.as_bytes()).await.map_err(err)?;
        expect_transport(a, to, msg.as_bytes(), within).await?;
        rtts.push(started.elapsed());
    }
    rtts.sort();
    Ok(rtts[n / 2])
}

/// The `relay` step of `zap demo`: three relay pods on 127.0.0.2, .3 and .4 form a
/// cluster from a static sibling list; Alice on the first pod and Bob on the third
/// exchange messages across the fabric (latency compared with two peers on one pod), a
/// forged token is refused, and Alice is told when Bob's pod leaves.
pub(crate) async fn demo_step() -> Result<String, CliError> {
    let within = Duration::from_secs(5);
    let auth = HmacValidator::new("zap-demo-relay");
    let ips: Vec<IpAddr> = [2u8, 3, 4]
        .iter()
        .map(|last| IpAddr::from([127, 0, 0, *last]))
        .collect();
    // One fabric port on every pod's address, as in Kubernetes.
    let port = std::net::TcpListener::bind((ips[0], 0))
        .and_then(|l| l.local_addr())
        .map_err(|e| CliError::new(format!("no free port on {}: {e}", ips[0])))?
        .port();
    let siblings: Vec<SocketAddr> = ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect();
    let mut pods = Vec::with_capacity(3);
    for ip in &ips {
        pods.push(demo_pod(*ip, port, &siblings, &auth).await?);
    }
    for p in &pods {
        p.cluster
            .fabric()
            .wait_until(within, |s| s.links.len() == 2)
            .await
            .map_err(|e| CliError::new(format!("the pods did not link up: {e}")))?;
    }

    let token = auth.issue(Duration::from_secs(60));
    let (alice, bob, carol) = (
        PeerId::from_identity("alice"),
        PeerId::from_identity("bob"),
        PeerId::from_identity("carol"),
    );
    let forged = HmacValidator::new("not-the-secret").issue(Duration::from_secs(60));
    if Client::connect(ClientConfig::new(&pods[0].url, alice, forged))
        .await
        .is_ok()
    {
        return Err(CliError::new("the relay admitted a forged token"));
    }
    let connect =
        |url: &str, id: PeerId| Client::connect(ClientConfig::new(url, id, token.clone()));
    let mut a = connect(&pods[0].url, alice).await.map_err(err)?;
    let mut b = connect(&pods[2].url, bob).await.map_err(err)?;
    let mut c = connect(&pods[0].url, carol).await.map_err(err)?;
    a.wait_for_peer(&bob, within).await.map_err(err)?;
    a.wait_for_peer(&carol, within).await.map_err(err)?;

    let cross = round_trips(&mut a, &mut b, alice, bob, 21, within).await?;
    let same = round_trips(&mut a, &mut c, alice, carol, 21, within).await?;

    let leaving = pods.pop().expect("three pods");
    leaving.cluster.stop().await;
    leaving.server.shutdown().await;
    loop {
        match tokio::time::timeout(within, a.recv()).await {
            Ok(Ok(Event::PeersWentOffline(ids))) if ids.contains(&bob) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(err(e)),
            Err(_) => return Err(CliError::new("alice was not told that bob's pod left")),
        }
    }
    a.close().await;
    c.close().await;
    drop(b);
    for p in pods {
        p.cluster.stop().await;
        p.server.shutdown().await;
    }
    Ok(format!(
        "3 pods on 127.0.0.2-4 linked; alice (pod .2) ⇄ bob (pod .4): cross-pod rtt p50 {} ms \
         (same-pod {} ms); forged token refused; bob's pod left, alice told",
        ms(cross),
        ms(same)
    ))
}

async fn expect_transport(
    client: &mut Client,
    from: PeerId,
    payload: &[u8],
    within: Duration,
) -> Result<(), CliError> {
    loop {
        match tokio::time::timeout(within, client.recv()).await {
            Ok(Ok(Event::Transport {
                from: f,
                payload: p,
            })) if f == from && p == payload => {
                return Ok(());
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(err(e)),
            Err(_) => return Err(CliError::new("a relayed message did not arrive")),
        }
    }
}
