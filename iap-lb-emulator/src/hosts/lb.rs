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
//!    redirects to the app; `FORCE_LOGIN` sends even a signed-in caller to Google's sign-in,
//!    coming back without the mode; `SESSION_REFRESHER` answers a live browser session with a
//!    small page and anyone else as an unauthenticated request (item 34).
//!
//!    **IAP's paths** (item 34): everything under `/_gcp_iap/` is IAP's and never reaches the
//!    backend: `clear_login_cookie`, `identity`, `do_session_refresh`, `session_refresher`,
//!    `authenticate` (below); `gcip_authenticate` answers that Identity Platform is not emulated.
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

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blueprint::IngressSource;
use google_tokens::GoogleIdClaims;
use serde_json::json;

use crate::browser;
use crate::hosts::run_app::{self, Caller, X_SERVERLESS_AUTHORIZATION};
use crate::iap::{self, ACCOUNTS_PREFIX, Identity, TestAssertion};
use crate::state::{AppState, Connection, Scheme};

/// `gcp-iap-mode` and `iap-secure-token-test-type` from a query string.
fn iap_mode(query: Option<&str>) -> (Option<String>, Option<String>) {
    // Most requests carry no query: nothing to split.
    let Some(query) = query.filter(|q| !q.is_empty()) else {
        return (None, None);
    };
    let mut mode = None;
    let mut test = None;
    for pair in query.split('&') {
        match pair.split_once('=') {
            Some(("gcp-iap-mode", v)) => mode = Some(v.to_string()),
            Some(("iap-secure-token-test-type", v)) => test = Some(v.to_string()),
            _ => {}
        }
    }
    (mode, test)
}

/// The `gcp-iap-mode` hooks (items 33, 34). Any other value is ignored, as an unknown query
/// parameter would be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `IDENTITY`: `{"email","sub"}` of the caller (item 33).
    Identity,
    /// `CLEAR_LOGIN_COOKIE`: end the browser session (item 33).
    ClearLoginCookie,
    /// `SECURE_TOKEN_TEST` with its test type (item 33).
    SecureTokenTest(TestAssertion),
    /// `FORCE_LOGIN`: back to Google's sign-in even when signed in (item 34, observed).
    ForceLogin,
    /// `SESSION_REFRESHER`: the hidden iframe's session check (item 34, observed).
    SessionRefresher,
}

impl Mode {
    fn of(query: Option<&str>) -> Option<Self> {
        let (mode, test) = iap_mode(query);
        Some(match mode.as_deref()? {
            "IDENTITY" => Self::Identity,
            "CLEAR_LOGIN_COOKIE" => Self::ClearLoginCookie,
            "SECURE_TOKEN_TEST" => Self::SecureTokenTest(
                test.as_deref()
                    .and_then(TestAssertion::parse)
                    .unwrap_or(TestAssertion::NotSet),
            ),
            "FORCE_LOGIN" => Self::ForceLogin,
            "SESSION_REFRESHER" => Self::SessionRefresher,
            _ => return None,
        })
    }
}

/// `path_and_query` without its `gcp-iap-mode` parameter, so a sign-in started by a hook does
/// not come back to the hook.
fn without_mode(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else {
        return path_and_query.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.starts_with("gcp-iap-mode=") && !pair.is_empty())
        .collect();
    if kept.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{}", kept.join("&"))
    }
}

