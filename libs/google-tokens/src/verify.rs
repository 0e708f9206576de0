//! Token verification: the only place claims are checked.
//!
//! A [`Policy`] states everything a verifier expects from one issuer: the algorithm (never read
//! from the token), the issuers, the audiences, the leeway and the longest lifetime. [`verify`]
//! checks, in this order, and stops at the first failure:
//!
//! 1. the token is three base64url segments with a JSON header;
//! 2. `alg` is the policy's algorithm (`none` and `HS*` never are);
//! 3. `kid` is present and names a key of the set;
//! 4. the signature verifies;
//! 5. the payload is a JSON object with `exp`, `iat`, `iss`, `aud` (and whatever else the
//!    policy requires);
//! 6. `exp` is not past, and `iat`/`nbf` not in the future, each allowing the leeway;
//! 7. the lifetime `exp - iat` is within the policy's maximum;
//! 8. `iss` is one of the policy's issuers; `aud` (string or array) names an allowed audience;
//! 9. the issuer's own rules (Firebase: `sub` is 1..=128 characters, `auth_time` is past).
//!
//! Claims are read only after the signature holds, so nothing unauthenticated drives a decision.

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::claims::{FIREBASE_ISSUER_PREFIX, GOOGLE_ISSUER, GOOGLE_ISSUER_BARE, IAP_ISSUER};
use crate::jwt::{Alg, MalformedToken, decode_payload, split};
use crate::key_set::KeySet;

/// Which audiences a verifier accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audience {
    /// `aud` (or one of its entries) must equal one of these.
    OneOf(Vec<String>),
    /// `aud` must equal one of these, or be a URL ending in `/*` whose prefix the requested URL
    /// starts with: IAP's path wildcard for service-account JWTs (google-behaviour item 5).
    ResourceUrl { url: String },
}

/// Extra rules some issuers add on top of the common ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuerRules {
    None,
    /// firebase-admin: `sub` non-empty and at most 128 characters; `auth_time` in the past.
    Firebase,
    /// IAP refuses an ID token whose `email` claim is missing or not a string (item 16).
    EmailRequired,
}

/// What a verifier expects from one issuer. Build it with the constructors; fields are public
/// so tests and the emulator's mutations can adjust one rule at a time.
#[derive(Debug, Clone)]
pub struct Policy {
    pub alg: Alg,
    pub issuers: Vec<String>,
    pub audience: Audience,
    /// Seconds of clock skew allowed on `exp`, `iat` and `nbf`.
    pub leeway: u64,
    /// Longest allowed `exp - iat`, when the issuer caps it.
    pub max_lifetime: Option<u64>,
    pub rules: IssuerRules,
}

/// Default clock skew: IAP documents 30 s for its own header (item 23); used for every issuer.
pub const DEFAULT_LEEWAY: u64 = 30;

impl Policy {
    /// A Google-signed ID token for one of `audiences` (IAP, Cloud Run invoker, gateway shim).
    pub fn google_id_token(audiences: Vec<String>) -> Self {
        Self {
            alg: Alg::Rs256,
            issuers: vec![GOOGLE_ISSUER.into(), GOOGLE_ISSUER_BARE.into()],
            audience: Audience::OneOf(audiences),
            leeway: DEFAULT_LEEWAY,
            max_lifetime: Some(3600 + 2 * DEFAULT_LEEWAY),
            rules: IssuerRules::None,
        }
    }

    /// IAP's signed header for the backend `audience` (`/projects/NUM/global/backendServices/ID`).
    /// Lifetime at most 10 minutes plus twice the skew (item 23).
    pub fn iap_assertion(audience: &str) -> Self {
        Self {
            alg: Alg::Es256,
            issuers: vec![IAP_ISSUER.into()],
            audience: Audience::OneOf(vec![audience.into()]),
            leeway: DEFAULT_LEEWAY,
            max_lifetime: Some(600 + 2 * DEFAULT_LEEWAY),
            rules: IssuerRules::None,
        }
    }

    /// A Firebase ID token of `project_id` (item 80).
    pub fn firebase_id_token(project_id: &str) -> Self {
        Self {
            alg: Alg::Rs256,
            issuers: vec![format!("{FIREBASE_ISSUER_PREFIX}{project_id}")],
            audience: Audience::OneOf(vec![project_id.into()]),
            leeway: DEFAULT_LEEWAY,
            max_lifetime: Some(3600 + 2 * DEFAULT_LEEWAY),
            rules: IssuerRules::Firebase,
        }
    }

