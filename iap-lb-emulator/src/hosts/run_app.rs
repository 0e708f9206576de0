//! The Cloud Run front end on `*.run.app` hosts: ingress, invoker IAM, then the service.
//!
//! Checks in this order, each with Google's answer (google-behaviour section 2):
//!
//! 1. **Unknown host**: a run.app host that names no service of the topology (either host form,
//!    legacy `NAME-HASH-CODE.a.run.app` or deterministic `NAME-NUMBER.REGION.run.app`) gets GFE's
//!    404 page.
//! 2. **Reserved paths** (item 44): `/eventlog`, anything under `/_ah/`, and paths ending in `z`
//!    (`/healthz`) are answered 404 by GFE before the container sees them. Google says "some"
//!    paths ending in `z` and advises avoiding all of them; the emulator reserves all of them.
//! 3. **Ingress** (items 41-43): `all` admits everyone; `internal` only internal sources;
//!    `internal-and-cloud-load-balancing` also the external load balancer. A request is internal
//!    or load-balancer traffic only when it really is: load-balancer traffic arrives through
//!    [`serve`] called in-process by the emulated load balancer with
//!    [`IngressSource::ExternalLoadBalancer`]; internal traffic comes from a peer address listed in
//!    `Config::internal_callers`. No request header can claim either. The refusal is GFE's HTML
//!    404 page (item 43, the best evidence), or 403 with `IngressRefusal::Forbidden`.
//! 4. **Invoker IAM** (items 45-47): a service with `invokerIamDisabled: true` (items 39, 45;
//!    listed among the relaxations at start) or whose invokers include `allUsers` is public and
//!    checks nothing. Otherwise the credential is `X-Serverless-Authorization: Bearer` if present,
//!    else `Authorization: Bearer` (item 46): a Google-signed ID token (the accounts.google.com
//!    keys) whose `aud` is one of the service's run.app URLs or one of its `customAudiences`
//!    (item 46; `blueprint::Service::invoker_audiences`). No credential → 403 "Your client
//!    does not have permission to get URL <code>PATH</code> from this server."; a credential that
//!    does not verify → 401 "Your client does not have permission to the requested URL" with
//!    `WWW-Authenticate: Bearer error="invalid_token"`; a valid token whose principal lacks
//!    `roles/run.invoker` → 403 (item 47: a valid token for the wrong principal is 403, not 401).
//! 5. **Toward the service**: the header that carried the credential is passed on with its
//!    signature replaced (items 27 and 46 say "stripped"; `SIGNATURE_REMOVED_BY_GOOGLE` is the
//!    placeholder Cloud Run writes, from memory, not in the reference), so the container cannot
//!    replay it; `X-Forwarded-For` gets the peer address appended to whatever the client sent
//!    (only the right-most entry is trustworthy, item 53); `X-Forwarded-Proto` is set; and
//!    `X-Cloud-Trace-Context` carries the caller's trace with a new span, or a new trace
//!    (item 53; `traceparent` is updated too when the caller sent one).
//! 6. **The service**: its upstream (`local.upstreams` or `Config::upstreams`), request and
//!    answer streamed, 504 after `Config::request_timeout` (item 50).

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::header::Entry;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use blueprint::{IngressSource, InvokerIamCheck, Member, Service};
use cloud_run::{TRACEPARENT, TraceContext, X_CLOUD_TRACE_CONTEXT};

use crate::config::IngressRefusal;
use crate::credentials::{self, SeenCredential};
use crate::google_html;
use crate::services::{PrincipalKind, ServiceState, covers};
use crate::state::{AppState, Connection, Scheme};
use crate::upstream::{self, UpstreamError};

/// The header IAP (and other callers that keep `Authorization` for the app) authenticate to
/// Cloud Run with (items 27, 46).
pub static X_SERVERLESS_AUTHORIZATION: HeaderName =
    HeaderName::from_static("x-serverless-authorization");

/// Who sent a request, as the front end sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Which ingress class the request belongs to. Only the emulator decides this.
    pub source: IngressSource,
    /// The address appended to `X-Forwarded-For`.
    pub peer: Option<IpAddr>,
    /// The scheme the client used, for `X-Forwarded-Proto`.
    pub scheme: Scheme,
}

