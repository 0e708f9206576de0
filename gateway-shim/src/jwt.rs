//! JWT checks in ESPv2's order, each failure with ESPv2's exact text.
//!
//! ESPv2 authenticates with Envoy's `jwt_authn` filter on top of `jwt_verify_lib`. Their order
//! (Envoy `source/extensions/filters/http/jwt_authn/authenticator.cc`, `startVerify`) decides
//! which message a client sees when a token is wrong in several ways at once, so it is kept:
//!
//! 1. parse (`jwt_verify_lib` `Jwt::parseFromString`): two dots and three non-empty sections,
//!    base64url JSON header with a string `alg` among the implemented ones, optional string `kid`,
//!    base64url JSON payload whose `iss`/`sub`/`jti` are strings, `iat`/`nbf`/`exp` non-negative
//!    numbers, `aud` a string or string list, base64url signature;
//! 2. the issuer is the provider's (`Jwt issuer is not configured`);
//! 3. time: `nbf` not after now + 60 s, `exp` not before now - 60 s (Envoy's default clock skew);
//! 4. audience (403 `Audiences in Jwt are not allowed`), compared as `CheckAudience` does: an
//!    `http://`/`https://` prefix and one trailing `/` are ignored on both sides;
//! 5. keys (`Jwks remote fetch is failed`), then the signature with a key matching kid and alg
//!    (`Jwks doesn't have key to match kid or alg from Jwt`, `Jwt verification fails`).
//!
//! google-tokens' `TokenVerifier` checks the signature first, so its errors cannot be mapped to
//! these messages one to one; the keys still come from its `JwksClient` and the signature check
//! is the same `jsonwebtoken::crypto::verify` call it makes. Only RS256 and ES256 keys are ever
//! loaded (google-tokens' two algorithms), so `none`, `HS*` and the rest never verify: an
//! implemented-but-unloaded algorithm fails at step 5 exactly as it would with Google's keys,
//! whose JWKS entries all carry `alg`.
//!
//! Strings: `jwt_verify_lib` `src/status.cc` (google/jwt_verify_lib), quoted in
//! google-behaviour item 72.

use base64::Engine;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde_json::Value;

/// absl's `WebSafeBase64Unescape` accepts padded and unpadded input.
const B64: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Envoy's default `clock_skew_seconds` (`kClockSkewInSecond`); ESPv2 does not change it.
pub const CLOCK_SKEW: u64 = 60;

/// The outcome of one check, named after `jwt_verify_lib`'s `Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtStatus {
    Missing,
    BadFormat,
    HeaderBadBase64,
    HeaderBadJson,
    HeaderBadAlg,
    HeaderNotImplementedAlg,
    HeaderBadKid,
    PayloadBadBase64,
    PayloadBadJson,
    IssNotString,
    SubNotString,
    IatNotInteger,
    IatNotPositive,
    NbfNotInteger,
    NbfNotPositive,
    ExpNotInteger,
    ExpNotPositive,
    JtiNotString,
    AudNotString,
    SignatureBadBase64,
    UnknownIssuer,
    AudienceNotAllowed,
    NotYetValid,
    Expired,
    VerificationFail,
    JwksKidAlgMismatch,
    JwksFetchFail,
}

