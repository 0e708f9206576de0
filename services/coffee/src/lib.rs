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
//! - [`error`]: this service's error messages (`no brewing method "x"`); the JSON shape is
//!   [`iap_service::ApiError`]'s.
//! - [`CoffeeService`]: the names, data and routes the chassis ([`iap_service`]) serves. The
//!   settings ([`Settings`], from `IAP_*` and flags), [`StartError`], the IAP layer, the JSON
//!   404/405 and the whole `main` are the chassis'.
//! - [`app`], [`serve`], [`start_on_loopback`]: the router, served under the Cloud Run contract.
//!
//! # What it refuses to do
//! Serve without the IAP check unless told `IAP_ASSERTION_CHECK=disabled` (logged as a WARNING);
//! read identity from `x-goog-authenticated-user-*`; read files or the network in a handler.

pub mod catalog;
pub mod error;
pub mod routes;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use iap_service::SampleService;

pub use catalog::Catalog;
pub use iap_service::{DataError, Settings, StartError, app, serve};

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

/// coffee-service, as the chassis sees it: its names, its brewing guide and its routes.
#[derive(Debug)]
pub struct CoffeeService;

impl SampleService for CoffeeService {
    const NAME: &'static str = "coffee-service";
    const ABOUT: &'static str = "Coffee brewing guide behind IAP, for Cloud Run";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DATA: &'static str = "brewing guide data";
    type Data = Catalog;

    fn load() -> Result<Catalog, DataError> {
        let catalog = Catalog::embedded()?;
        tracing::info!(
            methods = catalog.methods().len(),
            cities = catalog.cities().len(),
            "brewing guide loaded"
        );
        Ok(catalog)
    }

    fn routes() -> Router<Arc<Catalog>> {
        Router::new()
            .route("/coffee", get(routes::list))
            .route("/coffee/", get(routes::list))
            .route("/coffee/methods/{id}", get(routes::method))
            .route("/coffee/ratio", get(routes::ratio))
            .route("/coffee/cafes", get(routes::cafes))
            .route("/coffee/whoami", get(routes::whoami))
    }
}

/// What the handlers share: the brewing guide and the IAP check. Cheap to clone. [`app`] and
/// [`serve`] (the chassis', re-exported) take it.
pub type AppState = iap_service::AppState<CoffeeService>;

/// Starts the service on `127.0.0.1:<free port>`, as in production: for tests and the
/// in-process e2e stack.
pub async fn start_on_loopback(
    settings: Settings,
) -> Result<cloud_run::LoopbackServer, StartError> {
    iap_service::start_on_loopback::<CoffeeService>(settings).await
}
