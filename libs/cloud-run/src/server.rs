//! Serving a router under the container contract: accept until told to stop, then drain, bounded.
//!
//! Shutdown happens in three steps, mirroring what Cloud Run expects after SIGTERM
//! (<https://cloud.google.com/run/docs/container-contract>; 10 seconds before SIGKILL):
//!
//! 1. **Stop accepting.** The listener is dropped the moment the shutdown future completes, so a new
//!    connection is refused rather than accepted and then abandoned.
//! 2. **Drain.** Every open connection is told to shut down gracefully: HTTP/1.1 connections finish the
//!    request in flight and close instead of staying alive, idle ones close at once, HTTP/2 sends GOAWAY.
//! 3. **Bound.** If connections are still open when [`ServeOptions::drain_grace`] has passed, they are
//!    dropped (their tasks aborted), the count is logged, and `serve` returns
//!    [`Drain::GraceExpired`]. A handler that never finishes cannot keep the process alive.
//!
//! Why not `axum::serve(..).with_graceful_shutdown(..)`: it spawns every connection as a detached task
//! and waits for all of them without a bound. Dropping its future stops the wait but not the
//! connections, which would outlive `serve` in the one-process e2e stack. Here each connection is a
//! task in a `JoinSet` this function owns, so "dropped" really means dropped.
//!
//! Connections are served by hyper-util's auto builder: HTTP/1.1, or HTTP/2 cleartext when end-to-end
//! HTTP/2 is enabled on the Cloud Run service (container contract, "HTTP/2 requests"), with upgrades
//! (WebSockets) allowed.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::time::Duration;

use axum::{body::Body, extract::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{oneshot, watch};
use tokio::task::{JoinError, JoinSet};
use tower::ServiceExt as _;

use crate::access_log::duration_json;
use crate::layers::{Contract, HttpApp};

/// How [`serve_with`] behaves; [`ServeOptions::cloud_run`] is what [`serve`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeOptions {
    /// How long in-flight requests may run after shutdown begins before their connections are dropped.
    pub drain_grace: Duration,
}

impl ServeOptions {
    /// The drain grace for Cloud Run: **9 s**, one second inside the 10 s between SIGTERM and SIGKILL.
    /// Draining for the full 10 s would race SIGKILL, and the "dropped N connections" line and the
    /// process's own exit would be the things lost; the second left is for them.
    pub const CLOUD_RUN_DRAIN_GRACE: Duration = Duration::from_secs(9);

    /// The options for a Cloud Run container.
    pub fn cloud_run() -> Self {
        Self {
            drain_grace: Self::CLOUD_RUN_DRAIN_GRACE,
        }
    }

    /// The same options with another drain grace.
    #[must_use]
    pub fn with_drain_grace(self, drain_grace: Duration) -> Self {
        Self { drain_grace }
    }
}

/// How the drain ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Every connection finished within the grace period.
    Complete,
    /// The grace period ran out and this many connections were dropped.
    GraceExpired {
        /// Connections still open, now closed without a response.
        dropped: usize,
    },
}

