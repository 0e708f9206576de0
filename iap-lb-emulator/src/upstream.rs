//! Forwarding a request to the process or container that plays a service, and its answer back.
//!
//! Where a service listens comes from the topology's `local.upstreams` or the emulator's own
//! `Config::upstreams`. The request goes over plain HTTP/1.1 (Cloud Run speaks HTTP/1.1 to the
//! container, item 48) with its method, path, query, headers (minus hop-by-hop ones, RFC 9110
//! section 7.6.1, [`hop_by_hop::strip`]) and body streamed; the answer comes back the same way. A service that has not
//! begun to answer within its timeout (Cloud Run's default 300 s, item 50) gets 504.
//!
//! The client is hyper-util's pooled HTTP/1.1 client rather than reqwest: the upstreams are
//! plain HTTP on known addresses, so reqwest's URL parsing, redirect and proxy machinery and
//! per-request timer were pure cost on the IAP hop (`bench/iap.sh`). Like Cloud Run, it adds no
//! header of its own except `Host` when the request has none.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{StatusCode, Uri, Version};
use axum::response::{IntoResponse, Response};
use blueprint::UpstreamAddr;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The pooled client every upstream request goes through.
pub type UpstreamClient = Client<HttpConnector, Body>;

/// Why a service's answer could not be had.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream is configured for {0}")]
    NotConfigured(String),
    #[error("upstream {addr} is unreachable: {source}")]
    Unreachable {
        addr: String,
        source: hyper_util::client::legacy::Error,
    },
    #[error("upstream {addr} did not answer within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
    #[error("bad upstream request: {0}")]
    Request(String),
}

impl IntoResponse for UpstreamError {
    /// The emulator's own wording: a Cloud Run service always has somewhere to run, so Google has
    /// no page for these. Status 503 for a missing or unreachable upstream, 504 on timeout
    /// (item 50).
    fn into_response(self) -> Response {
        let status = match self {
            UpstreamError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::Request(_) => StatusCode::BAD_GATEWAY,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, format!("iap-lb-emulator: {self}\n")).into_response()
    }
}

/// Sends `req` to `addr` and streams the answer back.
pub async fn forward(
    client: &UpstreamClient,
    addr: &UpstreamAddr,
    req: Request,
    timeout: Duration,
) -> Result<Response, UpstreamError> {
    let (mut parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    parts.uri = Uri::try_from(format!("http://{addr}{path_and_query}"))
        .map_err(|e| UpstreamError::Request(e.to_string()))?;
    // The client side may have spoken HTTP/2 to the load balancer; the container gets HTTP/1.1.
    parts.version = Version::HTTP_11;
    hop_by_hop::strip(&mut parts.headers);
    let request = Request::from_parts(parts, body);
    let answer = match tokio::time::timeout(timeout, client.request(request)).await {
        Err(_) => {
            return Err(UpstreamError::Timeout {
                addr: addr.to_string(),
                timeout,
            });
        }
        Ok(Err(source)) => {
            return Err(UpstreamError::Unreachable {
                addr: addr.to_string(),
                source,
            });
        }
        Ok(Ok(answer)) => answer,
    };
    let (mut parts, body) = answer.into_parts();
    hop_by_hop::strip(&mut parts.headers);
    Ok(Response::from_parts(parts, Body::new(body)))
}

/// The client for every upstream: plain HTTP/1.1, pooled keep-alive connections, no delay.
pub fn client() -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}
