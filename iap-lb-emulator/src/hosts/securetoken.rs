//! `securetoken.googleapis.com/v1/token`: Firebase's refresh-token grant.
//!
//! `POST /v1/token?key=API_KEY`, form-encoded `grant_type=refresh_token&refresh_token=...`
//! (a JSON body with the same fields, or camelCase ones, is read too). The answer is item 82's:
//! `{"access_token","expires_in":"3600","token_type":"Bearer","refresh_token","id_token",
//! "user_id","project_id"}` with `access_token` = `id_token` and `project_id` the project
//! **number**. The refreshed ID token keeps the session's `auth_time` (item 81).
//!
//! Errors in the order firebase-tools `grantToken` asserts them: `MISSING_GRANT_TYPE`,
//! `INVALID_GRANT_TYPE`, `MISSING_REFRESH_TOKEN`, `INVALID_REFRESH_TOKEN`, each in Identity
//! Toolkit's 400 envelope; the API key rule is identitytoolkit's.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::firebase::{self, ApiError, EXPIRES_IN, Minter};
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/token", post(token))
        .fallback(|| async { ApiError::not_found() })
        .with_state(state)
}

#[derive(Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

async fn token(
    State(state): State<AppState>,
    Query(q): Query<KeyQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match refresh(&state, q.key.as_deref(), &headers, &body) {
        Ok(value) => axum::Json(value).into_response(),
        Err(err) => {
            tracing::info!(decision = "denied", reason = %err.message, "securetoken");
            err.into_response()
        }
    }
}

/// `grant_type` and `refresh_token`, from a form or a JSON body.
fn fields(headers: &HeaderMap, body: &[u8]) -> Result<(Option<String>, Option<String>), ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        let v: Value = serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())?;
        let get = |a: &str, b: &str| {
            v.get(a)
                .or_else(|| v.get(b))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        return Ok((
            get("grant_type", "grantType"),
            get("refresh_token", "refreshToken"),
        ));
    }
    let form = crate::form::parse(body);
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    Ok((get("grant_type"), get("refresh_token")))
}

fn refresh(
    state: &AppState,
    key: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Value, ApiError> {
    firebase::check_api_key(&state.config.firebase_api_keys, key, headers)?;
    let (grant_type, refresh_token) = fields(headers, body)?;
    let grant_type = grant_type
        .filter(|g| !g.is_empty())
        .ok_or_else(|| ApiError::bad_request("MISSING_GRANT_TYPE"))?;
    if grant_type != "refresh_token" {
        return Err(ApiError::bad_request("INVALID_GRANT_TYPE"));
    }
    let refresh_token = refresh_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::bad_request("MISSING_REFRESH_TOKEN"))?;
    let minter = Minter {
        project_id: state.config.firebase_project_id(),
        keys: &state.keys.securetoken,
        users: &state.users,
    };
    let (user, id_token) = minter
        .refresh(&refresh_token, google_tokens::now_unix())
        .ok_or_else(|| ApiError::bad_request("INVALID_REFRESH_TOKEN"))?
        .map_err(|e| {
            tracing::error!(error = %e, "signing a refreshed Firebase ID token failed");
            ApiError::internal()
        })?;
    tracing::info!(uid = %user.local_id, decision = "refreshed", "securetoken");
    Ok(json!({
        "access_token": id_token,
        "expires_in": EXPIRES_IN,
        "token_type": "Bearer",
        "refresh_token": refresh_token,
        "id_token": id_token,
        "user_id": user.local_id,
        "project_id": state.config.firebase_project_number().to_string(),
    }))
}
