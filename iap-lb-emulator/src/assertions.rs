//! IAP's signed header, `x-goog-iap-jwt-assertion`, signed once per second for each backend
//! service and principal.
//!
//! An assertion's claims (items 22-24) are a function of the backend service's audience, the
//! principal's email and id, and the second it was issued in: `iat` and `exp` have one-second
//! resolution and IAP adds no nonce or `jti`. Two requests by the same principal to the same
//! backend within one second therefore get the *same claims*, and re-signing them only changes
//! the ECDSA signature's random bytes (with RFC 6979 deterministic signing it would not even do
//! that). The emulator keeps the first signed token of each second and hands it to every request
//! of that second: what a backend receives is exactly what a fresh signature would have given
//! it, while the ES256 signature (about 20 us, the largest single cost of the hop measured by
//! `bench/iap.sh`) is paid at most once per second per backend and principal.
//!
//! A token is reused only within its own second and only while the key that signed it is still
//! IAP's signing key, so a key rotation (an admin mutation) signs afresh at once. Deliberately
//! broken assertions (`SECURE_TOKEN_TEST`) are never memoised.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderValue;

/// Past this many remembered principals for one backend, entries of earlier seconds are
/// dropped (they can never be used again), so the memo stays as small as one second's callers.
const PRUNE_AT: usize = 1024;

#[derive(Debug, Clone)]
struct Signed {
    user_id: String,
    kid: String,
    iat: u64,
    token: HeaderValue,
}

/// A map hashed with keyed foldhash: looked up twice per request, where SipHash cost ~300
/// instructions a lookup (callgrind).
type FastMap<V> = HashMap<String, V, foldhash::fast::RandomState>;

/// This second's assertion by backend audience, then by principal email.
#[derive(Debug, Default)]
pub struct Assertions {
    by_audience: Mutex<FastMap<FastMap<Signed>>>,
}

impl Assertions {
    /// The assertion for `email` (`user_id`) behind `audience` issued at `now`: the one already
    /// signed this second by `signing_kid`, else what `sign` returns, which is then kept.
    /// `None` when signing fails; nothing is kept then.
    pub fn get_or_sign(
        &self,
        audience: &str,
        email: &str,
        user_id: &str,
        signing_kid: &str,
        now: u64,
        sign: impl FnOnce() -> Option<HeaderValue>,
    ) -> Option<HeaderValue> {
        if let Some(hit) = self
            .lock()
            .get(audience)
            .and_then(|by_email| by_email.get(email))
            .filter(|s| s.iat == now && s.kid == signing_kid && s.user_id == user_id)
        {
            return Some(hit.token.clone());
        }
        // Signed outside the lock: two first requests of a second may both sign, which is
        // harmless (both tokens carry the same claims).
        let token = sign()?;
        let mut by_audience = self.lock();
        let by_email = by_audience.entry(audience.to_string()).or_default();
        if by_email.len() >= PRUNE_AT {
            by_email.retain(|_, s| s.iat == now);
        }
        by_email.insert(
            email.to_string(),
            Signed {
                user_id: user_id.to_string(),
                kid: signing_kid.to_string(),
                iat: now,
                token: token.clone(),
            },
        );
        Some(token)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FastMap<FastMap<Signed>>> {
        match self.by_audience.lock() {
            Ok(guard) => guard,
            // Only whole inserts and retains happen under the lock; the map stays consistent.
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn signer(calls: &Cell<u32>) -> impl FnOnce() -> Option<HeaderValue> + '_ {
        move || {
            calls.set(calls.get() + 1);
            HeaderValue::from_str(&format!("token-{}", calls.get())).ok()
        }
    }

    #[test]
    fn the_same_caller_in_the_same_second_gets_the_same_token() {
        let memo = Assertions::default();
        let calls = Cell::new(0);
        let first = memo.get_or_sign("aud", "a@x", "1", "k1", 100, signer(&calls));
        let again = memo.get_or_sign("aud", "a@x", "1", "k1", 100, signer(&calls));
        assert_eq!(first, again);
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn a_new_second_signs_again() {
        let memo = Assertions::default();
        let calls = Cell::new(0);
        memo.get_or_sign("aud", "a@x", "1", "k1", 100, signer(&calls));
        let later = memo.get_or_sign("aud", "a@x", "1", "k1", 101, signer(&calls));
        assert_eq!(later.as_ref().map(|v| v.as_bytes()), Some(&b"token-2"[..]));
    }

    #[test]
    fn another_principal_or_backend_or_user_id_signs_its_own() {
        let memo = Assertions::default();
        let calls = Cell::new(0);
        memo.get_or_sign("aud", "a@x", "1", "k1", 100, signer(&calls));
        memo.get_or_sign("aud", "b@x", "2", "k1", 100, signer(&calls));
        memo.get_or_sign("other", "a@x", "1", "k1", 100, signer(&calls));
        memo.get_or_sign("aud", "a@x", "9", "k1", 100, signer(&calls));
        assert_eq!(calls.get(), 4);
    }

    #[test]
    fn a_rotated_signing_key_signs_again_at_once() {
        let memo = Assertions::default();
        let calls = Cell::new(0);
        memo.get_or_sign("aud", "a@x", "1", "k1", 100, signer(&calls));
        let rotated = memo.get_or_sign("aud", "a@x", "1", "k2", 100, signer(&calls));
        assert_eq!(
            rotated.as_ref().map(|v| v.as_bytes()),
            Some(&b"token-2"[..])
        );
    }

    #[test]
    fn a_failed_signature_is_not_kept() {
        let memo = Assertions::default();
        let calls = Cell::new(0);
        assert_eq!(
            memo.get_or_sign("aud", "a@x", "1", "k1", 100, || None),
            None
        );
        let next = memo.get_or_sign("aud", "a@x", "1", "k1", 100, signer(&calls));
        assert_eq!(next.as_ref().map(|v| v.as_bytes()), Some(&b"token-1"[..]));
    }

    #[test]
    fn earlier_seconds_are_dropped_once_a_backend_has_many_callers() {
        let memo = Assertions::default();
        let calls = Cell::new(0);
        for i in 0..PRUNE_AT {
            memo.get_or_sign("aud", &format!("u{i}@x"), "1", "k1", 100, signer(&calls));
        }
        memo.get_or_sign("aud", "late@x", "1", "k1", 101, signer(&calls));
        assert_eq!(memo.lock()["aud"].len(), 1);
    }
}
