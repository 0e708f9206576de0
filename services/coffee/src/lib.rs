//! coffee-service: a sample API behind the fortress (API Gateway, then a load balancer with IAP,
//! then Cloud Run). It serves a brewing guide (methods, a brew-ratio calculator, café
//! recommendations by city), and answers only requests that carry a valid IAP assertion.
//!
//! # Routes
//! Every route sits under `/coffee`, because the load balancer's URL map (`/coffee`,
//! `/coffee/*`) forwards the full path. No route ends in `z`: Cloud Run reserves such paths
//! (google-behaviour item 44). See [`ROUTES`].
//!
//! # Layout
//! - [`catalog`]: the brewing guide, compiled in and checked once at start.
//! - [`routes`]: one handler per route; the JSON shapes.
//! - [`error`]: every error answer (404, 400, 405) as Google-style JSON.
//! - [`Config`] / [`Settings`]: environment and flags, parsed once into typed settings.
//! - [`app`], [`serve`], [`start_on_loopback`]: the router, served under the Cloud Run contract.
//!
//! # What it refuses to do
//! Serve without the IAP check unless told `IAP_ASSERTION_CHECK=disabled` (logged as a WARNING);
//! read identity from `x-goog-authenticated-user-*`; read files or the network in a handler.

pub mod catalog;
pub mod error;
pub mod routes;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use iap_assertion::{IapArgs, IapArgsError, IapAudience, IapCheck, IapLayer, KeyServerTls, Url};

pub use catalog::{Catalog, DataError};

/// The load balancer path prefix this service owns.
pub const PREFIX: &str = "/coffee";

/// Every route, as registered. None ends in `z` (item 44); a test holds that.
pub const ROUTES: &[&str] = &[
    "/coffee",
    "/coffee/",
    "/coffee/methods/{id}",
    "/coffee/ratio",
    "/coffee/cafes",
    "/coffee/whoami",
];

/// The service's settings from flags and environment. `PORT`, `K_SERVICE` and the rest of the
/// Cloud Run contract are read separately, by [`cloud_run::Contract::from_env`].
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "coffee-service",
    version,
    about = "Coffee brewing guide behind IAP, for Cloud Run"
)]
pub struct Config {
    #[command(flatten)]
    pub iap: IapArgs,
}

/// The configuration does not make a service.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(transparent)]
    Iap(#[from] IapArgsError),
}

impl Config {
    /// Checks the arguments together and reads what they point at (a CA file).
    pub fn settings(&self) -> Result<Settings, ConfigError> {
        let (iap, key_server_tls) = self.iap.resolve()?;
        Ok(Settings {
            iap,
            key_server_tls,
        })
    }
}

/// What [`AppState::new`] needs: everything the e2e harness sets to start this service in-process.
#[derive(Debug, Clone)]
pub struct Settings {
    pub iap: IapCheck,
    pub key_server_tls: KeyServerTls,
}

impl Settings {
    /// Enforce the IAP check for `audience`, with keys from `jwk_url` (an `http://` URL needs no
    /// root store; `https://` uses the system's CA bundle).
    pub fn enforce(audience: IapAudience, jwk_url: Url) -> Self {
        Self {
            iap: IapCheck::Enforce { audience, jwk_url },
            key_server_tls: KeyServerTls::SystemRoots,
        }
    }

    /// Serve without checking IAP's assertion (logged as a WARNING).
    pub fn iap_disabled() -> Self {
        Self {
            iap: IapCheck::Disabled,
            key_server_tls: KeyServerTls::SystemRoots,
        }
    }
}

/// The service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("brewing guide data: {0}")]
    Data(#[from] DataError),
    #[error("IAP check: {0}")]
    Iap(#[from] iap_assertion::SetupError),
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(#[from] std::io::Error),
}

/// What the handlers share: the brewing guide and the IAP check. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    catalog: Arc<Catalog>,
    iap: IapLayer,
}

impl AppState {
    /// Parses the embedded data and builds the IAP check (logging its mode).
    pub fn new(settings: Settings) -> Result<Self, StartError> {
        let catalog = Catalog::embedded()?;
        tracing::info!(
            methods = catalog.methods().len(),
            cities = catalog.cities().len(),
            "brewing guide loaded"
        );
        let iap = IapLayer::new(settings.iap, settings.key_server_tls)?;
        Ok(Self {
            catalog: Arc::new(catalog),
            iap,
        })
    }

    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }
}

/// The router: every route behind the IAP layer, including the JSON 404 for unknown paths (an
/// unauthenticated caller learns nothing about which paths exist).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/coffee", get(routes::list))
        .route("/coffee/", get(routes::list))
        .route("/coffee/methods/{id}", get(routes::method))
        .route("/coffee/ratio", get(routes::ratio))
        .route("/coffee/cafes", get(routes::cafes))
        .route("/coffee/whoami", get(routes::whoami))
        .fallback(error::no_route)
        .method_not_allowed_fallback(error::wrong_method)
        .with_state(state.catalog)
        .layer(state.iap)
}

/// Serves [`app`] on `listener` under the Cloud Run contract (request ids, trace context, access
/// log) until `shutdown` completes, then drains within Cloud Run's 10 s.
pub async fn serve<F>(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: F,
) -> Result<cloud_run::Drain, cloud_run::ServeError>
where
    F: Future<Output = ()> + Send + 'static,
{
    cloud_run::serve(listener, app(state), shutdown).await
}

/// Starts the service on `127.0.0.1:<free port>`, as in production: for tests and the
/// in-process e2e stack.
pub async fn start_on_loopback(
    settings: Settings,
) -> Result<cloud_run::LoopbackServer, StartError> {
    let state = AppState::new(settings)?;
    Ok(cloud_run::LoopbackServer::start(app(state)).await?)
}
