//! The WebSocket (TCP, optionally TLS) and QUIC accept loops.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::StatusCode;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info_span, warn};

use crate::conn::{TransportKind, split_ws, ws_config};
use crate::relay::Relay;

/// The HTTP path of the WebSocket endpoint.
pub const WS_PATH: &str = "/relay";

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What every accept loop shares.
#[derive(Clone)]
pub(crate) struct Accepting {
    pub(crate) relay: Relay,
    pub(crate) stop: CancellationToken,
    pub(crate) tasks: TaskTracker,
    pub(crate) handshakes: Arc<Semaphore>,
    #[cfg(feature = "tls")]
    pub(crate) tls: Option<tokio_rustls::TlsAcceptor>,
}

/// Accepts TCP connections until stopped and serves each as a WebSocket peer.
pub(crate) async fn ws_accept_loop(listener: TcpListener, ctx: Accepting) {
    loop {
        let (tcp, addr) = tokio::select! {
            () = ctx.stop.cancelled() => return,
            r = listener.accept() => match r {
                Ok(pair) => pair,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::select! {
                        () = ctx.stop.cancelled() => return,
                        () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                    }
                }
            },
        };
        let Ok(permit) = ctx.handshakes.clone().try_acquire_owned() else {
            warn!(remote = %addr, "too many handshakes in progress; connection dropped");
            metrics::counter!(crate::metrics::HANDSHAKE_REJECTS, "reason" => "overloaded")
                .increment(1);
            continue;
        };
        let span = info_span!("relay.accept", transport = "ws", remote = %addr);
        let ctx2 = ctx.clone();
        ctx.tasks.spawn(
            async move {
                let started = Instant::now();
                let upgraded = timeout(
                    ctx2.relay.config().handshake_timeout,
                    upgrade(tcp, addr, &ctx2),
                )
                .await;
                drop(permit);
                match upgraded {
                    Ok(Ok((reader, writer, remote))) => {
                        let result = ctx2
                            .relay
                            .accept(
                                reader,
                                writer,
                                Some(remote),
                                TransportKind::WebSocket,
                                started,
                            )
                            .await;
                        if let Err(e) = result {
                            debug!(error = %e, "connection refused");
                        }
                    }
                    Ok(Err(e)) => debug!(error = %e, "WebSocket upgrade failed"),
                    Err(_) => debug!("TLS or WebSocket upgrade timed out"),
                }
            }
            .instrument(span),
        );
    }
}

type Upgraded = (crate::conn::MsgReader, crate::conn::MsgWriter, SocketAddr);

async fn upgrade(tcp: TcpStream, addr: SocketAddr, ctx: &Accepting) -> Result<Upgraded, String> {
    let _ = tcp.set_nodelay(true);
    #[cfg(feature = "tls")]
    if let Some(tls) = &ctx.tls {
        let stream = tls.accept(tcp).await.map_err(|e| format!("TLS: {e}"))?;
        return ws_upgrade(stream, addr).await;
    }
    #[cfg(not(feature = "tls"))]
    let _ = ctx;
    ws_upgrade(tcp, addr).await
}

async fn ws_upgrade<S>(stream: S, addr: SocketAddr) -> Result<Upgraded, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let mut remote = addr;
    // The error type is tungstenite's; its size is not ours to choose.
    #[allow(clippy::result_large_err)]
    let callback = |req: &Request, resp: Response| -> Result<Response, ErrorResponse> {
        if req.uri().path() != WS_PATH {
            let mut err = ErrorResponse::new(Some(format!("the relay lives at {WS_PATH}\n")));
            *err.status_mut() = StatusCode::NOT_FOUND;
            return Err(err);
        }
        if let Some(real) = real_remote(req) {
            remote = real;
        }
        Ok(resp)
    };
    let ws = tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config()))
        .await
        .map_err(|e| e.to_string())?;
    let (reader, writer) = split_ws(ws);
    Ok((reader, writer, remote))
}

