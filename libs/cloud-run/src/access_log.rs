//! The request's scope and the access log: the application runs as its request
//! ([`crate::request_scope`]), and one log line is written per response.
//!
//! The scope carries `request_id`, `trace_id`, `span_id` and `trace_sampled` into every line
//! written while the request is served; the [`crate::logging`] layer lifts the trace fields into
//! Cloud Logging's `logging.googleapis.com/trace`, `spanId` and `trace_sampled` keys, so every
//! line a handler logs is grouped under its request in the Logs Explorer, warnings included
//! under `RUST_LOG=warn`. (It was an ERROR-level tracing span, which cost 7 % of the gateway's
//! hop; `request_scope` says why.)
//!
//! The access line (target `cloud_run::access_log`) carries Cloud Logging's `httpRequest` object as
//! `httpRequest.*` fields (<https://cloud.google.com/logging/docs/reference/v2/rest/v2/LogEntry#HttpRequest>).
//! Its severity follows Cloud Run's own request log: ERROR for 5xx, WARNING for 4xx, INFO otherwise;
//! silence it with `RUST_LOG=info,cloud_run::access_log=off`. It is written when the response head is
//! ready, so `latency` is time to first byte and `responseSize` is known only for bodies of known length.
//!
//! No header is logged except `User-Agent`: `Authorization`, `Cookie`, `X-Goog-IAP-JWT-Assertion`,
//! `X-Serverless-Authorization` and `X-Forwarded-Authorization` carry credentials, and an allow-list is
//! the only way to be sure no new one slips in.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::{
    body::HttpBody as _,
    extract::{ConnectInfo, Request},
    response::Response,
};
use http::{HeaderMap, HeaderValue, Method, Uri, header};
use tracing::{Level, field};

use crate::request_scope::RequestScope;
use crate::{RequestId, TraceContext};

/// Runs the request through `next` inside its span and logs it when the response head is ready.
/// Called by [`crate::layers`]' service once the request id and the trace context are settled.
///
/// The line's strings (URL, method, user agent, sizes) are only built when its severity is
/// enabled: at `RUST_LOG=warn` a 200 costs no formatting, only a few reference-counted copies
/// taken before the request is handed on.
pub(crate) async fn record<F, R>(request: Request, next: F) -> Response
where
    F: FnOnce(Request) -> R,
    R: Future<Output = Result<Response, Infallible>>,
{
    let start = tokio::time::Instant::now();
    let facts = RequestFacts::of(&request);

    let scope = RequestScope {
        request_id: request.extensions().get::<RequestId>().cloned(),
        trace: request.extensions().get::<TraceContext>().copied(),
    };
    let response = match scope.clone().run(next(request)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };

    let status = response.status().as_u16();
    macro_rules! access_line {
        ($level:expr) => {
            if tracing::enabled!(target: "cloud_run::access_log", $level) {
                let latency = duration_json(start.elapsed());
                let response_size =
                    body_size(response.headers(), response.body().size_hint().exact())
                        .map(|n| n.to_string());
                let request_size = facts.size.map(|n| n.to_string());
                let url = facts.url();
                let (method, path) = (facts.method.as_str(), facts.uri.path());
                let user_agent = facts.user_agent.as_ref().and_then(|v| v.to_str().ok());
                tracing::event!(
                    target: "cloud_run::access_log",
                    $level,
                    httpRequest.requestMethod = method,
                    httpRequest.requestUrl = url.as_str(),
                    httpRequest.status = status,
                    httpRequest.latency = latency.as_str(),
                    httpRequest.userAgent = user_agent,
                    httpRequest.remoteIp = facts.remote_ip.map(field::display),
                    httpRequest.protocol = facts.protocol,
                    httpRequest.requestSize = request_size.as_deref(),
                    httpRequest.responseSize = response_size.as_deref(),
                    "{method} {path} {status}",
                )
            }
        };
    }
    scope.run_sync(|| match status {
        500.. => access_line!(Level::ERROR),
        400..=499 => access_line!(Level::WARN),
        _ => access_line!(Level::INFO),
    });
    response
}

/// What the access line says about the request, taken before the request is handed on: copies
/// of reference-counted parts, turned into text by [`RequestFacts::url`] only for a line that is
/// written.
struct RequestFacts {
    method: Method,
    uri: Uri,
    host: Option<HeaderValue>,
    forwarded_proto: Option<HeaderValue>,
    user_agent: Option<HeaderValue>,
    remote_ip: Option<IpAddr>,
    protocol: &'static str,
    size: Option<u64>,
}

