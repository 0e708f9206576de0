//! One module per emulated Google box, each building the axum router that box answers with.
//!
//! [`HostRouters`] holds one router per [`GoogleHost`] variant, built once at start; the
//! dispatcher (`crate::dispatch`) picks one per request. The load balancer ([`lb::serve`]) and
//! Cloud Run's front end ([`run_app::front_door`]) have no router: each answers every path of
//! its host, and the dispatcher calls it directly. Helpers shared by several boxes live
//! here: the key-endpoint response (JSON plus Google's `Cache-Control`, item 78) and the
//! fallback 404 page.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::google_html;
use crate::host::GoogleHost;
use crate::keys::Issuer;
use crate::state::AppState;

pub mod accounts;
pub mod admin;
pub mod googleapis;
pub mod gstatic;
pub mod iap_web;
pub mod identitytoolkit;
pub mod lb;
pub mod metadata;
pub mod oauth2;
pub mod run_app;
pub mod securetoken;

/// `Content-Type` of Google's JSON APIs and key endpoints.
pub const JSON_UTF8: &str = "application/json; charset=UTF-8";

/// The router of every box, built once.
#[derive(Clone)]
pub struct HostRouters {
    metadata: Router,
    accounts: Router,
    googleapis: Router,
    oauth2: Router,
    gstatic: Router,
    identitytoolkit: Router,
    securetoken: Router,
    admin: Router,
    iap: Router,
}

impl HostRouters {
    pub fn new(state: AppState) -> Self {
        Self {
            metadata: metadata::router(state.clone()),
            accounts: accounts::router(state.clone()),
            googleapis: googleapis::router(state.clone()),
            oauth2: oauth2::router(state.clone()),
            gstatic: gstatic::router(state.clone()),
            identitytoolkit: identitytoolkit::router(state.clone()),
            securetoken: securetoken::router(state.clone()),
            iap: iap_web::router(state.clone()),
            admin: admin::router(state),
        }
    }

    /// The router of `host`'s box; `None` for the two boxes without one (see the module
    /// documentation).
    pub fn get(&self, host: &GoogleHost) -> Option<Router> {
        Some(match host {
            GoogleHost::Metadata => self.metadata.clone(),
            GoogleHost::Accounts => self.accounts.clone(),
            GoogleHost::GoogleApis => self.googleapis.clone(),
            GoogleHost::OAuth2 => self.oauth2.clone(),
            GoogleHost::Gstatic => self.gstatic.clone(),
            GoogleHost::IdentityToolkit => self.identitytoolkit.clone(),
            GoogleHost::SecureToken => self.securetoken.clone(),
            GoogleHost::Emulator => self.admin.clone(),
            GoogleHost::Iap => self.iap.clone(),
            GoogleHost::RunApp(_) | GoogleHost::LoadBalancer => return None,
        })
    }
}

/// A key endpoint's answer (or, when `issuer`'s endpoints are made to fail, that failure): the
/// JSON with `Cache-Control: public, max-age=N, must-revalidate,
/// no-transform`, the form of the header Google sends on its certs endpoints (item 78; clients
/// cache keys for `max-age`).
pub fn key_response<T: Serialize>(state: &AppState, issuer: Option<Issuer>, body: &T) -> Response {
    if let Some(status) = issuer.and_then(|i| state.key_fault(i)) {
        // An injected fault (`/_emulator/keys/ISSUER/fault`): the emulator's words.
        return (status, "iap-lb-emulator: injected key endpoint fault\n").into_response();
    }
    let cache = format!(
        "public, max-age={}, must-revalidate, no-transform",
        state.config.key_cache_max_age.as_secs()
    );
    let json = match serde_json::to_vec(body) {
        Ok(json) => json,
        Err(_) => return google_html::not_found(),
    };
    let mut resp = json.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_UTF8));
    if let Ok(v) = HeaderValue::from_str(&cache) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp
}

/// Fallback for unknown paths on a Google host: GFE's 404 page (item 43).
pub async fn not_found() -> Response {
    google_html::not_found()
}
