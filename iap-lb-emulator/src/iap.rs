//! Identity-Aware Proxy for one backend service: who the caller is, whether they may pass, and
//! the signed header the backend gets. Every refusal is a [`Denial`] holding Google's exact
//! status and text (google-behaviour section 1), made into a response in one place.
//!
//! Checks, in this order:
//!
//! 1. the credential: `Proxy-Authorization: Bearer` if present (so the app can keep
//!    `Authorization`), else `Authorization: Bearer` (item 1). None: [`Denial::EmptyToken`], a
//!    302 to Google's sign-in (item 15), or 401 for `X-Requested-With: XMLHttpRequest` (item 19);
//! 2. an OAuth access token (`ya29.…`, item 2), when `Config::iap_access_tokens` is
//!    `Accepted` (the default, after the newest documentation): it must be one the emulator
//!    issued, still live, carrying `openid` and `userinfo.email`; its owner then goes straight
//!    to step 7. Google's refusals for access tokens are not recorded; the emulator's words are
//!    on [`Denial::UnknownAccessToken`] and its neighbours. Anything else must be a compact JWT
//!    at all: else "Unable to parse JWT" (item 16);
//! 3. which kind, by its `iss`: a Google ID token (`https://accounts.google.com`), verified with
//!    the accounts.google.com keys, or a JWT a service account of the project signed itself
//!    (`iss` = the account, item 4), verified with the keys minted for it. Anything else, or a
//!    signature that does not verify (including `alg: none` and HMAC): "JWT signature is invalid";
//! 4. expiry: "OpenID Connect token expired: JWT has expired", with no "Invalid IAP credentials"
//!    prefix (item 16, a 2020 observation);
//! 5. audience: an ID token's `aud` must be the OAuth client or on `programmaticClients` (items
//!    6-8); a service-account JWT's `aud` must be the resource URL, `https://DOMAIN/PATH`, or a
//!    `/*` wildcard above it (items 4-5). Else "Invalid bearer token. Invalid JWT audience.";
//! 6. an ID token must carry a string `email` (item 16: "JWT 'email' claim isn't a string");
//! 7. the principal must hold `roles/iap.httpsResourceAccessor` on the backend service or the
//!    project (items 17, 28): else 403.
//!
//! Every answer IAP itself makes carries `X-Goog-IAP-Generated-Response: true` (item 18) and
//! `Content-Type: text/html; charset=UTF-8` (item 16), even for plain-text bodies.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blueprint::Member;
use google_tokens::claims::{GOOGLE_ISSUER, GOOGLE_ISSUER_BARE};
use google_tokens::jwt::{MalformedToken, split};
use google_tokens::{IapClaims, Policy, VerifiedToken, VerifyError};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::access_tokens::{ACCESS_TOKEN_PREFIX, Lookup};
use crate::config::IapAccessTokens;
use crate::services::{PrincipalKind, covers};
use crate::state::AppState;

/// Marks every response IAP generates (item 18).
pub static X_GOOG_IAP_GENERATED_RESPONSE: HeaderName =
    HeaderName::from_static("x-goog-iap-generated-response");
/// The signed header (items 21-22).
pub static X_GOOG_IAP_JWT_ASSERTION: HeaderName =
    HeaderName::from_static("x-goog-iap-jwt-assertion");
pub static X_GOOG_AUTHENTICATED_USER_EMAIL: HeaderName =
    HeaderName::from_static("x-goog-authenticated-user-email");
pub static X_GOOG_AUTHENTICATED_USER_ID: HeaderName =
    HeaderName::from_static("x-goog-authenticated-user-id");
/// Prefix of the identity headers' values and of `sub` (items 21, 23).
pub const ACCOUNTS_PREFIX: &str = "accounts.google.com:";

/// Who passed authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub email: String,
    /// The numeric id, without the `accounts.google.com:` prefix.
    pub user_id: String,
    pub kind: PrincipalKind,
}

