//! Why a request was refused, and the one place that turns it into a response.
//!
//! The body follows Google's JSON error shape (`{"error":{"code","status","message"}}`, as Google
//! APIs answer) plus a `reason` a client can match and a `rule` naming the check that failed.
//! Messages are fixed strings: nothing from the token (not even its kid or audience) is echoed to
//! the caller. The full cause, with those details, goes to the log.

use axum::response::{IntoResponse, Response};
use google_tokens::VerifyError;
use http::{HeaderValue, StatusCode, header};

/// The header IAP adds to every request it lets through (google-behaviour item 21).
pub const IAP_ASSERTION_HEADER: &str = "x-goog-iap-jwt-assertion";

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No assertion header, or an empty one.
    #[error("no x-goog-iap-jwt-assertion header")]
    Missing,
    /// The header was sent more than once: which copy would IAP have set? Refuse both.
    #[error("x-goog-iap-jwt-assertion sent more than once")]
    Duplicated,
    /// The header value is not visible ASCII, so it cannot be a compact JWS.
    #[error("x-goog-iap-jwt-assertion is not a visible-ASCII header value")]
    NotAscii,
    /// The assertion failed verification.
    #[error("IAP assertion rejected: {0}")]
    Invalid(VerifyError),
    /// IAP's keys could not be fetched and none are cached: not the caller's fault.
    #[error("IAP keys unavailable: {0}")]
    KeysUnavailable(String),
}

impl From<VerifyError> for Rejection {
    fn from(err: VerifyError) -> Self {
        match err {
            VerifyError::KeysUnavailable(why) => Rejection::KeysUnavailable(why),
            other => Rejection::Invalid(other),
        }
    }
}

impl Rejection {
    /// `missing_iap_assertion`, `invalid_iap_assertion` or `iap_keys_unavailable`.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::Missing => "missing_iap_assertion",
            Rejection::Duplicated | Rejection::NotAscii | Rejection::Invalid(_) => {
                "invalid_iap_assertion"
            }
            Rejection::KeysUnavailable(_) => "iap_keys_unavailable",
        }
    }

    /// The rule that failed, as a stable snake_case name, with a fixed message.
    pub fn rule(&self) -> (&'static str, &'static str) {
        match self {
            Rejection::Missing => (
                "missing",
                "the request has no x-goog-iap-jwt-assertion header; it did not come through IAP",
            ),
            Rejection::Duplicated => (
                "duplicated",
                "the x-goog-iap-jwt-assertion header was sent more than once",
            ),
            Rejection::NotAscii => (
                "malformed",
                "the IAP assertion is not a compact JWT (header value is not visible ASCII)",
            ),
            Rejection::KeysUnavailable(_) => (
                "keys_unavailable",
                "the keys to verify the IAP assertion could not be fetched; retry later",
            ),
            Rejection::Invalid(err) => match err {
                VerifyError::Malformed(_) => (
                    "malformed",
                    "the IAP assertion is not a compact JWT with a JSON header and payload",
                ),
                VerifyError::AlgNotAllowed { .. } => (
                    "alg_not_allowed",
                    "the IAP assertion's algorithm is not allowed; IAP signs with ES256",
                ),
                VerifyError::MissingKid => ("missing_kid", "the IAP assertion's header has no kid"),
                VerifyError::UnknownKid(_) => (
                    "unknown_kid",
                    "the IAP assertion is signed with a key id that IAP does not publish",
                ),
                VerifyError::BadSignature => (
                    "bad_signature",
                    "the IAP assertion's signature does not verify",
                ),
                VerifyError::MissingClaim(_) => (
                    "missing_claim",
                    "the IAP assertion lacks a required claim (exp, iat, iss, aud, sub or email)",
                ),
                VerifyError::Expired { .. } => ("expired", "the IAP assertion has expired"),
                VerifyError::NotYetValid { .. } => (
                    "not_yet_valid",
                    "the IAP assertion is not valid yet (issued in the future)",
                ),
                VerifyError::LifetimeTooLong { .. } => (
                    "lifetime_too_long",
                    "the IAP assertion's lifetime exceeds IAP's 10 minutes",
                ),
                VerifyError::WrongIssuer { .. } => (
                    "wrong_issuer",
                    "the IAP assertion was not issued by https://cloud.google.com/iap",
                ),
                VerifyError::WrongAudience { .. } => (
                    "wrong_audience",
                    "the IAP assertion was issued for another backend (wrong audience)",
                ),
                VerifyError::InvalidClaim { .. } => (
                    "invalid_claim",
                    "the IAP assertion has a claim of the wrong shape",
                ),
                VerifyError::KeysUnavailable(_) => (
                    "keys_unavailable",
                    "the keys to verify the IAP assertion could not be fetched; retry later",
                ),
            },
        }
    }
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (rule, message) = self.rule();
        let (status, google_status) = match self {
            // Our key fetch failed: the caller may retry, and must not be told its credentials
            // are bad. Still fail closed.
            Rejection::KeysUnavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE"),
            _ => (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"),
        };
        let mut response =
            error_response(status, google_status, message, Some((self.reason(), rule)));
        if status == StatusCode::UNAUTHORIZED {
            // RFC 9110 section 11.6.1: a 401 names a challenge. There is nothing a client can do
            // here but come through IAP, which the realm says.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("IAP realm=\"x-goog-iap-jwt-assertion\""),
            );
        }
        response
    }
}

/// `{"error":{"code":N,"status":S,"message":M[,"reason":R,"rule":U]}}` with
/// `content-type: application/json`.
pub(crate) fn error_response(
    status: StatusCode,
    google_status: &str,
    message: &str,
    reason_and_rule: Option<(&str, &str)>,
) -> Response {
    let mut error = serde_json::json!({
        "code": status.as_u16(),
        "status": google_status,
        "message": message,
    });
    if let Some((reason, rule)) = reason_and_rule {
        error["reason"] = reason.into();
        error["rule"] = rule.into();
    }
    (status, axum::Json(serde_json::json!({ "error": error }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_name_is_distinct_for_distinct_checks() {
        let errors = [
            Rejection::Missing,
            Rejection::Duplicated,
            Rejection::Invalid(VerifyError::AlgNotAllowed {
                found: "none".into(),
                expected: google_tokens::Alg::Es256,
            }),
            Rejection::Invalid(VerifyError::MissingKid),
            Rejection::Invalid(VerifyError::UnknownKid("k".into())),
            Rejection::Invalid(VerifyError::BadSignature),
            Rejection::Invalid(VerifyError::Expired {
                exp: 1,
                now: 2,
                leeway: 0,
            }),
            Rejection::Invalid(VerifyError::WrongAudience { found: vec![] }),
            Rejection::Invalid(VerifyError::WrongIssuer { found: "x".into() }),
            Rejection::KeysUnavailable("down".into()),
        ];
        let mut rules: Vec<_> = errors.iter().map(|e| e.rule().0).collect();
        rules.sort_unstable();
        rules.dedup();
        assert_eq!(rules.len(), errors.len());
    }

    #[test]
    fn messages_never_contain_token_supplied_values() {
        let rejection = Rejection::Invalid(VerifyError::UnknownKid("<script>".into()));
        assert!(!rejection.rule().1.contains("<script>"));
        let rejection = Rejection::Invalid(VerifyError::WrongAudience {
            found: vec!["/projects/1/global/backendServices/666".into()],
        });
        assert!(!rejection.rule().1.contains("666"));
    }
}
