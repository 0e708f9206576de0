//! `www.gstatic.com`: IAP's public keys, in both of Google's formats (google-behaviour item 22).
//!
//! - `/iap/verify/public_key`: a JSON object mapping kid to a PEM SubjectPublicKeyInfo EC key;
//! - `/iap/verify/public_key-jwk`: a JWKS of EC P-256 keys (`kty`, `alg: ES256`, `use`, `kid`,
//!   `crv`, `x`, `y`).
//!
//! Both list every key of the IAP ring, so a verifier sees a key before it signs (rotation).

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;

use crate::keys::Issuer;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/iap/verify/public_key", get(pem_map))
        .route("/iap/verify/public_key-jwk", get(jwks))
        .fallback(super::not_found)
        .with_state(state)
}

async fn pem_map(State(state): State<AppState>) -> Response {
    super::key_response(&state, Some(Issuer::Iap), &state.keys.iap.public_key_map())
}

async fn jwks(State(state): State<AppState>) -> Response {
    super::key_response(&state, Some(Issuer::Iap), &state.keys.iap.jwks())
}
