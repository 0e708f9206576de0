//! Compact JWS: split, parse the header, sign. No claim is checked here (see [`crate::verify`]).
//!
//! The header is parsed as plain JSON rather than through jsonwebtoken's `Header`, so that an
//! attacker's `"alg":"none"` or an unknown algorithm becomes a clear [`crate::VerifyError`]
//! instead of a parse failure.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// The two algorithms Google's issuers use. Anything else is refused before a key is touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256: accounts.google.com, service accounts, securetoken.
    Rs256,
    /// ECDSA P-256 with SHA-256: IAP's signed headers.
    Es256,
}

impl Alg {
    pub fn as_str(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    pub(crate) fn jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        match self {
            Alg::Rs256 => jsonwebtoken::Algorithm::RS256,
            Alg::Es256 => jsonwebtoken::Algorithm::ES256,
        }
    }
}

impl std::fmt::Display for Alg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JWT header as the token carries it: nothing here is trusted.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct RawHeader {
    pub alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub typ: Option<String>,
}

/// The three segments of a compact JWS, with the header decoded.
#[derive(Debug, Clone)]
pub struct Parts<'a> {
    pub header: RawHeader,
    /// `base64url(header) "." base64url(payload)`: the bytes the signature covers.
    pub signing_input: &'a str,
    pub payload_b64: &'a str,
    pub signature_b64: &'a str,
}

/// Why a string is not a compact JWS.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MalformedToken {
    #[error("token is not three dot-separated segments")]
    NotThreeSegments,
    #[error("token header is not base64url-encoded JSON with an alg")]
    BadHeader,
    #[error("token payload is not base64url-encoded JSON")]
    BadPayload,
    #[error("token signature is not base64url")]
    BadSignatureEncoding,
}

/// Splits a compact JWS and decodes its header.
pub fn split(token: &str) -> Result<Parts<'_>, MalformedToken> {
    let mut it = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (it.next(), it.next(), it.next(), it.next()) else {
        return Err(MalformedToken::NotThreeSegments);
    };
    let header_bytes = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|_| MalformedToken::BadHeader)?;
    let header: RawHeader =
        serde_json::from_slice(&header_bytes).map_err(|_| MalformedToken::BadHeader)?;
    if URL_SAFE_NO_PAD.decode(s).is_err() {
        return Err(MalformedToken::BadSignatureEncoding);
    }
    Ok(Parts {
        header,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload_b64: p,
        signature_b64: s,
    })
}

/// Decodes the payload segment into JSON (unverified: callers check the signature first).
pub fn decode_payload(payload_b64: &str) -> Result<serde_json::Value, MalformedToken> {
    let bytes = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| MalformedToken::BadPayload)?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| MalformedToken::BadPayload)?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(MalformedToken::BadPayload)
    }
}

/// `base64url(json(value))`, unpadded, as JWS segments are.
pub fn encode_segment<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(value)?))
}
