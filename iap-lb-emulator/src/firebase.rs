//! Firebase Auth state shared by identitytoolkit and securetoken: users, refresh tokens, the
//! ID tokens they mint and Identity Toolkit's JSON error envelope.
//!
//! Shapes follow the Firebase Auth emulator, which copies production (google-behaviour item 82:
//! firebase/firebase-tools `src/emulator/auth/operations.ts`, `errors.ts`, `state.ts`), with one
//! deliberate difference: ID tokens here are RS256, signed by the securetoken key ring and
//! verifiable at Google's published key URLs (item 80), never `alg: none` (item 83 is what the
//! Firebase emulator does and what fortress refuses to do).
//!
//! Users live in memory behind a `std::sync::Mutex`: no lock is held across an `.await`
//! (style.md section 7). Passwords are kept as salted SHA-256, never in clear, never logged.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use google_tokens::claims::FIREBASE_ISSUER_PREFIX;
use google_tokens::{FirebaseClaims, FirebaseInfo, KeyError};
use serde::Serialize;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::config::ApiKeys;
use crate::keys::KeyRing;

/// Lifetime of a Firebase ID token, as `expiresIn` spells it: a string (item 82).
pub const EXPIRES_IN: &str = "3600";
const LIFETIME: u64 = 3600;

/// `firebase.sign_in_provider` values (item 81).
pub const PROVIDER_PASSWORD: &str = "password";
pub const PROVIDER_ANONYMOUS: &str = "anonymous";
pub const PROVIDER_CUSTOM: &str = "custom";

/// Claims a custom token may not set (firebase-tools `FORBIDDEN_CUSTOM_CLAIMS`).
pub const FORBIDDEN_CUSTOM_CLAIMS: [&str; 16] = [
    "iss",
    "aud",
    "sub",
    "iat",
    "exp",
    "nbf",
    "jti",
    "nonce",
    "azp",
    "acr",
    "amr",
    "cnf",
    "auth_time",
    "firebase",
    "at_hash",
    "c_hash",
];

/// One Firebase user.
#[derive(Debug, Clone)]
pub struct User {
    pub local_id: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
    password: Option<PasswordHash>,
}

#[derive(Debug, Clone)]
struct PasswordHash {
    salt: [u8; 16],
    digest: [u8; 32],
}

impl PasswordHash {
    fn new(password: &str) -> Self {
        let salt = *uuid::Uuid::new_v4().as_bytes();
        Self {
            salt,
            digest: digest(&salt, password),
        }
    }

