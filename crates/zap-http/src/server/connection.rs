//! One server connection: read a request frame, call the service, write the response,
//! until the peer leaves, a limit is hit, or the server shuts down.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures_util::FutureExt;
use http::{Method, Request, Response, StatusCode, header};
use http_body::Body;
use metrics::{Key, Label, Metadata};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tower::{Service, ServiceExt};
use tracing::Instrument;

use super::respond::{reject, write_response, write_status};
use super::{Config, RemoteAddr};
use crate::body::Incoming;
use crate::conn::Conn;
use crate::error::{BoxError, Error};
use crate::timer::Elapsed;
use crate::wire::{DecodedRequest, WireError, decode_request};

/// What every request of one connection learns about it.
#[derive(Clone)]
struct ConnInfo<A> {
    addr: A,
    #[cfg(feature = "tls")]
    certs: Option<super::PeerCertificates>,
}

/// Runs one accepted connection to its end (after the TLS handshake, if configured).
pub(super) async fn run<IO, A, S, B>(
    io: IO,
    addr: A,
    service: S,
    cfg: Arc<Config>,
    stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    A: Clone + Send + Sync + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    #[cfg(feature = "tls")]
    if let Some(acceptor) = cfg.tls.clone() {
        let tls = match tokio::time::timeout(cfg.tls_handshake_timeout, acceptor.accept(io)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => {
                metrics::counter!("zap_http_server_tls_failures_total").increment(1);
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                metrics::counter!("zap_http_server_tls_failures_total").increment(1);
                tracing::debug!("TLS handshake timed out");
                return;
            }
        };
        let certs =
            tls.get_ref().1.peer_certificates().map(|c| {
                super::PeerCertificates(c.iter().map(|c| c.clone().into_owned()).collect())
            });
        let info = ConnInfo { addr, certs };
        return serve(
            Conn::new(tls, cfg.encode.max_frame),
            info,
            service,
            cfg,
            stop,
        )
        .await;
    }
    let info = ConnInfo {
        addr,
        #[cfg(feature = "tls")]
        certs: None,
    };
    serve(
        Conn::new(io, cfg.encode.max_frame),
        info,
        service,
        cfg,
        stop,
    )
    .await;
}

async fn serve<IO, A, S, B>(
    mut conn: Conn<IO>,
    info: ConnInfo<A>,
    service: S,
    cfg: Arc<Config>,
    stop: watch::Receiver<bool>,
) where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    A: Clone + Send + Sync + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    // One wait for the shutdown signal serves the whole connection: a new one per
    // request would join and leave the signal's waiter list (under its lock) each time.
    let mut signal = stop.clone();
    let mut stopping = std::pin::pin!(signal.changed());
    loop {
        // Between requests: wait for a first byte, the idle timeout, or shutdown.
        if conn.buffered() == 0 {
            if *stop.borrow() {
                break;
            }
            // Bytes first: they are what wakes the task almost every time, and a request
            // that already arrived is served (the signal is checked again after it).
            tokio::select! {
                biased;
                r = conn.fill_within(cfg.idle_timeout) => match r {
                    Err(Elapsed) => {
                        tracing::debug!("idle timeout; closing");
                        break;
                    }
                    Ok(Ok(0)) => break,
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::debug!(error = %e, "read failed");
                        break;
                    }
                },
                _ = &mut stopping => break,
            }
        }
        let message = match conn.read_frame_within(cfg.frame_read_timeout).await {
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) => break,
            Ok(Err(Error::Wire(e))) => {
                reject(&mut conn, &e, &cfg).await;
                break;
            }
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "read failed");
                break;
            }
            Err(Elapsed) => {
                tracing::debug!("request frame not complete within the frame read timeout");
                break;
            }
        };
        let decoded = match decode_request(message, &cfg.limits) {
            Ok(d) => d,
            Err(e) => {
                reject(&mut conn, &e, &cfg).await;
                break;
            }
        };
        let span = tracing::debug_span!(
            "zap_http.exchange",
            method = %decoded.request.method(),
            uri = %decoded.request.uri(),
        );
        let keep = exchange(&mut conn, decoded, service.clone(), &info, &cfg)
            .instrument(span)
            .await;
        if !keep || *stop.borrow() {
            break;
        }
    }
    let _ = tokio::time::timeout(cfg.write_timeout, conn.shutdown()).await;
}

