//! The credentials a scenario's client can hold.
//!
//! - A **signed-in Firebase user**: the real flow, `accounts:signUp` (or
//!   `accounts:signInWithPassword` when the email is taken) on the emulator's Identity Toolkit,
//!   exactly what a web app's Firebase SDK does.
//! - A **minted** token: a Firebase ID token or a Google ID token signed by the issuer's real
//!   key (the harness owns it, see [`crate::keys`]) and changed in one way ([`Flaw`]).
//!
//! Every forgery here is one of the classic attacks of `shared/reference/peers.md` section 5
//! (jwt_tool's playbook): alg none, RS to HS key confusion, a tampered payload, an unknown key,
//! an injected kid.

use google_tokens::forge;
use google_tokens::{FirebaseClaims, GoogleIdClaims, SigningKey};
use serde_json::Value;

use crate::stack::Fortress;

/// Which issuer's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, cucumber::Parameter)]
#[param(name = "token", regex = "Firebase token|Google ID token")]
pub enum TokenKind {
    /// Firebase Auth's ID token (securetoken, RS256), what the gateway accepts.
    Firebase,
    /// A Google-signed OpenID Connect ID token (accounts.google.com, RS256), what IAP accepts.
    /// Its audience is IAP's OAuth client unless a flaw says otherwise.
    GoogleId,
}

impl std::str::FromStr for TokenKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "Firebase token" => Ok(Self::Firebase),
            "Google ID token" => Ok(Self::GoogleId),
            other => Err(format!(
                "{other:?}: expected \"Firebase token\" or \"Google ID token\""
            )),
        }
    }
}

/// The one thing wrong with a minted token.
#[derive(Debug, Clone, PartialEq)]
pub enum Flaw {
    /// Nothing: a valid token.
    None,
    /// `exp` this many minutes in the past (issued an hour before that).
    ExpiredMinutesAgo(u64),
    /// `iat` and `nbf` this many minutes in the future.
    NotValidForMinutes(u64),
    /// Another `aud`.
    Audience(String),
    /// Another `iss`.
    Issuer(String),
    /// No `email` claim.
    NoEmail,
    /// Signed by a key the issuer never published (its own kid).
    UnknownKey,
    /// Signed by an unpublished key, with this `kid` in the header (kid injection).
    Kid(String),
    /// `{"alg":"none"}` and no signature.
    AlgNone,
    /// HS256 keyed with the issuer's public key (algorithm confusion), the real kid.
    Hs256WithPublicKey,
    /// Validly signed, then one payload claim changed (signature kept).
    Tampered { claim: String, value: Value },
}

