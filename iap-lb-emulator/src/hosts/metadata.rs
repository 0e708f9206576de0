//! The metadata server (`metadata.google.internal`, and `/computeMetadata/...` on the emulator's
//! own host so `GCE_METADATA_HOST=127.0.0.1:PORT` works, item 75).
//!
//! What Google's clients rely on, each from google-behaviour section 5:
//!
//! - `GET /` answers 200 with `Metadata-Flavor: Google`: google-auth's availability ping checks
//!   exactly that (item 75). The ping sends the flavor header; whether the real root insists on it
//!   is not recorded, so the root does not.
//! - Every `/computeMetadata/...` request must carry `Metadata-Flavor: Google`; without it the
//!   answer is 403 with the HTML sentence "Your client does not have permission to get URL
//!   <code>PATH</code> from this server. Missing Metadata-Flavor:Google header." (item 74).
//! - A request carrying `X-Forwarded-For` is refused with 403 (item 74, [OBS]: the server refuses
//!   anything that looks proxied). Its body is not recorded; the GFE 403 page without the
//!   flavor sentence is used.
//! - Every response carries `Metadata-Flavor: Google` (item 74).
//! - `instance/service-accounts/{default|EMAIL}/identity?audience=A&format=standard|full`: a raw
//!   RS256 JWT in `text/plain` (item 74), claims as item 77 (`azp` = `sub` = the numeric unique
//!   id, `email`, `email_verified`, one hour); `format=full` adds `google.compute_engine`.
//! - `.../token`: `{"access_token","expires_in":3599,"token_type":"Bearer"}` with content type
//!   exactly `application/json` (item 76; google-auth parses JSON only then). The access token
//!   is opaque (`ya29.` and random) and remembered with its scopes ([`crate::access_tokens`]),
//!   so IAP can accept it (item 2). `?scopes=A,B` asks for other scopes than the account's
//!   `cloud-platform`: not in the reference, but google-auth sends exactly that
//!   (google-auth-library-python `google/auth/compute_engine/_metadata.py`,
//!   `get_service_account_token`: `params["scopes"] = ",".join(scopes)`), and
//!   `tests/api/python.rs` runs it.
//! - `.../email`, `.../?recursive=true` (`{aliases,email,scopes}`), `project/project-id`,
//!   `project/numeric-project-id`, `instance/region` = `projects/NUM/regions/REGION` (item 76).

use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use google_tokens::GoogleIdClaims;
use serde::Deserialize;
use serde_json::json;

use crate::google_html;
use crate::service_accounts::Account;
use crate::state::AppState;

/// The header every metadata request must carry and every response carries (item 74).
pub const METADATA_FLAVOR: &str = "metadata-flavor";
pub const GOOGLE: &str = "Google";
/// The sentence item 74 quotes after GFE's 403 sentence.
pub const MISSING_FLAVOR: &str = "Missing Metadata-Flavor:Google header.";
/// The scope a Cloud Run or API Gateway service account is given.
pub const CLOUD_PLATFORM_SCOPE: &str = "https://www.googleapis.com/auth/cloud-platform";

const SA: &str = "/computeMetadata/v1/instance/service-accounts";

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(root))
        .route("/computeMetadata/v1/project/project-id", get(project_id))
        .route(
            "/computeMetadata/v1/project/numeric-project-id",
            get(numeric_project_id),
        )
        .route("/computeMetadata/v1/instance/region", get(region))
        .route(&format!("{SA}/"), get(list_accounts))
        .route(&format!("{SA}/{{account}}"), get(account_dir))
        .route(&format!("{SA}/{{account}}/"), get(account_dir))
        .route(&format!("{SA}/{{account}}/email"), get(email))
        .route(&format!("{SA}/{{account}}/aliases"), get(aliases))
        .route(&format!("{SA}/{{account}}/scopes"), get(scopes))
        .route(&format!("{SA}/{{account}}/identity"), get(identity))
        .route(&format!("{SA}/{{account}}/token"), get(token))
        .fallback(super::not_found)
        .layer(middleware::from_fn(flavor_rules))
        .with_state(state)
}

/// The header rules, applied to every route and the fallback, in this order: the flavor
/// header first (it is the documented rule), then the proxy refusal; the response header last.
async fn flavor_rules(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let flavored = req
        .headers()
        .get(METADATA_FLAVOR)
        .is_some_and(|v| v.as_bytes() == GOOGLE.as_bytes());
    let mut resp = if path.starts_with("/computeMetadata") && !flavored {
        tracing::info!(path = %path, decision = "denied", reason = "missing Metadata-Flavor header", "metadata");
        google_html::forbidden(&path, MISSING_FLAVOR)
    } else if req.headers().contains_key("x-forwarded-for") {
        tracing::info!(path = %path, decision = "denied", reason = "X-Forwarded-For present", "metadata");
        google_html::forbidden(&path, "")
    } else {
        next.run(req).await
    };
    resp.headers_mut()
        .insert(METADATA_FLAVOR, HeaderValue::from_static(GOOGLE));
    resp
}