/// Why IAP refused, with its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denial {
    /// No credential: 302 to `location` (item 15), or 401 for an AJAX request (item 19).
    EmptyToken { location: String, ajax: bool },
    /// The bearer value is not a JWT (item 16).
    UnparsableJwt,
    /// Unsigned, badly signed, unknown key or issuer (item 16).
    BadSignature,
    /// Past `exp` (item 16, 2020 wording).
    Expired,
    /// `iat` in the future or a lifetime beyond the cap: not in the reference; the emulator's
    /// wording in IAP's form.
    BadTimes,
    /// `aud` not accepted (item 16; the variant with "Invalid bearer token." is used).
    WrongAudience,
    /// An ID token without a string `email` (item 16).
    EmailNotAString,
    /// An access token the emulator never issued (or revoked). Emulator wording in IAP's
    /// form: Google's answer is not recorded (item 2 is marked unconfirmed).
    UnknownAccessToken,
    /// An access token past its `expires_in` (emulator wording, as above).
    ExpiredAccessToken,
    /// An access token without `openid` and `userinfo.email` (item 2; emulator wording).
    AccessTokenScopes,
    /// Authenticated, but not an accessor (item 17). The programmatic 403 body is unconfirmed;
    /// the browser page's heading is used.
    NoAccess { principal: String },
}

impl Denial {
    /// Google's status and body text for this refusal.
    pub fn status_and_text(&self) -> (StatusCode, &'static str) {
        match self {
            // As IAP answers a request with no credential at all (item 15; 401 for AJAX, item 19).
            Self::EmptyToken { ajax: false, .. } => {
                (StatusCode::FOUND, "Invalid IAP credentials: empty token")
            }
            Self::EmptyToken { ajax: true, .. } => (
                StatusCode::UNAUTHORIZED,
                "Invalid IAP credentials: empty token",
            ),
            // As IAP answers a bearer value that is not a JWT (item 16).
            Self::UnparsableJwt => (
                StatusCode::UNAUTHORIZED,
                "Invalid IAP credentials: Unable to parse JWT",
            ),
            // As IAP answers an unsigned or badly signed JWT (item 16).
            Self::BadSignature => (
                StatusCode::UNAUTHORIZED,
                "Invalid IAP credentials: JWT signature is invalid",
            ),
            // As IAP answered an expired ID token in 2020 (item 16; kubeflow/pipelines#4321).
            Self::Expired => (
                StatusCode::UNAUTHORIZED,
                "OpenID Connect token expired: JWT has expired",
            ),
            // Emulator wording (no observation exists for these two rules).
            Self::BadTimes => (
                StatusCode::UNAUTHORIZED,
                "Invalid IAP credentials: JWT issued-at or lifetime is invalid",
            ),
            // As IAP answers a token for another client (item 16, the newer variant).
            Self::WrongAudience => (
                StatusCode::UNAUTHORIZED,
                "Invalid IAP credentials: Invalid bearer token. Invalid JWT audience.",
            ),
            // As IAP answers an ID token minted without --include-email (item 16).
            Self::EmailNotAString => (
                StatusCode::UNAUTHORIZED,
                "Invalid IAP credentials: JWT 'email' claim isn't a string",
            ),
            // Item 2 names the scopes; the texts are the emulator's (no observation exists).
            Self::UnknownAccessToken => (
                StatusCode::UNAUTHORIZED,
                "Invalid IAP credentials: Unable to validate access token",
            ),
            Self::ExpiredAccessToken => (
                StatusCode::UNAUTHORIZED,
                "Invalid IAP credentials: Access token has expired",
            ),
            Self::AccessTokenScopes => (
                StatusCode::UNAUTHORIZED,
                "Invalid IAP credentials: Access token must carry the openid and \
                 https://www.googleapis.com/auth/userinfo.email scopes",
            ),
            // Item 17: browsers see a page headed "You don't have access"; the programmatic
            // body is unconfirmed.
            Self::NoAccess { .. } => (StatusCode::FORBIDDEN, "You don't have access"),
        }
    }
}

/// An answer IAP generated: text/html, `X-Goog-IAP-Generated-Response: true`,
/// `Server: Google Frontend`.
pub fn generated(status: StatusCode, body: impl Into<String>) -> Response {
    let mut resp = (status, body.into()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=UTF-8"),
    );
    h.insert(
        X_GOOG_IAP_GENERATED_RESPONSE.clone(),
        HeaderValue::from_static("true"),
    );
    // item 15: IAP's answers come from Google's front end.
    h.insert(header::SERVER, HeaderValue::from_static("Google Frontend"));
    resp
}

