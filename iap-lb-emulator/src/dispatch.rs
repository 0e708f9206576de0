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

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use tower::{Service, ServiceExt};

use crate::host::{GOOGLE_HOSTS, GoogleHost, LocalRoute, local_route};
use crate::hosts::{HostRouters, lb, run_app};
use crate::state::{AppState, Connection, Scheme};

/// What every request is dispatched with, built once.
pub struct Dispatch {
    state: AppState,
    routers: HostRouters,
    domain: String,
}

impl Dispatch {
    pub fn new(state: AppState) -> Arc<Self> {
        Arc::new(Self {
            routers: HostRouters::new(state.clone()),
            domain: state.config.domain().to_string(),
            state,
        })
    }
}

/// The whole emulator as one axum router, for socket-free tests: the connection is read from
/// the request's extensions ([`Connection::of`]), absent unless a test puts it there.
pub fn app(state: AppState) -> Router {
    Router::new()
        .fallback(|State(d): State<Arc<Dispatch>>, req: Request| async move {
            let conn = Connection::of(req.extensions());
            dispatch_request(&d, conn, req).await
        })
        .with_state(Dispatch::new(state))
}

/// One listener's service maker for `axum_server`: each accepted connection gets a
/// [`ConnectionService`] that knows its peer and scheme. Serving without an axum router in front
/// saves a router, two extension inserts and their lookups per request on the hot path.
#[derive(Clone)]
pub struct Listener {
    dispatch: Arc<Dispatch>,
    scheme: Scheme,
}

impl Listener {
    pub fn new(dispatch: Arc<Dispatch>, scheme: Scheme) -> Self {
        Self { dispatch, scheme }
    }
}

impl Service<SocketAddr> for Listener {
    type Response = ConnectionService;
    type Error = Infallible;
    type Future = std::future::Ready<Result<ConnectionService, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, peer: SocketAddr) -> Self::Future {
        std::future::ready(Ok(ConnectionService {
            dispatch: Arc::clone(&self.dispatch),
            conn: Connection {
                peer: Some(peer),
                scheme: Some(self.scheme),
            },
        }))
    }
}

/// The requests of one accepted connection.
#[derive(Clone)]
pub struct ConnectionService {
    dispatch: Arc<Dispatch>,
    conn: Connection,
}

impl<B> Service<axum::http::Request<B>> for ConnectionService
where
    B: axum::body::HttpBody<Data = bytes::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        let dispatch = Arc::clone(&self.dispatch);
        let conn = self.conn;
        Box::pin(async move { Ok(dispatch_request(&dispatch, conn, req.map(Body::new)).await) })
    }
}

/// The authority: the `Host` header, else the URI's (HTTP/2 `:authority`).
fn authority(req: &Request) -> Option<&str> {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
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

async fn dispatch_request(d: &Dispatch, conn: Connection, req: Request) -> Response {
    let method = req.method().clone();
    // Copied for the request's log line only when that line is written.
    let logged_path = tracing::enabled!(tracing::Level::INFO).then(|| req.uri().path().to_owned());
    let parsed = authority(&req).map(|authority| GoogleHost::parse(authority, &d.domain));
    let host = match parsed {
        Some(Ok(host)) => host,
        Some(Err(err)) => {
            tracing::info!(host = %err.0, path = %req.uri().path(), decision = "denied", reason = "unknown host", "request");
            return unknown_host(&err.0, &d.domain);
        }
        None => {
            tracing::info!(path = %req.uri().path(), decision = "denied", reason = "no Host header", "request");
            return unknown_host("", &d.domain);
        }
    };
    let (host, mut req) = if host == GoogleHost::Emulator {
        match local_route(req.uri().path(), &d.domain) {
            LocalRoute::Prefixed { host, path } => (host, with_path(req, &path)),
            LocalRoute::Metadata => (GoogleHost::Metadata, req),
            LocalRoute::Admin => (GoogleHost::Emulator, req),
        }
    } else {
        (host, req)
    };
    let resp = match &host {
        GoogleHost::LoadBalancer => lb::serve(&d.state, conn, req).await,
        GoogleHost::RunApp(name) => run_app::front_door(&d.state, name, conn, req).await,
        other => match d.routers.get(other) {
            Some(router) => {
                conn.insert_into(req.extensions_mut());
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
        path = logged_path.as_deref().unwrap_or_default(),
        status = resp.status().as_u16(),
        "request"
    );
    resp
}
