//! `www.googleapis.com`: where Google publishes signing keys, plus the legacy token path.
//!
//! - `/oauth2/v3/certs` (JWKS) and `/oauth2/v1/certs` (kid → X.509 PEM): the keys of Google ID
//!   tokens (google-behaviour item 78).
//! - `/robot/v1/metadata/x509/ACCOUNT`, `/service_accounts/v1/metadata/x509/ACCOUNT` (kid →
//!   X.509 PEM) and `/service_accounts/v1/jwk/ACCOUNT` (JWKS) for
//!   `securetoken@system.gserviceaccount.com`: Firebase ID token keys (items 80, 68; the
//!   `service_accounts/v1/metadata/x509` form is the `x-google-jwks_uri` API Gateway's Firebase
//!   example uses). The same paths serve any service account of the project: its user-managed
//!   keys, as Google publishes them, so a verifier of self-signed service-account JWTs can
//!   fetch them.
//! - `/oauth2/v4/token`: the token endpoint's older address; same handler as
//!   `oauth2.googleapis.com/token`.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};

use crate::google_html;
use crate::keys::{Issuer, KeyRing};
use crate::state::AppState;

/// The service account whose keys sign Firebase ID tokens (item 80).
pub const SECURETOKEN_ACCOUNT: &str = "securetoken@system.gserviceaccount.com";

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/oauth2/v3/certs", get(google_jwks))
        .route("/oauth2/v1/certs", get(google_x509))
        .route("/robot/v1/metadata/x509/{account}", get(account_x509))
        .route(
            "/service_accounts/v1/metadata/x509/{account}",
            get(account_x509),
        )
        .route("/service_accounts/v1/jwk/{account}", get(account_jwks))
        .route("/oauth2/v4/token", post(super::oauth2::token))
        .fallback(super::not_found)
        .with_state(state)
}

async fn google_jwks(State(state): State<AppState>) -> Response {
    super::key_response(&state, Some(Issuer::Google), &state.keys.google.jwks())
}

async fn google_x509(State(state): State<AppState>) -> Response {
    super::key_response(
        &state,
        Some(Issuer::Google),
        &state.keys.google.certificate_map(),
    )
}

fn ring<'a>(state: &'a AppState, account: &str) -> Option<(&'a KeyRing, Option<Issuer>)> {
    if account.eq_ignore_ascii_case(SECURETOKEN_ACCOUNT) {
        return Some((&state.keys.securetoken, Some(Issuer::SecureToken)));
    }
    state.accounts.resolve(account).map(|a| (&a.keys, None))
}

async fn account_x509(State(state): State<AppState>, Path(account): Path<String>) -> Response {
    match ring(&state, &account) {
        Some((ring, issuer)) => super::key_response(&state, issuer, &ring.certificate_map()),
        None => google_html::not_found(),
    }
}

async fn account_jwks(State(state): State<AppState>, Path(account): Path<String>) -> Response {
    match ring(&state, &account) {
        Some((ring, issuer)) => super::key_response(&state, issuer, &ring.jwks()),
        None => google_html::not_found(),
    }
}
