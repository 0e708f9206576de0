//! The claim sets of each Google token kind, and the constants their issuers use.
//!
//! Field names and lifetimes follow `shared/reference/google-behaviour.md`; the item number is
//! given beside each type. Extra claims a real token may carry are kept in `extra` so a verified
//! token loses nothing.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `iss` of Google-signed ID tokens (item 77). Google also issues the bare host form.
pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
/// The older `iss` spelling that google-auth still accepts (item 78).
pub const GOOGLE_ISSUER_BARE: &str = "accounts.google.com";
/// `iss` of IAP's signed header (item 23).
pub const IAP_ISSUER: &str = "https://cloud.google.com/iap";
/// Prefix of a Firebase ID token's `iss`; the project id follows (item 80).
pub const FIREBASE_ISSUER_PREFIX: &str = "https://securetoken.google.com/";
/// `aud` of Firebase custom tokens minted by the Admin SDK (item 82).
pub const FIREBASE_CUSTOM_TOKEN_AUDIENCE: &str =
    "https://identitytoolkit.googleapis.com/google.identity.identitytoolkit.v1.IdentityToolkit";

/// Google's public key URLs (items 22, 78, 80). The emulator serves the same paths.
pub const GOOGLE_JWKS_URL: &str = "https://www.googleapis.com/oauth2/v3/certs";
pub const GOOGLE_PEM_URL: &str = "https://www.googleapis.com/oauth2/v1/certs";
pub const IAP_JWK_URL: &str = "https://www.gstatic.com/iap/verify/public_key-jwk";
pub const IAP_PEM_URL: &str = "https://www.gstatic.com/iap/verify/public_key";
pub const SECURETOKEN_X509_URL: &str =
    "https://www.googleapis.com/robot/v1/metadata/x509/securetoken@system.gserviceaccount.com";
pub const SECURETOKEN_JWK_URL: &str =
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";

/// Lifetime of Google ID tokens, Firebase ID tokens and service-account JWTs: one hour.
pub const ONE_HOUR: u64 = 3600;
/// Lifetime of IAP's signed header: ten minutes (item 24).
pub const IAP_ASSERTION_LIFETIME: u64 = 600;

/// A Google-signed OpenID Connect ID token (metadata server, oauth2 token exchange; item 77).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GoogleIdClaims {
    pub iss: String,
    pub aud: String,
    /// For a service account, its numeric unique id (same as `sub`).
    pub azp: String,
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    pub iat: u64,
    pub exp: u64,
    /// `google.compute_engine` with `format=full` on the metadata server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google: Option<Value>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl GoogleIdClaims {
    /// The claims the metadata server gives a service account with `format=standard`.
    pub fn for_service_account(email: &str, unique_id: &str, audience: &str, now: u64) -> Self {
        Self {
            iss: GOOGLE_ISSUER.into(),
            aud: audience.into(),
            azp: unique_id.into(),
            sub: unique_id.into(),
            email: Some(email.into()),
            email_verified: Some(true),
            iat: now,
            exp: now + ONE_HOUR,
            google: None,
            extra: Map::new(),
        }
    }
}

/// IAP's signed header `x-goog-iap-jwt-assertion` (items 21-24).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IapClaims {
    pub iss: String,
    /// `/projects/NUM/global/backendServices/ID` behind a load balancer.
    pub aud: String,
    /// `accounts.google.com:<numeric id>`.
    pub sub: String,
    /// The bare email (the header form adds the `accounts.google.com:` prefix).
    pub email: String,
    pub iat: u64,
    pub exp: u64,
    /// Hosted domain, for Workspace accounts only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hd: Option<String>,
    /// `{"access_levels": [...]}` when access levels apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub google: Option<Value>,
    /// Seen for IAP directly on Cloud Run (item 24); unconfirmed for load-balancer mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_source: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl IapClaims {
    /// `sub` prefix IAP uses for Google identities (item 23).
    pub const SUBJECT_PREFIX: &'static str = "accounts.google.com:";

    pub fn new(audience: &str, email: &str, user_id: &str, now: u64) -> Self {
        Self {
            iss: IAP_ISSUER.into(),
            aud: audience.into(),
            sub: format!("{}{user_id}", Self::SUBJECT_PREFIX),
            email: email.into(),
            iat: now,
            exp: now + IAP_ASSERTION_LIFETIME,
            hd: None,
            google: None,
            identity_source: None,
            extra: Map::new(),
        }
    }

    /// The numeric user id without the `accounts.google.com:` prefix.
    pub fn user_id(&self) -> &str {
        self.sub
            .strip_prefix(Self::SUBJECT_PREFIX)
            .unwrap_or(&self.sub)
    }
}

/// The `firebase` claim of a Firebase ID token (item 81).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FirebaseInfo {
    #[serde(default)]
    pub identities: Map<String, Value>,
    pub sign_in_provider: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A Firebase Auth ID token (items 80-81).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FirebaseClaims {
    pub iss: String,
    /// The Firebase project id.
    pub aud: String,
    pub auth_time: u64,
    pub user_id: String,
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub firebase: FirebaseInfo,
    /// Custom claims sit at the top level.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl FirebaseClaims {
    /// A password user's token, as `accounts:signInWithPassword` returns it.
    pub fn for_password_user(project_id: &str, uid: &str, email: &str, now: u64) -> Self {
        let mut identities = Map::new();
        identities.insert(
            "email".into(),
            Value::Array(vec![Value::String(email.into())]),
        );
        Self {
            iss: format!("{FIREBASE_ISSUER_PREFIX}{project_id}"),
            aud: project_id.into(),
            auth_time: now,
            user_id: uid.into(),
            sub: uid.into(),
            iat: now,
            exp: now + ONE_HOUR,
            email: Some(email.into()),
            email_verified: Some(false),
            name: None,
            firebase: FirebaseInfo {
                identities,
                sign_in_provider: "password".into(),
                extra: Map::new(),
            },
            extra: Map::new(),
        }
    }
}

/// A JWT a service account signs with its own key, sent to IAP as a bearer token (item 4).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ServiceAccountJwtClaims {
    pub iss: String,
    pub sub: String,
    /// The IAP-secured resource URL, optionally ending in `/*` (item 5); or the token URI for
    /// the JWT-bearer exchange.
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
    /// Present in the JWT-bearer exchange: the audience of the ID token wanted back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_audience: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ServiceAccountJwtClaims {
    pub fn new(email: &str, audience: &str, now: u64) -> Self {
        Self {
            iss: email.into(),
            sub: email.into(),
            aud: audience.into(),
            iat: now,
            exp: now + ONE_HOUR,
            target_audience: None,
            extra: Map::new(),
        }
    }
}

/// A Firebase custom token minted by the Admin SDK (item 82).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FirebaseCustomTokenClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub uid: String,
    pub iat: u64,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claims: Option<Map<String, Value>>,
}

impl FirebaseCustomTokenClaims {
    pub fn new(service_account: &str, uid: &str, now: u64) -> Self {
        Self {
            iss: service_account.into(),
            sub: service_account.into(),
            aud: FIREBASE_CUSTOM_TOKEN_AUDIENCE.into(),
            uid: uid.into(),
            iat: now,
            exp: now + ONE_HOUR,
            claims: None,
        }
    }
}