impl IntoResponse for Denial {
    fn into_response(self) -> Response {
        let (status, text) = self.status_and_text();
        let mut resp = generated(status, text);
        if let Self::EmptyToken {
            location,
            ajax: false,
        } = &self
        {
            if let Ok(v) = HeaderValue::from_str(location) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            // item 35: set during the redirect; the suffix is random, the attributes are the
            // emulator's (Google's are not recorded).
            let nonce = format!(
                "GCP_IAP_XSRF_NONCE_{}=1; Path=/; Max-Age=600; Secure; HttpOnly",
                &uuid::Uuid::new_v4().simple().to_string()[..22]
            );
            if let Ok(v) = HeaderValue::from_str(&nonce) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
        }
        resp
    }
}

/// IAP's OAuth callback for `client_id` (items 13, 36).
pub fn handle_redirect_uri(client_id: &str) -> String {
    format!("https://iap.googleapis.com/v1/oauth/clientIds/{client_id}:handleRedirect")
}

/// The `state` of the sign-in redirect: an ES256 JWT signed by IAP for its client, naming where
/// the browser was going (the shape of the 2021 capture in item 36).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct SignInState {
    iss: String,
    aud: String,
    target_uri: String,
    iat: u64,
    exp: u64,
}

const STATE_LIFETIME: u64 = 600;

fn sign_state(state: &AppState, client_id: &str, target_uri: &str) -> String {
    let now = google_tokens::now_unix();
    let claims = SignInState {
        iss: google_tokens::claims::IAP_ISSUER.into(),
        aud: client_id.into(),
        target_uri: target_uri.into(),
        iat: now,
        exp: now + STATE_LIFETIME,
    };
    state.keys.iap.sign(&claims).unwrap_or_default()
}

/// The target URI of a `state` IAP signed for `client_id`, if it verifies.
pub fn verify_state(state: &AppState, token: &str, client_id: &str) -> Option<String> {
    let keys = state.keys.iap.key_set().ok()?;
    let policy = Policy {
        alg: google_tokens::Alg::Es256,
        issuers: vec![google_tokens::claims::IAP_ISSUER.into()],
        audience: google_tokens::Audience::OneOf(vec![client_id.into()]),
        leeway: google_tokens::verify::DEFAULT_LEEWAY,
        max_lifetime: Some(STATE_LIFETIME),
        rules: google_tokens::verify::IssuerRules::None,
    };
    google_tokens::verify::<SignInState>(token, &keys, &policy, google_tokens::now_unix())
        .ok()
        .map(|s| s.target_uri)
}

/// The sign-in redirect (item 36): Google's authorization endpoint with IAP's client, `code`
/// flow, `openid email`, IAP's `handleRedirect` URI, PKCE S256 and the signed state.
pub fn sign_in_location(state: &AppState, target_uri: &str) -> String {
    let client_id = state.config.topology.iap().oauth2_client_id().as_str();
    let verifier = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    format!(
        "https://accounts.google.com/o/oauth2/v2/auth?client_id={client_id}&response_type=code\
         &scope=openid+email&redirect_uri={}&state={}&code_challenge={challenge}\
         &code_challenge_method=S256&cred_ref=true",
        crate::form::encode(&handle_redirect_uri(client_id)),
        sign_state(state, client_id, target_uri)
    )
}

/// A bearer credential as a request carries it.
struct Bearer<'a> {
    value: &'a HeaderValue,
    /// `value` as text.
    text: &'a str,
    /// The token, a slice of `text`.
    token: &'a str,
}

fn bearer<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<Bearer<'a>> {
    let value = headers.get(name)?;
    let text = value.to_str().ok()?;
    let (scheme, token) = text.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(Bearer {
        value,
        text,
        token,
    })
}

/// Google's current ID-token keys, for IAP.
fn google_keys(state: &AppState) -> Result<Arc<google_tokens::KeySet>, Denial> {
    state
        .keys
        .google
        .key_set()
        .map_err(|_| Denial::BadSignature)
}

