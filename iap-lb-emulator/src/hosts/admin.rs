//! The emulator's own routes on `localhost` / `127.0.0.1` (never on a Google host).
//!
//! - `GET /_emulator/health`: `{"status":"ok"}` once both listeners accept.
//! - `GET /_emulator/topology`: the topology's facts and what the emulator derived from them
//!   (run.app hosts, backend-service ids, IAP audiences, upstreams, service accounts, relaxed
//!   settings, listeners).
//! - `GET|POST /_emulator/service-accounts/EMAIL/key`: mints a new RSA key for one of the
//!   project's service accounts and returns it as a Google-format JSON key file (the fields
//!   `gcloud iam service-accounts keys create` writes). The public half is published at once at
//!   `www.googleapis.com/robot/v1/metadata/x509/EMAIL` and `/service_accounts/v1/jwk/EMAIL`, and
//!   the token endpoint accepts JWTs it signs. The file's `token_uri` is this emulator's
//!   host-prefixed token URL on the listener that was asked (so google-auth works with no name
//!   mapping); `?token_uri=google` gives Google's own `https://oauth2.googleapis.com/token`
//!   for clients that map names. The private key exists only in that response: it is not
//!   stored and never logged.
//!
//! - `PUT /_emulator/services/NAME/ingress` `{"ingress":"all|internal|internal-and-cloud-load-balancing"}`
//!   and `POST /_emulator/services/NAME/invokers` (`roles/run.invoker`) or
//!   `POST /_emulator/services/NAME/iap-accessors` (`roles/iap.httpsResourceAccessor`) with
//!   `{"add":"MEMBER"}` or `{"remove":"MEMBER"}`:
//!   the mutations scenarios need ("Given coffee-service has ingress all"). Each is logged, and
//!   answers the service's new state. `PUT /_emulator/services/NAME/invoker-iam`
//!   `{"invokerIamDisabled":true|false}` turns Cloud Run's invoker check off or on (items 39,
//!   45; turning it off is logged as a warning).
//!
//! - `POST /_emulator/access-tokens` `{"email":"alice@example.com","scopes":["openid","email"]}`:
//!   a Google OAuth access token for a person or one of the project's service accounts, as the
//!   metadata and token endpoints answer (`{"access_token","expires_in","token_type"}`), which
//!   IAP accepts when its scopes allow (item 2).
//!
//! - `DELETE /_emulator/browser-sessions`: ends every IAP browser session, as a Google sign-out
//!   does (item 36), answering `{"ended":N}`; the refresh flow of item 19 can then be played.
//!
//! - Faults and rotations: `PUT /_emulator/services/NAME/delay` `{"millis":N}` makes a service
//!   slow (it counts against the request timeout); `POST /_emulator/keys/ISSUER/rotate[?retire=true]`
//!   makes a fresh key the signer of `google`, `securetoken` or `iap`, keeping the old ones
//!   published unless retired; `PUT /_emulator/keys/ISSUER/fault` `{"status":503}` makes that
//!   issuer's key endpoints fail, `DELETE` heals them.
//!
//! Everything else on this host is a plain 404 naming what exists.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use blueprint::{Ingress, InvokerIamCheck, Member};
use serde::Deserialize;
use serde_json::json;

use crate::host::{GOOGLE_HOSTS, OAUTH2_HOST};
use crate::keys::Issuer;
use crate::state::{AppState, Scheme};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/_emulator/health", get(health))
        .route("/_emulator/topology", get(topology))
        .route("/_emulator/services/{name}/ingress", put(set_ingress))
        .route("/_emulator/services/{name}/invokers", post(change_invokers))
        .route(
            "/_emulator/services/{name}/iap-accessors",
            post(change_iap_accessors),
        )
        .route("/_emulator/services/{name}/delay", put(set_delay))
        .route(
            "/_emulator/services/{name}/invoker-iam",
            put(set_invoker_iam),
        )
        .route("/_emulator/access-tokens", post(issue_access_token))
        .route(
            "/_emulator/browser-sessions",
            axum::routing::delete(end_browser_sessions),
        )
        .route("/_emulator/keys/{issuer}/rotate", post(rotate_keys))
        .route(
            "/_emulator/keys/{issuer}/fault",
            put(set_key_fault).delete(clear_key_fault),
        )
        .route(
            "/_emulator/service-accounts/{email}/key",
            get(mint_key).post(mint_key),
        )
        .fallback(unknown)
        .with_state(state)
}

