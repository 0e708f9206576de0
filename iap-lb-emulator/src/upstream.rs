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
//! The client is hyper's HTTP/1.1 connection API under a pool of its own ([`UpstreamClient`]),
//! neither reqwest nor hyper-util's pooled client: the upstreams are plain HTTP on known
//! addresses, so reqwest's URL parsing, redirect and proxy machinery were pure cost on the IAP
//! hop, and callgrind put hyper-util's pool (checkout, its keyed map and the `Pooled` guard) at
//! about 6 % of the hop's instructions (`tools/bench/instructions.sh`). The pool here is a list
//! of idle connections per upstream:
//!
//! - a connection goes back to the list when its response body has been read to the end (or was
//!   empty), never while a response is still streaming, and only while hyper holds it open;
//! - the most recently used idle connection is taken first; a taken connection is awaited until
//!   hyper is ready to send on it (a closed one is dropped and the next tried);
//! - a request that a reused connection refused before sending anything (the service had just
//!   closed it) goes once more over a new connection, as hyper-util's client retries it;
//! - at most [`MAX_IDLE_PER_UPSTREAM`] idle connections are kept per upstream; a service that
//!   closes an idle connection is noticed by hyper, which closes it here too.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::uri::PathAndQuery;
use axum::http::{HeaderValue, StatusCode, Uri, Version, header};
use axum::response::{IntoResponse, Response};
use blueprint::UpstreamAddr;
use bytes::Bytes;
use hyper::body::{Body as _, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How many idle connections are kept per upstream (nginx's `keepalive` in `bench/iap.sh`).
pub const MAX_IDLE_PER_UPSTREAM: usize = 64;

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
#[derive(Debug, Clone, Default)]
pub struct UpstreamClient {
    idle: Arc<Mutex<HashMap<UpstreamAddr, Vec<SendRequest<Body>>>>>,
}

/// The client for every upstream.
pub fn client() -> UpstreamClient {
    UpstreamClient::default()
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
    let answer = match tokio::time::timeout(timeout, client.send(addr, request)).await {
        Err(_) => {
            return Err(UpstreamError::Timeout {
                addr: addr.to_string(),
                timeout,
            });
        }
        Ok(result) => result?,
    };
    let (mut parts, body) = answer.into_parts();
    hop_by_hop::strip(&mut parts.headers);
    Ok(Response::from_parts(parts, Body::new(body)))
}

impl UpstreamClient {
    /// Sends `req` over an idle connection to `addr`, or a new one.
    async fn send(
        &self,
        addr: &UpstreamAddr,
        mut req: Request,
    ) -> Result<hyper::Response<PooledBody>, UpstreamError> {
        let failed = |source| UpstreamError::Failed {
            addr: addr.to_string(),
            source,
        };
        if let Some(mut sender) = self.checkout(addr).await {
            match sender.try_send_request(req).await {
                Ok(resp) => return Ok(self.pooled(addr, sender, resp)),
                Err(mut refused) => match refused.take_message() {
                    // Never sent: the connection closed under it. Once more, on a new one.
                    Some(unsent) => req = unsent,
                    None => return Err(failed(refused.into_error())),
                },
            }
        }
        let mut sender = self.connect(addr).await?;
        let resp = sender.send_request(req).await.map_err(failed)?;
        Ok(self.pooled(addr, sender, resp))
    }

    /// The most recently used idle connection to `addr` that hyper can send on.
    async fn checkout(&self, addr: &UpstreamAddr) -> Option<SendRequest<Body>> {
        loop {
            let taken = self.lock().get_mut(addr).and_then(Vec::pop);
            let mut sender = taken?;
            if !sender.is_closed() && sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// A new connection to `addr`; its I/O runs in a task of its own until it closes.
    async fn connect(&self, addr: &UpstreamAddr) -> Result<SendRequest<Body>, UpstreamError> {
        let stream = TcpStream::connect(addr.as_str()).await.map_err(|source| {
            UpstreamError::Unreachable {
                addr: addr.to_string(),
                source,
            }
        })?;
        // Requests and answers are small and latency-bound, as for nginx's proxy_pass.
        let _ = stream.set_nodelay(true);
        let (sender, connection) =
            http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|source| UpstreamError::Failed {
                    addr: addr.to_string(),
                    source,
                })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "upstream connection ended");
            }
        });
        Ok(sender)
    }

    /// The response with its body tied to the connection, which goes back to the pool at the end.
    fn pooled(
        &self,
        addr: &UpstreamAddr,
        sender: SendRequest<Body>,
        resp: hyper::Response<Incoming>,
    ) -> hyper::Response<PooledBody> {
        resp.map(|inner| PooledBody {
            inner,
            give_back: Some(GiveBack {
                client: self.clone(),
                addr: addr.clone(),
                sender,
            }),
        })
    }

    fn put(&self, addr: UpstreamAddr, sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        let list = idle.entry(addr).or_default();
        if list.len() < MAX_IDLE_PER_UPSTREAM {
            list.push(sender);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UpstreamAddr, Vec<SendRequest<Body>>>> {
        match self.idle.lock() {
            Ok(guard) => guard,
            // Only whole pushes and pops happen under the lock.
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// How many idle connections to `addr` the pool holds.
    pub fn idle_connections(&self, addr: &UpstreamAddr) -> usize {
        self.lock().get(addr).map_or(0, Vec::len)
    }
}

/// Where a connection goes once its response is complete.
struct GiveBack {
    client: UpstreamClient,
    addr: UpstreamAddr,
    sender: SendRequest<Body>,
}

/// A service's response body, streamed as it comes; the connection returns to the pool when
/// the body has ended, and is dropped (hyper closes it) when the body fails or is abandoned.
pub struct PooledBody {
    inner: Incoming,
    give_back: Option<GiveBack>,
}

impl PooledBody {
    fn give_back(&mut self) {
        if let Some(GiveBack {
            client,
            addr,
            sender,
        }) = self.give_back.take()
        {
            client.put(addr, sender);
        }
    }
}

impl hyper::body::Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Err(_)) => this.give_back = None,
            None => this.give_back(),
            Some(Ok(_)) if this.inner.is_end_stream() => this.give_back(),
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for PooledBody {
    /// A body hyper never had to read (empty, or `HEAD`) is complete too.
    fn drop(&mut self) {
        if self.inner.is_end_stream() {
            self.give_back();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A service that answers every request on a connection with `body`, closing the connection
    /// after `per_connection` answers; it counts the connections it accepted and sends back the
    /// request head it read in an `x-head` header (line breaks as `|`).
    async fn service(
        body: &'static str,
        per_connection: usize,
    ) -> (UpstreamAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = UpstreamAddr::parse(&listener.local_addr().expect("addr").to_string())
            .expect("upstream addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    for _ in 0..per_connection {
                        let head = loop {
                            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                                let head: Vec<u8> = buf.drain(..end + 4).collect();
                                break head;
                            }
                            let mut chunk = [0u8; 4096];
                            match stream.read(&mut chunk).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                            }
                        };
                        let head =
                            String::from_utf8_lossy(&head[..head.len() - 4]).replace("\r\n", "|");
                        let answer = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nx-head: {head}\r\n\r\n{body}",
                            body.len()
                        );
                        if stream.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                    // Done: the service closes the connection (a keep-alive limit).
                });
            }
        });
        (addr, accepted)
    }

    fn get(path: &str) -> Request {
        Request::builder()
            .uri(path)
            .header(header::HOST, "smoothie.example")
            .body(Body::empty())
            .expect("request")
    }

    async fn text(resp: Response) -> String {
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    const LONG: Duration = Duration::from_secs(30);

    #[tokio::test]
    async fn sequential_requests_reuse_one_connection() {
        let (addr, accepted) = service("ok", usize::MAX).await;
        let client = client();
        for _ in 0..5 {
            let resp = forward(&client, &addr, get("/smoothie"), LONG)
                .await
                .expect("answer");
            assert_eq!(text(resp).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        assert_eq!(client.idle_connections(&addr), 1);
    }

    #[tokio::test]
    async fn the_request_goes_in_origin_form_with_the_clients_host() {
        let (addr, _) = service("ok", usize::MAX).await;
        let resp = forward(&client(), &addr, get("/smoothie/recipes?x=1"), LONG)
            .await
            .expect("answer");
        let head = resp.headers()["x-head"].to_str().expect("ascii").to_owned();
        assert!(
            head.starts_with("GET /smoothie/recipes?x=1 HTTP/1.1|"),
            "{head}"
        );
        assert!(head.contains("host: smoothie.example"), "{head}");
    }

    #[tokio::test]
    async fn a_request_without_host_gets_the_upstreams_address() {
        let (addr, _) = service("ok", usize::MAX).await;
        let req = Request::builder()
            .uri("/")
            .body(Body::empty())
            .expect("request");
        let resp = forward(&client(), &addr, req, LONG).await.expect("answer");
        let head = resp.headers()["x-head"].to_str().expect("ascii").to_owned();
        assert!(head.contains(&format!("host: {}", addr.as_str())), "{head}");
    }

    #[tokio::test]
    async fn a_connection_the_service_closed_is_replaced() {
        let (addr, accepted) = service("ok", 1).await;
        let client = client();
        for _ in 0..3 {
            let resp = forward(&client, &addr, get("/"), LONG)
                .await
                .expect("answer");
            assert_eq!(text(resp).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_response_still_streaming_keeps_its_connection_out_of_the_pool() {
        let (addr, accepted) = service("ok", usize::MAX).await;
        let client = client();
        let unread = forward(&client, &addr, get("/"), LONG)
            .await
            .expect("answer");
        assert_eq!(client.idle_connections(&addr), 0);
        let second = forward(&client, &addr, get("/"), LONG)
            .await
            .expect("answer");
        assert_eq!(text(second).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        assert_eq!(text(unread).await, "ok");
        assert_eq!(client.idle_connections(&addr), 2);
    }

    #[tokio::test]
    async fn an_upstream_nobody_listens_on_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = UpstreamAddr::parse(&listener.local_addr().expect("addr").to_string())
            .expect("upstream addr");
        drop(listener);
        let err = forward(&client(), &addr, get("/"), LONG)
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
        let err = forward(&client(), &addr, get("/"), Duration::from_secs(300))
            .await
            .expect_err("timeout");
        assert!(matches!(err, UpstreamError::Timeout { .. }), "{err}");
        assert_eq!(err.into_response().status(), StatusCode::GATEWAY_TIMEOUT);
    }
}