/// The identity a Google ID token that passed IAP's policy names: only the two claims IAP
/// passes on are read, out of the claims the signature cache took out of the payload once.
fn google_identity(state: &AppState, verified: &VerifiedToken) -> Result<Identity, Denial> {
    let claims = verified.claims();
    // The policy requires a string email; its check refused any token without one.
    let email = claims.email().ok_or(Denial::EmailNotAString)?.to_string();
    let kind = PrincipalKind::of(&email, &state.accounts);
    Ok(Identity {
        email,
        // A `sub` that is not a string reads as empty, as it always has.
        user_id: claims.sub().unwrap_or_default().to_string(),
        kind,
    })
}

/// The browser session named by IAP's cookie, if any.
pub fn session_identity(state: &AppState, headers: &HeaderMap) -> Option<Identity> {
    let name = crate::browser::session_cookie_name(
        state.config.topology.iap().oauth2_client_id().as_str(),
    );
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|h| crate::browser::cookie(h, &name))
        .and_then(|value| state.sign_ins.session(value))
}

/// What a request asked the load balancer for, from which IAP writes two URLs only when it
/// needs them (an ID token, the common case, needs neither).
#[derive(Debug, Clone, Copy)]
pub struct RequestTarget<'a> {
    pub domain: &'a str,
    /// The path, without the query.
    pub path: &'a str,
    /// The path and query, as the client sent them.
    pub path_and_query: &'a str,
}

impl RequestTarget<'_> {
    /// `https://DOMAIN/PATH` (no query): the audience of a service-account JWT (item 13).
    pub fn resource_url(&self) -> String {
        format!("https://{}{}", self.domain, self.path)
    }

    /// `https://DOMAIN/PATH?QUERY`: where sign-in returns to.
    pub fn uri(&self) -> String {
        format!("https://{}{}", self.domain, self.path_and_query)
    }
}

/// Steps 1-6: who the caller is, for a request to `target`.
pub fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    target: RequestTarget<'_>,
) -> Result<Identity, Denial> {
    // A header seen before (`crate::credentials`) carried a Google ID token whose signature
    // verified: it is checked again with IAP's policy, without reading the header again.
    // Proxy-Authorization comes first, as below.
    let remembered = match headers.get(header::PROXY_AUTHORIZATION) {
        Some(value) => state.credentials.get(value),
        None => headers
            .get(header::AUTHORIZATION)
            .and_then(|value| state.credentials.get(value)),
    };
    if let Some(seen) = remembered {
        let keys = google_keys(state)?;
        let verified = state
            .signatures
            .verify_seen(
                seen.token(),
                Some(seen.verified()),
                &keys,
                &state.policies.iap,
                google_tokens::now_unix(),
            )
            .map_err(denial_for)?;
        return google_identity(state, &verified);
    }
    let Some(credential) = bearer(headers, &header::PROXY_AUTHORIZATION)
        .or_else(|| bearer(headers, &header::AUTHORIZATION))
    else {
        // No bearer: a browser session cookie, else the sign-in redirect.
        return session_identity(state, headers).ok_or_else(|| Denial::EmptyToken {
            location: sign_in_location(state, &target.uri()),
            ajax: headers
                .get("x-requested-with")
                .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"XMLHttpRequest")),
        });
    };
    let token = credential.token;
    if token.starts_with(ACCESS_TOKEN_PREFIX)
        && state.config.iap_access_tokens == IapAccessTokens::Accepted
    {
        return authenticate_access_token(state, token);
    }
    // The issuer picks the keys. A token verified before gives it from the cache; any other is
    // decoded here (and refused when it does not parse). Either way nothing is trusted yet.
    let seen = state.signatures.seen(token);
    let decoded;
    let iss = match &seen {
        Some(verified) => verified.claims().iss().unwrap_or_default(),
        None => {
            let parts = split(token).map_err(|e| match e {
                MalformedToken::BadSignatureEncoding => Denial::BadSignature,
                _ => Denial::UnparsableJwt,
            })?;
            decoded = unverified_issuer(parts.payload_b64)?;
            decoded.as_str()
        }
    };
    let now = google_tokens::now_unix();

    if iss == GOOGLE_ISSUER || iss == GOOGLE_ISSUER_BARE {
        let keys = google_keys(state)?;
        let verified = state
            .signatures
            .verify_seen(token, seen, &keys, &state.policies.iap, now)
            .map_err(denial_for)?;
        let identity = google_identity(state, &verified)?;
        state
            .credentials
            .remember(credential.value, credential.text, token, verified);
        return Ok(identity);
    }
    let Some(account) = state.accounts.resolve(iss) else {
        return Err(Denial::BadSignature);
    };
    let keys = account.key_set().ok_or(Denial::BadSignature)?;
    google_tokens::verify::<Value>(
        token,
        &keys,
        &Policy::service_account_jwt(iss, &target.resource_url()),
        now,
    )
    .map_err(denial_for)?;
    Ok(Identity {
        email: account.email.clone(),
        user_id: account.unique_id.clone(),
        kind: PrincipalKind::ServiceAccount,
    })
}

