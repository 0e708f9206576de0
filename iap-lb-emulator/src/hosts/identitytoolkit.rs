//! `identitytoolkit.googleapis.com/v1/accounts:*`: Firebase Auth sign-up and sign-in.
//!
//! Three methods, with the request and response shapes of google-behaviour item 82 and the
//! checks in the order the Firebase Auth emulator asserts them (firebase/firebase-tools
//! `src/emulator/auth/operations.ts`, which copies production):
//!
//! - `accounts:signUp` `{email, password}` (an empty body makes an anonymous user):
//!   `MISSING_EMAIL`, `MISSING_PASSWORD`, `INVALID_EMAIL`, `EMAIL_EXISTS`,
//!   `WEAK_PASSWORD : Password should be at least 6 characters`. Email-enumeration protection
//!   does not hide `EMAIL_EXISTS` on sign-up.
//! - `accounts:signInWithPassword` `{email, password}`: `MISSING_EMAIL`, `INVALID_EMAIL`,
//!   `MISSING_PASSWORD`, then `INVALID_LOGIN_CREDENTIALS` for an unknown email or a wrong password
//!   with email-enumeration protection on (the default, [`EmailPrivacy`]), `EMAIL_NOT_FOUND` /
//!   `INVALID_PASSWORD` without it.
//! - `accounts:signInWithCustomToken` `{token}`: the custom token must be an RS256 JWT signed by a
//!   key of one of the project's service accounts (`iss`), for the Identity Toolkit audience, at
//!   most an hour long (item 82). Unlike the Firebase emulator (item 83), unsigned and
//!   unverifiable tokens are refused: `INVALID_CUSTOM_TOKEN`. Then `MISSING_IDENTIFIER`,
//!   `INVALID_CLAIMS`, `FORBIDDEN_CLAIM : <name>`.
//!
//! Every call needs an API key (`?key=` or `X-Goog-Api-Key`); without one the answer is 403
//! PERMISSION_DENIED "The request is missing a valid API key." (item 83). Tokens are RS256,
//! signed by the securetoken ring (item 80).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use google_tokens::claims::FIREBASE_CUSTOM_TOKEN_AUDIENCE;
use google_tokens::jwt::{decode_payload, split};
use google_tokens::verify::{DEFAULT_LEEWAY, IssuerRules};
use google_tokens::{Alg, Audience, Policy};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

use crate::config::EmailPrivacy;
use crate::firebase::{
    self, ApiError, EXPIRES_IN, FORBIDDEN_CUSTOM_CLAIMS, Minter, PROVIDER_ANONYMOUS,
    PROVIDER_CUSTOM, PROVIDER_PASSWORD, PasswordCheck, Tokens, User,
};
use crate::state::AppState;

/// Identity Toolkit's minimum password length (firebase-tools `PASSWORD_MIN_LENGTH`).
pub const PASSWORD_MIN_LENGTH: usize = 6;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/{method}", post(call))
        .fallback(|| async { ApiError::not_found() })
        .with_state(state)
}

#[derive(Deserialize)]
struct KeyQuery {
    key: Option<String>,
}

async fn call(
    State(state): State<AppState>,
    Path(method): Path<String>,
    Query(q): Query<KeyQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let method: fn(&AppState, &[u8]) -> Result<Value, ApiError> = match method.as_str() {
        "accounts:signUp" => sign_up,
        "accounts:signInWithPassword" => sign_in_with_password,
        "accounts:signInWithCustomToken" => sign_in_with_custom_token,
        _ => return ApiError::not_found().into_response(),
    };
    let result =
        firebase::check_api_key(&state.config.firebase_api_keys, q.key.as_deref(), &headers)
            .and_then(|()| method(&state, &body));
    match result {
        Ok(value) => axum::Json(value).into_response(),
        Err(err) => {
            tracing::info!(decision = "denied", reason = %err.message, "identitytoolkit");
            err.into_response()
        }
    }
}

/// The JSON body, an empty body counting as `{}`.
fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|_| ApiError::invalid_json())
}