    /// A JWT that `service_account` signed itself for the IAP resource at `resource_url` (item 4).
    pub fn service_account_jwt(service_account: &str, resource_url: &str) -> Self {
        Self {
            alg: Alg::Rs256,
            issuers: vec![service_account.into()],
            audience: Audience::ResourceUrl {
                url: resource_url.into(),
            },
            leeway: DEFAULT_LEEWAY,
            max_lifetime: Some(3600 + 2 * DEFAULT_LEEWAY),
            rules: IssuerRules::None,
        }
    }

    /// The same policy, but requiring a string `email` claim.
    pub fn requiring_email(mut self) -> Self {
        self.rules = IssuerRules::EmailRequired;
        self
    }
}

/// Which rule a token broke. Callers match variants, never strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("malformed token: {0}")]
    Malformed(#[from] MalformedToken),
    #[error("algorithm {found:?} is not allowed (expected {expected})")]
    AlgNotAllowed { found: String, expected: Alg },
    #[error("token header has no kid")]
    MissingKid,
    #[error("no key with kid {0:?}")]
    UnknownKid(String),
    #[error("signature does not verify")]
    BadSignature,
    #[error("required claim {0:?} is missing or of the wrong type")]
    MissingClaim(&'static str),
    #[error("token expired at {exp} (now {now}, leeway {leeway} s)")]
    Expired { exp: u64, now: u64, leeway: u64 },
    #[error("token is not valid yet: {claim} = {at} is after now ({now})")]
    NotYetValid {
        claim: &'static str,
        at: u64,
        now: u64,
    },
    #[error("token lifetime of {lifetime} s exceeds {max} s")]
    LifetimeTooLong { lifetime: u64, max: u64 },
    #[error("issuer {found:?} is not accepted")]
    WrongIssuer { found: String },
    #[error("audience {found:?} is not accepted")]
    WrongAudience { found: Vec<String> },
    #[error("claim {claim:?} is invalid: {reason}")]
    InvalidClaim {
        claim: &'static str,
        reason: &'static str,
    },
    #[error("verification keys are unavailable: {0}")]
    KeysUnavailable(String),
}

/// Verifies `token` against `keys` and `policy` at time `now` (Unix seconds), returning its
/// claims as `C`. See the module docs for the order of checks.
pub fn verify<C: DeserializeOwned>(
    token: &str,
    keys: &KeySet,
    policy: &Policy,
    now: u64,
) -> Result<C, VerifyError> {
    let payload = verify_signature(token, keys, policy)?;
    RegisteredClaims::of(&payload).check(policy, now)?;
    serde_json::from_value(payload).map_err(|_| VerifyError::InvalidClaim {
        claim: "payload",
        reason: "does not have the shape of this token kind",
    })
}

/// Steps 1-4: structure, algorithm, kid, signature. Returns the payload JSON.
pub(crate) fn verify_signature(
    token: &str,
    keys: &KeySet,
    policy: &Policy,
) -> Result<Value, VerifyError> {
    let parts = split(token)?;
    if parts.header.alg != policy.alg.as_str() || keys.alg() != policy.alg {
        return Err(VerifyError::AlgNotAllowed {
            found: parts.header.alg,
            expected: policy.alg,
        });
    }
    let kid = parts.header.kid.ok_or(VerifyError::MissingKid)?;
    let key = keys.get(&kid).ok_or(VerifyError::UnknownKid(kid))?;
    let ok = jsonwebtoken::crypto::verify(
        parts.signature_b64,
        parts.signing_input.as_bytes(),
        key,
        policy.alg.jsonwebtoken(),
    )
    .unwrap_or(false);
    if !ok {
        return Err(VerifyError::BadSignature);
    }
    Ok(decode_payload(parts.payload_b64)?)
}

/// A numeric claim as a payload holds it: absent, present but not a number, or seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seconds {
    Absent,
    NotANumber,
    At(u64),
}

impl Seconds {
    fn of(payload: &Value, claim: &str) -> Self {
        match payload.get(claim) {
            None => Seconds::Absent,
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
                .map_or(Seconds::NotANumber, Seconds::At),
        }
    }

    /// `Ok(None)` when absent; a value that is not a number reads as `claim` missing.
    fn get(self, claim: &'static str) -> Result<Option<u64>, VerifyError> {
        match self {
            Seconds::Absent => Ok(None),
            Seconds::NotANumber => Err(VerifyError::MissingClaim(claim)),
            Seconds::At(at) => Ok(Some(at)),
        }
    }

    fn required(self, claim: &'static str) -> Result<u64, VerifyError> {
        self.get(claim)?.ok_or(VerifyError::MissingClaim(claim))
    }
}