/// Serves one request; false when the connection must close afterwards.
async fn exchange<IO, A, S, B>(
    conn: &mut Conn<IO>,
    decoded: DecodedRequest,
    service: S,
    info: &ConnInfo<A>,
    cfg: &Config,
) -> bool
where
    IO: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    A: Clone + Send + Sync + 'static,
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let started = Instant::now();
    let DecodedRequest { request, trailers } = decoded;
    let (mut parts, body) = request.into_parts();
    let head_only = parts.method == Method::HEAD;
    if parts.method == Method::CONNECT || parts.headers.contains_key(header::UPGRADE) {
        return finish(
            Box::pin(write_status(
                conn,
                StatusCode::NOT_IMPLEMENTED,
                "upgrades and CONNECT are not supported over ZAP-HTTP",
                cfg,
            ))
            .await,
            StatusCode::NOT_IMPLEMENTED,
            started,
        );
    }
    parts.extensions.insert(RemoteAddr(info.addr.clone()));
    #[cfg(feature = "axum")]
    if let Some(addr) = (&info.addr as &dyn Any).downcast_ref::<std::net::SocketAddr>() {
        parts.extensions.insert(axum::extract::ConnectInfo(*addr));
    }
    #[cfg(feature = "tls")]
    if let Some(certs) = &info.certs {
        parts.extensions.insert(certs.clone());
    }
    let request = Request::from_parts(parts, Incoming::full(body, trailers));

    let call = AssertUnwindSafe(service.oneshot(request)).catch_unwind();
    // The outcome is settled inside the select, so nothing of the service's error type
    // (which need not be Send) lives across a later await.
    // Biased towards the call: a handler that is ready at once costs no read of the socket.
    let response: Option<Response<B>> = tokio::select! {
        biased;
        r = call => settle::<B, S::Error>(r),
        () = conn.closed() => {
            tracing::debug!("the client left; the handler was cancelled");
            metrics::counter!("zap_http_server_cancelled_total").increment(1);
            return false;
        }
    };
    match response {
        Some(response) => {
            let status = response.status();
            finish(
                write_response(conn, response, head_only, cfg).await,
                status,
                started,
            )
        }
        None => {
            let status = StatusCode::INTERNAL_SERVER_ERROR;
            let written = Box::pin(write_status(conn, status, "", cfg)).await;
            finish(written, status, started)
        }
    }
}

/// The response of a call, or `None` (answered with 500) when the service failed or
/// panicked.
fn settle<B, E: Into<BoxError>>(
    outcome: Result<Result<Response<B>, E>, Box<dyn Any + Send>>,
) -> Option<Response<B>> {
    match outcome {
        Ok(Ok(response)) => Some(response),
        Ok(Err(e)) => {
            let e: BoxError = e.into();
            tracing::warn!(error = %e, "service failed");
            None
        }
        Err(panic) => {
            tracing::error!(panic = panic_text(&*panic), "handler panicked");
            metrics::counter!("zap_http_server_panics_total").increment(1);
            None
        }
    }
}

/// Where the per-request metrics come from, as the `metrics` macros would say.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// `zap_http_server_requests_total`, one key per status class. The keys are built once:
/// the `metrics` macros build a label vector on every call, recorder or not.
static REQUESTS: [Key; 5] = {
    const NAME: &str = "zap_http_server_requests_total";
    static CLASSES: [[Label; 1]; 5] = [
        [Label::from_static_parts("status", "1xx")],
        [Label::from_static_parts("status", "2xx")],
        [Label::from_static_parts("status", "3xx")],
        [Label::from_static_parts("status", "4xx")],
        [Label::from_static_parts("status", "5xx")],
    ];
    [
        Key::from_static_parts(NAME, &CLASSES[0]),
        Key::from_static_parts(NAME, &CLASSES[1]),
        Key::from_static_parts(NAME, &CLASSES[2]),
        Key::from_static_parts(NAME, &CLASSES[3]),
        Key::from_static_parts(NAME, &CLASSES[4]),
    ]
};

/// `zap_http_server_request_duration_seconds`.
static DURATION: Key = Key::from_static_name("zap_http_server_request_duration_seconds");

fn finish(written: Result<(), Error>, status: StatusCode, started: Instant) -> bool {
    let class = match status.as_u16() {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    };
    metrics::with_recorder(|r| {
        r.register_counter(&REQUESTS[class], &METADATA).increment(1);
        r.register_histogram(&DURATION, &METADATA)
            .record(started.elapsed().as_secs_f64());
    });
    match written {
        Ok(()) => true,
        Err(e) => {
            tracing::debug!(error = %e, "response not completed; closing");
            false
        }
    }
}

fn panic_text(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(not a string)")
}

/// The status a rejected request frame gets.
pub(super) fn status_for(e: &WireError) -> StatusCode {
    match e {
        WireError::FrameTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        WireError::TooManyHeaders { .. } | WireError::HeadersTooLarge { .. } => {
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        }
        _ => StatusCode::BAD_REQUEST,
    }
}
