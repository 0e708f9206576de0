//! The front door: every request's Host is parsed once into a [`GoogleHost`], and the router of
//! that box answers.
//!
//! Order of decisions:
//! 1. the authority comes from the `Host` header, else the URI (HTTP/2 `:authority`);
//! 2. it is parsed against the load balancer's domain; an unknown host is a plain 404 that names
//!    the host and lists the ones the emulator plays;
//! 3. on the emulator's own host, the path picks the box ([`local_route`]): a host prefix is
//!    stripped before the box sees the request, `/computeMetadata/...` and `/` go to the
//!    metadata server, the rest to the admin routes;
//! 4. the load balancer and the run.app front end, the hot path, are called directly; any other
//!    box gets the request through its router, with the chosen [`GoogleHost`] inserted as a
//!    request extension. Skipping a nested router per request cut the IAP hop's instructions
//!    (`tools/bench/instructions.sh`). One line is logged per request with host, method, path
//!    and status. Query strings are not logged: they can carry API keys.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;

use crate::host::{GOOGLE_HOSTS, GoogleHost, LocalRoute, local_route};
use crate::hosts::{HostRouters, lb, run_app};
use crate::state::AppState;

struct Dispatch {
    state: AppState,
    routers: HostRouters,
    domain: String,
}

/// The whole emulator as one router (both listeners serve it).
pub fn app(state: AppState) -> Router {
    let dispatch = Dispatch {
        routers: HostRouters::new(state.clone()),
        domain: state.config.domain().to_string(),
        state,
    };
    Router::new()
        .fallback(dispatch_request)
        .with_state(Arc::new(dispatch))
}

fn authority(req: &Request) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
}

fn unknown_host(name: &str, domain: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!(
            "iap-lb-emulator: no emulated Google host is named {name:?}. Known hosts: {}, \
             {domain} (load balancer), *.run.app (Cloud Run), localhost and 127.0.0.1 (the \
             emulator, with /<host>/<path> prefixes)\n",
            GOOGLE_HOSTS.join(", ")
        ),
    )
        .into_response()
}

/// `req` with its path replaced by `path`, query kept.
fn with_path(mut req: Request, path: &str) -> Request {
    let pq = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    if let Ok(uri) = pq.parse::<Uri>() {
        *req.uri_mut() = uri;
    }
    req
}

async fn dispatch_request(State(d): State<Arc<Dispatch>>, req: Request) -> Response {
    let method = req.method().clone();
    let original_path = req.uri().path().to_owned();
    let Some(authority) = authority(&req) else {
        tracing::info!(path = %original_path, decision = "denied", reason = "no Host header", "request");
        return unknown_host("", &d.domain);
    };
    let host = match GoogleHost::parse(&authority, &d.domain) {
        Ok(host) => host,
        Err(err) => {
            tracing::info!(host = %err.0, path = %original_path, decision = "denied", reason = "unknown host", "request");
            return unknown_host(&err.0, &d.domain);
        }
    };
    let (host, mut req) = if host == GoogleHost::Emulator {
        match local_route(&original_path, &d.domain) {
            LocalRoute::Prefixed { host, path } => (host, with_path(req, &path)),
            LocalRoute::Metadata => (GoogleHost::Metadata, req),
            LocalRoute::Admin => (GoogleHost::Emulator, req),
        }
    } else {
        (host, req)
    };
    let resp = match &host {
        GoogleHost::LoadBalancer => lb::serve(&d.state, req).await,
        GoogleHost::RunApp(name) => run_app::front_door(&d.state, name, req).await,
        other => match d.routers.get(other) {
            Some(router) => {
                req.extensions_mut().insert(other.clone());
                match router.oneshot(req).await {
                    Ok(resp) => resp,
                    Err(never) => match never {},
                }
            }
            None => crate::google_html::not_found(),
        },
    };
    tracing::info!(
        host = %host,
        method = %method,
        path = %original_path,
        status = resp.status().as_u16(),
        "request"
    );
    resp
}