/// The unverified `iss` of a JWT payload, which picks the keys to verify with; `""` when it is
/// absent or not a string. Only that claim is read: the claims are read in full once the
/// signature has been checked. A payload that is not a JSON object is unparsable.
fn unverified_issuer(payload_b64: &str) -> Result<String, Denial> {
    #[derive(serde::Deserialize)]
    struct Peek {
        #[serde(default)]
        iss: Option<Value>,
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| Denial::UnparsableJwt)?;
    // Structs also deserialize from JSON arrays; a JWT payload must be an object.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Denial::UnparsableJwt);
    }
    let peek: Peek = serde_json::from_slice(&bytes).map_err(|_| Denial::UnparsableJwt)?;
    Ok(match peek.iss {
        Some(Value::String(iss)) => iss,
        _ => String::new(),
    })
}

/// Step 2 for access tokens (item 2): issued here, live, with IAP's scopes.
fn authenticate_access_token(state: &AppState, token: &str) -> Result<Identity, Denial> {
    match state.access_tokens.lookup(token) {
        Lookup::Live(grant) if grant.allows_iap() => Ok(Identity {
            email: grant.email,
            user_id: grant.user_id,
            kind: grant.kind,
        }),
        Lookup::Live(_) => Err(Denial::AccessTokenScopes),
        Lookup::Expired => Err(Denial::ExpiredAccessToken),
        Lookup::Unknown => Err(Denial::UnknownAccessToken),
    }
}

fn denial_for(err: VerifyError) -> Denial {
    match err {
        VerifyError::Malformed(MalformedToken::BadSignatureEncoding) => Denial::BadSignature,
        VerifyError::Malformed(_) => Denial::UnparsableJwt,
        VerifyError::Expired { .. } => Denial::Expired,
        VerifyError::NotYetValid { .. } | VerifyError::LifetimeTooLong { .. } => Denial::BadTimes,
        VerifyError::WrongAudience { .. } | VerifyError::MissingClaim("aud") => {
            Denial::WrongAudience
        }
        VerifyError::MissingClaim("email") => Denial::EmailNotAString,
        VerifyError::MissingClaim(_) | VerifyError::InvalidClaim { .. } => Denial::UnparsableJwt,
        VerifyError::AlgNotAllowed { .. }
        | VerifyError::MissingKid
        | VerifyError::UnknownKid(_)
        | VerifyError::BadSignature
        | VerifyError::WrongIssuer { .. }
        | VerifyError::KeysUnavailable(_) => Denial::BadSignature,
    }
}

/// Step 7: whether `identity` holds `roles/iap.httpsResourceAccessor` through `accessors`.
pub fn authorize(accessors: &[Member], identity: &Identity) -> Result<(), Denial> {
    if accessors
        .iter()
        .any(|m| covers(m, &identity.email, identity.kind))
    {
        Ok(())
    } else {
        Err(Denial::NoAccess {
            principal: identity.email.clone(),
        })
    }
}

/// The `iap-secure-token-test-type` of `gcp-iap-mode=SECURE_TOKEN_TEST` (item 33): which
/// deliberately broken assertion the backend gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestAssertion {
    /// A valid assertion.
    NotSet,
    /// `iat` (and `exp`) in the future.
    FutureIssue,
    /// `exp` in the past.
    PastExpiration,
    /// Another `iss`.
    Issuer,
    /// Another `aud`.
    Audience,
    /// A signature that does not verify.
    Signature,
}