async fn health() -> Response {
    axum::Json(json!({"status": "ok"})).into_response()
}

/// What the emulator plays, as the e2e harness and a curious human need it: the topology's
/// facts and what the emulator derived from them.
async fn topology(State(state): State<AppState>) -> Response {
    let config = &state.config;
    let topology = &config.topology;
    let services: Vec<_> = topology
        .services()
        .iter()
        .map(|s| {
            let run_app_hosts: Vec<String> = s
                .run_app_host()
                .ok()
                .into_iter()
                .chain([s.deterministic_run_app_host()])
                .map(|h| h.as_str().to_string())
                .collect();
            json!({
                "name": s.name().as_str(),
                "paths": s.paths().iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                "ingress": s.ingress().as_gcloud(),
                "invokers": s.invokers().iter().map(ToString::to_string).collect::<Vec<_>>(),
                "invokerIamDisabled": s.invoker_iam().invoker_iam_disabled(),
                "customAudiences": s.custom_audiences().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                "iapAccessors": topology.iap_accessors(s).iter().map(ToString::to_string).collect::<Vec<_>>(),
                "runAppHosts": run_app_hosts,
                "backendService": s.backend_service().name(),
                "backendServiceId": s.backend_service().id().get().to_string(),
                "iapAudience": s.iap_audience().as_str(),
                "upstream": config.upstream(s.name().as_str()).map(|u| u.as_str()),
            })
        })
        .collect();
    let iap = topology.iap();
    axum::Json(json!({
        "source": topology.source_name(),
        "project": {
            "id": config.project_id(),
            "number": config.project_number().to_string(),
            "region": config.region(),
        },
        "domain": config.domain(),
        "defaultService": topology.default_service().name().as_str(),
        "loadBalancer": {
            "scope": if topology.load_balancer_scope().region().is_some() { "regional" } else { "global" },
            "region": topology.load_balancer_scope().region().map(|r| r.as_str()),
        },
        "testUsers": config.test_users,
        "services": services,
        "iap": {
            "oauth2ClientId": iap.oauth2_client_id().as_str(),
            "programmaticClients": iap.programmatic_clients().iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            "allowHttpOptions": iap.allow_http_options(),
            "accessTokens": match config.iap_access_tokens {
                crate::config::IapAccessTokens::Accepted => "accepted",
                crate::config::IapAccessTokens::Refused => "refused",
            },
        },
        "gatewayServiceAccount": config.default_service_account(),
        "firebaseProjectId": config.firebase_project_id(),
        "serviceAccounts": state.accounts.emails().collect::<Vec<_>>(),
        "relaxations": config.relaxations(),
        "listeners": {"http": state.addrs.http.to_string(), "https": state.addrs.https.to_string()},
    }))
    .into_response()
}

fn service_state(state: &AppState, name: &str) -> Response {
    match state.services.get(name) {
        Some(s) => axum::Json(json!({
            "name": name,
            "ingress": s.ingress.as_gcloud(),
            "invokers": s.invokers.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "invokerIamDisabled": s.invoker_iam.invoker_iam_disabled(),
            "iapAccessors": s.iap_accessors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }))
        .into_response(),
        None => no_such_service(name),
    }
}

fn no_such_service(name: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        format!("iap-lb-emulator: the topology has no service {name:?}\n"),
    )
        .into_response()
}

#[derive(Deserialize)]
struct IngressBody {
    ingress: String,
}

async fn set_ingress(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<axum::Json<IngressBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(axum::Json(body)) = body else {
        return (StatusCode::BAD_REQUEST, "expected {\"ingress\": \"...\"}\n").into_response();
    };
    let ingress = match Ingress::parse(&body.ingress) {
        Ok(i) => i,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("ingress: {e}\n")).into_response(),
    };
    if !state.services.set_ingress(&name, ingress) {
        return no_such_service(&name);
    }
    service_state(&state, &name)
}

async fn end_browser_sessions(State(state): State<AppState>) -> Response {
    let ended = state.sign_ins.close_all_sessions();
    tracing::info!(ended, "mutation: IAP browser sessions ended");
    axum::Json(json!({ "ended": ended })).into_response()
}

#[derive(Deserialize)]
struct AccessTokenBody {
    email: String,
    #[serde(default)]
    scopes: Vec<String>,
}

