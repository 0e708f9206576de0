//! The external Application Load Balancer on the topology's domain: URL map, IAP per backend
//! service, then the serverless NEG into the Cloud Run front end.
//!
//! 1. **URL map** (items 55-57, `blueprint::UrlMap::route`): host rules, path matchers, exact
//!    versus `/*` patterns, longest match wins, query ignored, case-sensitive paths, the default
//!    service when nothing matches.
//! 2. **Client `x-goog-*` headers are dropped** before anything else (item 20), so nothing a
//!    client sends can pose as IAP's output.
//! 3. **`OPTIONS` with `allowHttpOptions`** skips IAP's authentication and authorization
//!    (item 31); otherwise **IAP** ([`crate::iap`]) authenticates and authorizes.
//! 4. **`gcp-iap-mode` hooks** (item 33), once the caller is authenticated:
//!    `IDENTITY` answers `{"email","sub"}` even without access; `SECURE_TOKEN_TEST` with
//!    `iap-secure-token-test-type` passes the chosen broken assertion to the backend;
//!    `CLEAR_LOGIN_COOKIE` (any caller) ends the browser session, clears IAP's cookies and
//!    redirects to the app.
//!
//!    **Browser flow** ([`crate::browser`]): `/_gcp_iap/authenticate?ticket=` turns a ticket
//!    from IAP's callback into the session cookies; later requests with the cookie authenticate
//!    as that person.
//! 5. **Toward the backend**: `x-goog-iap-jwt-assertion` (ES256, `aud`
//!    `/projects/NUM/global/backendServices/ID`, 600 s), `x-goog-authenticated-user-email` and
//!    `-id` (items 21-24), and `X-Serverless-Authorization: Bearer` with an ID token of IAP's
//!    service agent for the service's run.app URL: IAP calls Cloud Run as that agent (items 27,
//!    39), so a service that does not grant it `roles/run.invoker` answers 403 after IAP.
//! 6. **Serverless NEG**: [`run_app::serve`] in-process with
//!    [`IngressSource::ExternalLoadBalancer`], the only way a request becomes load-balancer
//!    traffic for ingress.

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blueprint::IngressSource;
use google_tokens::GoogleIdClaims;
use serde_json::json;

use crate::browser;
use crate::hosts::run_app::{self, Caller, X_SERVERLESS_AUTHORIZATION};
use crate::iap::{self, ACCOUNTS_PREFIX, Identity, TestAssertion};
use crate::state::{AppState, Scheme};

pub fn router(state: AppState) -> Router {
    Router::new().fallback(entry).with_state(state)
}

/// `gcp-iap-mode` and `iap-secure-token-test-type` from a query string.
fn iap_mode(query: Option<&str>) -> (Option<String>, Option<String>) {
    let mut mode = None;
    let mut test = None;
    for pair in query.unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("gcp-iap-mode", v)) => mode = Some(v.to_string()),
            Some(("iap-secure-token-test-type", v)) => test = Some(v.to_string()),
            _ => {}
        }
    }
    (mode, test)
}

async fn entry(State(state): State<AppState>, mut req: Request) -> Response {
    let domain = state.config.domain().to_string();
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| domain.clone());
    let path = req.uri().path().to_owned();
    let topology = state.config.topology.clone();
    let service = topology.route(&host, &path);
    let name = service.name().as_str().to_string();
    let Some(current) = state.services.get(&name) else {
        return crate::google_html::not_found();
    };
    let stripped = iap::strip_client_google_headers(req.headers_mut());
    if stripped > 0 {
        tracing::info!(service = %name, count = stripped, "iap: dropped client x-goog-* headers");
    }
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let scheme = req
        .extensions()
        .get::<Scheme>()
        .copied()
        .unwrap_or(Scheme::Https);

    if path == "/_gcp_iap/authenticate" {
        return authenticate_browser(&state, req.uri().query());
    }
    if iap_mode(req.uri().query()).0.as_deref() == Some("CLEAR_LOGIN_COOKIE") {
        return clear_login_cookie(&state, req.headers(), &domain);
    }
    let options_pass = req.method() == Method::OPTIONS && topology.iap().allow_http_options();
    if options_pass {
        tracing::info!(service = %name, decision = "allowed", reason = "OPTIONS with allowHttpOptions", "iap");
    } else {
        let resource_url = format!("https://{domain}{path}");
        let target_uri = format!(
            "https://{domain}{}",
            req.uri()
                .path_and_query()
                .map(|pq| pq.as_str())
                .unwrap_or("/")
        );
        let identity = match iap::authenticate(&state, req.headers(), &resource_url, &target_uri) {
            Ok(identity) => identity,
            Err(denial) => {
                tracing::info!(service = %name, decision = "denied", reason = ?denial, "iap");
                return denial.into_response();
            }
        };
        let (mode, test) = iap_mode(req.uri().query());
        if mode.as_deref() == Some("IDENTITY") {
            tracing::info!(service = %name, principal = %identity.email, "iap: gcp-iap-mode=IDENTITY");
            return identity_answer(&identity);
        }
        if let Err(denial) = iap::authorize(&current.iap_accessors, &identity) {
            tracing::info!(service = %name, principal = %identity.email, decision = "denied", reason = "not an IAP-secured Web App User", "iap");
            return denial.into_response();
        }
        let test = match (mode.as_deref(), test.as_deref()) {
            (Some("SECURE_TOKEN_TEST"), Some(t)) => {
                TestAssertion::parse(t).unwrap_or(TestAssertion::NotSet)
            }
            _ => TestAssertion::NotSet,
        };
        let assertion =
            match iap::assertion(&state, service.iap_audience().as_str(), &identity, test) {
                Ok(a) => a,
                Err(err) => {
                    tracing::error!(error = %err, "signing an IAP assertion failed");
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            };
        tracing::info!(service = %name, principal = %identity.email, decision = "allowed", test = ?test, "iap");
        iap::add_identity_headers(req.headers_mut(), &identity, &assertion);
    }

    // IAP calls Cloud Run as its service agent (items 27, 39).
    match agent_token(&state, service) {
        Some(token) => {
            if let Ok(v) = HeaderValue::from_str(&format!("Bearer {token}")) {
                req.headers_mut()
                    .insert(X_SERVERLESS_AUTHORIZATION.clone(), v);
            }
        }
        None => {
            req.headers_mut().remove(&X_SERVERLESS_AUTHORIZATION);
        }
    }
    run_app::serve(
        &state,
        &name,
        req,
        Caller {
            source: IngressSource::ExternalLoadBalancer,
            peer,
            scheme,
        },
    )
    .await
}