impl TestAssertion {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "NOT_SET" => Self::NotSet,
            "FUTURE_ISSUE" => Self::FutureIssue,
            "PAST_EXPIRATION" => Self::PastExpiration,
            "ISSUER" => Self::Issuer,
            "AUDIENCE" => Self::Audience,
            "SIGNATURE" => Self::Signature,
            _ => return None,
        })
    }
}

/// The `x-goog-iap-jwt-assertion` for `identity` behind the backend service `audience`
/// (`/projects/NUM/global/backendServices/ID`): ES256, IAP's issuer, 600 s (items 22-24). A
/// valid assertion is signed once per second per backend and principal
/// ([`crate::assertions`]); the broken ones of `SECURE_TOKEN_TEST` are signed each time.
pub fn assertion(
    state: &AppState,
    audience: &str,
    identity: &Identity,
    test: TestAssertion,
) -> Result<HeaderValue, AssertionError> {
    let now = google_tokens::now_unix();
    let key = state.keys.iap.signing_key().ok_or(AssertionError::NoKey)?;
    let sign = |claims: &IapClaims| -> Result<HeaderValue, AssertionError> {
        let jwt = key.sign(claims).map_err(AssertionError::Sign)?;
        HeaderValue::try_from(jwt).map_err(|_| AssertionError::NotAHeader)
    };
    if test == TestAssertion::NotSet {
        // The claims are only built when this second's assertion is not already signed.
        let mut failure = None;
        let token = state.assertions.get_or_sign(
            audience,
            &identity.email,
            &identity.user_id,
            key.kid(),
            now,
            || {
                let claims = IapClaims::new(audience, &identity.email, &identity.user_id, now);
                sign(&claims).map_err(|e| failure = Some(e)).ok()
            },
        );
        return token.ok_or_else(|| failure.unwrap_or(AssertionError::NoKey));
    }
    let mut claims = IapClaims::new(audience, &identity.email, &identity.user_id, now);
    match test {
        TestAssertion::NotSet | TestAssertion::Signature => {}
        TestAssertion::FutureIssue => {
            claims.iat = now + 3600;
            claims.exp = claims.iat + 600;
        }
        TestAssertion::PastExpiration => {
            claims.iat = now - 1200;
            claims.exp = now - 600;
        }
        TestAssertion::Issuer => {
            claims.iss = "https://cloud.google.com/iap-secure-token-test".into()
        }
        TestAssertion::Audience => {
            claims.aud = "/projects/0/global/backendServices/0".into();
        }
    }
    let jwt = sign(&claims)?;
    if test == TestAssertion::Signature {
        // Same header and claims, another signature: flip the first signature character.
        let jwt = jwt.to_str().map_err(|_| AssertionError::NotAHeader)?;
        if let Some((signed, sig)) = jwt.rsplit_once('.') {
            let mut chars: Vec<char> = sig.chars().collect();
            if let Some(c) = chars.first_mut() {
                *c = if *c == 'A' { 'B' } else { 'A' };
            }
            return HeaderValue::try_from(format!(
                "{signed}.{}",
                chars.into_iter().collect::<String>()
            ))
            .map_err(|_| AssertionError::NotAHeader);
        }
    }
    Ok(jwt)
}

/// Why IAP could not sign an assertion (a 500: the emulator's own fault, never the caller's).
#[derive(Debug, thiserror::Error)]
pub enum AssertionError {
    #[error("IAP's key ring has no signing key")]
    NoKey,
    #[error("signing the assertion: {0}")]
    Sign(google_tokens::KeyError),
    #[error("the signed assertion is not a valid header value")]
    NotAHeader,
}

/// Item 20: every client-supplied `x-goog-*` header is dropped before IAP adds its own.
pub fn strip_client_google_headers(headers: &mut HeaderMap) -> usize {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-goog-"))
        .cloned()
        .collect();
    for name in &names {
        headers.remove(name);
    }
    names.len()
}

