//! Forwarding a request to the process or container that plays a service, and its answer back.
//!
//! Where a service listens comes from the topology's `local.upstreams` or the emulator's own
//! `Config::upstreams`. The request goes over plain HTTP/1.1 (Cloud Run speaks HTTP/1.1 to the
//! container, item 48) with its method, path, query, headers (minus hop-by-hop ones, RFC 9110
//! section 7.6.1, [`hop_by_hop::strip`]) and body streamed; the answer comes back the same way. A
//! service that has not begun to answer within its timeout (Cloud Run's default 300 s, item 50)
//! gets 504. Like Cloud Run, it adds no header of its own except `Host` when the request has none
//! (the upstream's `host:port`).
//!
//! The client is a [`http1_pool::Pool`] of hyper HTTP/1.1 connections, plain TCP to the
//! upstream's `host:port`, neither reqwest nor hyper-util's pooled client: the upstreams are
//! plain HTTP on known addresses, so reqwest's URL parsing, redirect and proxy machinery were pure
//! cost on the IAP hop, and hyper-util's pool was 6 % of the hop's instructions (the pool crate
//! says more). At most [`MAX_IDLE_PER_UPSTREAM`] idle connections per upstream, each kept
//! [`IDLE_TIMEOUT`] at most.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderValue, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use blueprint::UpstreamAddr;
use http1_pool::{Pool, SendError};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How many idle connections are kept per upstream (nginx's `keepalive` in `bench/iap.sh`).
pub const MAX_IDLE_PER_UPSTREAM: usize = 64;

/// How long an idle connection is kept (hyper-util's pool default, which the emulator had).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

/// Why a service's answer could not be had.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("no upstream is configured for {0}")]
    NotConfigured(String),
    #[error("upstream {addr} is unreachable: {source}")]
    Unreachable {
        addr: String,
        source: std::io::Error,
    },
    #[error("upstream {addr} failed: {source}")]
    Failed { addr: String, source: hyper::Error },
    #[error("upstream {addr} did not answer within {timeout:?}")]
    Timeout { addr: String, timeout: Duration },
}

