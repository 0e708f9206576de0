//! `accounts.google.com`: Google's OpenID Connect discovery document.
//!
//! The document carries the values captured from Google (google-behaviour item 79) and points at
//! Google's real hosts, not at the emulator: clients reach those hosts through the emulator by
//! name mapping (reqwest `resolve`), so a client configured for production needs no change.
//!
//! `/o/oauth2/v2/auth` is the emulated sign-in page IAP's redirect lands on (item 36): `GET`
//! checks the request is IAP's (its client and its `handleRedirect` URI) and lists the configured
//! test identities (`Config::test_users`); `POST` with one of them issues a one-time code and
//! redirects to the `redirect_uri` with `code` and `state`, as Google's authorization endpoint
//! does. No password: this is a test page, so it offers only the identities the emulator was
//! told to offer, and never a service account. Its refusals are the emulator's words.

use axum::Router;
use axum::body::Bytes;
use axum::extract::RawQuery;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use axum::response::Response;
use axum::routing::get;
use google_tokens::claims::{GOOGLE_ISSUER, GOOGLE_JWKS_URL};
use serde_json::json;

use crate::google_html::escape;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/o/oauth2/v2/auth", get(sign_in_page).post(sign_in))
        .fallback(super::not_found)
        .with_state(state)
}

/// Item 79, value for value.
async fn discovery(State(state): State<AppState>) -> Response {
    let doc = json!({
        "issuer": GOOGLE_ISSUER,
        "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
        "device_authorization_endpoint": "https://oauth2.googleapis.com/device/code",
        "token_endpoint": "https://oauth2.googleapis.com/token",
        "userinfo_endpoint": "https://openidconnect.googleapis.com/v1/userinfo",
        "revocation_endpoint": "https://oauth2.googleapis.com/revoke",
        "jwks_uri": GOOGLE_JWKS_URL,
        "response_types_supported": [
            "code", "token", "id_token", "code token", "code id_token", "token id_token",
            "code token id_token", "none"
        ],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        "claims_supported": [
            "aud", "email", "email_verified", "exp", "family_name", "given_name", "iat", "iss",
            "name", "picture", "sub"
        ],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": [
            "authorization_code", "refresh_token",
            "urn:ietf:params:oauth:grant-type:device_code",
            "urn:ietf:params:oauth:grant-type:jwt-bearer"
        ],
    });
    super::key_response(&state, None, &doc)
}

/// The OAuth parameters IAP's redirect carries, checked against IAP's client.
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    state: String,
}

/// IAP's OAuth request, or why it is not one.
fn auth_request(state: &AppState, pairs: &[(String, String)]) -> Result<AuthRequest, String> {
    let get = |name| crate::form::get(pairs, name).unwrap_or("").to_string();
    let (client_id, redirect_uri, signed_state) =
        (get("client_id"), get("redirect_uri"), get("state"));
    let refuse = |why: &str| why.to_string();
    if client_id != state.config.topology.iap().oauth2_client_id().as_str() {
        return Err(refuse(
            "invalid_client: only IAP's OAuth client signs in here",
        ));
    }
    if redirect_uri != crate::iap::handle_redirect_uri(&client_id) {
        return Err(refuse(
            "redirect_uri_mismatch: expected IAP's handleRedirect URI",
        ));
    }
    if signed_state.is_empty() {
        return Err(refuse("invalid_request: state is required"));
    }
    Ok(AuthRequest {
        client_id,
        redirect_uri,
        state: signed_state,
    })
}

fn refuse_sign_in(why: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        format!("iap-lb-emulator sign-in: {why}\n"),
    )
        .into_response()
}

async fn sign_in_page(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let pairs = crate::form::parse(query.unwrap_or_default().as_bytes());
    let req = match auth_request(&state, &pairs) {
        Ok(req) => req,
        Err(why) => return refuse_sign_in(&why),
    };
    let mut choices = String::new();
    for user in &state.config.test_users {
        choices.push_str(&format!(
            "<li><form method=post action=\"/o/oauth2/v2/auth\">\
             <input type=hidden name=client_id value=\"{}\">\
             <input type=hidden name=redirect_uri value=\"{}\">\
             <input type=hidden name=state value=\"{}\">\
             <input type=hidden name=email value=\"{}\">\
             <button type=submit>{}</button></form></li>\n",
            escape(&req.client_id),
            escape(&req.redirect_uri),
            escape(&req.state),
            escape(user),
            escape(user),
        ));
    }
    if choices.is_empty() {
        choices.push_str(
            "<li>No test identities are configured (Config::test_users, --test-user).</li>\n",
        );
    }
    let body = format!(
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\
         <title>Sign in - Google Accounts</title></head><body>\
         <h1>Choose an account</h1><p>to continue to IAP (iap-lb-emulator test sign-in)</p>\
         <ul>\n{choices}</ul></body></html>\n"
    );
    let mut resp = body.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

async fn sign_in(State(state): State<AppState>, body: Bytes) -> Response {
    let pairs = crate::form::parse(&body);
    let req = match auth_request(&state, &pairs) {
        Ok(req) => req,
        Err(why) => return refuse_sign_in(&why),
    };
    let email = crate::form::get(&pairs, "email").unwrap_or("");
    let Some(user) = state
        .config
        .test_users
        .iter()
        .find(|u| u.eq_ignore_ascii_case(email))
    else {
        tracing::info!(email = %email, decision = "denied", reason = "not a test identity", "sign-in");
        return (
            StatusCode::FORBIDDEN,
            "iap-lb-emulator sign-in: not one of the configured test identities\n",
        )
            .into_response();
    };
    let code = state
        .sign_ins
        .issue_code(&user.to_ascii_lowercase(), &req.client_id);
    tracing::info!(principal = %user, "sign-in: code issued");
    let location = format!(
        "{}?state={}&code={}&scope=email%20openid&authuser=0&prompt=none",
        req.redirect_uri,
        crate::form::encode(&req.state),
        crate::form::encode(&code)
    );
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}