/// A request to the run.app `host` (lowercased) from outside the load balancer: the caller is
/// internal only when its address is a declared internal caller. Called by the dispatcher
/// directly, as [`crate::hosts::lb::serve`] is.
pub async fn front_door(state: &AppState, host: &str, conn: Connection, req: Request) -> Response {
    let Some(service) = state.config.topology.service_by_run_app_host(host) else {
        tracing::info!(host = %host, decision = "denied", reason = "no service has this run.app host", "cloud run");
        return google_html::not_found();
    };
    let peer = conn.peer.map(|p| p.ip());
    let source = match peer {
        Some(ip) if state.config.internal_callers.contains(&ip) => IngressSource::Internal,
        _ => IngressSource::Internet,
    };
    let scheme = conn.scheme.unwrap_or(Scheme::Https);
    serve(
        state,
        service.name().as_str(),
        req,
        Caller {
            source,
            peer,
            scheme,
        },
    )
    .await
}

/// Runs `req` through `service`'s front end as sent by `caller`. The emulated load balancer calls
/// this in-process with [`IngressSource::ExternalLoadBalancer`] (its serverless NEG).
pub async fn serve(
    state: &AppState,
    service_name: &str,
    mut req: Request,
    caller: Caller,
) -> Response {
    let path = req.uri().path().to_owned();
    let (Some(service), Some(current)) = (
        state.config.topology.service(service_name),
        state.services.get(service_name),
    ) else {
        return google_html::not_found();
    };
    if is_reserved(&path) {
        tracing::info!(service = service_name, path = %path, decision = "denied", reason = "reserved path", "cloud run");
        return google_html::not_found();
    }
    if !current.ingress.admits(caller.source) {
        tracing::info!(
            service = service_name,
            ingress = %current.ingress,
            source = ?caller.source,
            decision = "denied",
            reason = "ingress",
            "cloud run"
        );
        return match state.config.ingress_refusal {
            IngressRefusal::NotFound => google_html::not_found(),
            IngressRefusal::Forbidden => google_html::forbidden(&path, ""),
        };
    }
    match check_invoker(state, service, &current, req.headers()) {
        Ok(Invoker::Public) => {
            tracing::info!(
                service = service_name,
                decision = "allowed",
                reason = "allUsers is an invoker",
                "cloud run"
            );
        }
        Ok(Invoker::Unchecked) => {
            tracing::info!(
                service = service_name,
                decision = "allowed",
                reason = "invokerIamDisabled: no invoker check",
                "cloud run"
            );
            // item 27 says Cloud Run strips the signature of X-Serverless-Authorization; the
            // emulator does so whether or not the check ran, so a container never gets a
            // replayable token. `Authorization` is the app's own header then (item 46).
            strip_signature(req.headers_mut(), &X_SERVERLESS_AUTHORIZATION);
        }
        Ok(Invoker::Member {
            principal,
            header,
            credential,
        }) => {
            tracing::info!(service = service_name, principal = %principal, decision = "allowed", reason = "run.invoker", "cloud run");
            // The unsigned header was built when this credential was first seen.
            match credential.unsigned() {
                Some(v) => {
                    req.headers_mut().insert(header, v.clone());
                }
                None => strip_signature(req.headers_mut(), &header),
            }
        }
        Err(denial) => {
            tracing::info!(service = service_name, decision = "denied", reason = ?denial, "cloud run");
            return denial.into_response_for(&path);
        }
    }
    add_forwarding_headers(req.headers_mut(), caller);
    let Some(addr) = state.config.upstream(service_name) else {
        return UpstreamError::NotConfigured(service_name.to_string()).into_response();
    };
    // An injected delay counts against the service's timeout, as a slow container would.
    let timeout = state.config.request_timeout;
    if !current.delay.is_zero() {
        if current.delay >= timeout {
            tokio::time::sleep(timeout).await;
            return UpstreamError::Timeout {
                addr: addr.to_string(),
                timeout,
            }
            .into_response();
        }
        tokio::time::sleep(current.delay).await;
    }
    match upstream::forward(&state.upstream_client, addr, req, timeout - current.delay).await {
        Ok(resp) => resp,
        Err(err) => {
            tracing::warn!(service = service_name, error = %err, "cloud run upstream");
            err.into_response()
        }
    }
}

/// Item 44: paths GFE keeps for itself on run.app.
fn is_reserved(path: &str) -> bool {
    path == "/eventlog" || path.starts_with("/_ah/") || path.ends_with('z')
}

/// Who may invoke, once IAM has looked.
#[derive(Debug)]
enum Invoker {
    /// `allUsers` holds the role: nothing is checked.
    Public,
    /// `invokerIamDisabled: true`: the check is off (items 39, 45); no token is verified.
    Unchecked,
    /// A verified principal holding the role, the header that carried its token and that
    /// header's value as remembered.
    Member {
        principal: String,
        header: HeaderName,
        credential: Arc<SeenCredential>,
    },
}

