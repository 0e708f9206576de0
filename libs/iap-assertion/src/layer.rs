//! The tower layer: verify `x-goog-iap-jwt-assertion`, then call the inner service with the
//! verified [`Identity`] in the request extensions, or answer the [`Rejection`] without calling
//! it.
//!
//! In either mode the unsigned identity headers are removed before the inner service runs
//! (style.md section 5, "set the trusted header, remove the untrusted one"): no handler can read
//! `x-goog-authenticated-user-email` by mistake. When IAP did add them and they disagree with the
//! verified claims, that is logged, because it means someone other than IAP set them.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use google_tokens::{
    Alg, IapClaims, JwksClient, JwksClientOptions, KeyFormat, Policy, TokenVerifier,
};
use http::{HeaderMap, HeaderName, Request};

use crate::config::{IapCheck, KeyServerTls, SetupError};
use crate::identity::{Identity, VerifiedIdentity};
use crate::rejection::{IAP_ASSERTION_HEADER, Rejection};

/// `accounts.google.com:<email>`, unsigned (item 21).
pub const AUTHENTICATED_USER_EMAIL: &str = "x-goog-authenticated-user-email";
/// `accounts.google.com:<numeric id>`, unsigned (item 21).
pub const AUTHENTICATED_USER_ID: &str = "x-goog-authenticated-user-id";

#[derive(Debug)]
enum Mode {
    Enforce(TokenVerifier),
    Disabled,
}

/// Verifies IAP's signed header in front of every route it wraps. Cheap to clone (an `Arc`).
#[derive(Debug, Clone)]
pub struct IapLayer {
    mode: Arc<Mode>,
}

impl IapLayer {
    /// Builds the check and logs what it is: INFO when enforced, a WARNING when disabled.
    ///
    /// Keys are fetched lazily (on the first assertion) and cached per `Cache-Control`, with a
    /// bounded refetch on an unknown kid, so a key rotation at IAP is picked up without a restart
    /// ([`google_tokens::JwksClient`]). The HTTP client is built here, so a missing CA bundle
    /// fails at start.
    pub fn new(check: IapCheck, tls: KeyServerTls) -> Result<Self, SetupError> {
        let mode = match &check {
            IapCheck::Enforce { audience, jwk_url } => {
                let http = tls.client_for(jwk_url)?;
                let keys = JwksClient::new(
                    http,
                    jwk_url.as_str(),
                    KeyFormat::Jwks,
                    Alg::Es256,
                    JwksClientOptions::google_defaults(),
                );
                tracing::info!(
                    iap_check = "enforce",
                    audience = %audience,
                    jwk_url = %jwk_url,
                    "{}",
                    check.describe()
                );
                Mode::Enforce(TokenVerifier::new(
                    Arc::new(keys),
                    Policy::iap_assertion(audience.as_str()),
                ))
            }
            IapCheck::Disabled => {
                tracing::warn!(iap_check = "disabled", "WARNING: {}", check.describe());
                Mode::Disabled
            }
        };
        Ok(Self {
            mode: Arc::new(mode),
        })
    }

    /// Whether assertions are checked.
    pub fn is_enforced(&self) -> bool {
        matches!(*self.mode, Mode::Enforce(_))
    }

    /// Checks one request's headers: the identity to hand on, or why not.
    pub async fn check(&self, headers: &HeaderMap) -> Result<Identity, Rejection> {
        let verifier = match &*self.mode {
            Mode::Disabled => return Ok(Identity::Unverified),
            Mode::Enforce(verifier) => verifier,
        };
        let mut values = headers.get_all(IAP_ASSERTION_HEADER).iter();
        let token = match (values.next(), values.next()) {
            (None, _) => return Err(Rejection::Missing),
            (Some(_), Some(_)) => return Err(Rejection::Duplicated),
            (Some(value), None) => value.to_str().map_err(|_| Rejection::NotAscii)?.trim(),
        };
        if token.is_empty() {
            return Err(Rejection::Missing);
        }
        let claims: IapClaims = verifier.verify(token).await?;
        Ok(Identity::Verified(claims.into()))
    }
}

impl<S> tower::Layer<S> for IapLayer {
    type Service = IapService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IapService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`IapLayer`] wraps around a router or handler.
#[derive(Debug, Clone)]
pub struct IapService<S> {
    inner: S,
    layer: IapLayer,
}

impl<S> tower::Service<Request<Body>> for IapService<S>
where
    S: tower::Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        // The clone that was polled ready is the one that gets the call (tower's usual swap).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        Box::pin(async move {
            let identity = match layer.check(request.headers()).await {
                Ok(identity) => identity,
                Err(rejection) => {
                    log_rejection(&rejection, &request);
                    return Ok(rejection.into_response());
                }
            };
            strip_unsigned_identity(request.headers_mut(), identity.verified());
            request.extensions_mut().insert(identity);
            inner.call(request).await
        })
    }
}

fn log_rejection(rejection: &Rejection, request: &Request<Body>) {
    let (rule, _) = rejection.rule();
    // The cause (kid, audience found, times) is logged; the token itself never is.
    match rejection {
        Rejection::KeysUnavailable(_) => tracing::error!(
            rule,
            method = %request.method(),
            path = request.uri().path(),
            cause = %rejection,
            "IAP assertion could not be checked"
        ),
        _ => tracing::warn!(
            rule,
            reason = rejection.reason(),
            method = %request.method(),
            path = request.uri().path(),
            cause = %rejection,
            "request refused: IAP assertion"
        ),
    }
}

/// Removes IAP's unsigned identity headers, logging any that disagree with the verified claims.
fn strip_unsigned_identity(headers: &mut HeaderMap, verified: Option<&VerifiedIdentity>) {
    let prefixed = |value: &str| format!("{}{value}", IapClaims::SUBJECT_PREFIX);
    let checks: [(HeaderName, Option<String>); 2] = [
        (
            HeaderName::from_static(AUTHENTICATED_USER_EMAIL),
            verified.map(|v| prefixed(&v.email)),
        ),
        (
            HeaderName::from_static(AUTHENTICATED_USER_ID),
            verified.map(|v| prefixed(&v.user_id)),
        ),
    ];
    for (name, expected) in checks {
        let removed: Vec<_> = headers.get_all(&name).iter().cloned().collect();
        headers.remove(&name);
        let Some(expected) = expected else { continue };
        let mismatched = removed
            .iter()
            .any(|value| value.to_str().map_or(true, |v| v != expected));
        if mismatched {
            tracing::warn!(
                header = name.as_str(),
                "unsigned IAP identity header disagrees with the verified assertion; ignored"
            );
        }
    }
}