/// Sets the three identity headers on the request to the backend (item 21).
pub fn add_identity_headers(headers: &mut HeaderMap, identity: &Identity, assertion: HeaderValue) {
    headers.insert(X_GOOG_IAP_JWT_ASSERTION.clone(), assertion);
    let pairs = [
        (&X_GOOG_AUTHENTICATED_USER_EMAIL, &identity.email),
        (&X_GOOG_AUTHENTICATED_USER_ID, &identity.user_id),
    ];
    for (name, value) in pairs {
        if let Ok(v) = HeaderValue::try_from([ACCOUNTS_PREFIX, value.as_str()].concat()) {
            headers.insert(name.clone(), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_denial_carries_googles_status_and_text() {
        let cases = [
            (
                Denial::UnparsableJwt,
                401,
                "Invalid IAP credentials: Unable to parse JWT",
            ),
            (
                Denial::BadSignature,
                401,
                "Invalid IAP credentials: JWT signature is invalid",
            ),
            (
                Denial::Expired,
                401,
                "OpenID Connect token expired: JWT has expired",
            ),
            (
                Denial::WrongAudience,
                401,
                "Invalid IAP credentials: Invalid bearer token. Invalid JWT audience.",
            ),
            (
                Denial::EmailNotAString,
                401,
                "Invalid IAP credentials: JWT 'email' claim isn't a string",
            ),
        ];
        for (denial, status, text) in cases {
            assert_eq!(
                denial.status_and_text(),
                (StatusCode::from_u16(status).expect("status"), text)
            );
        }
    }

    #[test]
    fn the_empty_token_redirect_carries_the_client_and_iaps_redirect_uri() {
        let location = format!(
            "https://accounts.google.com/o/oauth2/v2/auth?client_id=123-abc.apps.googleusercontent.com&response_type=code&scope=openid+email&redirect_uri={}&state=s",
            crate::form::encode(&handle_redirect_uri("123-abc.apps.googleusercontent.com"))
        );
        let resp = Denial::EmptyToken {
            location,
            ajax: false,
        }
        .into_response();
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert_eq!(resp.headers()["x-goog-iap-generated-response"], "true");
        let location = resp.headers()[header::LOCATION].to_str().expect("ascii");
        assert!(location.starts_with(
            "https://accounts.google.com/o/oauth2/v2/auth?client_id=123-abc.apps.googleusercontent.com&response_type=code&scope=openid+email&redirect_uri=https%3A%2F%2Fiap.googleapis.com%2Fv1%2Foauth%2FclientIds%2F123-abc.apps.googleusercontent.com%3AhandleRedirect&state="
        ), "{location}");
        assert!(
            resp.headers()[header::SET_COOKIE]
                .to_str()
                .expect("ascii")
                .starts_with("GCP_IAP_XSRF_NONCE_")
        );
    }

    #[test]
    fn the_unverified_issuer_is_read_from_an_object_payload_only() {
        let b64 = |json: &str| URL_SAFE_NO_PAD.encode(json);
        assert_eq!(
            unverified_issuer(&b64(r#"{"iss":"https://accounts.google.com","aud":"x"}"#))
                .expect("object"),
            "https://accounts.google.com"
        );
        assert_eq!(unverified_issuer(&b64(r#"{"iss":7}"#)).expect("object"), "");
        assert_eq!(unverified_issuer(&b64("{}")).expect("object"), "");
        for bad in [r#"["https://accounts.google.com"]"#, "\"iss\"", "{", ""] {
            assert!(
                matches!(unverified_issuer(&b64(bad)), Err(Denial::UnparsableJwt)),
                "{bad}"
            );
        }
        assert!(matches!(
            unverified_issuer("not base64!"),
            Err(Denial::UnparsableJwt)
        ));
    }

    #[test]
    fn only_x_goog_headers_are_stripped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-goog-authenticated-user-email",
            HeaderValue::from_static("accounts.google.com:admin@corp.com"),
        );
        headers.insert(
            "X-Goog-Iap-Jwt-Assertion",
            HeaderValue::from_static("forged"),
        );
        headers.insert("x-google-backend", HeaderValue::from_static("kept"));
        headers.insert("authorization", HeaderValue::from_static("Bearer kept"));
        assert_eq!(strip_client_google_headers(&mut headers), 2);
        assert_eq!(headers.len(), 2);
    }
}
