//! `accounts.google.com`: Google's OpenID Connect discovery document.
//!
//! The document carries the values captured from Google (google-behaviour item 79) and points at
//! Google's real hosts, not at the emulator: clients reach those hosts through the emulator by
//! name mapping (reqwest `resolve`), so a client configured for production needs no change.
//! The sign-in page IAP redirects browsers to (`/o/oauth2/v2/auth`, item 36) comes with the
//! load balancer.

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use google_tokens::claims::{GOOGLE_ISSUER, GOOGLE_JWKS_URL};
use serde_json::json;

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
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
