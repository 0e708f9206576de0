//! Forwarding a request to the process or container that plays a service, and its answer back.
//!
//! Where a service listens comes from the topology's `local.upstreams` or the emulator's own
//! `Config::upstreams`. The request goes over plain HTTP/1.1 (Cloud Run speaks HTTP/1.1 to the
//! container, item 48) with its method, path, query, headers (minus hop-by-hop ones, RFC 9110
//! section 7.6.1) and body streamed; the answer comes back the same way. A request that outlives
//! the service's timeout (Cloud Run's default 300 s, item 50) ends with 504.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blueprint::UpstreamAddr;

/// Headers that describe one connection, not the request; never forwarded.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// Why a service's answer could not be had.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream is configured for {0}")]
    NotConfigured(String),
    #[error("upstream {addr} is unreachable: {source}")]
    Unreachable {
        addr: String,
        source: reqwest::Error,
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

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Headers named in Connection are hop-by-hop too.
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in HOP_BY_HOP.iter().chain(&named) {
        headers.remove(name);
    }
}

/// Sends `req` to `addr` and streams the answer back.
pub async fn forward(
    client: &reqwest::Client,
    addr: &UpstreamAddr,
    req: Request,
    timeout: Duration,
) -> Result<Response, UpstreamError> {
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let url = format!("http://{addr}{path_and_query}");
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    let request = client
        .request(parts.method, &url)
        .headers(headers)
        .timeout(timeout)
        .body(reqwest::Body::wrap_stream(body.into_data_stream()))
        .build()
        .map_err(|e| UpstreamError::Request(e.to_string()))?;
    let answer = client.execute(request).await.map_err(|source| {
        if source.is_timeout() {
            UpstreamError::Timeout {
                addr: addr.to_string(),
                timeout,
            }
        } else {
            UpstreamError::Unreachable {
                addr: addr.to_string(),
                source,
            }
        }
    })?;
    let mut resp = Response::builder().status(answer.status());
    if let Some(h) = resp.headers_mut() {
        *h = answer.headers().clone();
        strip_hop_by_hop(h);
    }
    resp.body(Body::from_stream(answer.bytes_stream()))
        .map_err(|e| UpstreamError::Request(e.to_string()))
}

/// The client for every upstream: no proxy, no redirects, no system roots (plain HTTP only;
/// crates.md pitfall 2).
pub fn client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([])
        .redirect(reqwest::redirect::Policy::none())
        .build()
}