/// Why IAM refused, each with Cloud Run's answer (item 47).
#[derive(Debug)]
pub enum InvokerDenial {
    /// No bearer credential: 403.
    NoCredential,
    /// A credential that is not a valid Google ID token for this service: 401.
    InvalidToken(String),
    /// A valid token whose principal lacks `roles/run.invoker`: 403.
    NotInvoker(String),
}

impl InvokerDenial {
    fn into_response_for(self, path: &str) -> Response {
        match self {
            InvokerDenial::InvalidToken(_) => google_html::unauthorized(),
            InvokerDenial::NoCredential | InvokerDenial::NotInvoker(_) => {
                google_html::forbidden(path, "")
            }
        }
    }
}

/// The token of a `Bearer` credential (scheme case-insensitive), when it is one.
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn check_invoker(
    state: &AppState,
    service: &Service,
    current: &ServiceState,
    headers: &HeaderMap,
) -> Result<Invoker, InvokerDenial> {
    if current.invoker_iam == InvokerIamCheck::Disabled {
        return Ok(Invoker::Unchecked);
    }
    if current.invokers.contains(&Member::AllUsers) {
        return Ok(Invoker::Public);
    }
    let (header, value) = match headers.get(&X_SERVERLESS_AUTHORIZATION) {
        Some(value) => (X_SERVERLESS_AUTHORIZATION.clone(), value),
        None => match headers.get(axum::http::header::AUTHORIZATION) {
            Some(value) => (axum::http::header::AUTHORIZATION, value),
            None => return Err(InvokerDenial::NoCredential),
        },
    };
    // item 46: the run.app URLs or one of the service's custom audiences.
    let policy = state
        .policies
        .invoker(service.name().as_str())
        .ok_or_else(|| InvokerDenial::InvalidToken("no such service".to_string()))?;
    let keys = state
        .keys
        .google
        .key_set()
        .map_err(|e| InvokerDenial::InvalidToken(e.to_string()))?;
    let now = google_tokens::now_unix();
    let invalid = |e: google_tokens::VerifyError| InvokerDenial::InvalidToken(e.to_string());
    let credential = match state.credentials.get(value) {
        // Seen before: the header is not read again, the token is checked again.
        Some(seen) => {
            state
                .signatures
                .verify_seen(seen.token(), Some(seen.verified()), &keys, policy, now)
                .map_err(invalid)?;
            seen
        }
        None => {
            let text = value.to_str().ok();
            let token = text
                .and_then(bearer_token)
                .ok_or_else(|| InvokerDenial::InvalidToken("not a bearer token".to_string()))?;
            let verified = state
                .signatures
                .verify_token(token, &keys, policy, now)
                .map_err(invalid)?;
            state
                .credentials
                .remember(value, text.unwrap_or_default(), token, verified)
        }
    };
    let verified = credential.verified();
    let claims = verified.claims();
    // The principal is the token's email; a token without one names its account by unique id.
    let principal = match (claims.email(), claims.sub()) {
        (Some(email), _) => email.to_string(),
        (None, Some(sub)) => state
            .accounts
            .by_unique_id(sub)
            .map_or_else(|| sub.to_string(), |a| a.email.clone()),
        (None, None) => {
            return Err(InvokerDenial::InvalidToken(
                "the token names no principal (no email, no sub)".to_string(),
            ));
        }
    };
    let kind = PrincipalKind::of(&principal, &state.accounts);
    if current.invokers.iter().any(|m| covers(m, &principal, kind)) {
        Ok(Invoker::Member {
            principal,
            header,
            credential,
        })
    } else {
        Err(InvokerDenial::NotInvoker(principal))
    }
}

/// `Bearer h.p.s` → `Bearer h.p.SIGNATURE_REMOVED_BY_GOOGLE` (item 27).
fn strip_signature(headers: &mut HeaderMap, header: &HeaderName) {
    if let Some(v) = headers
        .get(header)
        .and_then(|v| v.to_str().ok())
        .and_then(credentials::unsigned)
    {
        headers.insert(header.clone(), v);
    }
}