/// A number from `s`, stable across runs: ids for users and accounts.
fn stable_digits(s: &str, len: usize) -> String {
    // FNV-1a, then decimal digits; not cryptographic, only stable.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut out = String::from("1");
    let mut round = 0u8;
    while out.len() < len {
        for b in s.bytes().chain([round]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        out.push_str(&h.to_string());
        round = round.wrapping_add(1);
    }
    out.truncate(len);
    out
}

/// The Firebase uid of `email` in minted tokens (28 characters like Firebase's).
pub fn firebase_uid(email: &str) -> String {
    format!("e2e{}", stable_digits(email, 25))
}

/// The claims of a valid token of `kind` for `email`.
pub fn claims(fortress: &Fortress, kind: TokenKind, email: &str, now: u64) -> Value {
    let claims = match kind {
        TokenKind::Firebase => serde_json::to_value(FirebaseClaims::for_password_user(
            fortress.topology.firebase().project_id().as_str(),
            &firebase_uid(email),
            email,
            now,
        )),
        TokenKind::GoogleId => serde_json::to_value(GoogleIdClaims::for_service_account(
            email,
            &stable_digits(email, 21),
            fortress.topology.iap().oauth2_client_id().as_str(),
            now,
        )),
    };
    claims.unwrap_or(Value::Null)
}

/// A token of `kind` for `email` with `flaw`.
pub fn mint(
    fortress: &Fortress,
    kind: TokenKind,
    email: &str,
    flaw: &Flaw,
) -> Result<String, String> {
    let now = google_tokens::now_unix();
    let mut claims = claims(fortress, kind, email, now);
    let key: &SigningKey = match kind {
        TokenKind::Firebase => &fortress.keys.securetoken,
        TokenKind::GoogleId => &fortress.keys.google,
    };
    let sign = |key: &SigningKey, claims: &Value| key.sign(claims).map_err(|e| e.to_string());
    match flaw {
        Flaw::None => sign(key, &claims),
        Flaw::ExpiredMinutesAgo(minutes) => {
            let exp = now.saturating_sub(minutes * 60);
            claims["exp"] = exp.into();
            claims["iat"] = exp.saturating_sub(3600).into();
            if kind == TokenKind::Firebase {
                claims["auth_time"] = exp.saturating_sub(3600).into();
            }
            sign(key, &claims)
        }
        Flaw::NotValidForMinutes(minutes) => {
            let iat = now + minutes * 60;
            claims["iat"] = iat.into();
            claims["nbf"] = iat.into();
            claims["exp"] = (iat + 3600).into();
            sign(key, &claims)
        }
        Flaw::Audience(aud) => {
            claims["aud"] = aud.clone().into();
            sign(key, &claims)
        }
        Flaw::Issuer(iss) => {
            claims["iss"] = iss.clone().into();
            sign(key, &claims)
        }
        Flaw::NoEmail => {
            if let Some(map) = claims.as_object_mut() {
                map.remove("email");
                map.remove("email_verified");
            }
            sign(key, &claims)
        }
        Flaw::UnknownKey => sign(&fortress.keys.stranger_rsa, &claims),
        Flaw::Kid(kid) => Ok(forge::signed_with_header(
            &fortress.keys.stranger_rsa,
            "RS256",
            Some(kid),
            &claims,
        )),
        Flaw::AlgNone => Ok(forge::alg_none(&claims)),
        Flaw::Hs256WithPublicKey => {
            let public = key.public_key_pem().map_err(|e| e.to_string())?;
            Ok(forge::hs256_with_public_key(
                &claims,
                key.kid(),
                public.as_bytes(),
            ))
        }
        Flaw::Tampered { claim, value } => {
            let token = sign(key, &claims)?;
            let (claim, value) = (claim.clone(), value.clone());
            Ok(forge::tamper_payload(&token, move |payload| {
                payload[claim.as_str()] = value;
            }))
        }
    }
}

/// The password every scenario user has (Identity Toolkit wants 6 characters or more).
pub const TEST_PASSWORD: &str = "fortress-e2e-password";

/// A Firebase ID token for `email` from the emulator's Identity Toolkit: signs the user up, or
/// in when the email is taken (scenarios share a stack and may race to sign up).
pub async fn firebase_sign_in(fortress: &Fortress, email: &str) -> Result<String, String> {
    let key = fortress.topology.firebase().web_api_key();
    let body = serde_json::json!({
        "email": email,
        "password": TEST_PASSWORD,
        "returnSecureToken": true,
    });
    for method in ["signUp", "signInWithPassword"] {
        let url = format!("https://identitytoolkit.googleapis.com/v1/accounts:{method}?key={key}");
        let resp = fortress
            .client
            .post(&url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("accounts:{method}: {e}"))?;
        let status = resp.status();
        let json: Value = resp
            .json()
            .await
            .map_err(|e| format!("accounts:{method}: {e}"))?;
        if let Some(token) = json["idToken"].as_str() {
            return Ok(token.to_owned());
        }
        let message = json["error"]["message"].as_str().unwrap_or_default();
        if method == "signUp" && message == "EMAIL_EXISTS" {
            continue;
        }
        return Err(format!("accounts:{method} answered {status}: {json}"));
    }
    Err(format!("{email}: neither sign-up nor sign-in gave a token"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_the_asked_length() {
        assert_eq!(stable_digits("a@b.c", 21), stable_digits("a@b.c", 21));
        assert_eq!(stable_digits("a@b.c", 21).len(), 21);
        assert_ne!(stable_digits("a@b.c", 21), stable_digits("x@b.c", 21));
        assert_eq!(firebase_uid("alice@example.com").len(), 28);
    }
}
