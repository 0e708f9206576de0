//! A caching fetcher of published keys, and a verifier built on it. The only IO in this crate.
//!
//! Behaviour, as Google's client libraries and ESPv2 behave (google-behaviour items 68, 78):
//! - keys are cached for the `max-age` of the response's `Cache-Control` (a configured default
//!   when the header is absent; `no-store`/`no-cache` mean "refetch next time");
//! - a token whose kid is not in a fresh cache triggers one refetch, at most once per
//!   `min_refetch_interval`, so a flood of made-up kids cannot flood the key endpoint;
//! - when a refetch fails, the keys already cached keep being served (a warning is logged);
//!   only a cold cache with a failing endpoint is an error;
//! - concurrent misses share one fetch (single flight).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use tokio::time::Instant;

use crate::jwt::{Alg, split};
use crate::key_set::{KeySet, KeySetError};
use crate::verify::{Policy, RegisteredClaims, VerifyError, verify_signature};
use crate::wire::{Jwks, PemMap};

/// Which of Google's two key formats the URL serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyFormat {
    /// `{"keys":[...]}`.
    Jwks,
    /// `{"<kid>":"<PEM certificate or public key>"}`.
    PemMap,
}

/// Tuning for a [`JwksClient`]. No `Default`: callers say what they want (style.md, section 3),
/// though [`JwksClientOptions::google_defaults`] gives the usual values.
#[derive(Debug, Clone, Copy)]
pub struct JwksClientOptions {
    /// Cache lifetime when the response has no usable `Cache-Control: max-age`.
    pub default_max_age: Duration,
    /// Least time between two refetches caused by unknown kids.
    pub min_refetch_interval: Duration,
    /// Timeout of one fetch.
    pub request_timeout: Duration,
}

