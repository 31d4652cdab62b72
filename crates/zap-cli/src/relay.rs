//! `zap relay`: run an openZro-compatible relay, issue its tokens, and act as a peer.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use base64::Engine as _;
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
    let addrs = server.listen().await.map_err(err)?;
    let scheme = if a.tls_cert.is_some() { "wss" } else { "ws" };
    println!("relay {} listening", server.instance_url());
    println!("  websocket  {scheme}://{}/relay", addrs.websocket);
    match addrs.quic {
        Some(q) => println!("  quic       {q} (ALPN nb-quic)"),
        None => println!("  quic       off (needs --tls-cert and --tls-key)"),
    }
    println!("press Ctrl-C to stop");
    wait_for_signal().await?;
    eprintln!("shutting down: closing {} peers", server.store().len());
    server.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

async fn wait_for_signal() -> Result<(), CliError> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .map_err(|e| CliError::new(format!("cannot watch for SIGTERM: {e}")))?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map_err(|e| CliError::new(format!("cannot watch for Ctrl-C: {e}"))),
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| CliError::new(format!("cannot watch for Ctrl-C: {e}")))
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

/// The `relay` step of `zap demo`: a relay on 127.0.0.1 and two peers exchanging a message
/// each way, with presence and token checks.
pub(crate) async fn demo_step() -> Result<String, CliError> {
    let within = Duration::from_secs(5);
    let auth = HmacValidator::new("zap-demo-relay");
    let server = Server::new(ServerConfig::new(
        "127.0.0.1:0".parse().map_err(err)?,
        "relay.demo:443",
        auth.clone(),
    ))
    .map_err(err)?;
    let url = format!("rel://{}", server.listen().await.map_err(err)?.websocket);
    let token = auth.issue(Duration::from_secs(60));
    let (alice, bob) = (PeerId::from_identity("alice"), PeerId::from_identity("bob"));

    // A forged token must be refused before anything else.
    let forged = HmacValidator::new("not-the-secret").issue(Duration::from_secs(60));
    if Client::connect(ClientConfig::new(&url, alice, forged))
        .await
        .is_ok()
    {
        return Err(CliError::new("the relay admitted a forged token"));
    }
    let mut a = Client::connect(ClientConfig::new(&url, alice, token.clone()))
        .await
        .map_err(err)?;
    let mut b = Client::connect(ClientConfig::new(&url, bob, token))
        .await
        .map_err(err)?;
    a.wait_for_peer(&bob, within).await.map_err(err)?;

    let started = Instant::now();
    a.send(&bob, b"ping").await.map_err(err)?;
    expect_transport(&mut b, alice, b"ping", within).await?;
    b.send(&alice, b"pong").await.map_err(err)?;
    expect_transport(&mut a, bob, b"pong", within).await?;
    let rtt = started.elapsed();
    b.close().await;
    loop {
        match tokio::time::timeout(within, a.recv()).await {
            Ok(Ok(Event::PeersWentOffline(ids))) if ids.contains(&bob) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(err(e)),
            Err(_) => return Err(CliError::new("alice was not told that bob left")),
        }
    }
    a.close().await;
    server.shutdown().await;
    Ok(format!(
        "alice⇄bob via {url}: ping/pong in {} ms, forged token refused, offline seen",
        ms(rtt)
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
