//! A cache of signatures already verified, so a hot path verifies each token's signature once.
//!
//! Verifying an RS256 signature is the dearest step of [`crate::verify`] by far, and a caller
//! such as IAP sees the same bearer token on every request of a client for up to an hour.
//! [`SignatureCache::verify_token`] remembers a token whose signature verified, keyed by the
//! whole token (hashed by its signature's tail, [`crate::token_hash`]), with its payload and the
//! claims the rules read ([`RegisteredClaims`], taken out once), and on the next sight skips
//! only the signature: the algorithm, the kid's presence in the *current* key set and every
//! claim rule (expiry, issuer, audience, email) are checked again each time with [`Policy`] and
//! `now`, so the answer is exactly what [`crate::verify`] would give, as long as a kid names one
//! key (Google's kids do; a retired kid is simply absent from the current set, and its tokens
//! then fail as unknown).
//!
//! Bounded: when full, the cache is emptied and refills with the tokens still in use. Failures
//! are never cached. Tokens are held in memory only, never logged.

use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::jwt::Alg;
use crate::key_set::KeySet;
use crate::token_hash::TokenMap;
use crate::verify::{Policy, RegisteredClaims, VerifyError, verify_signature};

/// How many tokens a cache holds by default.
pub const DEFAULT_CAPACITY: usize = 4096;

/// A token whose signature verified: what [`SignatureCache`] keeps and hands out, shared.
#[derive(Debug)]
pub struct VerifiedToken {
    alg: Alg,
    kid: String,
    payload: Value,
    claims: RegisteredClaims,
}

impl VerifiedToken {
    /// The whole payload.
    pub fn payload(&self) -> &Value {
        &self.payload
    }

    /// The claims the rules read, already taken out of the payload.
    pub fn claims(&self) -> &RegisteredClaims {
        &self.claims
    }

    /// The payload read as `C`, as [`crate::verify`] returns it.
    pub fn deserialize<C: DeserializeOwned>(&self) -> Result<C, VerifyError> {
        C::deserialize(&self.payload).map_err(|_| VerifyError::InvalidClaim {
            claim: "payload",
            reason: "does not have the shape of this token kind",
        })
    }

    /// Whether this signature still stands for `keys` under `policy`: the same algorithm and a
    /// kid the current set still holds.
    fn signature_stands(&self, keys: &KeySet, policy: &Policy) -> bool {
        self.alg == policy.alg && keys.alg() == policy.alg && keys.contains(&self.kid)
    }
}

/// Verified signatures by token. Share one per policy or key source (`Sync`).
#[derive(Debug)]
pub struct SignatureCache {
    capacity: usize,
    entries: Mutex<TokenMap<Arc<VerifiedToken>>>,
}

impl Default for SignatureCache {
    fn default() -> Self {
        Self::with_capacity(DEFAULT_CAPACITY)
    }
}

impl SignatureCache {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: Mutex::new(TokenMap::default()),
        }
    }

    /// As [`crate::verify`], with the signature check skipped for a token whose signature by
    /// the same kid, under the same algorithm, already verified.
    pub fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
        keys: &KeySet,
        policy: &Policy,
        now: u64,
    ) -> Result<C, VerifyError> {
        self.verify_token(token, keys, policy, now)?.deserialize()
    }

    /// As [`SignatureCache::verify`], answering with the verified token itself, so a caller
    /// reads the claims it needs without deserializing the payload.
    pub fn verify_token(
        &self,
        token: &str,
        keys: &KeySet,
        policy: &Policy,
        now: u64,
    ) -> Result<Arc<VerifiedToken>, VerifyError> {
        let seen = self.seen(token);
        self.verify_seen(token, seen, keys, policy, now)
    }

    /// As [`SignatureCache::verify_token`], for a token the caller already looked up with
    /// [`SignatureCache::seen`] (so a hot path looks it up once).
    pub fn verify_seen(
        &self,
        token: &str,
        seen: Option<Arc<VerifiedToken>>,
        keys: &KeySet,
        policy: &Policy,
        now: u64,
    ) -> Result<Arc<VerifiedToken>, VerifyError> {
        let verified = match seen.filter(|hit| hit.signature_stands(keys, policy)) {
            Some(hit) => hit,
            // Anything else (new, other kid, other algorithm) is verified in full, so the
            // error is exactly `verify`'s.
            None => self.insert(token, verify_signature(token, keys, policy)?, policy),
        };
        verified.claims.check(policy, now)?;
        Ok(verified)
    }

    /// The token as it was when its signature verified, with no rule checked again: only for
    /// what a caller would otherwise read unverified from the token itself, such as the issuer
    /// that picks the keys to verify with. Any decision still goes through
    /// [`SignatureCache::verify_seen`].
    pub fn seen(&self, token: &str) -> Option<Arc<VerifiedToken>> {
        self.lock().get(token).cloned()
    }

    /// How many verified tokens are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn insert(&self, token: &str, payload: Value, policy: &Policy) -> Arc<VerifiedToken> {
        let verified = Arc::new(VerifiedToken {
            alg: policy.alg,
            // verify_signature checked the header; its kid keys the entry.
            kid: crate::jwt::split(token)
                .ok()
                .and_then(|p| p.header.kid)
                .unwrap_or_default(),
            claims: RegisteredClaims::of(&payload),
            payload,
        });
        if !verified.kid.is_empty() {
            let mut entries = self.lock();
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(token.to_string(), Arc::clone(&verified));
        }
        verified
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TokenMap<Arc<VerifiedToken>>> {
        match self.entries.lock() {
            Ok(guard) => guard,
            // Only whole inserts and clears happen under the lock.
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}
