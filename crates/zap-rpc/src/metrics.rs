//! Metric names, recorded through the `metrics` facade (a no-op until the application
//! installs a recorder). Names and labels are stable.
//!
//! | name | kind | labels |
//! |---|---|---|
//! | `zap_rpc_client_calls_total` | counter | `procedure`, `outcome` (`ok` or an error kind) |
//! | `zap_rpc_client_call_duration_seconds` | histogram | `procedure` |
//! | `zap_rpc_client_connects_total` | counter | `outcome` (`ok`, `error`) |
//! | `zap_rpc_server_calls_total` | counter | `procedure`, `outcome` (`ok` or an error code) |
//! | `zap_rpc_server_call_duration_seconds` | histogram | `procedure` |
//! | `zap_rpc_server_connections` | gauge | |
//! | `zap_rpc_server_connections_rejected_total` | counter | `reason` |
//! | `zap_rpc_server_errors_unsent_total` | counter | `code`: errors a Go peer could not be told |
//! | `zap_rpc_server_handler_panics_total` | counter | `procedure` |
//! | `zap_rpc_server_streams_total` | counter | | QUIC streams accepted (one per call or send) |

use std::time::Duration;

/// Client calls by procedure and outcome.
pub const CLIENT_CALLS: &str = "zap_rpc_client_calls_total";
/// Client call latency by procedure.
pub const CLIENT_CALL_DURATION: &str = "zap_rpc_client_call_duration_seconds";
/// Client connection attempts by outcome.
pub const CLIENT_CONNECTS: &str = "zap_rpc_client_connects_total";
/// Calls served by procedure and outcome.
pub const SERVER_CALLS: &str = "zap_rpc_server_calls_total";
/// Handler latency by procedure.
pub const SERVER_CALL_DURATION: &str = "zap_rpc_server_call_duration_seconds";
/// Open server connections.
pub const SERVER_CONNECTIONS: &str = "zap_rpc_server_connections";
/// Connections refused (limit reached, handshake failed).
pub const SERVER_CONNECTIONS_REJECTED: &str = "zap_rpc_server_connections_rejected_total";
/// Failures that could not be reported because the peer speaks the Go wire.
pub const SERVER_ERRORS_UNSENT: &str = "zap_rpc_server_errors_unsent_total";
/// Handler panics by procedure.
pub const SERVER_HANDLER_PANICS: &str = "zap_rpc_server_handler_panics_total";
/// QUIC streams accepted by servers (one per call or send).
pub const SERVER_STREAMS: &str = "zap_rpc_server_streams_total";

pub(crate) fn client_call(procedure: &str, outcome: &'static str, elapsed: Duration) {
    metrics::counter!(CLIENT_CALLS, "procedure" => procedure.to_string(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(CLIENT_CALL_DURATION, "procedure" => procedure.to_string())
        .record(elapsed.as_secs_f64());
}

pub(crate) fn client_connect(ok: bool) {
    metrics::counter!(CLIENT_CONNECTS, "outcome" => if ok { "ok" } else { "error" }).increment(1);
}

pub(crate) fn server_call(procedure: &str, outcome: &'static str, elapsed: Duration) {
    metrics::counter!(SERVER_CALLS, "procedure" => procedure.to_string(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(SERVER_CALL_DURATION, "procedure" => procedure.to_string())
        .record(elapsed.as_secs_f64());
}

pub(crate) fn server_connections(delta: f64) {
    metrics::gauge!(SERVER_CONNECTIONS).increment(delta);
}

pub(crate) fn server_connection_rejected(reason: &'static str) {
    metrics::counter!(SERVER_CONNECTIONS_REJECTED, "reason" => reason).increment(1);
}

pub(crate) fn server_error_unsent(code: &'static str) {
    metrics::counter!(SERVER_ERRORS_UNSENT, "code" => code).increment(1);
}

pub(crate) fn server_panic(procedure: &str) {
    metrics::counter!(SERVER_HANDLER_PANICS, "procedure" => procedure.to_string()).increment(1);
}

#[cfg_attr(not(feature = "quic"), allow(dead_code))]
pub(crate) fn server_stream() {
    metrics::counter!(SERVER_STREAMS).increment(1);
}