/// An ID token of IAP's service agent for the service's run.app URL.
fn agent_token(state: &AppState, service: &blueprint::Service) -> Option<String> {
    let agent = state.config.topology.iap_service_agent();
    let account = state.accounts.resolve(agent.as_str())?;
    let audience = service
        .run_app_url()
        .unwrap_or_else(|_| service.deterministic_run_app_host().url());
    let claims = GoogleIdClaims::for_service_account(
        &account.email,
        &account.unique_id,
        &audience,
        google_tokens::now_unix(),
    );
    state.keys.google.sign(&claims).ok()
}

/// `gcp-iap-mode=IDENTITY` (item 33).
fn identity_answer(identity: &Identity) -> Response {
    let body = json!({
        "email": format!("{ACCOUNTS_PREFIX}{}", identity.email),
        "sub": format!("{ACCOUNTS_PREFIX}{}", identity.user_id),
    });
    let mut resp = iap::generated(StatusCode::OK, body.to_string());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=UTF-8"),
    );
    resp
}

/// `gcp-iap-mode=CLEAR_LOGIN_COOKIE` (item 33, newer wording: back to the app): the browser
/// session ends and both of IAP's cookies are cleared. Bearer callers have nothing to forget.
fn clear_login_cookie(state: &AppState, headers: &axum::http::HeaderMap, domain: &str) -> Response {
    let name =
        browser::session_cookie_name(state.config.topology.iap().oauth2_client_id().as_str());
    for value in headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|h| browser::cookie(h, &name))
    {
        if state.sign_ins.close_session(value) {
            tracing::info!("iap: browser session cleared");
        }
    }
    let mut resp = iap::generated(StatusCode::FOUND, "");
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("https://{domain}/")) {
        h.insert(header::LOCATION, v);
    }
    for cookie in [
        format!("{name}=; Path=/; Max-Age=0; Secure; HttpOnly"),
        "GCP_IAP_UID=; Path=/; Max-Age=0; Secure; HttpOnly".to_string(),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.append(header::SET_COOKIE, v);
        }
    }
    resp
}

/// `/_gcp_iap/authenticate?ticket=...`: the last hop of the browser flow (see
/// [`crate::browser`]). A live ticket becomes a session: `__Host-GCP_IAP_AUTH_TOKEN_<hex>` and
/// `GCP_IAP_UID` (item 35), then back to the target. Without one, IAP's answer to a callback
/// that carries no token (item 16: 401 "Invalid IAP credentials: empty token").
fn authenticate_browser(state: &AppState, query: Option<&str>) -> Response {
    let pairs = crate::form::parse(query.unwrap_or("").as_bytes());
    let Some((identity, target)) =
        crate::form::get(&pairs, "ticket").and_then(|ticket| state.sign_ins.redeem_ticket(ticket))
    else {
        tracing::info!(
            decision = "denied",
            reason = "no live ticket",
            "iap browser callback"
        );
        return iap::generated(
            StatusCode::UNAUTHORIZED,
            "Invalid IAP credentials: empty token",
        );
    };
    let name =
        browser::session_cookie_name(state.config.topology.iap().oauth2_client_id().as_str());
    let user_id = identity.user_id.clone();
    let session = state.sign_ins.open_session(identity);
    let mut resp = iap::generated(StatusCode::FOUND, "");
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&target) {
        h.insert(header::LOCATION, v);
    }
    // `__Host-` requires Secure, Path=/ and no Domain; the other attributes are the emulator's.
    for cookie in [
        format!("{name}={session}; Path=/; Secure; HttpOnly"),
        format!("GCP_IAP_UID={user_id}; Path=/; Secure; HttpOnly"),
    ] {
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            h.append(header::SET_COOKIE, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hook_parameters_are_read_from_the_query() {
        assert_eq!(iap_mode(None), (None, None));
        assert_eq!(
            iap_mode(Some(
                "a=1&gcp-iap-mode=SECURE_TOKEN_TEST&iap-secure-token-test-type=AUDIENCE"
            )),
            (Some("SECURE_TOKEN_TEST".into()), Some("AUDIENCE".into()))
        );
    }
}
