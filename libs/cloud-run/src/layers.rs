//! The middleware stack every fortress binary serves behind, in one place so its order is decided once.

use axum::Router;
use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;

use crate::{access_log, request_id, trace_context};

/// Wraps `app` in the contract's layers: request id, trace context, request span and access log.
///
/// [`crate::serve`] calls this itself; call it directly only to test a router without sockets
/// (`apply_layers(app).oneshot(request)`), or the layers run twice.
///
/// Order, outermost first:
///
/// 1. **request id** (outermost): settles `x-request-id` before anything else looks at the request and
///    sets it on every response, including responses made by the layers inside it.
/// 2. **trace context**: parses the trace headers once into a `TraceContext` extension; it needs nothing
///    from the layers inside and the access log needs it.
/// 3. **request span and access log** (innermost of ours): reads both extensions into its span, so the
///    span covers exactly the application's work and its latency is the application's latency; a
///    layer the application adds itself runs inside the span and its log lines carry the trace.
///
/// The three run as one middleware, in that order: one boxed future and one clone of the router
/// per request instead of three of each (`just bench` measures every fortress hop behind them).
pub fn apply_layers(app: Router) -> Router {
    app.layer(middleware::from_fn(contract))
}

async fn contract(mut request: Request, next: Next) -> Response {
    let id = request_id::settle(&mut request);
    trace_context::settle(&mut request);
    let mut response = access_log::record(request, next).await;
    request_id::echo(&mut response, id);
    response
}
