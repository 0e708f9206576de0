//! From [`Settings`] to a served router: [`AppState`] (the service's data and the IAP check),
//! [`app`] (its routes behind the IAP layer, with JSON fallbacks), [`serve`] under the Cloud Run
//! contract, and [`start_on_loopback`] for tests and the in-process e2e stack. What can fail on
//! the way is a [`StartError`]; each variant is one exit code in [`crate::run_main`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use iap_assertion::IapLayer;

use crate::error::{no_route, wrong_method};
use crate::{SampleService, Settings};

/// What a data file compiled into a service failed to be: a start-up error naming the file, the
/// place and the problem, never a panic.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{file}: not the expected JSON: {source}")]
    Json {
        file: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{file}: {at}: {problem}")]
    Invalid {
        file: &'static str,
        at: String,
        problem: String,
    },
}

/// The service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The compiled-in data is broken; `what` is [`SampleService::DATA`] (`recipe data`).
    #[error("{what}: {source}")]
    Data {
        what: &'static str,
        #[source]
        source: DataError,
    },
    #[error("IAP check: {0}")]
    Iap(#[from] iap_assertion::SetupError),
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(#[from] std::io::Error),
}

/// What the handlers share (the service's data) and the IAP check. Cheap to clone.
pub struct AppState<S: SampleService> {
    data: Arc<S::Data>,
    iap: IapLayer,
}

impl<S: SampleService> AppState<S> {
    /// Parses the embedded data and builds the IAP check (logging its mode).
    pub fn new(settings: Settings) -> Result<Self, StartError> {
        let data = S::load().map_err(|source| StartError::Data {
            what: S::DATA,
            source,
        })?;
        let iap = IapLayer::new(settings.iap, settings.key_server_tls)?;
        Ok(Self {
            data: Arc::new(data),
            iap,
        })
    }

    /// The data the handlers read.
    pub fn data(&self) -> &S::Data {
        &self.data
    }
}

impl<S: SampleService> Clone for AppState<S> {
    fn clone(&self) -> Self {
        Self {
            data: self.data.clone(),
            iap: self.iap.clone(),
        }
    }
}

impl<S: SampleService> fmt::Debug for AppState<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("data", &self.data)
            .field("iap", &self.iap)
            .finish()
    }
}

/// The router: every route behind the IAP layer, including the JSON 404 for unknown paths (an
/// unauthenticated caller learns nothing about which paths exist).
pub fn app<S: SampleService>(state: AppState<S>) -> Router {
    S::routes()
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(state.data)
        .layer(state.iap)
}

/// Serves [`app`] on `listener` under the Cloud Run contract (request ids, trace context, access
/// log) until `shutdown` completes, then drains within Cloud Run's 10 s.
pub async fn serve<S, F>(
    listener: tokio::net::TcpListener,
    state: AppState<S>,
    shutdown: F,
) -> Result<cloud_run::Drain, cloud_run::ServeError>
where
    S: SampleService,
    F: Future<Output = ()> + Send + 'static,
{
    cloud_run::serve(listener, app(state), shutdown).await
}

/// Starts the service on `127.0.0.1:<free port>`, as in production: for tests and the
/// in-process e2e stack.
pub async fn start_on_loopback<S: SampleService>(
    settings: Settings,
) -> Result<cloud_run::LoopbackServer, StartError> {
    let state = AppState::<S>::new(settings)?;
    Ok(cloud_run::LoopbackServer::start(app(state)).await?)
}
