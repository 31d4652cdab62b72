//! `zap http serve|get|post`: HTTP over ZAP from the command line, and the demo's HTTP step.
//!
//! `serve` runs a small built-in app (or a directory) over ZAP-HTTP; `get` and `post`
//! work like a small curl that speaks ZAP-HTTP, to one peer (`--peer`) or to whichever
//! peer mDNS finds for a service type (`--service`). mDNS stays on the loopback
//! interface unless `--mdns-iface` names others.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, Query};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use bytes::Bytes;
use futures_util::stream;
use http::header::{HeaderName, HeaderValue};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody};
use zap_discovery::mdns::{Announcement, Interfaces, Mdns, MdnsConfig};
use zap_discovery::{Peer, ServiceType};
use zap_http::discovery::{AuthAttacher, Bearer, DiscoveryClient};
use zap_http::{Client, Endpoint, Incoming};

use crate::demo::StepResult;
use crate::output::{CliError, err, ms, parse_duration};

/// Options of `zap http`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: HttpCommand,
}

#[derive(Debug, clap::Subcommand)]
enum HttpCommand {
    /// Serve a directory, or a small built-in app, over ZAP-HTTP until interrupted.
    Serve(ServeArgs),
    /// Send a GET over ZAP-HTTP and print the body (like curl).
    Get(FetchArgs),
    /// Send a POST over ZAP-HTTP and print the body (like curl).
    Post(FetchArgs),
}

/// Where mDNS runs, for `--service` and `--announce`.
#[derive(Debug, Clone, clap::Args)]
struct MdnsOptions {
    /// mDNS interfaces: `lo` (the default: this machine only), `all`, or names such as `eth0`.
    #[arg(long, value_name = "lo|all|NAME", default_value = "lo", value_parser = parse_interfaces)]
    mdns_iface: Interfaces,
    /// The mDNS UDP port (peers must use the same).
    #[arg(long, value_name = "PORT", default_value_t = zap_discovery::mdns::MDNS_PORT)]
    mdns_port: u16,
}

impl MdnsOptions {
    fn config(&self) -> MdnsConfig {
        MdnsConfig::new()
            .with_interfaces(self.mdns_iface.clone())
            .with_port(self.mdns_port)
    }
}

fn parse_interfaces(s: &str) -> Result<Interfaces, String> {
    s.parse().map_err(|e: zap_discovery::Error| e.to_string())
}

fn parse_service_type(s: &str) -> Result<ServiceType, String> {
    ServiceType::new(s).map_err(|e| e.to_string())
}

/// Options of `zap http serve`.
#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:9999")]
    listen: SocketAddr,
    /// Serve the files under this directory instead of the built-in app.
    #[arg(long, value_name = "PATH")]
    dir: Option<PathBuf>,
    /// Also announce the server over mDNS under this service type (e.g. `_web._tcp`).
    #[arg(long, value_name = "TYPE", value_parser = parse_service_type)]
    announce: Option<ServiceType>,
    /// The node id to announce (default: `zap-http-<port>`).
    #[arg(long, requires = "announce")]
    node_id: Option<String>,
    #[command(flatten)]
    mdns: MdnsOptions,
}

/// Options of `zap http get` and `zap http post`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").args(["peer", "service"])))]
struct FetchArgs {
    /// The URL: its authority is sent as `Host` and dialed when neither --peer nor
    /// --service is given (`zap://127.0.0.1:9999/health`; port 9999 when it names none);
    /// a bare path such as `/health` needs --peer or --service.
    url: String,
    /// Connect to this peer: `ip:port`, `host:port` or `unix:/path`.
    #[arg(long, value_name = "ADDR")]
    peer: Option<String>,
    /// Find a peer of this service type over mDNS (e.g. `_web._tcp`).
    #[arg(long, value_name = "TYPE", value_parser = parse_service_type)]
    service: Option<ServiceType>,
    /// A request header (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The request body; `@FILE` reads it from a file.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    data: Option<String>,
    /// Print the status line and headers before the body, and trailers after it.
    #[arg(short = 'i', long = "include")]
    include: bool,
    /// Print one JSON object: status, headers, body (as text), trailers.
    #[arg(long, conflicts_with = "include")]
    json: bool,
    /// With --service, send `Authorization: Bearer TOKEN` (unless -H sets one).
    #[arg(long, value_name = "TOKEN", conflicts_with = "bearer_env")]
    bearer: Option<String>,
    /// With --service, read the bearer token from this environment variable.
    #[arg(long, value_name = "VAR")]
    bearer_env: Option<String>,
    /// Give up after this long (connecting, discovery, and each wait for data).
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    timeout: Duration,
    #[command(flatten)]
    mdns: MdnsOptions,
}

