//! `oauth2.googleapis.com/token`: the JWT-bearer grant (RFC 7523) for the project's service
//! accounts.
//!
//! A client holding a service-account key file signs a JWT (`iss` = the account, `aud` = the
//! token endpoint, `iat`/`exp` at most an hour apart) and posts
//! `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>`. With a
//! `target_audience` claim Google answers `{"id_token": ...}`, a Google ID token for that
//! audience (what google-auth's `service_account.IDTokenCredentials` asks for); with a `scope`
//! claim, an access token. The assertion is verified against the keys the emulator minted for
//! that account (`/_emulator/service-accounts/EMAIL/key`), so a fake key file whose
//! `token_uri` points here works and a forged one does not.
//!
//! The accepted `aud` values are Google's token URLs (google-auth always signs for
//! `https://oauth2.googleapis.com/token`, whatever the key file's `token_uri`) and this
//! emulator's own host-prefixed token URLs (clients that sign for their `token_uri`).
//!
//! Error bodies are OAuth's `{"error","error_description"}` (RFC 6749 section 5.2) with the
//! descriptions Google was seen to send, each cited on [`TokenDenial`]. None of them is in
//! google-behaviour.md; the sources are the public issue threads named there.

use axum::Json;
use axum::Router;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use google_tokens::jwt::{decode_payload, split};
use google_tokens::verify::IssuerRules;
use google_tokens::{Alg, Audience, GoogleIdClaims, Policy, VerifyError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::state::AppState;

/// The JWT-bearer grant type (RFC 7523; item 79 lists it in `grant_types_supported`).
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Google's token endpoint URLs, current and older, accepted as the assertion's `aud`.
pub const GOOGLE_TOKEN_URLS: [&str; 3] = [
    "https://oauth2.googleapis.com/token",
    "https://www.googleapis.com/oauth2/v4/token",
    "https://accounts.google.com/o/oauth2/token",
];

/// Longest `exp - iat` Google accepts in an assertion: one hour.
const MAX_ASSERTION_LIFETIME: u64 = 3600;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/token", post(token))
        .fallback(super::not_found)
        .with_state(state)
}

/// Why a token request was refused; each variant carries Google's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenDenial {
    /// `unsupported_grant_type` / `Invalid grant_type: <value>`, seen with an empty value when
    /// the parameter is missing (googleapis/google-api-ruby-client#862,
    /// android/play-billing-samples#471).
    UnsupportedGrantType(String),
    /// RFC 6749 `invalid_request`; the description is the emulator's.
    InvalidRequest(&'static str),
    /// `invalid_grant` / `Invalid grant: account not found` for a deleted or unknown account
    /// (googleapis/google-cloud-php#3622).
    AccountNotFound,
    /// `invalid_grant` / `Invalid JWT Signature.`, also for a key that was deleted or never
    /// existed (googleapis/google-cloud-python#10004; google-github-actions/setup-gcloud#76).
    BadSignature,
    /// `invalid_grant` / the short-lived-token sentence
    /// (googleapis/google-api-php-client#1501, fastlane/fastlane#14972).
    BadTimes,
    /// `invalid_grant` for an assertion not addressed to the token endpoint; the
    /// description is the emulator's.
    WrongAudience,
    /// `invalid_scope` when the assertion asks for neither an ID token nor scopes; the
    /// description is the one Google sends for a missing scope, from memory (not in the
    /// reference).
    MissingScope,
}

impl TokenDenial {
    pub fn error_and_description(&self) -> (&'static str, String) {
        match self {
            Self::UnsupportedGrantType(got) => (
                "unsupported_grant_type",
                format!("Invalid grant_type: {got}"),
            ),
            Self::InvalidRequest(what) => ("invalid_request", (*what).to_string()),
            Self::AccountNotFound => ("invalid_grant", "Invalid grant: account not found".into()),
            Self::BadSignature => ("invalid_grant", "Invalid JWT Signature.".into()),
            Self::BadTimes => (
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
                 timeframe. Check your iat and exp values and use a clock with skew to account \
                 for clock differences between systems."
                    .into(),
            ),
            Self::WrongAudience => (
                "invalid_grant",
                "Invalid JWT: the aud claim must be the token endpoint URL.".into(),
            ),
            Self::MissingScope => (
                "invalid_scope",
                "Empty or missing scope not allowed.".into(),
            ),
        }
    }
}

impl IntoResponse for TokenDenial {
    fn into_response(self) -> Response {
        let (error, description) = self.error_and_description();
        (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": error, "error_description": description})),
        )
            .into_response()
    }
}

#[derive(Deserialize)]
pub struct TokenForm {
    grant_type: Option<String>,
    assertion: Option<String>,
}