impl JwtStatus {
    /// The message ESPv2 puts in the body (`getStatusString`).
    pub fn message(self) -> &'static str {
        match self {
            JwtStatus::Missing => "Jwt is missing",
            JwtStatus::BadFormat => {
                "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
            }
            JwtStatus::HeaderBadBase64 => "Jwt header is an invalid Base64url encoded",
            JwtStatus::HeaderBadJson => "Jwt header is an invalid JSON",
            JwtStatus::HeaderBadAlg => "Jwt header [alg] field is required and must be a string",
            JwtStatus::HeaderNotImplementedAlg => "Jwt header [alg] is not supported",
            JwtStatus::HeaderBadKid => "Jwt header [kid] field is not a string",
            JwtStatus::PayloadBadBase64 => "Jwt payload is an invalid Base64url encoded",
            JwtStatus::PayloadBadJson => "Jwt payload is an invalid JSON",
            JwtStatus::IssNotString => "Jwt payload [iss] field is not a string",
            JwtStatus::SubNotString => "Jwt payload [sub] field is not a string",
            JwtStatus::IatNotInteger => "Jwt payload [iat] field is not an integer",
            JwtStatus::IatNotPositive => "Jwt payload [iat] field is not a positive integer",
            JwtStatus::NbfNotInteger => "Jwt payload [nbf] field is not an integer",
            JwtStatus::NbfNotPositive => "Jwt payload [nbf] field is not a positive integer",
            JwtStatus::ExpNotInteger => "Jwt payload [exp] field is not an integer",
            JwtStatus::ExpNotPositive => "Jwt payload [exp] field is not a positive integer",
            JwtStatus::JtiNotString => "Jwt payload [jti] field is not a string",
            JwtStatus::AudNotString => "Jwt payload [aud] field is not a string or string list",
            JwtStatus::SignatureBadBase64 => "Jwt signature is an invalid Base64url encoded",
            JwtStatus::UnknownIssuer => "Jwt issuer is not configured",
            JwtStatus::AudienceNotAllowed => "Audiences in Jwt are not allowed",
            JwtStatus::NotYetValid => "Jwt not yet valid",
            JwtStatus::Expired => "Jwt is expired",
            JwtStatus::VerificationFail => "Jwt verification fails",
            JwtStatus::JwksKidAlgMismatch => "Jwks doesn't have key to match kid or alg from Jwt",
            JwtStatus::JwksFetchFail => "Jwks remote fetch is failed",
        }
    }

    /// 403 for a disallowed audience, 401 for everything else (Envoy `jwt_authn` `filter.cc`).
    pub fn http_status(self) -> http::StatusCode {
        if self == JwtStatus::AudienceNotAllowed {
            http::StatusCode::FORBIDDEN
        } else {
            http::StatusCode::UNAUTHORIZED
        }
    }
}

/// The algorithms `jwt_verify_lib` implements (`isImplemented` in `jwt.cc`).
const IMPLEMENTED_ALGS: [&str; 13] = [
    "ES256", "ES384", "ES512", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256",
    "PS384", "PS512", "EdDSA",
];

/// A token that parsed. Nothing in it is trusted until [`crate::authn`] verified the signature.
#[derive(Debug, Clone)]
pub struct ParsedJwt<'a> {
    pub alg: String,
    pub kid: Option<String>,
    /// `base64url(header) "." base64url(payload)`: what the signature covers.
    pub signing_input: &'a str,
    /// The payload segment as sent: what `X-Apigateway-Api-Userinfo` carries (item 67).
    pub payload_b64: &'a str,
    pub signature_b64: &'a str,
    pub iss: Option<String>,
    pub nbf: u64,
    pub exp: u64,
    pub audiences: Vec<String>,
}

