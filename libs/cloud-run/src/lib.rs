//! The Cloud Run container contract, shared by every fortress binary.
//!
//! Cloud Run runs a container on a few promises (<https://cloud.google.com/run/docs/container-contract>):
//! listen on `0.0.0.0:$PORT`; read the service's identity from `K_SERVICE`, `K_REVISION` and
//! `K_CONFIGURATION`; on SIGTERM, finish within 10 seconds before SIGKILL; write logs to stdout, where
//! one JSON object per line becomes a structured Cloud Logging entry; and find the request's trace in
//! `traceparent` or `X-Cloud-Trace-Context`. smoothie-service, coffee-service, the gateway shim and the
//! IAP/LB emulator keep those promises the same way by going through this crate, so a binary's `main`
//! is four lines:
//!
//! ```no_run
//! # async fn app() -> axum::Router { axum::Router::new() }
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let contract = cloud_run::Contract::from_env()?;
//! cloud_run::init_logging(&contract)?;
//! let listener = tokio::net::TcpListener::bind(contract.listen_addr()).await?;
//! cloud_run::serve(listener, app().await, cloud_run::shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! What it refuses to do:
//!
//! - **Read the environment anywhere but [`Contract::from_env`].** Everything else takes typed values,
//!   because the e2e harness runs every component in one process: a setting passed through
//!   `std::env::set_var` would leak between components and race between tests.
//! - **Log request headers.** Only `User-Agent` is logged; credentials (`Authorization`, `Cookie`,
//!   `X-Goog-IAP-JWT-Assertion`, `X-Serverless-Authorization`, `X-Forwarded-Authorization`) never are.
//! - **Serve a health route.** Cloud Run reserves paths ending in `z` on `run.app` (its known-issues
//!   page: the front end answers 404 for some of them before the container sees the request), so a
//!   `/healthz` would work locally and vanish in production. Cloud Run itself needs no health route; a
//!   binary that wants one adds it to its own router under a name that does not end in `z`.
//!
//! # Layout
//!
//! - `contract`: [`Contract`], `PORT`, `K_*`, `GOOGLE_CLOUD_PROJECT` and `RUST_LOG`, read once through a
//!   lookup function.
//! - `signal`: [`shutdown_signal`], SIGTERM or Ctrl-C.
//! - `server`: [`serve`] / [`serve_with`], the accept loop with a bounded drain ([`ServeOptions`],
//!   [`Drain`]).
//! - `layers`: [`apply_layers`], the middleware stack and why it is in that order.
//! - `runtime`: [`runtime()`], a tokio runtime sized to the CPUs the process may use.
//! - `request_id`: [`RequestId`], the `x-request-id` middleware.
//! - `trace_context`: [`TraceContext`], parsing and writing both trace headers.
//! - `access_log`: the request's scope around the application and the `httpRequest` access line.
//! - `request_scope`: the request a task serves (id, trace) for its log lines, a task-local;
//!   [`in_current_request`] carries it into a spawned task.
//! - `logging`: [`CloudLoggingLayer`] and [`init_logging`], Cloud Logging's JSON line format.
//! - `loopback`: [`LoopbackServer`], the same server on `127.0.0.1:0` for tests and the in-process e2e
//!   stack.

mod access_log;
mod contract;
mod layers;
mod logging;
mod loopback;
mod request_id;
mod request_scope;
mod runtime;
mod server;
mod signal;
mod trace_context;

pub use contract::{Contract, ContractError, DEFAULT_LOG_FILTER, DEFAULT_PORT};
pub use layers::{HttpApp, apply_layers};
pub use logging::{CloudLoggingLayer, LoggingError, init_logging};
pub use loopback::LoopbackServer;
pub use request_id::{RequestId, X_REQUEST_ID};
pub use request_scope::in_current_request;
pub use runtime::runtime;
pub use server::{Drain, ServeError, ServeOptions, serve, serve_with};
pub use signal::shutdown_signal;
pub use trace_context::{SpanId, TRACEPARENT, TraceContext, TraceId, X_CLOUD_TRACE_CONTEXT};