/// One request on the load balancer's domain, from the URL map to the serverless NEG (see the
/// module documentation). Called by the dispatcher directly, not through a router of its own:
/// this is the hot path of every scenario and benchmark.
///
/// The request is taken apart once, so the host, path and query are read in place for the
/// whole check while IAP rewrites the headers beside them.
pub async fn serve(state: &AppState, conn: Connection, req: Request) -> Response {
    let (mut parts, body) = req.into_parts();
    let domain = state.config.domain();
    let topology = &state.config.topology;
    let path = parts.uri.path();
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or(domain);
    let service = topology.route(host, path);
    let name = service.name().as_str();
    let Some(current) = state.services.get(name) else {
        return crate::google_html::not_found();
    };
    let stripped = iap::strip_client_google_headers(&mut parts.headers);
    if stripped > 0 {
        tracing::info!(service = %name, count = stripped, "iap: dropped client x-goog-* headers");
    }
    let peer = conn.peer.map(|p| p.ip());
    let scheme = conn.scheme.unwrap_or(Scheme::Https);

    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    let query = parts.uri.query();
    let mode = Mode::of(query);
    if let Some(rest) = path.strip_prefix("/_gcp_iap/") {
        // IAP's own paths (item 34): answered by IAP, never the backend's.
        return gcp_iap_path(state, rest, query, &parts.headers, domain);
    }
    match mode {
        Some(Mode::ClearLoginCookie) => {
            return clear_login_cookie(state, &parts.headers, domain);
        }
        Some(Mode::ForceLogin) => {
            let target = format!("https://{domain}{}", without_mode(path_and_query));
            tracing::info!(service = %name, "iap: gcp-iap-mode=FORCE_LOGIN");
            return iap::Denial::EmptyToken {
                location: iap::sign_in_location(state, &target),
                ajax: false,
            }
            .into_response();
        }
        Some(Mode::SessionRefresher) => {
            return session_refresher(state, &parts.headers, domain, path_and_query);
        }
        _ => {}
    }
    let options_pass = parts.method == Method::OPTIONS && topology.iap().allow_http_options();
    if options_pass {
        tracing::info!(service = %name, decision = "allowed", reason = "OPTIONS with allowHttpOptions", "iap");
    } else {
        let target = iap::RequestTarget {
            domain,
            path,
            path_and_query,
        };
        let identity = match iap::authenticate(state, &parts.headers, target) {
            Ok(identity) => identity,
            Err(denial) => {
                tracing::info!(service = %name, decision = "denied", reason = ?denial, "iap");
                return denial.into_response();
            }
        };
        if mode == Some(Mode::Identity) {
            tracing::info!(service = %name, principal = %identity.email, "iap: gcp-iap-mode=IDENTITY");
            return identity_answer(&identity);
        }
        if let Err(denial) = iap::authorize(&current.iap_accessors, &identity) {
            tracing::info!(service = %name, principal = %identity.email, decision = "denied", reason = "not an IAP-secured Web App User", "iap");
            return denial.into_response();
        }
        let test = match mode {
            Some(Mode::SecureTokenTest(test)) => test,
            _ => TestAssertion::NotSet,
        };
        let assertion =
            match iap::assertion(state, service.iap_audience().as_str(), &identity, test) {
                Ok(a) => a,
                Err(err) => {
                    tracing::error!(error = %err, "signing an IAP assertion failed");
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                }
            };
        tracing::info!(service = %name, principal = %identity.email, decision = "allowed", test = ?test, "iap");
        iap::add_identity_headers(&mut parts.headers, &identity, assertion);
    }

    // IAP calls Cloud Run as its service agent (items 27, 39).
    match agent_token(state, service) {
        Some(bearer) => {
            parts
                .headers
                .insert(X_SERVERLESS_AUTHORIZATION.clone(), bearer);
        }
        None => {
            parts.headers.remove(&X_SERVERLESS_AUTHORIZATION);
        }
    }
    run_app::serve(
        state,
        name,
        Request::from_parts(parts, body),
        Caller {
            source: IngressSource::ExternalLoadBalancer,
            peer,
            scheme,
        },
    )
    .await
}

/// `Bearer <ID token>` of IAP's service agent for the service's run.app URL, as a header value
/// reused until near expiry ([`crate::agent_tokens`]).
fn agent_token(state: &AppState, service: &blueprint::Service) -> Option<HeaderValue> {
    // The run.app URL: the legacy one when the region's code is known, else the deterministic.
    let audience = service.invoker_audiences().first()?;
    // The kid and the signature come from one key, even when a rotation happens in between.
    let key = state.keys.google.signing_key()?;
    let now = google_tokens::now_unix();
    state
        .agent_tokens
        .get_or_mint(audience, key.kid(), now, || {
            let agent = state.config.topology.iap_service_agent();
            let account = state.accounts.resolve(agent.as_str())?;
            let claims = GoogleIdClaims::for_service_account(
                &account.email,
                &account.unique_id,
                audience,
                now,
            );
            let token = key.sign(&claims).ok()?;
            Some((token, claims.exp))
        })
}

