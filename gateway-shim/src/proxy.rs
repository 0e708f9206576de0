//! The last step: send the request to its backend and stream the answer back.
//!
//! - **Streaming both ways**: the request body goes to the backend as a stream (axum's body
//!   under `http_body_util::Limited`, which keeps its length), the response body back to hyper
//!   as a stream; nothing is buffered whole; the response keeps the backend's `Content-Length`.
//!   The request body is capped at the configured size (API Gateway's 32 MB):
//!   a `Content-Length` over it is refused up front (413), a chunked body that grows past it
//!   aborts the backend call and, if no response has started, gets the 413.
//! - **Deadline** (`x-google-backend.deadline`, default 15 s; item 62): Envoy's route timeout
//!   runs until the response is complete. No headers by then: **504** `upstream request
//!   timeout` (item 72). Headers sent but the body not finished: the body stream errors and the
//!   connection is reset, as Envoy resets the stream.
//! - **Failures before headers** (item 72): Envoy's texts. ESPv2 retries once on connect failure
//!   (`reset,connect-failure,refused-stream`, item 73); so does this proxy's client
//!   ([`ProxyClient::request`]: nothing of the request was sent, so it goes again whole, body
//!   included), and the message then says `retried and the latest reset reason`.
//! - **Hop-by-hop headers** (RFC 9110 section 7.6.1, [`hop_by_hop::strip`]): `Connection` and
//!   every header it names, `Keep-Alive`, `Proxy-Connection`, `TE`, `Trailer`,
//!   `Transfer-Encoding`, `Upgrade`, `Proxy-Authenticate`, `Proxy-Authorization` are dropped in
//!   both directions; `Host` is the backend's (ESPv2 rewrites it to the address host).
//! - **Connection reuse**: one pooled client for all backends: `libs/http1-pool`, not reqwest or
//!   hyper-util's pooled client ([`crate::connector`] says why). Requests always go out as
//!   HTTP/1.1, as Envoy speaks to an HTTP/1.1 cluster.

use std::error::Error as _;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Uri, Version};
use http_body::{Frame, SizeHint};
use http_body_util::{BodyExt, Empty, Limited};
use tokio::time::Instant;

use crate::connector::{BackendBody, ProxyBody, ProxyClient, ProxyError, TlsFailure};
use crate::error::GatewayError;
use crate::outbound::DnsFailure;

/// What the proxy needs to know about one call.
#[derive(Debug)]
pub struct Call {
    /// Absolute: scheme and authority say where to connect, and give `Host`.
    pub uri: Uri,
    pub deadline: Duration,
    pub max_request_bytes: u64,
}

fn empty() -> ProxyBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// Sends `request` (already authenticated, headers final except hop-by-hop and Host) to
/// `call.uri` and returns the backend's response, or the gateway's own error response.
pub async fn forward(client: &ProxyClient, request: Request<Body>, call: Call) -> Response {
    let started = Instant::now();
    let deadline_at = started + call.deadline;
    let (parts, body) = request.into_parts();
    let mut headers = parts.headers;
    hop_by_hop::strip(&mut headers);
    // Host is left for the proxy client, which replaces it with the backend's in place.

    let empty_body = HttpBody::size_hint(&body).exact() == Some(0);
    let limit = usize::try_from(call.max_request_bytes).unwrap_or(usize::MAX);
    let body = if empty_body {
        empty()
    } else {
        Limited::new(body, limit).boxed_unsync()
    };

    let outbound = outbound_request(parts.method, call.uri, headers, body);
    // One timer for the whole route deadline: it bounds the wait for the response head here,
    // then goes with the body ([`DeadlineBody`]), as Envoy's route timeout runs until the
    // response is complete. It is armed on its first poll, so only when the backend makes the
    // gateway wait.
    let mut deadline = Box::pin(tokio::time::sleep_until(deadline_at));
    let mut exchange = std::pin::pin!(client.request(outbound));
    let result = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = exchange.as_mut().poll(cx) {
            return Poll::Ready(Some(result));
        }
        deadline.as_mut().poll(cx).map(|()| None)
    })
    .await;

    let response = match result {
        None => return GatewayError::UpstreamTimeout.into_response(),
        Some(Err(failure)) => {
            return upstream_error(&failure.error, failure.retried).into_response();
        }
        Some(Ok(r)) => r,
    };

    let (mut head, body) = response.into_parts();
    hop_by_hop::strip(&mut head.headers);
    let body = DeadlineBody {
        inner: body,
        deadline,
        failed: false,
    };
    Response::from_parts(head, Body::new(body))
}

/// The request as it goes out: its header map moved in whole, HTTP/1.1 whatever the client
/// spoke to the gateway.
fn outbound_request(
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: ProxyBody,
) -> Request<ProxyBody> {
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = headers;
    request
}

/// The backend's response body under the rest of the route deadline. When the deadline passes
/// first, the body fails and hyper resets the connection rather than ending the body as if
/// complete. It keeps the backend's length (`size_hint`), so a response with `Content-Length`
/// goes out with it, headers and body in one write, instead of being re-chunked.
struct DeadlineBody {
    inner: BackendBody,
    deadline: Pin<Box<tokio::time::Sleep>>,
    /// Set once an error was yielded: the body ends there.
    failed: bool,
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Err(e))) => {
                this.failed = true;
                return Poll::Ready(Some(Err(std::io::Error::other(e))));
            }
            Poll::Ready(other) => {
                return Poll::Ready(other.map(|f| f.map_err(std::io::Error::other)));
            }
            Poll::Pending => {}
        }
        // The timer is only armed once the backend makes the body wait.
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.failed = true;
                Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "upstream request timeout",
                ))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

fn find_source<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
}

/// The source chain of `err`. None of these texts names the URL, whose query may hold a
/// client's `access_token`; the error's own text (`connect failed`) is left out as noise.
fn causes(err: &ProxyError) -> String {
    let mut out = Vec::new();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push(e.to_string());
        cur = e.source();
    }
    out.join(": ")
}

/// Envoy's words for a failure before response headers (item 72).
fn upstream_error(err: &ProxyError, retried: bool) -> GatewayError {
    if find_source::<http_body_util::LengthLimitError>(err).is_some() {
        return GatewayError::PayloadTooLarge;
    }
    if let Some(dns) = find_source::<DnsFailure>(err) {
        tracing::warn!(error = %dns, "backend name did not resolve");
        return GatewayError::NoHealthyUpstream;
    }
    let io = find_source::<std::io::Error>(err);
    let reason = if err.is_connect() {
        match io.map(std::io::Error::kind) {
            Some(std::io::ErrorKind::ConnectionRefused) => {
                "remote connection failure, transport failure reason: delayed connect error: 111"
            }
            // Envoy's connect timeout (the connector's, TCP and TLS together).
            Some(std::io::ErrorKind::TimedOut) => "connection timeout",
            // The handshake failed: Envoy names BoringSSL's reason; a backend certificate that
            // does not verify is by far the common case.
            _ if find_source::<TlsFailure>(err).is_some() => {
                "remote connection failure, transport failure reason: TLS_error: CERTIFICATE_VERIFY_FAILED"
            }
            _ => "remote connection failure",
        }
    } else {
        "connection termination"
    };
    tracing::warn!(cause = %causes(err), retried, "backend call failed before headers");
    let detail = if retried {
        format!("retried and the latest reset reason: {reason}")
    } else {
        format!("reset reason: {reason}")
    };
    GatewayError::UpstreamReset { detail }
}