pub(crate) async fn run(args: Args) -> Result<ExitCode, CliError> {
    match args.command {
        HttpCommand::Serve(a) => serve(a).await,
        HttpCommand::Get(a) => fetch(http::Method::GET, a).await,
        HttpCommand::Post(a) => fetch(http::Method::POST, a).await,
    }
}

/// The built-in app: `GET /health`, `POST /echo`, `GET /stream?n=N`.
pub(crate) fn builtin_app() -> Router {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .route(
            "/echo",
            post(|headers: HeaderMap, body: Bytes| async move {
                let mut resp = body.into_response();
                if let Some(ct) = headers.get(http::header::CONTENT_TYPE) {
                    resp.headers_mut()
                        .insert(http::header::CONTENT_TYPE, ct.clone());
                }
                resp
            }),
        )
        .route(
            "/stream",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                // Bounded, so a typo cannot ask for a stream without end.
                let n: usize = q
                    .get("n")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(10)
                    .min(100_000);
                chunks(n)
            }),
        )
        .layer(DefaultBodyLimit::max(64 << 20))
}

/// `n` chunks `chunk i\n`, then a trailer `X-Chunks: n`.
fn chunks(n: usize) -> axum::body::Body {
    let data =
        (0..n).map(|i| Ok::<_, Infallible>(Frame::data(Bytes::from(format!("chunk {i}\n")))));
    let mut trailers = HeaderMap::new();
    trailers.insert("x-chunks", HeaderValue::from(n));
    let frames = data.chain(std::iter::once(Ok(Frame::trailers(trailers))));
    axum::body::Body::new(StreamBody::new(stream::iter(frames)))
}

async fn serve(args: ServeArgs) -> Result<ExitCode, CliError> {
    let app = match &args.dir {
        Some(dir) => {
            if !dir.is_dir() {
                return Err(CliError::new(format!(
                    "{} is not a directory",
                    dir.display()
                )));
            }
            Router::new().fallback_service(tower_http::services::ServeDir::new(dir))
        }
        None => builtin_app(),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::new(format!("cannot listen on {}: {e}", args.listen)))?;
    let addr = listener.local_addr().map_err(err)?;
    let _announced = match &args.announce {
        Some(service) => {
            let mdns = Mdns::new(args.mdns.config()).map_err(err)?;
            let node_id = args
                .node_id
                .clone()
                .unwrap_or_else(|| format!("zap-http-{}", addr.port()));
            let handle = mdns
                .announce(Announcement::new(
                    service.clone(),
                    node_id.clone(),
                    addr.port(),
                ))
                .map_err(err)?;
            eprintln!(
                "announced {node_id} as {service} over mDNS ({}, port {})",
                args.mdns.mdns_iface, args.mdns.mdns_port
            );
            Some((mdns, handle))
        }
        None => None,
    };
    match &args.dir {
        Some(dir) => eprintln!("serving {} over ZAP-HTTP on {addr}", dir.display()),
        None => eprintln!(
            "serving the built-in app over ZAP-HTTP on {addr}: GET /health, POST /echo, GET /stream?n=N"
        ),
    }
    zap_http::server::Builder::new()
        .shutdown_grace(Some(Duration::from_secs(10)))
        .serve_with_shutdown(listener, app, async {
            // Unable to watch for signals, stop at once rather than run a server that only
            // a kill can end.
            match crate::signal::shutdown().await {
                Ok(signal) => eprintln!("{signal}: finishing in-flight requests"),
                Err(e) => eprintln!("{e}; stopping now"),
            }
        })
        .await
        .map_err(err)?;
    Ok(ExitCode::SUCCESS)
}

/// Sends only what the caller put in the request: chosen explicitly by running
/// `--service` without `--bearer`, and said so in the help.
struct CallerHeadersOnly;

impl AuthAttacher for CallerHeadersOnly {
    fn attach(&self, _: &mut http::HeaderMap, _: &Peer) -> Result<(), zap_http::Error> {
        Ok(())
    }
}

fn parse_header(h: &str) -> Result<(HeaderName, HeaderValue), CliError> {
    let (name, value) = h
        .split_once(':')
        .ok_or_else(|| CliError::new(format!("header {h:?} is not `Name: value`")))?;
    let name = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| CliError::new(format!("{:?} is not a header name", name.trim())))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| CliError::new(format!("the value of {name} has forbidden bytes")))?;
    Ok((name, value))
}