    fn matches(&self, password: &str) -> bool {
        let other = digest(&self.salt, password);
        // Constant-time comparison: a habit, even in an emulator.
        self.digest
            .iter()
            .zip(other.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

fn digest(salt: &[u8; 16], password: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(password.as_bytes());
    h.finalize().into()
}

/// What a refresh token stands for: the session it continues.
#[derive(Debug, Clone)]
struct RefreshRecord {
    local_id: String,
    provider: String,
    /// `auth_time` stays fixed across refreshes (item 81).
    auth_time: u64,
    extra_claims: Map<String, Value>,
}

/// The outcome of a password check.
#[derive(Debug)]
pub enum PasswordCheck {
    Ok(User),
    UnknownEmail,
    WrongPassword,
}

/// Users and refresh tokens of the emulated Firebase project.
#[derive(Debug, Default)]
pub struct FirebaseUsers {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    by_id: HashMap<String, User>,
    /// Canonical (lowercased) email → local id.
    by_email: HashMap<String, String>,
    refresh: HashMap<String, RefreshRecord>,
}

impl FirebaseUsers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Creates a password user; `None` when the email is taken. Check and insert are one step.
    pub fn create_password_user(&self, email: &str, password: &str) -> Option<User> {
        let email = canonical_email(email);
        let mut inner = self.lock();
        if inner.by_email.contains_key(&email) {
            return None;
        }
        let user = User {
            local_id: new_local_id(&inner),
            email: Some(email.clone()),
            email_verified: Some(false),
            password: Some(PasswordHash::new(password)),
        };
        inner.by_email.insert(email, user.local_id.clone());
        inner.by_id.insert(user.local_id.clone(), user.clone());
        Some(user)
    }

    /// Creates an anonymous user (`accounts:signUp` with an empty body).
    pub fn create_anonymous_user(&self) -> User {
        let mut inner = self.lock();
        let user = User {
            local_id: new_local_id(&inner),
            email: None,
            email_verified: None,
            password: None,
        };
        inner.by_id.insert(user.local_id.clone(), user.clone());
        user
    }

    /// The user with `uid`, created if absent (custom-token sign-in); `true` when new.
    pub fn get_or_create_custom_user(&self, uid: &str) -> (User, bool) {
        let mut inner = self.lock();
        if let Some(user) = inner.by_id.get(uid) {
            return (user.clone(), false);
        }
        let user = User {
            local_id: uid.to_string(),
            email: None,
            email_verified: None,
            password: None,
        };
        inner.by_id.insert(uid.to_string(), user.clone());
        (user, true)
    }

    /// Whether `email` already belongs to a user (sign-up checks this before the password's
    /// strength, in the order firebase-tools asserts them).
    pub fn email_taken(&self, email: &str) -> bool {
        self.lock().by_email.contains_key(&canonical_email(email))
    }

    pub fn check_password(&self, email: &str, password: &str) -> PasswordCheck {
        let inner = self.lock();
        let Some(user) = inner
            .by_email
            .get(&canonical_email(email))
            .and_then(|id| inner.by_id.get(id))
        else {
            return PasswordCheck::UnknownEmail;
        };
        match &user.password {
            Some(hash) if hash.matches(password) => PasswordCheck::Ok(user.clone()),
            _ => PasswordCheck::WrongPassword,
        }
    }

    fn issue_refresh_token(&self, record: RefreshRecord) -> String {
        let token = random_token();
        self.lock().refresh.insert(token.clone(), record);
        token
    }

    fn redeem(&self, token: &str) -> Option<(User, RefreshRecord)> {
        let inner = self.lock();
        let record = inner.refresh.get(token)?.clone();
        let user = inner.by_id.get(&record.local_id)?.clone();
        Some((user, record))
    }
}

/// The API key rule of Identity Toolkit and securetoken: `?key=` or the `X-Goog-Api-Key` header.
/// Missing: 403 PERMISSION_DENIED; not one of the project's keys: 400 INVALID_ARGUMENT.
pub fn check_api_key(
    api_keys: &ApiKeys,
    query_key: Option<&str>,
    headers: &axum::http::HeaderMap,
) -> Result<(), ApiError> {
    let key = query_key
        .filter(|k| !k.is_empty())
        .or_else(|| {
            headers
                .get("x-goog-api-key")
                .and_then(|v| v.to_str().ok())
                .filter(|k| !k.is_empty())
        })
        .ok_or_else(ApiError::missing_api_key)?;
    match api_keys {
        ApiKeys::AnyNonEmpty => Ok(()),
        ApiKeys::Only(keys) if keys.iter().any(|k| k == key) => Ok(()),
        ApiKeys::Only(_) => Err(ApiError::invalid_api_key()),
    }
}

/// Firebase canonicalises emails to lower case (firebase-tools `canonicalizeEmailAddress`).
pub fn canonical_email(email: &str) -> String {
    email.to_lowercase()
}

/// firebase-tools `isValidEmailAddress`: one `@` with text on both sides. Permissive on
/// purpose; production allows almost everything this allows.
pub fn is_valid_email(email: &str) -> bool {
    let mut parts = email.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(a), Some(b), None) if !a.is_empty() && !b.is_empty())
}

/// 28 alphanumeric characters, the shape of Firebase uids.
fn new_local_id(inner: &Inner) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    loop {
        let bytes: Vec<u8> = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
            .iter()
            .flat_map(|u| *u.as_bytes())
            .collect();
        let id: String = bytes
            .iter()
            .take(28)
            .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
            .collect();
        if !inner.by_id.contains_key(&id) {
            return id;
        }
    }
}

fn random_token() -> String {
    let bytes: Vec<u8> = (0..3)
        .flat_map(|_| *uuid::Uuid::new_v4().as_bytes())
        .collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An ID token and the refresh token that continues its session.
#[derive(Debug, Clone)]
pub struct Tokens {
    pub id_token: String,
    pub refresh_token: String,
}

/// Mints Firebase ID tokens for one project with the securetoken key ring.
pub struct Minter<'a> {
    pub project_id: &'a str,
    pub keys: &'a KeyRing,
    pub users: &'a FirebaseUsers,
}

impl Minter<'_> {
    /// A new session for `user`: ID token plus a new refresh token.
    pub fn sign_in(
        &self,
        user: &User,
        provider: &str,
        extra_claims: Map<String, Value>,
        now: u64,
    ) -> Result<Tokens, KeyError> {
        let record = RefreshRecord {
            local_id: user.local_id.clone(),
            provider: provider.to_string(),
            auth_time: now,
            extra_claims,
        };
        let id_token = self.id_token(user, &record, now)?;
        let refresh_token = self.users.issue_refresh_token(record);
        Ok(Tokens {
            id_token,
            refresh_token,
        })
    }

    /// A fresh ID token for the session behind `refresh_token`; `None` when it is unknown or
    /// its user is gone. The refresh token stays valid, as Google's do.
    pub fn refresh(
        &self,
        refresh_token: &str,
        now: u64,
    ) -> Option<Result<(User, String), KeyError>> {
        let (user, record) = self.users.redeem(refresh_token)?;
        Some(self.id_token(&user, &record, now).map(|t| (user, t)))
    }

    fn id_token(&self, user: &User, session: &RefreshRecord, now: u64) -> Result<String, KeyError> {
        let mut identities = Map::new();
        if let Some(email) = &user.email {
            identities.insert(
                "email".into(),
                Value::Array(vec![Value::String(email.clone())]),
            );
        }
        let mut extra = session.extra_claims.clone();
        // Set only for anonymous sign-in, as production does (firebase-tools `generateJwt`).
        if session.provider == PROVIDER_ANONYMOUS {
            extra.insert(
                "provider_id".into(),
                Value::String(PROVIDER_ANONYMOUS.into()),
            );
        }
        let claims = FirebaseClaims {
            iss: format!("{FIREBASE_ISSUER_PREFIX}{}", self.project_id),
            aud: self.project_id.to_string(),
            auth_time: session.auth_time,
            user_id: user.local_id.clone(),
            sub: user.local_id.clone(),
            iat: now,
            exp: now + LIFETIME,
            email: user.email.clone(),
            email_verified: user.email_verified,
            name: None,
            firebase: FirebaseInfo {
                identities,
                sign_in_provider: session.provider.clone(),
                extra: Map::new(),
            },
            extra,
        };
        self.keys.sign(&claims)
    }
}

