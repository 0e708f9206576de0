//! `iap.googleapis.com`: IAP's OAuth callback in the browser flow,
//! `/v1/oauth/clientIds/CLIENT:handleRedirect?code=...&state=...` (items 13, 36).
//!
//! It verifies the `state` IAP signed (ES256, for this client), redeems the one-time code the
//! sign-in page issued, and sends the browser to the app's `/_gcp_iap/authenticate` with a
//! one-time ticket, because only the app's own host can set the `__Host-` session cookie. The
//! target must be on the load balancer's domain: the callback is never an open redirect.
//! Refusals are plain 400s in the emulator's words (Google's are not recorded).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::iap::{self, Identity};
use crate::services::PrincipalKind;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/oauth/clientIds/{rest}", get(handle_redirect))
        .fallback(super::not_found)
        .with_state(state)
}

#[derive(Deserialize)]
struct Callback {
    code: Option<String>,
    state: Option<String>,
}

fn refuse(why: &str) -> Response {
    tracing::info!(decision = "denied", reason = why, "iap handleRedirect");
    (StatusCode::BAD_REQUEST, format!("iap-lb-emulator: {why}\n")).into_response()
}

async fn handle_redirect(
    State(state): State<AppState>,
    Path(rest): Path<String>,
    Query(q): Query<Callback>,
) -> Response {
    let Some(client_id) = rest.strip_suffix(":handleRedirect") else {
        return super::not_found().await;
    };
    if client_id != state.config.topology.iap().oauth2_client_id().as_str() {
        return refuse("not IAP's OAuth client");
    }
    let (Some(code), Some(signed_state)) = (q.code, q.state) else {
        return refuse("code and state are required");
    };
    let Some(target) = iap::verify_state(&state, &signed_state, client_id) else {
        return refuse("the state is not one IAP signed for this client");
    };
    let origin = format!("https://{}", state.config.domain());
    if target != origin && !target.starts_with(&format!("{origin}/")) {
        return refuse("the target is not on the load balancer's domain");
    }
    let Some(email) = state.sign_ins.redeem_code(&code, client_id) else {
        return refuse("unknown, used or expired code");
    };
    let identity = Identity {
        user_id: crate::service_accounts::derived_unique_id(&email),
        email,
        kind: PrincipalKind::User,
    };
    tracing::info!(principal = %identity.email, "iap: browser sign-in completed");
    let ticket = state.sign_ins.issue_ticket(identity, &target);
    let location = format!("{origin}/_gcp_iap/authenticate?ticket={ticket}");
    let mut resp = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}