fn request(method: http::Method, args: &FetchArgs) -> Result<http::Request<Full<Bytes>>, CliError> {
    let body = match &args.data {
        Some(d) => match d.strip_prefix('@') {
            Some(path) => Bytes::from(
                std::fs::read(path)
                    .map_err(|e| CliError::new(format!("cannot read {path}: {e}")))?,
            ),
            None => Bytes::from(d.clone()),
        },
        None => Bytes::new(),
    };
    let uri: http::Uri = args
        .url
        .parse()
        .map_err(|e| CliError::new(format!("{:?} is not a URL: {e}", args.url)))?;
    let mut req = http::Request::builder()
        .method(method)
        .uri(uri)
        .body(Full::new(body))
        .map_err(err)?;
    for h in &args.headers {
        let (name, value) = parse_header(h)?;
        req.headers_mut().append(name, value);
    }
    Ok(req)
}

async fn fetch(method: http::Method, args: FetchArgs) -> Result<ExitCode, CliError> {
    let mut req = request(method, &args)?;
    let client = Client::builder()
        .connect_timeout(args.timeout)
        .response_head_timeout(args.timeout)
        .stream_idle_timeout(Some(args.timeout))
        .build();
    let resp = match (&args.peer, &args.service) {
        (Some(peer), _) => {
            let endpoint: Endpoint = peer.parse().map_err(err)?;
            req.extensions_mut().insert(endpoint);
            client.request(req).await.map_err(err)?
        }
        (None, Some(service)) => {
            let mdns = Mdns::new(args.mdns.config()).map_err(err)?;
            let browse = mdns.browse(service).map_err(err)?;
            let builder = DiscoveryClient::builder(browse)
                .client(client)
                .client_id("zap-cli")
                .discover_timeout(args.timeout)
                .http_timeout(Some(args.timeout));
            let builder = match (&args.bearer, &args.bearer_env) {
                (Some(token), _) => builder.auth(Bearer::new(token).map_err(err)?),
                (None, Some(var)) => builder.auth(Bearer::from_env(var).map_err(err)?),
                (None, None) => builder.auth(CallerHeadersOnly),
            };
            let dc = builder.build().await.map_err(err)?;
            let resp = dc.request(req).await.map_err(err)?;
            // The mDNS daemon must outlive the response body's stream only as long as the
            // connection does, which the body owns; discovery can stop now.
            dc.shutdown();
            resp
        }
        (None, None) => {
            if req.uri().authority().is_none() {
                return Err(CliError::new(format!(
                    "{:?} names no host to dial: give a full URL such as \
                     zap://127.0.0.1:9999/health, or --peer ADDR, or --service TYPE",
                    args.url
                )));
            }
            client.request(req).await.map_err(err)?
        }
    };
    print_response(resp, args.include, args.json).await?;
    Ok(ExitCode::SUCCESS)
}