impl IntoResponse for UpstreamError {
    /// The emulator's own wording: a Cloud Run service always has somewhere to run, so Google has
    /// no page for these. Status 503 for a missing or unreachable upstream, 502 for one that
    /// broke the exchange, 504 on timeout (item 50).
    fn into_response(self) -> Response {
        let status = match self {
            UpstreamError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            UpstreamError::Failed { .. } => StatusCode::BAD_GATEWAY,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        (status, format!("iap-lb-emulator: {self}\n")).into_response()
    }
}

/// Idle HTTP/1.1 connections to the upstreams, by address. Cheap to clone (one shared pool).
pub type UpstreamClient = Pool<UpstreamAddr, Body>;

/// The client for every upstream.
pub fn client() -> UpstreamClient {
    Pool::new(MAX_IDLE_PER_UPSTREAM, IDLE_TIMEOUT)
}

/// Sends `req` to `addr` and streams the answer back.
pub async fn forward(
    client: &UpstreamClient,
    addr: &UpstreamAddr,
    req: Request,
    timeout: Duration,
) -> Result<Response, UpstreamError> {
    let (mut parts, body) = req.into_parts();
    // Origin form on the wire: the connection already says where the request goes.
    let path_and_query = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    parts.uri = Uri::from(path_and_query);
    // The client side may have spoken HTTP/2 to the load balancer; the container gets HTTP/1.1.
    parts.version = Version::HTTP_11;
    hop_by_hop::strip(&mut parts.headers);
    if !parts.headers.contains_key(header::HOST)
        && let Ok(host) = HeaderValue::from_str(addr.as_str())
    {
        parts.headers.insert(header::HOST, host);
    }
    let request = Request::from_parts(parts, body);
    let connect = || async {
        let stream = TcpStream::connect(addr.as_str()).await?;
        // Requests and answers are small and latency-bound, as for nginx's proxy_pass.
        let _ = stream.set_nodelay(true);
        Ok::<_, std::io::Error>(TokioIo::new(stream))
    };
    let answer = match tokio::time::timeout(timeout, client.send(addr, request, connect)).await {
        Err(_) => {
            return Err(UpstreamError::Timeout {
                addr: addr.to_string(),
                timeout,
            });
        }
        Ok(Err(SendError::Connect { error, .. })) => {
            return Err(UpstreamError::Unreachable {
                addr: addr.to_string(),
                source: error,
            });
        }
        Ok(Err(SendError::Exchange(source))) => {
            return Err(UpstreamError::Failed {
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A service that answers each request with the request head it read, line breaks as `|`,
    /// in an `x-head` header.
    async fn echo_head_service() -> UpstreamAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = UpstreamAddr::parse(&listener.local_addr().expect("addr").to_string())
            .expect("upstream addr");
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    loop {
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head: Vec<u8> = buf.drain(..end + 4).collect();
                            let head = String::from_utf8_lossy(&head[..end]).replace("\r\n", "|");
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx-head: {head}\r\n\r\n"
                            );
                            if stream.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                            continue;
                        }
                        let mut chunk = [0u8; 4096];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                });
            }
        });
        addr
    }

    fn head_seen(resp: &Response) -> String {
        resp.headers()["x-head"].to_str().expect("ascii").to_owned()
    }

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn the_request_goes_in_origin_form_with_the_clients_host() {
        let addr = echo_head_service().await;
        let req = Request::builder()
            .uri("https://api.example/smoothie/recipes?x=1")
            .header(header::HOST, "smoothie.example")
            .header(header::CONNECTION, "x-private")
            .header("x-private", "hop")
            .body(Body::empty())
            .expect("request");
        let resp = forward(&client(), &addr, req, LONG).await.expect("answer");
        let head = head_seen(&resp);
        assert!(
            head.starts_with("GET /smoothie/recipes?x=1 HTTP/1.1|"),
            "{head}"
        );
        assert!(head.contains("host: smoothie.example"), "{head}");
        assert!(
            !head.contains("x-private"),
            "hop-by-hop headers stay behind: {head}"
        );
    }

    #[tokio::test]
    async fn a_request_without_host_gets_the_upstreams_address() {
        let addr = echo_head_service().await;
        let req = Request::builder()
            .uri("/")
            .body(Body::empty())
            .expect("request");
        let resp = forward(&client(), &addr, req, LONG).await.expect("answer");
        let head = head_seen(&resp);
        assert!(head.contains(&format!("host: {}", addr.as_str())), "{head}");
    }

    #[tokio::test]
    async fn consecutive_requests_share_one_pooled_connection() {
        let addr = echo_head_service().await;
        let client = client();
        for _ in 0..3 {
            let req = Request::builder()
                .uri("/")
                .body(Body::empty())
                .expect("request");
            drop(forward(&client, &addr, req, LONG).await.expect("answer"));
            assert_eq!(client.idle(&addr), 1);
        }
    }

    #[tokio::test]
    async fn an_upstream_nobody_listens_on_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = UpstreamAddr::parse(&listener.local_addr().expect("addr").to_string())
            .expect("upstream addr");
        drop(listener);
        let req = Request::builder()
            .uri("/")
            .body(Body::empty())
            .expect("request");
        let err = forward(&client(), &addr, req, LONG)
            .await
            .expect_err("refused");
        assert!(matches!(err, UpstreamError::Unreachable { .. }), "{err}");
        assert_eq!(
            err.into_response().status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_service_that_never_answers_times_out() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = UpstreamAddr::parse(&listener.local_addr().expect("addr").to_string())
            .expect("upstream addr");
        // Accepts and reads, never answers.
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await.is_ok_and(|n| n > 0) {}
        });
        let req = Request::builder()
            .uri("/")
            .body(Body::empty())
            .expect("request");
        let err = forward(&client(), &addr, req, Duration::from_secs(300))
            .await
            .expect_err("timeout");
        assert!(matches!(err, UpstreamError::Timeout { .. }), "{err}");
        assert_eq!(err.into_response().status(), StatusCode::GATEWAY_TIMEOUT);
    }
}