/// The client address a reverse proxy reports in `X-Real-Ip` and `X-Real-Port` (both
/// must be present and valid), as upstream reads it.
fn real_remote(req: &Request) -> Option<SocketAddr> {
    let h = req.headers();
    let ip: IpAddr = h.get("x-real-ip")?.to_str().ok()?.trim().parse().ok()?;
    let port: u16 = h.get("x-real-port")?.to_str().ok()?.trim().parse().ok()?;
    Some(SocketAddr::new(ip, port))
}

/// Builds the QUIC endpoint: ALPN `nb-quic`, datagrams on, upstream's initial packet size.
#[cfg(feature = "quic")]
pub(crate) fn quic_endpoint(
    tls: &rustls::ServerConfig,
    addr: SocketAddr,
    idle: Duration,
) -> crate::Result<quinn::Endpoint> {
    let mut tls = tls.clone();
    tls.alpn_protocols = vec![crate::tls::QUIC_ALPN.to_vec()];
    // QUIC needs TLS 1.3 only; the early-data limit must be 0 or u32::MAX for quinn.
    tls.max_early_data_size = 0;
    let crypto = quinn::crypto::rustls::QuicServerConfig::try_from(Arc::new(tls))
        .map_err(|e| crate::Error::Config(format!("TLS configuration unusable for QUIC: {e}")))?;
    let mut transport = quinn::TransportConfig::default();
    transport
        .datagram_receive_buffer_size(Some(1 << 20))
        .initial_mtu(1452)
        .max_idle_timeout(quinn::IdleTimeout::try_from(idle).ok());
    let mut config = quinn::ServerConfig::with_crypto(Arc::new(crypto));
    config.transport_config(Arc::new(transport));
    Ok(quinn::Endpoint::server(config, addr)?)
}

/// Accepts QUIC connections until stopped. Each handshake runs in its own task, so a
/// silent client cannot stall the accept loop (it does upstream).
#[cfg(feature = "quic")]
pub(crate) async fn quic_accept_loop(endpoint: quinn::Endpoint, ctx: Accepting) {
    loop {
        let incoming = tokio::select! {
            () = ctx.stop.cancelled() => return,
            i = endpoint.accept() => match i {
                Some(i) => i,
                None => return,
            },
        };
        let addr = incoming.remote_address();
        let Ok(permit) = ctx.handshakes.clone().try_acquire_owned() else {
            warn!(remote = %addr, "too many handshakes in progress; QUIC connection refused");
            metrics::counter!(crate::metrics::HANDSHAKE_REJECTS, "reason" => "overloaded")
                .increment(1);
            incoming.refuse();
            continue;
        };
        let span = info_span!("relay.accept", transport = "quic", remote = %addr);
        let ctx2 = ctx.clone();
        ctx.tasks.spawn(
            async move {
                let started = Instant::now();
                let connecting = match incoming.accept() {
                    Ok(c) => c,
                    Err(e) => {
                        debug!(error = %e, "QUIC accept failed");
                        return;
                    }
                };
                let conn = timeout(ctx2.relay.config().handshake_timeout, connecting).await;
                drop(permit);
                match conn {
                    Ok(Ok(conn)) => {
                        let (reader, writer) = crate::conn::split_quic(conn);
                        let result = ctx2
                            .relay
                            .accept(reader, writer, Some(addr), TransportKind::Quic, started)
                            .await;
                        if let Err(e) = result {
                            debug!(error = %e, "connection refused");
                        }
                    }
                    Ok(Err(e)) => debug!(error = %e, "QUIC handshake failed"),
                    Err(_) => debug!("QUIC handshake timed out"),
                }
            }
            .instrument(span),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_remote_needs_both_headers() {
        let req = Request::builder()
            .uri("/relay")
            .header("X-Real-Ip", "10.1.2.3")
            .header("X-Real-Port", "4567")
            .body(())
            .unwrap();
        assert_eq!(real_remote(&req), Some("10.1.2.3:4567".parse().unwrap()));
        let req = Request::builder()
            .uri("/relay")
            .header("X-Real-Ip", "10.1.2.3")
            .body(())
            .unwrap();
        assert_eq!(real_remote(&req), None);
    }
}
