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

use std::sync::Arc;
use std::time::Duration;

use metrics::{Key, Label};

/// Client calls by procedure and outcome.
pub const CLIENT_CALLS: &str = "zap_rpc_client_calls_total";
/// Client call latency by procedure.
pub const CLIENT_CALL_DURATION: &str = "zap_rpc_client_call_duration_seconds";
/// Client connection attempts by outcome.
pub const CLIENT_CONNECTS: &str = "zap_rpc_client_connects_total";
/// Calls served by procedure and outcome.
pub const SERVER_CALLS: &str = "zap_rpc_server_calls_total";
/// Time from accepting a call to its answer (a wait for a handler slot included), by
/// procedure.
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

/// Where the metrics of this module come from, as the `metrics` macros would say.
static METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

/// The metric keys of one procedure's calls, built once so that recording a call
/// allocates nothing (the `metrics` macros build a label vector and copy the name on
/// every call, whether or not a recorder is installed).
#[derive(Debug)]
pub(crate) struct CallKeys {
    procedure: Arc<str>,
    calls_name: &'static str,
    ok: Key,
    duration: Key,
}

impl CallKeys {
    fn new(calls: &'static str, duration: &'static str, procedure: Arc<str>) -> Self {
        let label = |v: &Arc<str>| Label::new("procedure", v.clone());
        Self {
            ok: Key::from_parts(
                calls,
                vec![label(&procedure), Label::from_static_parts("outcome", "ok")],
            ),
            duration: Key::from_parts(duration, vec![label(&procedure)]),
            calls_name: calls,
            procedure,
        }
    }

    /// The keys of a client's calls of `procedure`.
    pub(crate) fn client(procedure: Arc<str>) -> Self {
        Self::new(CLIENT_CALLS, CLIENT_CALL_DURATION, procedure)
    }

    /// The keys of a server's calls of `procedure`.
    pub(crate) fn server(procedure: Arc<str>) -> Self {
        Self::new(SERVER_CALLS, SERVER_CALL_DURATION, procedure)
    }

    /// Counts one call with its outcome and records its duration.
    pub(crate) fn record(&self, outcome: &'static str, elapsed: Duration) {
        metrics::with_recorder(|r| {
            if outcome == "ok" {
                r.register_counter(&self.ok, &METADATA).increment(1);
            } else {
                let key = Key::from_parts(
                    self.calls_name,
                    vec![
                        Label::new("procedure", self.procedure.clone()),
                        Label::new("outcome", outcome),
                    ],
                );
                r.register_counter(&key, &METADATA).increment(1);
            }
            r.register_histogram(&self.duration, &METADATA)
                .record(elapsed.as_secs_f64());
        });
    }
}

/// Client calls of a procedure not seen before (see [`CallKeys`] for the usual path).
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