fn add_forwarding_headers(headers: &mut HeaderMap, caller: Caller) {
    let xff = HeaderName::from_static("x-forwarded-for");
    if let Some(peer) = caller.peer {
        // One lookup of the (non-standard, so hashed) name to read and to write it.
        let entry = headers.entry(xff);
        let mut value = String::with_capacity(64);
        if let Entry::Occupied(existing) = &entry
            && let Some(existing) = existing
                .get()
                .to_str()
                .ok()
                .filter(|v| !v.trim().is_empty())
        {
            value.push_str(existing);
            value.push_str(", ");
        }
        push_ip(&mut value, peer);
        // (`try_from` a `String` takes its buffer; `from_str` would copy it.)
        if let Ok(v) = HeaderValue::try_from(value) {
            match entry {
                Entry::Occupied(mut existing) => {
                    existing.insert(v);
                }
                Entry::Vacant(vacant) => {
                    vacant.insert(v);
                }
            }
        }
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(caller.scheme.as_str()),
    );
    let (caller_trace, had_traceparent) = TraceContext::from_headers_noting_traceparent(headers);
    let trace = caller_trace.unwrap_or_else(TraceContext::new_root).child();
    if let Ok(v) = HeaderValue::try_from(trace.x_cloud_trace_context()) {
        headers.insert(X_CLOUD_TRACE_CONTEXT.clone(), v);
    }
    if had_traceparent
        && let Some(v) = trace
            .traceparent()
            .and_then(|t| HeaderValue::try_from(t).ok())
    {
        headers.insert(TRACEPARENT.clone(), v);
    }
}

/// Appends `ip` as its `Display` form reads. IPv4, every request's `X-Forwarded-For`, is
/// written digit by digit: through the formatting machinery it cost a quarter of this module's
/// forwarding headers (callgrind, `tools/bench/instructions.sh`).
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                if octet >= 100 {
                    out.push(char::from(b'0' + octet / 100));
                }
                if octet >= 10 {
                    out.push(char::from(b'0' + octet / 10 % 10));
                }
                out.push(char::from(b'0' + octet % 10));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write;
            let _ = write!(out, "{v6}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_they_display() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.9.99.100",
            "255.255.255.255",
            "192.168.10.1",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:10.0.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("address");
            let mut out = String::from("x, ");
            push_ip(&mut out, ip);
            assert_eq!(out, format!("x, {ip}"));
        }
    }

    #[test]
    fn reserved_paths_follow_item_44() {
        for p in ["/healthz", "/readyz", "/eventlog", "/_ah/start", "/quiz"] {
            assert!(is_reserved(p), "{p}");
        }
        for p in ["/", "/smoothie", "/eventlogs", "/_ah", "/healthz/x"] {
            assert!(!is_reserved(p), "{p}");
        }
    }

    #[test]
    fn the_signature_is_replaced_and_the_rest_kept() {
        let mut headers = HeaderMap::new();
        headers.insert(
            X_SERVERLESS_AUTHORIZATION.clone(),
            HeaderValue::from_static("Bearer aaa.bbb.ccc"),
        );
        strip_signature(&mut headers, &X_SERVERLESS_AUTHORIZATION);
        assert_eq!(
            headers[&X_SERVERLESS_AUTHORIZATION],
            "Bearer aaa.bbb.SIGNATURE_REMOVED_BY_GOOGLE"
        );
    }

    #[test]
    fn x_forwarded_for_is_appended_to_not_replaced() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        add_forwarding_headers(
            &mut headers,
            Caller {
                source: IngressSource::Internet,
                peer: Some(IpAddr::from([10, 0, 0, 7])),
                scheme: Scheme::Https,
            },
        );
        assert_eq!(headers["x-forwarded-for"], "6.6.6.6, 10.0.0.7");
        assert_eq!(headers["x-forwarded-proto"], "https");
        let trace = headers["x-cloud-trace-context"].to_str().expect("ascii");
        assert!(
            TraceContext::parse_x_cloud_trace_context(trace).is_some(),
            "{trace}"
        );
    }

    #[test]
    fn a_callers_trace_is_continued_with_a_new_span() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-cloud-trace-context",
            HeaderValue::from_static("105445aa7843bc8bf206b12000100000/1;o=1"),
        );
        add_forwarding_headers(
            &mut headers,
            Caller {
                source: IngressSource::Internet,
                peer: None,
                scheme: Scheme::Https,
            },
        );
        let trace = headers["x-cloud-trace-context"].to_str().expect("ascii");
        assert!(
            trace.starts_with("105445aa7843bc8bf206b12000100000/"),
            "{trace}"
        );
        assert!(
            !trace.starts_with("105445aa7843bc8bf206b12000100000/1;"),
            "{trace}"
        );
        assert!(trace.ends_with(";o=1"), "{trace}");
    }
}