fn minter(state: &AppState) -> Minter<'_> {
    Minter {
        project_id: state.config.firebase_project_id(),
        keys: &state.keys.securetoken,
        users: &state.users,
    }
}

fn sign_in(
    state: &AppState,
    user: &User,
    provider: &str,
    extra: Map<String, Value>,
) -> Result<Tokens, ApiError> {
    minter(state)
        .sign_in(user, provider, extra, google_tokens::now_unix())
        .map_err(|e| {
            tracing::error!(error = %e, "signing a Firebase ID token failed");
            ApiError::internal()
        })
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| !s.is_empty())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignUpRequest {
    email: Option<String>,
    password: Option<String>,
    id_token: Option<String>,
    local_id: Option<String>,
}

fn sign_up(state: &AppState, body: &[u8]) -> Result<Value, ApiError> {
    let req: SignUpRequest = parse(body)?;
    if req.local_id.is_some() {
        return Err(ApiError::bad_request("UNEXPECTED_PARAMETER : User ID"));
    }
    if req.id_token.is_some() {
        // Linking a credential to an existing (anonymous) user is not emulated; refuse rather
        // than create a second account behind the caller's back.
        return Err(ApiError {
            code: axum::http::StatusCode::NOT_IMPLEMENTED,
            message: "linking with idToken is not emulated".into(),
            reason: "unimplemented",
            status: Some("NOT_IMPLEMENTED"),
        });
    }
    let (user, provider) = if req.email.is_some() || req.password.is_some() {
        let email = non_empty(&req.email).ok_or_else(|| ApiError::bad_request("MISSING_EMAIL"))?;
        let password =
            non_empty(&req.password).ok_or_else(|| ApiError::bad_request("MISSING_PASSWORD"))?;
        if !firebase::is_valid_email(email) {
            return Err(ApiError::bad_request("INVALID_EMAIL"));
        }
        if state.users.email_taken(email) {
            return Err(ApiError::bad_request("EMAIL_EXISTS"));
        }
        if password.chars().count() < PASSWORD_MIN_LENGTH {
            return Err(ApiError::bad_request(format!(
                "WEAK_PASSWORD : Password should be at least {PASSWORD_MIN_LENGTH} characters"
            )));
        }
        let user = state
            .users
            .create_password_user(email, password)
            .ok_or_else(|| ApiError::bad_request("EMAIL_EXISTS"))?;
        (user, PROVIDER_PASSWORD)
    } else {
        (state.users.create_anonymous_user(), PROVIDER_ANONYMOUS)
    };
    let tokens = sign_in(state, &user, provider, Map::new())?;
    tracing::info!(uid = %user.local_id, provider, decision = "signed up", "identitytoolkit");
    let mut out = json!({
        "kind": "identitytoolkit#SignupNewUserResponse",
        "idToken": tokens.id_token,
        "refreshToken": tokens.refresh_token,
        "expiresIn": EXPIRES_IN,
        "localId": user.local_id,
    });
    if let Some(email) = &user.email {
        out["email"] = Value::String(email.clone());
    }
    Ok(out)
}

#[derive(Deserialize)]
struct PasswordRequest {
    email: Option<String>,
    password: Option<String>,
}

