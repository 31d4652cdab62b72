//! Waiting for the signals that stop a long-running subcommand.

use crate::output::CliError;

/// Waits for SIGINT (Ctrl-C) or, on Unix, SIGTERM (what Kubernetes and systemd send), and
/// names the one that came, so every server stops gracefully on either.
///
/// An error means the process cannot watch for signals at all; the caller should not run
/// a server it would have no way to stop cleanly.
pub(crate) async fn shutdown() -> Result<&'static str, CliError> {
    let watch = |e: std::io::Error| CliError::new(format!("cannot watch for signals: {e}"));
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).map_err(watch)?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.map(|()| "SIGINT").map_err(watch),
            _ = term.recv() => Ok("SIGTERM"),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(watch)?;
        Ok("interrupt")
    }
}
