//! The identity a handler may trust, put in the request extensions by [`crate::IapLayer`].
//!
//! It comes from the verified claims of `x-goog-iap-jwt-assertion` and from nothing else: the
//! unsigned `x-goog-authenticated-user-email` and `-id` headers can be forged whenever IAP is
//! bypassed (google-behaviour item 21), so the layer removes them before a handler runs.

use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use google_tokens::IapClaims;
use http::request::Parts;
use serde::Serialize;
use serde::ser::SerializeMap;

/// Who made the request, as far as this service can tell.
#[derive(Debug, Clone, PartialEq)]
pub enum Identity {
    /// The assertion verified: signature, algorithm, issuer, audience and lifetime all held.
    Verified(VerifiedIdentity),
    /// The check is [`crate::IapCheck::Disabled`]; nobody vouched for the caller.
    Unverified,
}

/// The claims of a verified IAP assertion that a handler needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifiedIdentity {
    /// The bare email (`email` claim).
    pub email: String,
    /// The numeric user id: `sub` without `accounts.google.com:`.
    pub user_id: String,
    /// `sub` as signed, `accounts.google.com:<id>`.
    pub sub: String,
    /// The audience the assertion was issued for (this backend's).
    pub audience: String,
    /// Hosted domain, for Workspace and Cloud Identity accounts only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosted_domain: Option<String>,
    /// `iat`, Unix seconds.
    pub issued_at: u64,
    /// `exp`, Unix seconds.
    pub expires_at: u64,
}

impl From<IapClaims> for VerifiedIdentity {
    fn from(claims: IapClaims) -> Self {
        Self {
            user_id: claims.user_id().to_owned(),
            email: claims.email,
            sub: claims.sub,
            audience: claims.aud,
            hosted_domain: claims.hd,
            issued_at: claims.iat,
            expires_at: claims.exp,
        }
    }
}

impl Identity {
    pub fn is_verified(&self) -> bool {
        matches!(self, Identity::Verified(_))
    }

    pub fn verified(&self) -> Option<&VerifiedIdentity> {
        match self {
            Identity::Verified(v) => Some(v),
            Identity::Unverified => None,
        }
    }
}

/// `{"verified": true, "email": ..., ...}` or `{"verified": false, "reason": "..."}`: a caller
/// reading a `whoami` answer can never mistake an unchecked identity for a checked one.
impl Serialize for Identity {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Identity::Verified(v) => {
                #[derive(Serialize)]
                struct Tagged<'a> {
                    verified: bool,
                    #[serde(flatten)]
                    identity: &'a VerifiedIdentity,
                }
                Tagged {
                    verified: true,
                    identity: v,
                }
                .serialize(serializer)
            }
            Identity::Unverified => {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("verified", &false)?;
                map.serialize_entry(
                    "reason",
                    "the IAP assertion check is disabled on this service; no identity was verified",
                )?;
                map.end()
            }
        }
    }
}

/// The layer was not installed in front of a handler that asks for an [`Identity`]: a wiring
/// bug, answered 500 so it cannot pass for an anonymous request.
#[derive(Debug)]
pub struct IdentityMissing;

impl IntoResponse for IdentityMissing {
    fn into_response(self) -> Response {
        tracing::error!("handler asked for an IAP identity but no IapLayer runs in front of it");
        crate::rejection::error_response(
            http::StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "the request identity is not available",
            None,
        )
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Identity {
    type Rejection = IdentityMissing;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Identity>()
            .cloned()
            .ok_or(IdentityMissing)
    }
}
