//! A cache of signatures already verified, so a hot path verifies each token's signature once.
//!
//! Verifying an RS256 signature is the dearest step of [`crate::verify`] by far, and a caller
//! such as IAP sees the same bearer token on every request of a client for up to an hour.
//! [`SignatureCache::verify`] remembers the payload of a token whose signature verified, keyed
//! by the whole token (hashed by its signature's tail, [`crate::token_hash`]), and on the next sight skips only the signature: the algorithm, the kid's
//! presence in the *current* key set and every claim rule (expiry, issuer, audience, email) are
//! checked again each time with [`Policy`] and `now`, so the answer is exactly what
//! [`crate::verify`] would give, as long as a kid names one key (Google's kids do; a retired
//! kid is simply absent from the current set, and its tokens then fail as unknown).
//!
//! Bounded: when full, the cache is emptied and refills with the tokens still in use. Failures
//! are never cached. Tokens are held in memory only, never logged.

use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::jwt::Alg;
use crate::key_set::KeySet;
use crate::token_hash::TokenMap;
use crate::verify::{Policy, VerifyError, check_claims, verify_signature};

/// How many tokens a cache holds by default.
pub const DEFAULT_CAPACITY: usize = 4096;

#[derive(Debug)]
struct Verified {
    alg: Alg,
    kid: String,
    /// Shared, so a hit reads the claims without copying them first.
    payload: Arc<Value>,
}

/// Verified signatures by token. Share one per policy or key source (`Sync`).
#[derive(Debug)]
pub struct SignatureCache {
    capacity: usize,
    entries: Mutex<TokenMap<Verified>>,
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
        let cached = self.lock().get(token).and_then(|hit| {
            (hit.alg == policy.alg && keys.alg() == policy.alg && keys.contains(&hit.kid))
                .then(|| Arc::clone(&hit.payload))
        });
        let payload = match cached {
            Some(payload) => payload,
            None => {
                let payload = Arc::new(verify_signature(token, keys, policy)?);
                // verify_signature checked the header; read its kid again to key the entry.
                if let Some(kid) = crate::jwt::split(token).ok().and_then(|p| p.header.kid) {
                    let mut entries = self.lock();
                    if entries.len() >= self.capacity {
                        entries.clear();
                    }
                    entries.insert(
                        token.to_string(),
                        Verified {
                            alg: policy.alg,
                            kid,
                            payload: Arc::clone(&payload),
                        },
                    );
                }
                payload
            }
        };
        check_claims(&payload, policy, now)?;
        C::deserialize(payload.as_ref()).map_err(|_| VerifyError::InvalidClaim {
            claim: "payload",
            reason: "does not have the shape of this token kind",
        })
    }

    /// The payload `token` carried when its signature verified, with no rule checked again:
    /// only for what a caller would otherwise read unverified from the token itself, such as
    /// the issuer that picks the keys to verify with, without decoding the token again. Any
    /// decision still goes through [`SignatureCache::verify`].
    pub fn unchecked_payload(&self, token: &str) -> Option<Arc<Value>> {
        self.lock().get(token).map(|hit| Arc::clone(&hit.payload))
    }

    /// How many verified tokens are held.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, TokenMap<Verified>> {
        match self.entries.lock() {
            Ok(guard) => guard,
            // Only whole inserts and clears happen under the lock.
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}