async fn issue_access_token(
    State(state): State<AppState>,
    body: Result<axum::Json<AccessTokenBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let refuse = || {
        (
            StatusCode::BAD_REQUEST,
            "expected {\"email\": \"alice@example.com\", \"scopes\": [\"openid\", \"email\"]} \
             with a person's email or a service account of the project, and at least one scope\n",
        )
            .into_response()
    };
    let Ok(axum::Json(body)) = body else {
        return refuse();
    };
    let email = body.email.to_ascii_lowercase();
    let known_account = state.accounts.resolve(&email).is_some();
    if body.scopes.is_empty() || (!known_account && blueprint::UserEmail::parse(&email).is_err()) {
        return refuse();
    }
    let token = crate::emulator::issue_access_token(&state, &email, &body.scopes);
    tracing::info!(principal = %email, scopes = ?body.scopes, decision = "issued", "admin: access token");
    axum::Json(json!({
        "access_token": token,
        "expires_in": crate::access_tokens::ACCESS_TOKEN_LIFETIME.as_secs(),
        "token_type": "Bearer",
    }))
    .into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InvokerIamBody {
    invoker_iam_disabled: bool,
}

async fn set_invoker_iam(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<axum::Json<InvokerIamBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(axum::Json(body)) = body else {
        return (
            StatusCode::BAD_REQUEST,
            "expected {\"invokerIamDisabled\": true|false}\n",
        )
            .into_response();
    };
    let check = InvokerIamCheck::from_invoker_iam_disabled(body.invoker_iam_disabled);
    if !state.services.set_invoker_iam(&name, check) {
        return no_such_service(&name);
    }
    service_state(&state, &name)
}

#[derive(Deserialize)]
struct InvokersBody {
    add: Option<String>,
    remove: Option<String>,
}

/// Which role a membership change is about.
#[derive(Clone, Copy)]
enum Role {
    RunInvoker,
    IapAccessor,
}

async fn change_invokers(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<axum::Json<InvokersBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    change_members(&state, &name, body, Role::RunInvoker)
}

async fn change_iap_accessors(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<axum::Json<InvokersBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    change_members(&state, &name, body, Role::IapAccessor)
}

fn change_members(
    state: &AppState,
    name: &str,
    body: Result<axum::Json<InvokersBody>, axum::extract::rejection::JsonRejection>,
    role: Role,
) -> Response {
    let (add, member) = match body {
        Ok(axum::Json(InvokersBody {
            add: Some(m),
            remove: None,
        })) => (true, m),
        Ok(axum::Json(InvokersBody {
            add: None,
            remove: Some(m),
        })) => (false, m),
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "expected {\"add\": MEMBER} or {\"remove\": MEMBER}\n",
            )
                .into_response();
        }
    };
    let member = match Member::parse(&member) {
        Ok(m) => m,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("member: {e}\n")).into_response(),
    };
    let known = match (role, add) {
        (Role::RunInvoker, true) => state.services.add_invoker(name, member),
        (Role::RunInvoker, false) => state.services.remove_invoker(name, &member),
        (Role::IapAccessor, true) => state.services.add_iap_accessor(name, member),
        (Role::IapAccessor, false) => state.services.remove_iap_accessor(name, &member),
    };
    if !known {
        return no_such_service(name);
    }
    service_state(state, name)
}

#[derive(Deserialize)]
struct DelayBody {
    millis: u64,
}

async fn set_delay(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<axum::Json<DelayBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(axum::Json(body)) = body else {
        return (StatusCode::BAD_REQUEST, "expected {\"millis\": N}\n").into_response();
    };
    if !state
        .services
        .set_delay(&name, std::time::Duration::from_millis(body.millis))
    {
        return no_such_service(&name);
    }
    service_state(&state, &name)
}

fn no_such_ring() -> Response {
    (
        StatusCode::NOT_FOUND,
        "iap-lb-emulator: key rings are google, securetoken and iap\n",
    )
        .into_response()
}

#[derive(Deserialize)]
struct RotateQuery {
    retire: Option<bool>,
}