fn text(body: impl Into<String>) -> Response {
    let mut resp = body.into().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

async fn root() -> Response {
    text("computeMetadata/\n")
}

async fn project_id(State(state): State<AppState>) -> Response {
    text(state.config.project_id().to_string())
}

async fn numeric_project_id(State(state): State<AppState>) -> Response {
    text(state.config.project_number().to_string())
}

async fn region(State(state): State<AppState>) -> Response {
    text(format!(
        "projects/{}/regions/{}",
        state.config.project_number(),
        state.config.region()
    ))
}

async fn list_accounts(State(state): State<AppState>) -> Response {
    let mut out = String::from("default/\n");
    for email in state.accounts.emails() {
        out.push_str(email);
        out.push_str("/\n");
    }
    text(out)
}

fn resolve<'a>(state: &'a AppState, name: &str) -> Option<&'a Account> {
    let account = state.accounts.resolve(name);
    if account.is_none() {
        tracing::info!(account = %name, decision = "denied", reason = "unknown service account", "metadata");
    }
    account
}

fn aliases_of(state: &AppState, account: &Account) -> Vec<&'static str> {
    let is_default = state
        .accounts
        .default_account()
        .is_some_and(|d| d.email == account.email);
    if is_default { vec!["default"] } else { vec![] }
}

#[derive(Deserialize)]
struct Recursive {
    recursive: Option<String>,
}

async fn account_dir(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<Recursive>,
) -> Response {
    let Some(account) = resolve(&state, &name) else {
        return google_html::not_found();
    };
    if q.recursive.as_deref() == Some("true") {
        return axum::Json(json!({
            "aliases": aliases_of(&state, account),
            "email": account.email,
            "scopes": [CLOUD_PLATFORM_SCOPE],
        }))
        .into_response();
    }
    text("aliases\nemail\nidentity\nscopes\ntoken\n")
}

async fn email(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match resolve(&state, &name) {
        Some(account) => text(account.email.clone()),
        None => google_html::not_found(),
    }
}

async fn aliases(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match resolve(&state, &name) {
        Some(account) => {
            let mut out = String::new();
            for alias in aliases_of(&state, account) {
                out.push_str(alias);
                out.push('\n');
            }
            text(out)
        }
        None => google_html::not_found(),
    }
}

async fn scopes(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match resolve(&state, &name) {
        Some(_) => text(format!("{CLOUD_PLATFORM_SCOPE}\n")),
        None => google_html::not_found(),
    }
}

#[derive(Deserialize)]
struct IdentityQuery {
    audience: Option<String>,
    format: Option<String>,
}

/// Which claims set `format` asks for (item 74).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Standard,
    Full,
}

async fn identity(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<IdentityQuery>,
) -> Response {
    let Some(account) = resolve(&state, &name) else {
        return google_html::not_found();
    };
    let Some(audience) = q.audience.filter(|a| !a.is_empty()) else {
        // The real server's wording for this case is not in the reference; this is the
        // emulator's, with the status a missing parameter gets.
        return (
            StatusCode::BAD_REQUEST,
            "non-empty audience parameter required\n",
        )
            .into_response();
    };
    let format = match q.format.as_deref() {
        None | Some("standard") => Format::Standard,
        Some("full") => Format::Full,
        Some(_) => {
            return (StatusCode::BAD_REQUEST, "format must be standard or full\n").into_response();
        }
    };
    let now = google_tokens::now_unix();
    let mut claims =
        GoogleIdClaims::for_service_account(&account.email, &account.unique_id, &audience, now);
    if format == Format::Full {
        // item 77: google.compute_engine with project_number as a JSON number. The instance
        // values describe the emulator itself.
        let config = &state.config;
        claims.google = Some(json!({
            "compute_engine": {
                "instance_creation_timestamp": state.started_at,
                "instance_id": crate::service_accounts::derived_unique_id(config.project_id()),
                "instance_name": "iap-lb-emulator",
                "project_id": config.project_id(),
                "project_number": config.project_number(),
                "zone": format!("{}-a", config.region()),
            }
        }));
    }
    match state.keys.google.sign(&claims) {
        Ok(jwt) => {
            tracing::info!(account = %account.email, audience = %audience, decision = "issued", "metadata identity token");
            text(jwt)
        }
        Err(err) => {
            tracing::error!(error = %err, "signing a metadata identity token failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    scopes: Option<String>,
}

async fn token(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<TokenQuery>,
) -> Response {
    let Some(account) = resolve(&state, &name) else {
        return google_html::not_found();
    };
    let scopes = match q.scopes.as_deref().map(crate::access_tokens::parse_scopes) {
        Some(scopes) if !scopes.is_empty() => scopes,
        _ => vec![CLOUD_PLATFORM_SCOPE.to_string()],
    };
    tracing::info!(account = %account.email, scopes = ?scopes, decision = "issued", "metadata access token");
    let access_token =
        state
            .access_tokens
            .issue(crate::access_tokens::AccessGrant::to_service_account(
                account, scopes,
            ));
    // axum's Json sets `Content-Type: application/json` exactly (item 76).
    axum::Json(json!({
        "access_token": access_token,
        "expires_in": crate::access_tokens::ACCESS_TOKEN_LIFETIME.as_secs(),
        "token_type": "Bearer",
    }))
    .into_response()
}