/// Serving could not start or its task failed.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The listener's local address could not be read (to log where we listen).
    #[error("cannot read the listener's local address")]
    LocalAddr(#[source] io::Error),
    /// The task running a [`crate::LoopbackServer`] panicked or was cancelled.
    #[error("the server task failed")]
    Task(#[source] JoinError),
}

/// Serves `app`, behind [`apply_layers`], on `listener` until `shutdown` completes, then drains within
/// Cloud Run's budget ([`ServeOptions::cloud_run`]).
///
/// In a binary, pass `TcpListener::bind(contract.listen_addr())` and [`crate::shutdown_signal()`]; in
/// tests, a listener on `127.0.0.1:0` and a oneshot receiver (or use [`crate::LoopbackServer`]).
pub async fn serve<A, F>(listener: TcpListener, app: A, shutdown: F) -> Result<Drain, ServeError>
where
    A: HttpApp,
    F: Future<Output = ()> + Send + 'static,
{
    serve_with(listener, app, shutdown, ServeOptions::cloud_run()).await
}

/// [`serve`] with explicit options.
pub async fn serve_with<A, F>(
    listener: TcpListener,
    app: A,
    shutdown: F,
    options: ServeOptions,
) -> Result<Drain, ServeError>
where
    A: HttpApp,
    F: Future<Output = ()> + Send + 'static,
{
    run(listener, app, shutdown, options, None).await
}

/// The server loop. `stopped_accepting` is told when the listener has been closed, which lets
/// [`crate::LoopbackServer`] callers check refusal without sleeping.
pub(crate) async fn run<A, F>(
    listener: TcpListener,
    app: A,
    shutdown: F,
    options: ServeOptions,
    stopped_accepting: Option<oneshot::Sender<()>>,
) -> Result<Drain, ServeError>
where
    A: HttpApp,
    F: Future<Output = ()> + Send + 'static,
{
    let address = listener.local_addr().map_err(ServeError::LocalAddr)?;
    let app = Contract::new(app);
    // `true` once draining: every connection task watches it.
    let (drain_tx, drain_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);

    tracing::info!(%address, "listening");
    loop {
        tokio::select! {
            // Shutdown first: once it has fired, no further connection is accepted.
            biased;
            () = &mut shutdown => break,
            (stream, peer) = accept(&listener) => {
                connections.spawn(serve_connection(stream, peer, app.clone(), drain_rx.clone()));
            }
            Some(finished) = connections.join_next() => report(finished),
        }
    }

    drop(listener);
    if let Some(stopped_accepting) = stopped_accepting {
        let _ = stopped_accepting.send(());
    }
    tracing::info!(
        %address,
        connections = connections.len(),
        grace = %duration_json(options.drain_grace),
        "stopped accepting; draining"
    );
    let _ = drain_tx.send(true);

    let drained = tokio::time::timeout(options.drain_grace, async {
        while let Some(finished) = connections.join_next().await {
            report(finished);
        }
    })
    .await;
    match drained {
        Ok(()) => {
            tracing::info!(%address, "drained");
            Ok(Drain::Complete)
        }
        Err(_elapsed) => {
            let dropped = connections.len();
            connections.shutdown().await;
            tracing::warn!(
                %address,
                dropped,
                grace = %duration_json(options.drain_grace),
                "drain grace expired; dropped open connections"
            );
            Ok(Drain::GraceExpired { dropped })
        }
    }
}

/// The next connection. Errors about one connection (reset before accept) are skipped; others (out of
/// file descriptors) are logged and retried after a second, as `axum::serve` does, rather than
/// spinning or ending the server.
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // Responses are small and latency matters more than packet count.
                let _ = stream.set_nodelay(true);
                return (stream, peer);
            }
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                tracing::error!(
                    error = &error as &dyn std::error::Error,
                    "accept failed; retrying in 1s"
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves one connection until it ends, shutting it down gracefully once draining starts.
async fn serve_connection<A: HttpApp>(
    stream: TcpStream,
    peer: SocketAddr,
    app: Contract<A>,
    mut drain: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        // The same extension `into_make_service_with_connect_info` would add, for handlers and the
        // access log.
        request.extensions_mut().insert(ConnectInfo(peer));
        app.clone().oneshot(request.map(Body::new))
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // hyper's HTTP/1 header read timeout (30 s) needs a timer to take effect: a client that opens a
    // connection and trickles headers would otherwise hold it forever.
    builder
        .http1()
        .timer(TokioTimer::new())
        // A response's head and body copied into one buffer and written with one `write`,
        // rather than queued as separate buffers for `writev`: responses here are mostly small,
        // and the queue's bookkeeping cost more than the copy (callgrind: about 450 fewer
        // instructions a proxied request, with the same in `http1-pool`). Large bodies are
        // still streamed, in chunks up to hyper's buffer limit.
        .writev(false);
    let mut connection =
        pin!(builder.serve_connection_with_upgrades(TokioIo::new(stream), service));
    let draining = async {
        // An error means the server loop is gone, which is also a reason to wind down.
        let _ = drain.wait_for(|draining| *draining).await;
    };

    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = draining => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = result {
        // Clients closing mid-request are routine; keep them out of the default log level.
        tracing::debug!(%peer, error = &*error as &dyn std::error::Error, "connection ended with an error");
    }
}

fn report(finished: Result<(), JoinError>) {
    if let Err(error) = finished
        && error.is_panic()
    {
        tracing::error!(
            error = &error as &dyn std::error::Error,
            "a connection task panicked"
        );
    }
}