/// Identity Toolkit's error envelope (item 82; firebase-tools `errors.ts` `ApiError.toJSON`):
/// `{"error":{"code","message","errors":[{"message","reason","domain"}],"status"?}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: StatusCode,
    pub message: String,
    pub reason: &'static str,
    pub status: Option<&'static str>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: u16,
    message: &'a str,
    errors: [Item<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'a str>,
}

#[derive(Serialize)]
struct Item<'a> {
    message: &'a str,
    reason: &'a str,
    domain: &'a str,
}

impl ApiError {
    /// 400 with the code as message, reason `invalid`, no status: how Identity Toolkit reports
    /// `EMAIL_EXISTS`, `WEAK_PASSWORD : ...` and the rest (firebase-tools `BadRequestError`).
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            code: StatusCode::BAD_REQUEST,
            message: message.into(),
            reason: "invalid",
            status: None,
        }
    }

    /// 403 PERMISSION_DENIED "The request is missing a valid API key." (item 83;
    /// firebase-tools `server.ts` normalises a missing key to this, "to match production").
    pub fn missing_api_key() -> Self {
        Self {
            code: StatusCode::FORBIDDEN,
            message: "The request is missing a valid API key.".into(),
            reason: "forbidden",
            status: Some("PERMISSION_DENIED"),
        }
    }

    /// 400 INVALID_ARGUMENT "API key not valid. Please pass a valid API key." for a key the
    /// project does not hold (the wording ESPv2 and Google APIs use, item 72).
    pub fn invalid_api_key() -> Self {
        Self {
            code: StatusCode::BAD_REQUEST,
            message: "API key not valid. Please pass a valid API key.".into(),
            reason: "badRequest",
            status: Some("INVALID_ARGUMENT"),
        }
    }

    /// 400 INVALID_ARGUMENT for a body that is not the JSON the method takes.
    pub fn invalid_json() -> Self {
        Self {
            code: StatusCode::BAD_REQUEST,
            message: "Invalid JSON payload received.".into(),
            reason: "invalid",
            status: Some("INVALID_ARGUMENT"),
        }
    }

    /// 404 NOT_FOUND for a method the emulator does not play.
    pub fn not_found() -> Self {
        Self {
            code: StatusCode::NOT_FOUND,
            message: "Not Found".into(),
            reason: "notFound",
            status: Some("NOT_FOUND"),
        }
    }

    /// 500 when signing fails (it should not): the cause goes to the log, not the client.
    pub fn internal() -> Self {
        Self {
            code: StatusCode::INTERNAL_SERVER_ERROR,
            message: "Internal error encountered.".into(),
            reason: "backendError",
            status: Some("INTERNAL"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Envelope {
            error: Body {
                code: self.code.as_u16(),
                message: &self.message,
                errors: [Item {
                    message: &self.message,
                    reason: self.reason,
                    domain: "global",
                }],
                status: self.status,
            },
        };
        (self.code, Json(body)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_permissively_and_canonicalised() {
        assert!(is_valid_email("a@b"));
        assert!(!is_valid_email("ab"));
        assert!(!is_valid_email("@b"));
        assert!(!is_valid_email("a@b@c"));
        assert_eq!(canonical_email("Alice@Example.com"), "alice@example.com");
    }

    #[test]
    fn a_taken_email_cannot_sign_up_twice_and_passwords_are_checked() {
        let users = FirebaseUsers::default();
        let alice = users
            .create_password_user("alice@example.com", "secret1")
            .expect("new");
        assert_eq!(alice.local_id.len(), 28);
        assert!(
            users
                .create_password_user("ALICE@example.com", "x")
                .is_none()
        );
        assert!(matches!(
            users.check_password("alice@example.com", "secret1"),
            PasswordCheck::Ok(u) if u.local_id == alice.local_id
        ));
        assert!(matches!(
            users.check_password("alice@example.com", "nope"),
            PasswordCheck::WrongPassword
        ));
        assert!(matches!(
            users.check_password("bob@example.com", "secret1"),
            PasswordCheck::UnknownEmail
        ));
    }
}
