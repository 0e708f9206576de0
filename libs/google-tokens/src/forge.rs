//! Tokens an attacker would send, for tests and the e2e scenarios only (feature `test-util`).
//!
//! Each forger produces exactly one classic attack so a test can assert the exact rule that
//! rejects it: `alg: none`, HMAC keyed with the issuer's public key, a payload edited after
//! signing, and arbitrary headers (odd kids, other algorithms) signed with a real key.

use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::Value;

use crate::jwt::{RawHeader, encode_segment, split};

/// `{"alg":"none"}` with an empty signature.
pub fn alg_none<T: Serialize>(claims: &T) -> String {
    let header = RawHeader {
        alg: "none".into(),
        kid: None,
        typ: Some("JWT".into()),
    };
    format!(
        "{}.{}.",
        encode_segment(&header).unwrap_or_default(),
        encode_segment(claims).unwrap_or_default()
    )
}

/// HS256 keyed with `public_key` (e.g. the issuer's PEM): the algorithm-confusion attack.
pub fn hs256_with_public_key<T: Serialize>(claims: &T, kid: &str, public_key: &[u8]) -> String {
    let header = RawHeader {
        alg: "HS256".into(),
        kid: Some(kid.into()),
        typ: Some("JWT".into()),
    };
    let input = format!(
        "{}.{}",
        encode_segment(&header).unwrap_or_default(),
        encode_segment(claims).unwrap_or_default()
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, public_key);
    let tag = hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// The same header and signature over an edited payload.
pub fn tamper_payload(token: &str, edit: impl FnOnce(&mut Value)) -> String {
    let Ok(parts) = split(token) else {
        return token.to_string();
    };
    let mut payload = crate::jwt::decode_payload(parts.payload_b64).unwrap_or(Value::Null);
    edit(&mut payload);
    let header_b64 =
        &parts.signing_input[..parts.signing_input.len() - parts.payload_b64.len() - 1];
    format!(
        "{header_b64}.{}.{}",
        encode_segment(&payload).unwrap_or_default(),
        parts.signature_b64
    )
}

/// A header with any `alg`, `kid` and `typ`, signed by `key` (its real algorithm).
pub fn signed_with_header<T: Serialize>(
    key: &crate::SigningKey,
    alg: &str,
    kid: Option<&str>,
    claims: &T,
) -> String {
    let header = RawHeader {
        alg: alg.into(),
        kid: kid.map(str::to_owned),
        typ: Some("JWT".into()),
    };
    key.sign_with_header(&header, claims).unwrap_or_default()
}