fn sign_in_with_password(state: &AppState, body: &[u8]) -> Result<Value, ApiError> {
    let req: PasswordRequest = parse(body)?;
    let email = req
        .email
        .as_deref()
        .ok_or_else(|| ApiError::bad_request("MISSING_EMAIL"))?;
    if !firebase::is_valid_email(email) {
        return Err(ApiError::bad_request("INVALID_EMAIL"));
    }
    let password =
        non_empty(&req.password).ok_or_else(|| ApiError::bad_request("MISSING_PASSWORD"))?;
    let protected = state.config.email_privacy == EmailPrivacy::EnumerationProtection;
    let user = match state.users.check_password(email, password) {
        PasswordCheck::Ok(user) => user,
        PasswordCheck::UnknownEmail if protected => {
            return Err(ApiError::bad_request("INVALID_LOGIN_CREDENTIALS"));
        }
        PasswordCheck::WrongPassword if protected => {
            return Err(ApiError::bad_request("INVALID_LOGIN_CREDENTIALS"));
        }
        PasswordCheck::UnknownEmail => return Err(ApiError::bad_request("EMAIL_NOT_FOUND")),
        PasswordCheck::WrongPassword => return Err(ApiError::bad_request("INVALID_PASSWORD")),
    };
    let tokens = sign_in(state, &user, PROVIDER_PASSWORD, Map::new())?;
    tracing::info!(uid = %user.local_id, decision = "signed in", "identitytoolkit");
    Ok(json!({
        "kind": "identitytoolkit#VerifyPasswordResponse",
        "localId": user.local_id,
        "email": user.email,
        // Production returns displayName (empty when unset); the Firebase emulator omits it
        // (item 82).
        "displayName": "",
        "idToken": tokens.id_token,
        "registered": true,
        "refreshToken": tokens.refresh_token,
        "expiresIn": EXPIRES_IN,
    }))
}

#[derive(Deserialize)]
struct CustomTokenRequest {
    token: Option<String>,
}

fn sign_in_with_custom_token(state: &AppState, body: &[u8]) -> Result<Value, ApiError> {
    let req: CustomTokenRequest = parse(body)?;
    let token =
        non_empty(&req.token).ok_or_else(|| ApiError::bad_request("MISSING_CUSTOM_TOKEN"))?;
    let invalid = || ApiError::bad_request("INVALID_CUSTOM_TOKEN");
    let parts = split(token)
        .map_err(|_| ApiError::bad_request("INVALID_CUSTOM_TOKEN : Invalid assertion format"))?;
    // The unverified `iss` only picks whose keys to try.
    let unverified = decode_payload(parts.payload_b64)
        .map_err(|_| ApiError::bad_request("INVALID_CUSTOM_TOKEN : Invalid assertion format"))?;
    let iss = unverified
        .get("iss")
        .and_then(Value::as_str)
        .ok_or_else(invalid)?;
    let account = state.accounts.resolve(iss).ok_or_else(invalid)?;
    let keys = account.key_set().ok_or_else(invalid)?;
    let policy = Policy {
        alg: Alg::Rs256,
        issuers: vec![iss.to_string()],
        audience: Audience::OneOf(vec![FIREBASE_CUSTOM_TOKEN_AUDIENCE.to_string()]),
        leeway: DEFAULT_LEEWAY,
        max_lifetime: Some(3600),
        rules: IssuerRules::None,
    };
    let claims: Value = google_tokens::verify(token, &keys, &policy, google_tokens::now_unix())
        .map_err(|e| {
            tracing::info!(reason = %e, "custom token refused");
            invalid()
        })?;
    let uid = match claims.get("uid").or_else(|| claims.get("user_id")) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(ApiError::bad_request("MISSING_IDENTIFIER")),
    };
    let extra = match claims.get("claims") {
        None => Map::new(),
        Some(Value::Object(map)) => {
            if let Some(name) = FORBIDDEN_CUSTOM_CLAIMS
                .iter()
                .find(|c| map.contains_key(**c))
            {
                return Err(ApiError::bad_request(format!("FORBIDDEN_CLAIM : {name}")));
            }
            map.clone()
        }
        Some(_) => return Err(ApiError::bad_request("INVALID_CLAIMS")),
    };
    let (user, is_new) = state.users.get_or_create_custom_user(&uid);
    let tokens = sign_in(state, &user, PROVIDER_CUSTOM, extra)?;
    tracing::info!(uid = %user.local_id, signer = %account.email, decision = "signed in", "identitytoolkit custom token");
    Ok(json!({
        "kind": "identitytoolkit#VerifyCustomTokenResponse",
        "idToken": tokens.id_token,
        "refreshToken": tokens.refresh_token,
        "expiresIn": EXPIRES_IN,
        "isNewUser": is_new,
    }))
}
