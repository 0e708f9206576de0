//! The shutdown signal: SIGTERM from Cloud Run, or Ctrl-C from a developer.
//!
//! Who sends SIGTERM: Cloud Run, when it scales an instance in or retires a revision. The instance then
//! has **10 seconds** before SIGKILL; a process without a SIGTERM handler is ended at once
//! (<https://cloud.google.com/run/docs/samples/cloudrun-sigterm-handler>,
//! <https://cloud.google.com/blog/topics/developers-practitioners/graceful-shutdowns-cloud-run-deep-dive>).
//! Docker and Kubernetes send the same signal on `docker stop`. [`crate::serve`] turns the signal into
//! "stop accepting, drain, return" within that budget.
//!
//! The future is deliberately the only process-global piece of this crate. Libraries and tests never
//! use it; they pass their own shutdown future (a oneshot receiver) to `serve`.

/// Completes when the process receives SIGTERM or SIGINT (Ctrl-C), and logs which one.
///
/// If a handler cannot be installed (which happens only when the process is out of resources), the
/// error is logged and that signal keeps its default action, which ends the process: the same behaviour
/// as having no handler, never a panic.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => tracing::info!(signal = "SIGINT", "shutdown signal received"),
            Err(error) => {
                tracing::error!(
                    error = &error as &dyn std::error::Error,
                    "cannot listen for Ctrl-C"
                );
                std::future::pending::<()>().await;
            }
        }
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
                tracing::info!(signal = "SIGTERM", "shutdown signal received");
            }
            Err(error) => {
                tracing::error!(
                    error = &error as &dyn std::error::Error,
                    "cannot listen for SIGTERM"
                );
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();

    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
