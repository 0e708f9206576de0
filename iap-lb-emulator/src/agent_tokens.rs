//! IAP's service-agent ID tokens toward Cloud Run, minted once per audience and reused.
//!
//! Behind the load balancer IAP calls each Cloud Run service as its service agent, with an ID
//! token for the service's run.app URL in `X-Serverless-Authorization` (items 27, 39). Google's
//! own clients reuse an ID token until shortly before it expires instead of minting one per
//! request, and so does the emulator: an RS256 signature costs about a millisecond of CPU,
//! which made signing per request the whole cost of the IAP hop (`bench/iap.sh`).
//!
//! A cached token is reused only while it has more than [`REFRESH_MARGIN`] left and only while
//! the key that signed it still signs: a key rotation (an admin mutation) mints afresh at once,
//! so no scenario sees a token signed by a retired key.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::HeaderValue;

/// Reuse stops this long before `exp`, so a token never expires in flight (google-auth refreshes
/// its credentials with a similar margin).
pub const REFRESH_MARGIN: u64 = 300;

#[derive(Debug, Clone)]
struct Minted {
    kid: String,
    /// `Bearer <token>`, validated as a header value once: a clone shares its bytes, so a
    /// request neither copies nor re-checks the token.
    bearer: HeaderValue,
    exp: u64,
}

/// Tokens by audience, hashed with keyed foldhash (looked up on every request; SipHash cost
/// ~300 instructions a lookup).
#[derive(Debug, Default)]
pub struct AgentTokens {
    by_audience: Mutex<HashMap<String, Minted, foldhash::fast::RandomState>>,
}

impl AgentTokens {
    /// `Bearer <token>` for `audience`: the cached token while it is fresh and signed by
    /// `signing_kid`, else what `mint` returns (its token and `exp`), which is then cached.
    /// `None` when minting fails or the token is not a header value; nothing is cached then.
    pub fn get_or_mint(
        &self,
        audience: &str,
        signing_kid: &str,
        now: u64,
        mint: impl FnOnce() -> Option<(String, u64)>,
    ) -> Option<HeaderValue> {
        if let Some(hit) = self
            .lock()
            .get(audience)
            .filter(|m| m.kid == signing_kid && m.exp.saturating_sub(REFRESH_MARGIN) > now)
        {
            return Some(hit.bearer.clone());
        }
        // Minted outside the lock: two first requests may both sign, which is harmless.
        let (token, exp) = mint()?;
        let bearer = HeaderValue::try_from(["Bearer ", &token].concat()).ok()?;
        self.lock().insert(
            audience.to_string(),
            Minted {
                kid: signing_kid.to_string(),
                bearer: bearer.clone(),
                exp,
            },
        );
        Some(bearer)
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, Minted, foldhash::fast::RandomState>> {
        match self.by_audience.lock() {
            Ok(guard) => guard,
            // Only whole inserts happen under the lock; the map is always consistent.
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn text(bearer: Option<HeaderValue>) -> Option<String> {
        bearer.map(|v| v.to_str().expect("ascii").to_string())
    }

    fn minter<'a>(calls: &'a Cell<u32>, exp: u64) -> impl FnOnce() -> Option<(String, u64)> + 'a {
        move || {
            calls.set(calls.get() + 1);
            Some((format!("token-{}", calls.get()), exp))
        }
    }

    #[test]
    fn a_fresh_token_is_reused_for_its_audience() {
        let cache = AgentTokens::default();
        let calls = Cell::new(0);
        let first = text(cache.get_or_mint("aud", "k1", 1000, minter(&calls, 4600)));
        let again = text(cache.get_or_mint("aud", "k1", 2000, minter(&calls, 5600)));
        assert_eq!(first.as_deref(), Some("Bearer token-1"));
        assert_eq!(again, first);
        assert_eq!(calls.get(), 1);
    }

    #[test]
    fn each_audience_gets_its_own_token() {
        let cache = AgentTokens::default();
        let calls = Cell::new(0);
        let a = cache.get_or_mint("a", "k1", 1000, minter(&calls, 4600));
        let b = cache.get_or_mint("b", "k1", 1000, minter(&calls, 4600));
        assert_ne!(a, b);
        assert_eq!(calls.get(), 2);
    }

    #[test]
    fn a_token_near_expiry_is_minted_again() {
        let cache = AgentTokens::default();
        let calls = Cell::new(0);
        cache.get_or_mint("aud", "k1", 1000, minter(&calls, 4600));
        let later =
            text(cache.get_or_mint("aud", "k1", 4600 - REFRESH_MARGIN, minter(&calls, 8000)));
        assert_eq!(later.as_deref(), Some("Bearer token-2"));
    }

    #[test]
    fn a_rotated_signing_key_mints_again() {
        let cache = AgentTokens::default();
        let calls = Cell::new(0);
        cache.get_or_mint("aud", "k1", 1000, minter(&calls, 4600));
        let rotated = text(cache.get_or_mint("aud", "k2", 1001, minter(&calls, 4601)));
        assert_eq!(rotated.as_deref(), Some("Bearer token-2"));
    }

    #[test]
    fn a_failed_mint_is_not_cached() {
        let cache = AgentTokens::default();
        assert_eq!(cache.get_or_mint("aud", "k1", 1000, || None), None);
        let calls = Cell::new(0);
        let next = text(cache.get_or_mint("aud", "k1", 1000, minter(&calls, 4600)));
        assert_eq!(next.as_deref(), Some("Bearer token-1"));
    }

    #[test]
    fn a_token_that_is_not_a_header_value_is_not_cached() {
        let cache = AgentTokens::default();
        let broken = cache.get_or_mint("aud", "k1", 1000, || Some(("a\nb".to_string(), 4600)));
        assert_eq!(broken, None);
        let calls = Cell::new(0);
        let next = text(cache.get_or_mint("aud", "k1", 1000, minter(&calls, 4600)));
        assert_eq!(next.as_deref(), Some("Bearer token-1"));
    }
}
