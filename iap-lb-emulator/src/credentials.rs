//! Bearer credentials the hot path has seen, by the exact bytes of the header that carried them.
//!
//! Every request through the load balancer carries the client's `Authorization` to IAP and
//! IAP's service-agent token in `X-Serverless-Authorization` to the Cloud Run front end, and a
//! client sends the same token for up to an hour. Reading a 900-byte header as text, looking
//! the token up in the signature cache and building the header Cloud Run passes on with the
//! signature removed (item 27) cost a fifth of the hop's own instructions (callgrind,
//! `tools/bench/instructions.sh`). [`SeenCredentials`] remembers, for a header value whose
//! token verified, the token's text, the verified token and, built once, the unsigned header.
//!
//! A hit only skips re-reading the header: the caller still checks the token with its own
//! policy, the current keys and the clock ([`google_tokens::SignatureCache::verify_seen`]), so
//! every answer is the one a fresh parse would give. Only tokens whose signature verified are
//! remembered; failures never are. Bounded like the signature cache: when full it is emptied
//! and refills with the credentials still in use. Held in memory only, never logged.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex, OnceLock};

use axum::http::HeaderValue;
use google_tokens::{SignatureTailHash, VerifiedToken};

/// How many header values are remembered before the memo starts afresh.
pub const CAPACITY: usize = 4096;

/// What replaces the signature of the credential a container receives (item 27).
pub const SIGNATURE_REMOVED: &str = "SIGNATURE_REMOVED_BY_GOOGLE";

/// One remembered header value.
#[derive(Debug)]
pub struct SeenCredential {
    /// The whole header value as text.
    text: Box<str>,
    /// Where the token sits in `text`.
    token: Range<usize>,
    verified: Arc<VerifiedToken>,
    unsigned: OnceLock<Option<HeaderValue>>,
}

impl SeenCredential {
    /// The bearer token, as the header carried it.
    pub fn token(&self) -> &str {
        &self.text[self.token.clone()]
    }

    /// The token as its signature verified; check it again before relying on it.
    pub fn verified(&self) -> Arc<VerifiedToken> {
        Arc::clone(&self.verified)
    }

    /// The header with the token's signature replaced by [`SIGNATURE_REMOVED`], built on first
    /// use and shared after.
    pub fn unsigned(&self) -> Option<&HeaderValue> {
        self.unsigned.get_or_init(|| unsigned(&self.text)).as_ref()
    }
}

/// `Bearer h.p.s` → `Bearer h.p.SIGNATURE_REMOVED_BY_GOOGLE`; `None` for a value that is not a
/// scheme and a three-part token.
pub fn unsigned(value: &str) -> Option<HeaderValue> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let (signed_part, _) = token.trim().rsplit_once('.')?;
    HeaderValue::try_from([scheme, " ", signed_part, ".", SIGNATURE_REMOVED].concat()).ok()
}

/// Remembered credentials by header bytes. One per emulator (`Sync`).
#[derive(Debug, Default)]
pub struct SeenCredentials {
    /// Keyed by the header's bytes, hashed by their tail (the token's signature).
    entries: Mutex<HashMap<Box<[u8]>, Arc<SeenCredential>, SignatureTailHash>>,
}

impl SeenCredentials {
    /// The credential `value` carried when it was seen before.
    pub fn get(&self, value: &HeaderValue) -> Option<Arc<SeenCredential>> {
        self.lock().get(value.as_bytes()).cloned()
    }

    /// Remembers that `value`, whose text is `text`, carries `token` (a slice of `text`), whose
    /// signature verified as `verified`, and answers with what is remembered. A `text` that is
    /// not `value`'s or a `token` that is not part of it is answered but not kept.
    pub fn remember(
        &self,
        value: &HeaderValue,
        text: &str,
        token: &str,
        verified: Arc<VerifiedToken>,
    ) -> Arc<SeenCredential> {
        let start = (token.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
        let range = start..start.saturating_add(token.len());
        let consistent =
            text.get(range.clone()) == Some(token) && text.as_bytes() == value.as_bytes();
        let seen = Arc::new(SeenCredential {
            text: text.into(),
            token: if consistent { range } else { 0..0 },
            verified,
            unsigned: OnceLock::new(),
        });
        if consistent {
            let mut entries = self.lock();
            if entries.len() >= CAPACITY {
                entries.clear();
            }
            entries.insert(value.as_bytes().into(), Arc::clone(&seen));
        }
        seen
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Box<[u8]>, Arc<SeenCredential>, SignatureTailHash>> {
        match self.entries.lock() {
            Ok(guard) => guard,
            // Only whole inserts and clears happen under the lock.
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_replaced_and_the_scheme_kept() {
        let v = unsigned("Bearer aaa.bbb.ccc").expect("unsigned");
        assert_eq!(v, "Bearer aaa.bbb.SIGNATURE_REMOVED_BY_GOOGLE");
        let v = unsigned("  bearer   aaa.bbb.ccc ").expect("unsigned");
        assert_eq!(v, "bearer aaa.bbb.SIGNATURE_REMOVED_BY_GOOGLE");
        assert_eq!(unsigned("Bearer"), None, "no token");
        assert_eq!(unsigned("Bearer opaque"), None, "not a JWT");
    }
}