/// IAP's `/_gcp_iap/` paths (item 34, observed in use; none is documented, so what each
/// answers is the emulator's reading of its name and of the official refresh sample, item 19):
///
/// - `authenticate?ticket=`: the browser flow's last hop ([`authenticate_browser`]);
/// - `clear_login_cookie`: as `gcp-iap-mode=CLEAR_LOGIN_COOKIE`;
/// - `identity`: as `gcp-iap-mode=IDENTITY`, for any authenticated caller;
/// - `do_session_refresh`: the popup of the refresh sample: signed in, a page that closes
///   itself; not signed in, Google's sign-in, coming back here;
/// - `session_refresher`: the hidden iframe: as `gcp-iap-mode=SESSION_REFRESHER`;
/// - `gcip_authenticate`: Identity Platform's sign-in, which the emulator does not play: an
///   IAP-generated 404 saying so;
/// - anything else under `/_gcp_iap/`: an IAP-generated 404. The backend never sees these paths.
fn gcp_iap_path(
    state: &AppState,
    rest: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    domain: &str,
) -> Response {
    let own = |p: &str| format!("https://{domain}/_gcp_iap/{p}");
    match rest {
        "authenticate" => authenticate_browser(state, query),
        "clear_login_cookie" => clear_login_cookie(state, headers, domain),
        "identity" => {
            let target = iap::RequestTarget {
                domain,
                path: "/_gcp_iap/identity",
                path_and_query: "/_gcp_iap/identity",
            };
            match iap::authenticate(state, headers, target) {
                Ok(identity) => {
                    tracing::info!(principal = %identity.email, "iap: /_gcp_iap/identity");
                    identity_answer(&identity)
                }
                Err(denial) => {
                    tracing::info!(decision = "denied", reason = ?denial, "iap: /_gcp_iap/identity");
                    denial.into_response()
                }
            }
        }
        "do_session_refresh" => match iap::session_identity(state, headers) {
            Some(identity) => {
                tracing::info!(principal = %identity.email, "iap: session refreshed");
                iap::generated(StatusCode::OK, SESSION_REFRESHED_PAGE)
            }
            // A popup, never AJAX: always the redirect, back to this path.
            None => iap::Denial::EmptyToken {
                location: iap::sign_in_location(state, &own("do_session_refresh")),
                ajax: false,
            }
            .into_response(),
        },
        "session_refresher" => {
            session_refresher(state, headers, domain, "/_gcp_iap/session_refresher")
        }
        "gcip_authenticate" => {
            tracing::info!(
                decision = "denied",
                reason = "Identity Platform is not emulated",
                "iap"
            );
            iap::generated(StatusCode::NOT_FOUND, GCIP_NOT_CONFIGURED)
        }
        _ => iap::generated(StatusCode::NOT_FOUND, GCP_IAP_NOT_FOUND),
    }
}

/// The page `do_session_refresh` shows once the session is live: the refresh sample opens it
/// in a popup and polls until requests stop getting 401 (item 19), so it only has to close.
/// The emulator's page; Google's is not recorded.
pub const SESSION_REFRESHED_PAGE: &str = "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\
<title>Session refreshed</title></head><body><p>Your IAP session is active.</p>\
<script>window.close()</script></body></html>\n";

/// The hidden iframe's answer when the session is live (emulator's page).
pub const SESSION_REFRESHER_PAGE: &str = "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\
<title>IAP session refresher</title></head><body></body></html>\n";

/// `/_gcp_iap/gcip_authenticate`: Identity Platform (item 30 `gcipSettings`, item 34) is out of
/// the emulator's scope. Emulator wording in IAP's plain-text form.
pub const GCIP_NOT_CONFIGURED: &str = "Identity Platform (accessSettings.gcipSettings) is not configured for this \
resource; iap-lb-emulator does not emulate Identity Platform sign-in";

/// Any other `/_gcp_iap/` path (emulator wording).
pub const GCP_IAP_NOT_FOUND: &str = "Not Found";

/// `gcp-iap-mode=SESSION_REFRESHER` and `/_gcp_iap/session_refresher` (item 34): with a live
/// browser session a small page (200); without, what any request without credentials gets: the
/// sign-in redirect, or 401 for `X-Requested-With: XMLHttpRequest` (items 15, 19), coming back
/// to `path_and_query` without the mode.
fn session_refresher(
    state: &AppState,
    headers: &HeaderMap,
    domain: &str,
    path_and_query: &str,
) -> Response {
    if let Some(identity) = iap::session_identity(state, headers) {
        tracing::info!(principal = %identity.email, "iap: session refresher: session live");
        return iap::generated(StatusCode::OK, SESSION_REFRESHER_PAGE);
    }
    let target = format!("https://{domain}{}", without_mode(path_and_query));
    iap::Denial::EmptyToken {
        location: iap::sign_in_location(state, &target),
        ajax: headers
            .get("x-requested-with")
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest")),
    }
    .into_response()
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
fn clear_login_cookie(state: &AppState, headers: &HeaderMap, domain: &str) -> Response {
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
    fn modes_parse_and_unknown_ones_are_ignored() {
        assert_eq!(
            Mode::of(Some("gcp-iap-mode=FORCE_LOGIN")),
            Some(Mode::ForceLogin)
        );
        assert_eq!(
            Mode::of(Some("gcp-iap-mode=SESSION_REFRESHER")),
            Some(Mode::SessionRefresher)
        );
        assert_eq!(
            Mode::of(Some("gcp-iap-mode=SECURE_TOKEN_TEST")),
            Some(Mode::SecureTokenTest(TestAssertion::NotSet))
        );
        assert_eq!(Mode::of(Some("gcp-iap-mode=force_login")), None);
        assert_eq!(Mode::of(None), None);
    }

    #[test]
    fn the_mode_is_dropped_from_the_return_target() {
        assert_eq!(without_mode("/a?gcp-iap-mode=FORCE_LOGIN"), "/a");
        assert_eq!(
            without_mode("/a?x=1&gcp-iap-mode=FORCE_LOGIN&y=2"),
            "/a?x=1&y=2"
        );
        assert_eq!(without_mode("/a"), "/a");
    }

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
