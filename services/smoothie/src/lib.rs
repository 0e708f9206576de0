//! smoothie-service: a sample API behind the fortress (API Gateway, then a load balancer with
//! IAP, then Cloud Run). It serves a recipe book with nutrition computed from each recipe's
//! ingredients, and answers only requests that carry a valid IAP assertion.
//!
//! # Routes
//! Every route sits under `/smoothie`, because the load balancer's URL map (`/smoothie`,
//! `/smoothie/*`) forwards the full path. No route ends in `z`: Cloud Run reserves such paths
//! (google-behaviour item 44). See [`ROUTES`].
//!
//! # Layout
//! - [`catalog`]: the recipe data, compiled in and checked once at start.
//! - [`routes`]: one handler per route; the JSON shapes.
//! - [`error`]: this service's error messages (`no recipe "x"`); the JSON shape is
//!   [`iap_service::ApiError`]'s.
//! - [`SmoothieService`]: the names, data and routes the chassis ([`iap_service`]) serves. The
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
pub const PREFIX: &str = "/smoothie";

/// Every route, as registered. None ends in `z` (item 44); a test holds that.
pub const ROUTES: &[&str] = &[
    "/smoothie",
    "/smoothie/",
    "/smoothie/recipes/{id}",
    "/smoothie/recipes/{id}/nutrition",
    "/smoothie/search",
    "/smoothie/whoami",
];

/// smoothie-service, as the chassis sees it: its names, its recipe book and its routes.
#[derive(Debug)]
pub struct SmoothieService;

impl SampleService for SmoothieService {
    const NAME: &'static str = "smoothie-service";
    const ABOUT: &'static str = "Smoothie recipes behind IAP, for Cloud Run";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DATA: &'static str = "recipe data";
    type Data = Catalog;

    fn load() -> Result<Catalog, DataError> {
        let catalog = Catalog::embedded()?;
        tracing::info!(recipes = catalog.recipes().len(), "recipe book loaded");
        Ok(catalog)
    }

    fn routes() -> Router<Arc<Catalog>> {
        Router::new()
            .route("/smoothie", get(routes::list))
            .route("/smoothie/", get(routes::list))
            .route("/smoothie/recipes/{id}", get(routes::recipe))
            .route("/smoothie/recipes/{id}/nutrition", get(routes::nutrition))
            .route("/smoothie/search", get(routes::search))
            .route("/smoothie/whoami", get(routes::whoami))
    }
}

/// What the handlers share: the recipe book and the IAP check. Cheap to clone. [`app`] and
/// [`serve`] (the chassis', re-exported) take it.
pub type AppState = iap_service::AppState<SmoothieService>;

/// Starts the service on `127.0.0.1:<free port>`, as in production: for tests and the
/// in-process e2e stack.
pub async fn start_on_loopback(
    settings: Settings,
) -> Result<cloud_run::LoopbackServer, StartError> {
    iap_service::start_on_loopback::<SmoothieService>(settings).await
}
