//! What can go wrong while measuring.

use std::io;

/// An error that stopped a measurement.
///
/// Every variant names the contender or step that failed, so a broken baseline is
/// reported as such instead of as a slow one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BenchError {
    /// A socket, thread or file operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What the harness was doing.
        what: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A contender's client or server failed a call or could not start.
    #[error("{contender}: {detail}")]
    Contender {
        /// The stack under test.
        contender: &'static str,
        /// What it reported.
        detail: String,
    },
    /// A contender answered, but not with the bytes that were sent.
    #[error("{contender}: echoed {got} bytes where {want} were sent")]
    WrongEcho {
        /// The stack under test.
        contender: &'static str,
        /// Bytes sent.
        want: usize,
        /// Bytes received.
        got: usize,
    },
    /// A wait on the other side of the harness took longer than its bound.
    #[error("{what} did not finish within {secs} s")]
    Timeout {
        /// What was awaited.
        what: String,
        /// The bound.
        secs: u64,
    },
    /// The command line or configuration makes no sense.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// docs/benchmarks.md could not be rewritten.
    #[error("{path}: {detail}")]
    Docs {
        /// The file.
        path: String,
        /// What was wrong.
        detail: String,
    },
}

impl BenchError {
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn contender(contender: &'static str, detail: impl std::fmt::Display) -> Self {
        Self::Contender {
            contender,
            detail: detail.to_string(),
        }
    }
}