/// Step 1: parse, with `jwt_verify_lib`'s checks and their order.
pub fn parse(token: &str) -> Result<ParsedJwt<'_>, JwtStatus> {
    if token.bytes().filter(|b| *b == b'.').count() != 2 {
        return Err(JwtStatus::BadFormat);
    }
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s)) = (it.next(), it.next(), it.next()) else {
        return Err(JwtStatus::BadFormat);
    };
    // `StrSplit(.., SkipEmpty())` must still give three parts.
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err(JwtStatus::BadFormat);
    }
    let header_bytes = B64.decode(h).map_err(|_| JwtStatus::HeaderBadBase64)?;
    let header: Value =
        serde_json::from_slice(&header_bytes).map_err(|_| JwtStatus::HeaderBadJson)?;
    let Value::Object(header) = header else {
        return Err(JwtStatus::HeaderBadJson);
    };
    let alg = match header.get("alg") {
        Some(Value::String(a)) => a.clone(),
        _ => return Err(JwtStatus::HeaderBadAlg),
    };
    if !IMPLEMENTED_ALGS.contains(&alg.as_str()) {
        return Err(JwtStatus::HeaderNotImplementedAlg);
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) => Some(k.clone()),
        Some(_) => return Err(JwtStatus::HeaderBadKid),
    };
    let payload_bytes = B64.decode(p).map_err(|_| JwtStatus::PayloadBadBase64)?;
    let payload: Value =
        serde_json::from_slice(&payload_bytes).map_err(|_| JwtStatus::PayloadBadJson)?;
    let Value::Object(payload) = payload else {
        return Err(JwtStatus::PayloadBadJson);
    };
    let string = |name: &str, err: JwtStatus| match payload.get(name) {
        None => Ok(None),
        Some(Value::String(v)) => Ok(Some(v.clone())),
        Some(_) => Err(err),
    };
    let iss = string("iss", JwtStatus::IssNotString)?;
    string("sub", JwtStatus::SubNotString)?;
    let number = |name: &str, not_int: JwtStatus, not_pos: JwtStatus| match payload.get(name) {
        None => Ok(0),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(v), _) => Ok(v),
            (None, Some(f)) if f >= 0.0 => Ok(f as u64),
            _ => Err(not_pos),
        },
        Some(_) => Err(not_int),
    };
    number("iat", JwtStatus::IatNotInteger, JwtStatus::IatNotPositive)?;
    let nbf = number("nbf", JwtStatus::NbfNotInteger, JwtStatus::NbfNotPositive)?;
    let exp = number("exp", JwtStatus::ExpNotInteger, JwtStatus::ExpNotPositive)?;
    string("jti", JwtStatus::JtiNotString)?;
    let audiences = match payload.get("aud") {
        None => Vec::new(),
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(JwtStatus::AudNotString)?,
        Some(_) => return Err(JwtStatus::AudNotString),
    };
    if B64.decode(s).is_err() {
        return Err(JwtStatus::SignatureBadBase64);
    }
    Ok(ParsedJwt {
        alg,
        kid,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload_b64: p,
        signature_b64: s,
        iss,
        nbf,
        exp,
        audiences,
    })
}

impl ParsedJwt<'_> {
    /// Step 3, see [`check_time`].
    pub fn check_time(&self, now: u64) -> Result<(), JwtStatus> {
        check_time(self.nbf, self.exp, now)
    }

    /// Step 4 (`CheckAudience::areAudiencesAllowed`): an empty allow-list allows all; otherwise
    /// one of the token's audiences must match one allowed, scheme and trailing slash ignored.
    pub fn check_audience(&self, allowed: &[String]) -> Result<(), JwtStatus> {
        if allowed.is_empty() {
            return Ok(());
        }
        let ok = self.audiences.iter().any(|aud| {
            let aud = sanitize_audience(aud);
            allowed.iter().any(|a| sanitize_audience(a) == aud)
        });
        if ok {
            Ok(())
        } else {
            Err(JwtStatus::AudienceNotAllowed)
        }
    }
}

/// Step 3 (`Jwt::verifyTimeConstraint`): `nbf` first, then `exp` (0 means absent), each with
/// [`CLOCK_SKEW`].
pub fn check_time(nbf: u64, exp: u64, now: u64) -> Result<(), JwtStatus> {
    if now.saturating_add(CLOCK_SKEW) < nbf {
        return Err(JwtStatus::NotYetValid);
    }
    if exp != 0 && now > exp.saturating_add(CLOCK_SKEW) {
        return Err(JwtStatus::Expired);
    }
    Ok(())
}