impl JwksClientOptions {
    /// Five minutes of cache (ESPv2's `--jwks_cache_duration_in_s`, item 68), refetch on an
    /// unknown kid at most every 30 s, 5 s per fetch.
    pub fn google_defaults() -> Self {
        Self {
            default_max_age: Duration::from_secs(300),
            min_refetch_interval: Duration::from_secs(30),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// Why keys could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("key endpoint {url} could not be reached: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("key endpoint {url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("key endpoint {url} sent a body that is not a key set: {reason}")]
    BadBody { url: String, reason: String },
    #[error("key endpoint {url}: {source}")]
    KeySet { url: String, source: KeySetError },
}

#[derive(Debug)]
struct Cached {
    keys: Arc<KeySet>,
    expires_at: Instant,
}

#[derive(Debug, Default)]
struct State {
    cached: Option<Cached>,
    last_fetch: Option<Instant>,
}

/// Fetches and caches one key URL for one algorithm.
#[derive(Debug)]
pub struct JwksClient {
    http: reqwest::Client,
    url: String,
    format: KeyFormat,
    alg: Alg,
    options: JwksClientOptions,
    state: RwLock<State>,
    /// Held while fetching, so concurrent misses wait for one fetch instead of each making one.
    fetching: tokio::sync::Mutex<()>,
    fetches: std::sync::atomic::AtomicU64,
}

impl JwksClient {
    /// `http` is the caller's client (trusting whatever roots and resolving whatever hosts the
    /// caller chose, e.g. the emulator's CA).
    pub fn new(
        http: reqwest::Client,
        url: impl Into<String>,
        format: KeyFormat,
        alg: Alg,
        options: JwksClientOptions,
    ) -> Self {
        Self {
            http,
            url: url.into(),
            format,
            alg,
            options,
            state: RwLock::new(State::default()),
            fetching: tokio::sync::Mutex::new(()),
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many fetches this client has made (for tests and the emulator's counters).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn snapshot(&self) -> (Option<(Arc<KeySet>, bool)>, Option<Instant>) {
        let now = Instant::now();
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        (
            state
                .cached
                .as_ref()
                .map(|c| (c.keys.clone(), c.expires_at > now)),
            state.last_fetch,
        )
    }

    /// The current key set, fetched when the cache is cold or stale.
    pub async fn keys(&self) -> Result<Arc<KeySet>, FetchError> {
        self.key_set_for(None).await
    }

    /// The key set to verify a token with `kid`: refetched once (rate-limited) when the kid is
    /// unknown. The returned set may still lack the kid; the verifier then says `UnknownKid`.
    pub async fn key_set_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, FetchError> {
        if let (Some((keys, true)), _) = self.snapshot()
            && kid.is_none_or(|k| keys.contains(k))
        {
            return Ok(keys);
        }
        let _guard = self.fetching.lock().await;
        // Someone may have fetched while we waited for the lock.
        let (cached, last_fetch) = self.snapshot();
        let now = Instant::now();
        match cached {
            Some((keys, true)) => {
                if kid.is_none_or(|k| keys.contains(k)) {
                    return Ok(keys);
                }
                let recently = last_fetch
                    .is_some_and(|t| now.duration_since(t) < self.options.min_refetch_interval);
                if recently {
                    return Ok(keys);
                }
                Ok(self.fetch_and_store().await.unwrap_or(keys))
            }
            Some((stale, false)) => match self.fetch_and_store().await {
                Ok(fresh) => Ok(fresh),
                Err(err) => {
                    tracing::warn!(url = %self.url, error = %err, "key refetch failed; serving cached keys");
                    Ok(stale)
                }
            },
            None => self.fetch_and_store().await,
        }
    }

    async fn fetch_and_store(&self) -> Result<Arc<KeySet>, FetchError> {
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let started = Instant::now();
        let result = self.fetch().await;
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        state.last_fetch = Some(started);
        let (keys, max_age) = result?;
        let keys = Arc::new(keys);
        state.cached = Some(Cached {
            keys: keys.clone(),
            expires_at: started + max_age,
        });
        Ok(keys)
    }

    async fn fetch(&self) -> Result<(KeySet, Duration), FetchError> {
        let url = self.url.clone();
        let response = self
            .http
            .get(&self.url)
            .timeout(self.options.request_timeout)
            .send()
            .await
            .map_err(|e| FetchError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(FetchError::Status {
                url,
                status: status.as_u16(),
            });
        }
        let max_age = response
            .headers()
            .get(http::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_max_age)
            .unwrap_or(self.options.default_max_age);
        let body = response
            .bytes()
            .await
            .map_err(|e| FetchError::Unreachable {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let bad_body = |e: serde_json::Error| FetchError::BadBody {
            url: url.clone(),
            reason: e.to_string(),
        };
        let keys = match self.format {
            KeyFormat::Jwks => {
                let jwks: Jwks = serde_json::from_slice(&body).map_err(bad_body)?;
                KeySet::from_jwks(self.alg, &jwks)
            }
            KeyFormat::PemMap => {
                let map: PemMap = serde_json::from_slice(&body).map_err(bad_body)?;
                KeySet::from_pem_map(self.alg, &map)
            }
        }
        .map_err(|source| FetchError::KeySet {
            url: url.clone(),
            source,
        })?;
        Ok((keys, max_age))
    }
}

/// `max-age=N` from a Cache-Control value; `no-store`/`no-cache` count as zero.
pub fn parse_max_age(value: &str) -> Option<Duration> {
    let mut max_age = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(n) = lower.strip_prefix("max-age=") {
            max_age = n
                .trim_matches('"')
                .parse::<u64>()
                .ok()
                .map(Duration::from_secs);
        }
    }
    max_age
}

/// A [`Policy`] with the keys to check it: what a service, the gateway or IAP holds per issuer.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    keys: Arc<JwksClient>,
    policy: Policy,
}

impl TokenVerifier {
    pub fn new(keys: Arc<JwksClient>, policy: Policy) -> Self {
        Self { keys, policy }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn key_client(&self) -> &JwksClient {
        &self.keys
    }

    /// Verifies `token` now. The algorithm and kid are checked before any fetch, so a token
    /// with `alg: none` or no kid costs no request to the key endpoint.
    pub async fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<C, VerifyError> {
        self.verify_at(token, crate::now_unix()).await
    }

    pub async fn verify_at<C: DeserializeOwned>(
        &self,
        token: &str,
        now: u64,
    ) -> Result<C, VerifyError> {
        let parts = split(token)?;
        if parts.header.alg != self.policy.alg.as_str() {
            return Err(VerifyError::AlgNotAllowed {
                found: parts.header.alg,
                expected: self.policy.alg,
            });
        }
        let kid = parts.header.kid.as_deref().ok_or(VerifyError::MissingKid)?;
        let keys = self
            .keys
            .key_set_for(Some(kid))
            .await
            .map_err(|e| VerifyError::KeysUnavailable(e.to_string()))?;
        let payload = verify_signature(token, &keys, &self.policy)?;
        RegisteredClaims::of(&payload).check(&self.policy, now)?;
        serde_json::from_value(payload).map_err(|_| VerifyError::InvalidClaim {
            claim: "payload",
            reason: "does not have the shape of this token kind",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_google_style_cache_control() {
        let cases = [
            (
                "public, max-age=23814, must-revalidate, no-transform",
                Some(23814),
            ),
            ("max-age=0", Some(0)),
            ("no-store", Some(0)),
            ("private, no-cache", Some(0)),
            ("public", None),
            ("max-age=abc", None),
        ];
        for (value, want) in cases {
            assert_eq!(
                parse_max_age(value),
                want.map(Duration::from_secs),
                "{value}"
            );
        }
    }
}