impl RequestFacts {
    fn of(request: &Request) -> Self {
        // One pass over the headers instead of a lookup per header.
        let (mut host, mut forwarded_proto, mut user_agent) = (None, None, None);
        let (mut forwarded_for, mut content_length) = (None, None);
        for (name, value) in request.headers() {
            if name == header::HOST {
                host.get_or_insert(value);
            } else if name == header::USER_AGENT {
                user_agent.get_or_insert(value);
            } else if name == header::CONTENT_LENGTH {
                content_length.get_or_insert(value);
            } else if name.as_str() == "x-forwarded-proto" {
                forwarded_proto.get_or_insert(value);
            } else if name.as_str() == "x-forwarded-for" {
                // The last one counts (see `remote_ip`).
                forwarded_for = Some(value);
            }
        }
        Self {
            method: request.method().clone(),
            uri: request.uri().clone(),
            host: host.cloned(),
            forwarded_proto: forwarded_proto.cloned(),
            user_agent: user_agent.cloned(),
            remote_ip: remote_ip(forwarded_for, request),
            protocol: protocol(request.version()),
            size: content_length
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())
                .or(request.body().size_hint().exact()),
        }
    }

    /// `requestUrl`: scheme, host, path and query, as Cloud Logging wants it.
    fn url(&self) -> String {
        let uri = &self.uri;
        // Query values are never logged: they carry credentials (ESPv2 reads `?access_token=`,
        // API keys travel as `?key=`). Parameter names stay, so the line still says what was asked.
        let path_and_query = match uri.query() {
            Some(query) => format!("{}?{}", uri.path(), redact_query_values(query)),
            None => uri.path().to_owned(),
        };
        // Cloud Run terminates TLS and says which scheme the client used in X-Forwarded-Proto;
        // HTTP/2 carries the host as the URI authority.
        let host = self
            .host
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()));
        match host {
            Some(host) => {
                let scheme = self
                    .forwarded_proto
                    .as_ref()
                    .and_then(first_token)
                    .unwrap_or("http");
                format!("{scheme}://{host}{path_and_query}")
            }
            None => path_and_query,
        }
    }
}

/// The client address. Cloud Run's front end connects to the container itself and *appends* the address
/// it saw to `X-Forwarded-For`, so only the right-most entry is trustworthy (earlier ones are whatever the
/// client wrote). Without the header, the TCP peer. In a deployment where clients reach the container
/// directly the header is client-written; this value is for logs, never for decisions.
fn remote_ip(forwarded_for: Option<&HeaderValue>, request: &Request) -> Option<IpAddr> {
    let forwarded = forwarded_for
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|last| last.trim().parse().ok());
    forwarded.or_else(|| {
        request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip())
    })
}

/// The first comma-separated entry of a header value, trimmed; none when empty.
fn first_token(value: &HeaderValue) -> Option<&str> {
    value
        .to_str()
        .ok()?
        .split(',')
        .next()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

fn protocol(version: http::Version) -> &'static str {
    match version {
        http::Version::HTTP_09 => "HTTP/0.9",
        http::Version::HTTP_10 => "HTTP/1.0",
        http::Version::HTTP_2 => "HTTP/2",
        http::Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/1.1",
    }
}

/// A body's length when known up front: `Content-Length`, else an exact size hint.
fn body_size(headers: &HeaderMap, exact_hint: Option<u64>) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .or(exact_hint)
}

/// A duration as protobuf JSON writes one: seconds with up to nine decimals and an `s`, e.g. `0.012s`.
pub(crate) fn duration_json(d: Duration) -> String {
    let nanos = d.subsec_nanos();
    if nanos == 0 {
        return format!("{}s", d.as_secs());
    }
    let fraction = format!("{nanos:09}");
    format!("{}.{}s", d.as_secs(), fraction.trim_end_matches('0'))
}

/// `a=1&access_token=eyJ...&flag` becomes `a=REDACTED&access_token=REDACTED&flag`.
fn redact_query_values(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) => format!("{name}=REDACTED"),
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_written_as_protobuf_duration_json() {
        let cases = [
            (Duration::from_millis(12), "0.012s"),
            (Duration::from_secs(3), "3s"),
            (Duration::new(1, 500_000_000), "1.5s"),
            (Duration::from_nanos(1), "0.000000001s"),
            (Duration::ZERO, "0s"),
        ];
        for (duration, expected) in cases {
            assert_eq!(duration_json(duration), expected, "{duration:?}");
        }
    }
}