/// The audiences an assertion may carry: Google's token URLs and the emulator's own.
fn token_audiences(state: &AppState) -> Vec<String> {
    let mut out: Vec<String> = GOOGLE_TOKEN_URLS.iter().map(|s| s.to_string()).collect();
    for (scheme, port) in [
        ("http", state.addrs.http.port()),
        ("https", state.addrs.https.port()),
    ] {
        for host in ["127.0.0.1", "localhost"] {
            out.push(format!(
                "{scheme}://{host}:{port}/oauth2.googleapis.com/token"
            ));
        }
    }
    out
}

pub async fn token(
    State(state): State<AppState>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Response {
    match exchange(&state, form) {
        Ok(resp) => resp,
        Err(denial) => {
            tracing::info!(decision = "denied", reason = ?denial, "oauth2 token");
            denial.into_response()
        }
    }
}

fn exchange(
    state: &AppState,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, TokenDenial> {
    let Form(form) = form.map_err(|_| {
        TokenDenial::InvalidRequest("The request body must be application/x-www-form-urlencoded.")
    })?;
    let grant_type = form.grant_type.unwrap_or_default();
    if grant_type != JWT_BEARER {
        return Err(TokenDenial::UnsupportedGrantType(grant_type));
    }
    let assertion = form
        .assertion
        .filter(|a| !a.is_empty())
        .ok_or(TokenDenial::InvalidRequest(
            "Missing required parameter: assertion",
        ))?;

    // The unverified `iss` only chooses whose keys to try; every decision below is taken on
    // verified claims.
    let parts = split(&assertion).map_err(|_| TokenDenial::BadSignature)?;
    let unverified = decode_payload(parts.payload_b64).map_err(|_| TokenDenial::BadSignature)?;
    let iss = unverified
        .get("iss")
        .and_then(Value::as_str)
        .ok_or(TokenDenial::AccountNotFound)?;
    let account = state
        .accounts
        .resolve(iss)
        .ok_or(TokenDenial::AccountNotFound)?;
    let keys = account.key_set().ok_or(TokenDenial::BadSignature)?;
    let policy = Policy {
        alg: Alg::Rs256,
        issuers: vec![iss.to_string()],
        audience: Audience::OneOf(token_audiences(state)),
        leeway: google_tokens::verify::DEFAULT_LEEWAY,
        max_lifetime: Some(MAX_ASSERTION_LIFETIME),
        rules: IssuerRules::None,
    };
    let now = google_tokens::now_unix();
    // A `Value`, not `ServiceAccountJwtClaims`: google-auth's assertion has no `sub`.
    let claims: Value = google_tokens::verify(&assertion, &keys, &policy, now).map_err(|e| {
        tracing::info!(account = %account.email, rule = %e, "assertion refused");
        match e {
            VerifyError::Expired { .. }
            | VerifyError::NotYetValid { .. }
            | VerifyError::LifetimeTooLong { .. }
            | VerifyError::MissingClaim("exp" | "iat") => TokenDenial::BadTimes,
            VerifyError::WrongAudience { .. } | VerifyError::MissingClaim("aud") => {
                TokenDenial::WrongAudience
            }
            VerifyError::WrongIssuer { .. } => TokenDenial::AccountNotFound,
            _ => TokenDenial::BadSignature,
        }
    })?;

    if let Some(audience) = claims
        .get("target_audience")
        .and_then(Value::as_str)
        .filter(|a| !a.is_empty())
    {
        let id =
            GoogleIdClaims::for_service_account(&account.email, &account.unique_id, audience, now);
        let jwt = state.keys.google.sign(&id).map_err(|e| {
            tracing::error!(error = %e, "signing an ID token failed");
            TokenDenial::InvalidRequest("internal error")
        })?;
        tracing::info!(account = %account.email, audience = %audience, decision = "issued", "oauth2 id token");
        return Ok(Json(json!({ "id_token": jwt })).into_response());
    }
    let scopes = claims
        .get("scope")
        .and_then(Value::as_str)
        .map(crate::access_tokens::parse_scopes)
        .unwrap_or_default();
    if !scopes.is_empty() {
        tracing::info!(account = %account.email, scopes = ?scopes, decision = "issued", "oauth2 access token");
        // Remembered with its scopes, so IAP can accept it (item 2).
        let access_token =
            state
                .access_tokens
                .issue(crate::access_tokens::AccessGrant::to_service_account(
                    account, scopes,
                ));
        return Ok(Json(json!({
            "access_token": access_token,
            "expires_in": crate::access_tokens::ACCESS_TOKEN_LIFETIME.as_secs(),
            "token_type": "Bearer",
        }))
        .into_response());
    }
    Err(TokenDenial::MissingScope)
}
