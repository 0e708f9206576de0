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
//!    `CLEAR_LOGIN_COOKIE` clears IAP's cookies and redirects to the app.
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

    let options_pass = req.method() == Method::OPTIONS && topology.iap().allow_http_options();
    if options_pass {
        tracing::info!(service = %name, decision = "allowed", reason = "OPTIONS with allowHttpOptions", "iap");
    } else {
        let resource_url = format!("https://{domain}{path}");
        let identity = match iap::authenticate(&state, req.headers(), &resource_url) {
            Ok(identity) => identity,
            Err(denial) => {
                tracing::info!(service = %name, decision = "denied", reason = ?denial, "iap");
                return denial.into_response();
            }
        };
        let (mode, test) = iap_mode(req.uri().query());
        match mode.as_deref() {
            Some("IDENTITY") => {
                tracing::info!(service = %name, principal = %identity.email, "iap: gcp-iap-mode=IDENTITY");
                return identity_answer(&identity);
            }
            Some("CLEAR_LOGIN_COOKIE") => return clear_login_cookie(&domain),
            _ => {}
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

/// `gcp-iap-mode=CLEAR_LOGIN_COOKIE` (item 33, newer wording: back to the app). The browser
/// session cookies are cleared; with bearer credentials there is nothing else to forget.
fn clear_login_cookie(domain: &str) -> Response {
    let mut resp = iap::generated(StatusCode::FOUND, "");
    if let Ok(v) = HeaderValue::from_str(&format!("https://{domain}/")) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp.headers_mut().append(
        header::SET_COOKIE,
        HeaderValue::from_static("GCP_IAP_UID=; Path=/; Max-Age=0; Secure; HttpOnly"),
    );
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
