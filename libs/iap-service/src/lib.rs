//! The chassis of a fortress sample service: a Cloud Run service behind IAP that answers JSON.
//! smoothie-service and coffee-service differ in their data and routes and in nothing else; this
//! crate is the rest, written once: settings from `IAP_*` and flags, the start-up error, the
//! whole `main` (exit codes and log lines), the router's IAP layer, JSON 404 and 405, Google's
//! JSON error shape, and the Cloud Run wiring of [`serve`] and [`start_on_loopback`].
//!
//! A service implements [`SampleService`] (its name, its data, its routes) and its `main.rs` is
//! one line:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use axum::{Json, Router, routing::get};
//! # use iap_service::{DataError, SampleService};
//! # #[derive(Debug)] pub struct Menu;
//! pub struct TeaService;
//!
//! impl SampleService for TeaService {
//!     const NAME: &'static str = "tea-service";
//!     const ABOUT: &'static str = "Tea behind IAP, for Cloud Run";
//!     const VERSION: &'static str = env!("CARGO_PKG_VERSION");
//!     const DATA: &'static str = "tea menu data";
//!     type Data = Menu;
//!     fn load() -> Result<Menu, DataError> {
//!         Ok(Menu)
//!     }
//!     fn routes() -> Router<Arc<Menu>> {
//!         Router::new().route("/tea", get(|| async { Json("sencha") }))
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     iap_service::main::<TeaService>()
//! }
//! ```
//!
//! # Layout
//! - [`settings`]: [`Config`] (the `IAP_*` flags and environment, named after the service) and
//!   [`Settings`], what the e2e harness sets to start a service in-process.
//! - [`startup`]: [`AppState`], [`app`] (the routes behind [`iap_assertion::IapLayer`], JSON
//!   fallbacks), [`serve`], [`start_on_loopback`], and what fails at start ([`StartError`],
//!   [`DataError`]).
//! - [`error`]: [`ApiError`], every error answer as Google-style JSON.
//! - [`binary`]: [`run_main`], the thin `main`: exit 64, 69 or 70 before serving, 0 after a drain.
//! - `test_util` (feature `test-util`): the local IAP key server, assertion minting, `TestApp`,
//!   and the checks each service runs against its own router and binary: `lifecycle` (SIGTERM
//!   drain, exit codes), `iap` (the assertion check, whoami), `errors` (JSON 404 and 405).
//!
//! # What it refuses to do
//! Know a service's domain: data, routes and their messages (`no recipe "x"`) stay in the
//! service. Read the environment anywhere but [`Config`] and [`cloud_run::Contract::from_env`].
//! Serve a route outside the IAP layer, the JSON 404 for unknown paths included.

pub mod binary;
pub mod error;
pub mod settings;
pub mod startup;
#[cfg(feature = "test-util")]
pub mod test_util;

use std::fmt::Debug;
use std::sync::Arc;

use axum::Router;

pub use binary::{main, run_main};
pub use error::{ApiError, ECHO_LIMIT, echo};
pub use settings::{Config, ConfigError, Settings};
pub use startup::{AppState, DataError, StartError, app, serve, start_on_loopback};

/// What one sample service is: its names, its data and its routes. Everything else about it is
/// this crate's. Implemented by a unit type in each service (`SmoothieService`).
pub trait SampleService: Send + Sync + 'static {
    /// The binary and Cloud Run service name, `smoothie-service`: in `--help`, messages and
    /// log lines.
    const NAME: &'static str;
    /// `--help`'s one line.
    const ABOUT: &'static str;
    /// `--version`: the service crate's own, `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// What a broken [`Self::Data`] is called in the start-up error: `recipe data`.
    const DATA: &'static str;

    /// What the handlers share, read once at start.
    type Data: Debug + Send + Sync + 'static;

    /// Parses the data compiled into the binary and logs what it holds.
    fn load() -> Result<Self::Data, DataError>;

    /// Every route under the service's path prefix. [`app`] adds the JSON fallbacks and the IAP
    /// layer.
    fn routes() -> Router<Arc<Self::Data>>;
}