async fn rotate_keys(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<RotateQuery>,
) -> Response {
    let Some(issuer) = Issuer::parse(&name) else {
        return no_such_ring();
    };
    let retire = q.retire.unwrap_or(false);
    let rotating = state.clone();
    match tokio::task::spawn_blocking(move || rotating.keys.rotate(issuer, retire)).await {
        Ok(Ok(kid)) => axum::Json(json!({
            "ring": issuer.as_str(),
            "signingKid": kid,
            "kids": state.keys.ring(issuer).kids(),
        }))
        .into_response(),
        Ok(Err(err)) => {
            tracing::error!(error = %err, "key rotation failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Err(err) => {
            tracing::error!(error = %err, "the key rotation task failed");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

#[derive(Deserialize)]
struct FaultBody {
    status: u16,
}

async fn set_key_fault(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<axum::Json<FaultBody>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Some(issuer) = Issuer::parse(&name) else {
        return no_such_ring();
    };
    let status = match body
        .ok()
        .and_then(|b| StatusCode::from_u16(b.0.status).ok())
        .filter(|s| s.is_client_error() || s.is_server_error())
    {
        Some(s) => s,
        None => {
            return (
                StatusCode::BAD_REQUEST,
                "expected {\"status\": 4xx or 5xx}\n",
            )
                .into_response();
        }
    };
    state.set_key_fault(issuer, Some(status));
    axum::Json(json!({"ring": issuer.as_str(), "status": status.as_u16()})).into_response()
}

async fn clear_key_fault(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let Some(issuer) = Issuer::parse(&name) else {
        return no_such_ring();
    };
    state.set_key_fault(issuer, None);
    axum::Json(json!({"ring": issuer.as_str(), "status": null})).into_response()
}

async fn unknown() -> Response {
    (
        StatusCode::NOT_FOUND,
        format!(
            "iap-lb-emulator: no such route on the emulator's own host. It serves \
             /_emulator/health, /_emulator/topology, /_emulator/service-accounts/EMAIL/key, \
             /_emulator/services/NAME/ingress, /_emulator/services/NAME/invokers, \
             /_emulator/services/NAME/iap-accessors, /_emulator/services/NAME/delay, \
             /_emulator/services/NAME/invoker-iam, /_emulator/access-tokens, \
             /_emulator/browser-sessions, \
             /_emulator/keys/ISSUER/rotate, /_emulator/keys/ISSUER/fault, \
             /computeMetadata/..., \
             and every Google host under a prefix: /<host>/<path> for {}\n",
            GOOGLE_HOSTS.join(", ")
        ),
    )
        .into_response()
}

#[derive(Deserialize)]
struct KeyQuery {
    token_uri: Option<String>,
}

async fn mint_key(
    State(state): State<AppState>,
    Path(email): Path<String>,
    Query(q): Query<KeyQuery>,
    scheme: Option<axum::Extension<Scheme>>,
    headers: HeaderMap,
) -> Response {
    let token_uri = match q.token_uri.as_deref() {
        Some("google") => "https://oauth2.googleapis.com/token".to_string(),
        None | Some("emulator") => {
            let scheme = scheme.map(|s| s.0).unwrap_or(Scheme::Http);
            let authority = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned)
                .unwrap_or_else(|| match scheme {
                    Scheme::Http => state.addrs.http.to_string(),
                    Scheme::Https => state.addrs.https.to_string(),
                });
            format!("{}://{authority}/{OAUTH2_HOST}/token", scheme.as_str())
        }
        Some(_) => {
            return (
                StatusCode::BAD_REQUEST,
                "token_uri must be `emulator` (default) or `google`\n",
            )
                .into_response();
        }
    };
    let minting = state.clone();
    let target = email.clone();
    let minted = tokio::task::spawn_blocking(move || minting.accounts.mint_key(&target)).await;
    let key = match minted {
        Ok(Ok(Some(key))) => key,
        Ok(Ok(None)) => {
            return (
                StatusCode::NOT_FOUND,
                format!("iap-lb-emulator: {email} is not a service account of the project\n"),
            )
                .into_response();
        }
        Ok(Err(err)) => {
            tracing::error!(error = %err, "minting a service-account key failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
        Err(err) => {
            tracing::error!(error = %err, "the key-minting task failed");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let Some(account) = state.accounts.resolve(&email) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    tracing::info!(account = %account.email, kid = %key.kid(), "minted a service-account key");
    let body = json!({
        "type": "service_account",
        "project_id": state.config.project_id(),
        "private_key_id": key.kid(),
        "private_key": key.to_pkcs8_pem(),
        "client_email": account.email,
        "client_id": account.unique_id,
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": format!(
            "https://www.googleapis.com/robot/v1/metadata/x509/{}",
            account.email.replace('@', "%40")
        ),
        "universe_domain": "googleapis.com",
    });
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}
