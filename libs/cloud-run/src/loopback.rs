//! [`LoopbackServer`]: any router served exactly as in production, on `127.0.0.1` and a free port.
//!
//! Service tests and the e2e harness's in-process runtime use it to start a binary's app without a
//! subprocess. It is not behind a test feature because the in-process runtime is a product (`just e2e`),
//! and because it grants nothing: it binds loopback only and runs the same [`crate::serve_with`] path.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use crate::HttpApp;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::server::{self, Drain, ServeError, ServeOptions};

/// A router being served on `127.0.0.1:<free port>` by a spawned task.
///
/// Dropping it starts a graceful shutdown in the background; call [`LoopbackServer::shutdown`] to wait
/// for the drain and see how it ended.
#[derive(Debug)]
pub struct LoopbackServer {
    addr: SocketAddr,
    trigger: Option<oneshot::Sender<()>>,
    stopped_accepting: Option<oneshot::Receiver<()>>,
    task: JoinHandle<Result<Drain, ServeError>>,
}

impl LoopbackServer {
    /// Serves `app` with [`ServeOptions::cloud_run`].
    pub async fn start(app: impl HttpApp) -> io::Result<Self> {
        Self::start_with(app, ServeOptions::cloud_run()).await
    }

    /// Serves `app` with the given options (a short drain grace, say).
    pub async fn start_with(app: impl HttpApp, options: ServeOptions) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let (trigger, triggered) = oneshot::channel::<()>();
        let (stopped_tx, stopped_rx) = oneshot::channel();
        // The shutdown future completes on `send` and also when the sender is dropped with `self`.
        let shutdown = async move {
            let _ = triggered.await;
        };
        let task = tokio::spawn(server::run(
            listener,
            app,
            shutdown,
            options,
            Some(stopped_tx),
        ));
        Ok(Self {
            addr,
            trigger: Some(trigger),
            stopped_accepting: Some(stopped_rx),
            task,
        })
    }

    /// The bound address, `127.0.0.1:<port>`.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>` followed by `path_and_query` (which should start with `/`).
    pub fn url(&self, path_and_query: &str) -> String {
        format!("http://{}{path_and_query}", self.addr)
    }

    /// Begins shutdown and returns once the listener is closed: from then on new connections are
    /// refused, while requests already in flight keep running (draining). Calling it again does nothing.
    pub async fn stop_accepting(&mut self) {
        if let Some(trigger) = self.trigger.take() {
            let _ = trigger.send(());
        }
        if let Some(stopped) = self.stopped_accepting.take() {
            // An error means the server task already ended, so the listener is closed either way.
            let _ = stopped.await;
        }
    }

    /// Shuts down (if not begun) and waits for the drain to end.
    pub async fn shutdown(mut self) -> Result<Drain, ServeError> {
        self.stop_accepting().await;
        self.task.await.map_err(ServeError::Task)?
    }
}