/// The claims the rules of steps 5-9 read, taken out of an authenticated payload once, so a
/// token seen again (see [`crate::SignatureCache`]) is checked without walking its JSON or
/// allocating. [`RegisteredClaims::check`] is the only implementation of those rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredClaims {
    exp: Seconds,
    iat: Seconds,
    nbf: Seconds,
    auth_time: Seconds,
    /// `None` when absent or not a string.
    iss: Option<String>,
    /// `aud` as a string or the string entries of an array; `None` when neither.
    aud: Option<Vec<String>>,
    /// `None` when absent or not a string (as `sub`).
    email: Option<String>,
    sub: Option<String>,
}

impl RegisteredClaims {
    /// Reads the claims out of `payload`; a payload that is not an object has none.
    pub fn of(payload: &Value) -> Self {
        let string = |claim: &str| {
            payload
                .get(claim)
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Self {
            exp: Seconds::of(payload, "exp"),
            iat: Seconds::of(payload, "iat"),
            nbf: Seconds::of(payload, "nbf"),
            auth_time: Seconds::of(payload, "auth_time"),
            iss: string("iss"),
            aud: match payload.get("aud") {
                Some(Value::String(s)) => Some(vec![s.clone()]),
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                ),
                _ => None,
            },
            email: string("email"),
            sub: string("sub"),
        }
    }

    /// `iss`, when it is a string.
    pub fn iss(&self) -> Option<&str> {
        self.iss.as_deref()
    }

    /// `email`, when it is a string.
    pub fn email(&self) -> Option<&str> {
        self.email.as_deref()
    }

    /// `sub`, when it is a string.
    pub fn sub(&self) -> Option<&str> {
        self.sub.as_deref()
    }

    /// Steps 5-9 of the module docs, in that order, at time `now`.
    pub fn check(&self, policy: &Policy, now: u64) -> Result<(), VerifyError> {
        let exp = self.exp.required("exp")?;
        let iat = self.iat.required("iat")?;
        let iss = self.iss().ok_or(VerifyError::MissingClaim("iss"))?;
        let aud = self
            .aud
            .as_deref()
            .ok_or(VerifyError::MissingClaim("aud"))?;

        if exp.saturating_add(policy.leeway) <= now {
            return Err(VerifyError::Expired {
                exp,
                now,
                leeway: policy.leeway,
            });
        }
        if iat > now.saturating_add(policy.leeway) {
            return Err(VerifyError::NotYetValid {
                claim: "iat",
                at: iat,
                now,
            });
        }
        if let Some(nbf) = self.nbf.get("nbf")?
            && nbf > now.saturating_add(policy.leeway)
        {
            return Err(VerifyError::NotYetValid {
                claim: "nbf",
                at: nbf,
                now,
            });
        }
        if let Some(max) = policy.max_lifetime {
            let lifetime = exp.saturating_sub(iat);
            if lifetime > max {
                return Err(VerifyError::LifetimeTooLong { lifetime, max });
            }
        }
        if !policy.issuers.iter().any(|i| i == iss) {
            return Err(VerifyError::WrongIssuer { found: iss.into() });
        }
        if !audience_allowed(&policy.audience, aud) {
            return Err(VerifyError::WrongAudience {
                found: aud.to_vec(),
            });
        }
        match policy.rules {
            IssuerRules::None => {}
            IssuerRules::EmailRequired => {
                if self.email.is_none() {
                    return Err(VerifyError::MissingClaim("email"));
                }
            }
            IssuerRules::Firebase => {
                let sub = self.sub().ok_or(VerifyError::MissingClaim("sub"))?;
                if sub.is_empty() || sub.chars().count() > 128 {
                    return Err(VerifyError::InvalidClaim {
                        claim: "sub",
                        reason: "must be a non-empty string of at most 128 characters",
                    });
                }
                let auth_time = self.auth_time.required("auth_time")?;
                if auth_time > now.saturating_add(policy.leeway) {
                    return Err(VerifyError::NotYetValid {
                        claim: "auth_time",
                        at: auth_time,
                        now,
                    });
                }
            }
        }
        Ok(())
    }
}

fn audience_allowed(audience: &Audience, found: &[String]) -> bool {
    match audience {
        Audience::OneOf(allowed) => found.iter().any(|a| allowed.contains(a)),
        Audience::ResourceUrl { url } => found.iter().any(|a| {
            a == url
                || a.strip_suffix('*')
                    .filter(|prefix| prefix.ends_with('/'))
                    .is_some_and(|prefix| {
                        url.starts_with(prefix) || url == prefix.trim_end_matches('/')
                    })
        }),
    }
}
