//! The middleware stack every fortress binary serves behind, in one place so its order is decided once.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::Router;
use axum::extract::Request;
use axum::response::Response;
use tower::{Layer, Service, ServiceExt as _};

use crate::{access_log, request_id, trace_context};

/// What [`crate::serve`] serves: any clonable tower service from requests to responses that
/// cannot fail, such as an axum `Router`, or a binary's own service when a router would only
/// route every path to one handler (the gateway shim).
pub trait HttpApp:
    Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
    + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> HttpApp for S where
    S: Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// Wraps `app` in the contract's layers: request id, trace context, request scope and access log.
///
/// [`crate::serve`] wraps the router itself (with [`Contract`], not through this function); call
/// this only to test a router without sockets (`apply_layers(app).oneshot(request)`), or the
/// layers run twice.
///
/// Order, outermost first:
///
/// 1. **request id** (outermost): settles `x-request-id` before anything else looks at the request and
///    sets it on every response, including responses made by the layers inside it.
/// 2. **trace context**: parses the trace headers once into a `TraceContext` extension; it needs nothing
///    from the layers inside and the access log needs it.
/// 3. **request scope and access log** (innermost of ours): reads both extensions into the request's
///    scope (`request_scope`), so the scope covers exactly the application's work and its latency is
///    the application's latency; a layer the application adds itself runs inside the scope and its
///    log lines carry the trace.
///
/// The three run as one service, in that order: one boxed future per request. They were one
/// `middleware::from_fn` layer, which cost a second boxed future, a `Next` and a route clone per
/// request, and `serve` put an outer router around it (`just bench` measures every fortress hop
/// behind them).
pub fn apply_layers(app: Router) -> Router {
    app.layer(ContractLayer)
}

/// [`Contract`] as a tower layer, for [`apply_layers`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ContractLayer;

impl<S> Layer<S> for ContractLayer {
    type Service = Contract<S>;

    fn layer(&self, inner: S) -> Contract<S> {
        Contract { inner }
    }
}

/// The contract's layers around `S` (see [`apply_layers`] for their order).
#[derive(Debug, Clone)]
pub(crate) struct Contract<S> {
    inner: S,
}

impl<S> Contract<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S> Service<Request> for Contract<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The inner service is driven to readiness per request, by `oneshot` below.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let id = request_id::settle(&mut request);
            trace_context::settle(&mut request);
            let mut response = access_log::record(request, |request| inner.oneshot(request)).await;
            request_id::echo(&mut response, id);
            Ok(response)
        })
    }
}
