//! The middleware stack every fortress binary serves behind, in one place so its order is decided once.

use axum::{Router, middleware};

use crate::{access_log, request_id, trace_context};

/// Wraps `app` in the contract's layers: request id, trace context, request span and access log.
///
/// [`crate::serve`] calls this itself; call it directly only to test a router without sockets
/// (`apply_layers(app).oneshot(request)`), or the layers run twice.
///
/// Order, outermost first. `Router::layer` wraps everything added before it, so the **last** `.layer`
/// call is the **outermost** layer and sees the request first:
///
/// 1. **request id** (outermost): settles `x-request-id` before anything else looks at the request and
///    sets it on every response, including responses made by the layers inside it.
/// 2. **trace context**: parses the trace headers once into a `TraceContext` extension; it needs nothing
///    from the layers inside and the access log needs it.
/// 3. **request span and access log** (innermost of ours): reads both extensions into its span, so the
///    span covers exactly the application's work and its latency is the application's latency; a
///    layer the application adds itself runs inside the span and its log lines carry the trace.
pub fn apply_layers(app: Router) -> Router {
    app.layer(middleware::from_fn(access_log::record))
        .layer(middleware::from_fn(trace_context::attach))
        .layer(middleware::from_fn(request_id::attach))
}