fn pairs(map: &http::HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .map(|(n, v)| {
            (
                n.to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

async fn print_response(
    resp: http::Response<Incoming>,
    include: bool,
    json: bool,
) -> Result<(), CliError> {
    let (parts, mut body) = resp.into_parts();
    if json {
        let collected = body.collect().await.map_err(err)?;
        let trailers = collected.trailers().map(pairs).unwrap_or_default();
        let bytes = collected.to_bytes();
        let doc = serde_json::json!({
            "status": parts.status.as_u16(),
            "headers": pairs(&parts.headers),
            "body": String::from_utf8_lossy(&bytes),
            "trailers": trailers,
        });
        println!("{doc}");
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    if include {
        let reason = parts.status.canonical_reason().unwrap_or("");
        writeln!(
            out,
            "{:?} {} {reason}",
            parts.version,
            parts.status.as_u16()
        )
        .map_err(err)?;
        for (n, v) in pairs(&parts.headers) {
            writeln!(out, "{n}: {v}").map_err(err)?;
        }
        writeln!(out).map_err(err)?;
    }
    let mut trailers = None;
    while let Some(frame) = body.frame().await {
        match frame.map_err(err)?.into_data() {
            Ok(data) => {
                out.write_all(&data).map_err(err)?;
                out.flush().map_err(err)?;
            }
            Err(frame) => trailers = frame.into_trailers().ok(),
        }
    }
    if include && let Some(trailers) = trailers {
        writeln!(out).map_err(err)?;
        for (n, v) in pairs(&trailers) {
            writeln!(out, "{n}: {v}").map_err(err)?;
        }
    }
    Ok(())
}

/// The demo step: the built-in axum app served over ZAP-HTTP on loopback, announced over
/// mDNS on the loopback interface, found and called through the discovery dialer.
pub(crate) async fn demo_step() -> StepResult {
    let started = Instant::now();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(zap_http::server::Builder::new().serve_with_shutdown(
        listener,
        builtin_app(),
        async {
            let _ = stopped.await;
        },
    ));

    // A private mDNS port keeps the demo apart from anything on 5353.
    let mdns_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .map_err(err)?;
    let config = MdnsConfig::new().with_port(mdns_port).without_probing();
    let service = ServiceType::new("_zapdemohttp._tcp").map_err(err)?;
    // Browse first, so the announcement is heard as it goes out rather than found by a
    // later query.
    let browsing = Mdns::new(config.clone()).map_err(err)?;
    let browse = browsing.browse(&service).map_err(err)?;
    browse
        .wait_started(Duration::from_secs(2))
        .await
        .map_err(err)?;
    let announcing = Mdns::new(config).map_err(err)?;
    let _announced = announcing
        .announce(Announcement::new(service.clone(), "http-1", addr.port()))
        .map_err(err)?;
    let client = DiscoveryClient::builder(browse)
        .client_id("zap-demo")
        .auth(Bearer::new("demo-token").map_err(err)?)
        .discover_timeout(Duration::from_secs(5))
        .http_timeout(Some(Duration::from_secs(5)))
        .build()
        .await
        .map_err(err)?;
    let found = started.elapsed();
    let peer = client
        .peers()
        .first()
        .map(|p| p.to_string())
        .unwrap_or_default();

    let call = |req: http::Request<Full<Bytes>>| {
        let client = client.clone();
        async move {
            let resp = client.request(req).await.map_err(err)?;
            let status = resp.status();
            let collected = resp.into_body().collect().await.map_err(err)?;
            Ok::<_, CliError>((status, collected.trailers().cloned(), collected.to_bytes()))
        }
    };
    let (status, _, body) = call(
        http::Request::get("http://demo.local/health")
            .body(Full::new(Bytes::new()))
            .map_err(err)?,
    )
    .await?;
    if status != 200 || body != "ok" {
        return Err(CliError::new(format!("/health answered {status} {body:?}")));
    }
    let payload = Bytes::from_static(b"hello over ZAP-HTTP");
    let (_, _, echoed) = call(
        http::Request::post("http://demo.local/echo")
            .header("content-type", "text/plain")
            .body(Full::new(payload.clone()))
            .map_err(err)?,
    )
    .await?;
    if echoed != payload {
        return Err(CliError::new("/echo did not echo the body"));
    }
    let (_, trailers, streamed) = call(
        http::Request::get("http://demo.local/stream?n=5")
            .body(Full::new(Bytes::new()))
            .map_err(err)?,
    )
    .await?;
    let lines = streamed
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    let count = trailers
        .as_ref()
        .and_then(|t| t.get("x-chunks"))
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none")
        .to_string();
    if lines != 5 || count != "5" {
        return Err(CliError::new(format!(
            "/stream gave {lines} chunks and trailer x-chunks={count}"
        )));
    }
    client.shutdown();
    let _ = stop.send(());
    server.await.map_err(err)?.map_err(err)?;
    Ok(format!(
        "axum app served over ZAP-HTTP, found as {peer} over mDNS (lo) in {} ms; /health ok, /echo {} B, /stream 5 chunks + trailer x-chunks=5",
        ms(found),
        echoed.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Args as _, Command, FromArgMatches};

    fn parse(argv: &[&str]) -> Result<Args, clap::Error> {
        let cmd = Args::augment_args(Command::new("http"));
        let matches = cmd.try_get_matches_from(argv)?;
        Args::from_arg_matches(&matches)
    }

    #[test]
    fn fetch_takes_at_most_one_target() {
        // Without a target the URL's authority is dialed (checked when the request is built).
        assert!(parse(&["http", "get", "zap://127.0.0.1:9/health"]).is_ok());
        assert!(
            parse(&[
                "http",
                "get",
                "/health",
                "--peer",
                "127.0.0.1:1",
                "--service",
                "_a._tcp"
            ])
            .is_err()
        );
        let args = parse(&[
            "http",
            "post",
            "/echo",
            "--peer",
            "127.0.0.1:1",
            "-H",
            "a: b",
            "-d",
            "x",
            "-i",
        ])
        .unwrap();
        match args.command {
            HttpCommand::Post(f) => {
                assert_eq!(f.headers, ["a: b"]);
                assert_eq!(f.data.as_deref(), Some("x"));
                assert!(f.include);
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(parse(&["http", "get", "/", "--peer", "x:1", "-i", "--json"]).is_err());
    }

    #[test]
    fn headers_parse_or_explain() {
        let (n, v) = parse_header("X-Trace:  abc ").unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("x-trace", "abc"));
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: v").is_err());
    }

    #[tokio::test]
    async fn the_demo_step_works() {
        let detail = demo_step().await.unwrap();
        assert!(detail.contains("trailer x-chunks=5"), "{detail}");
    }
}