/// `sanitizeAudience`: drop an `http://` or `https://` prefix and one trailing `/`.
fn sanitize_audience(aud: &str) -> &str {
    let aud = aud
        .strip_prefix("https://")
        .or_else(|| aud.strip_prefix("http://"))
        .unwrap_or(aud);
    aud.strip_suffix('/').unwrap_or(aud)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    fn seg(v: &str) -> String {
        URL_SAFE_NO_PAD.encode(v)
    }

    fn tok(header: &str, payload: &str) -> String {
        format!("{}.{}.{}", seg(header), seg(payload), seg("sig"))
    }

    fn status(token: &str) -> Option<JwtStatus> {
        parse(token).err()
    }

    #[test]
    fn parse_failures_have_jwt_verify_lib_statuses_in_its_order() {
        let ok_h = r#"{"alg":"RS256","kid":"k"}"#;
        let cases = [
            ("abc".to_owned(), JwtStatus::BadFormat),
            ("a.b.c.d".to_owned(), JwtStatus::BadFormat),
            // alg none with an empty signature: only two non-empty sections.
            (
                format!("{}.{}.", seg(r#"{"alg":"none"}"#), seg("{}")),
                JwtStatus::BadFormat,
            ),
            (
                tok(r#"{"alg":"none"}"#, "{}"),
                JwtStatus::HeaderNotImplementedAlg,
            ),
            ("!!!.e30.c2ln".to_owned(), JwtStatus::HeaderBadBase64),
            (tok("not json", "{}"), JwtStatus::HeaderBadJson),
            (tok(r#"{"kid":"k"}"#, "{}"), JwtStatus::HeaderBadAlg),
            (tok(r#"{"alg":5}"#, "{}"), JwtStatus::HeaderBadAlg),
            (
                tok(r#"{"alg":"RS256","kid":5}"#, "{}"),
                JwtStatus::HeaderBadKid,
            ),
            (tok(ok_h, "nope"), JwtStatus::PayloadBadJson),
            (tok(ok_h, r#"{"iss":1}"#), JwtStatus::IssNotString),
            (tok(ok_h, r#"{"exp":"soon"}"#), JwtStatus::ExpNotInteger),
            (tok(ok_h, r#"{"exp":-1}"#), JwtStatus::ExpNotPositive),
            (tok(ok_h, r#"{"aud":[1]}"#), JwtStatus::AudNotString),
            (
                format!("{}.{}.***", seg(ok_h), seg("{}")),
                JwtStatus::SignatureBadBase64,
            ),
        ];
        for (token, want) in cases {
            assert_eq!(status(&token), Some(want), "{token}");
        }
    }

    #[test]
    fn hs256_parses_and_is_left_to_the_key_match() {
        let t = tok(r#"{"alg":"HS256","kid":"k"}"#, r#"{"aud":"a"}"#);
        assert_eq!(parse(&t).map(|p| p.alg).ok().as_deref(), Some("HS256"));
    }

    #[test]
    fn time_allows_sixty_seconds_of_skew() -> Result<(), JwtStatus> {
        let t = tok(r#"{"alg":"RS256"}"#, r#"{"exp":1000,"nbf":500}"#);
        let p = parse(&t)?;
        assert_eq!(p.check_time(1060), Ok(()));
        assert_eq!(p.check_time(1061), Err(JwtStatus::Expired));
        assert_eq!(p.check_time(440), Ok(()));
        assert_eq!(p.check_time(439), Err(JwtStatus::NotYetValid));
        Ok(())
    }

    #[test]
    fn audiences_ignore_scheme_and_trailing_slash() -> Result<(), JwtStatus> {
        let t = tok(
            r#"{"alg":"RS256"}"#,
            r#"{"aud":["x","https://svc.example/"]}"#,
        );
        let p = parse(&t)?;
        assert_eq!(p.check_audience(&["http://svc.example".into()]), Ok(()));
        assert_eq!(
            p.check_audience(&["svc.example.evil".into()]),
            Err(JwtStatus::AudienceNotAllowed)
        );
        let t2 = tok(r#"{"alg":"RS256"}"#, "{}");
        let none = parse(&t2)?;
        assert_eq!(
            none.check_audience(&["a".into()]),
            Err(JwtStatus::AudienceNotAllowed)
        );
        Ok(())
    }

    #[test]
    fn messages_are_verbatim() {
        assert_eq!(JwtStatus::Missing.message(), "Jwt is missing");
        assert_eq!(
            JwtStatus::AudienceNotAllowed.http_status(),
            http::StatusCode::FORBIDDEN
        );
        assert_eq!(
            JwtStatus::Expired.http_status(),
            http::StatusCode::UNAUTHORIZED
        );
    }
}
